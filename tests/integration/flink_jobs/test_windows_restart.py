"""kill -9 the windows job mid-stream, start it again: it resumes from its checkpoint, and no window is
written twice or counted twice (read_committed, as Druid reads), not even for changes the CDC reader
sends again while the job is down."""

import os
import signal
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

from pipeline.cdc.scripted import ChangeScript, iso, read_committed

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)


def _tx(tx_id, account, amount):
    return {"transaction_id": tx_id, "account_id": account, "card_id": 7, "merchant_id": 100, "amount": amount,
            "currency": "USD", "direction": "debit", "channel": "ecommerce", "country": "US", "status": "pending",
            "created_at": iso(T0)}


def _windows(rows):
    return Counter((r["window_start"], r["dimension"], r["entity_id"]) for r in rows if not r["late"])


def _account_cents(rows):
    totals = Counter()
    for r in rows:
        if r["dimension"] == "account":
            totals[(r["window_start"][:16], r["entity_id"])] += r["amount_cents"]
    return dict(totals)


def test_restart_after_kill_resumes_without_double_counting(flink_jobs, tmp_path):
    bootstrap = flink_jobs.config.kafka.bootstrap
    topics = flink_jobs.topics(("transactions",), "tx_windows")
    script = ChangeScript(bootstrap, topics.sources, 3)
    t1 = _tx(1, 1, "10.25")
    t1_insert = script.insert("transactions", t1, T0 + timedelta(seconds=10))
    t1_update = script.update("transactions", t1, {**t1, "status": "settled"}, T0 + timedelta(seconds=20))
    script.insert("transactions", _tx(2, 2, "20.00"), T0 + timedelta(minutes=6))
    script.insert("transactions", _tx(3, 999, "1.00"), T0 + timedelta(minutes=30), partition=0)
    script.flush()

    checkpoints, log = tmp_path / "checkpoints", tmp_path / "windows.log"
    job = flink_jobs.spawn("windows", topics, checkpoints, log)
    try:
        first = read_committed(bootstrap, topics.sink, lambda rows: len(_windows(rows)) >= 4, timeout_s=180)
        assert len(_windows(first)) >= 4, log.read_text()[-3000:]
        time.sleep(3)  # at least one more checkpoint after the windows were committed
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(30)
    assert list(checkpoints.glob("*/*/*/chk-*/_metadata")), "no checkpoint was retained"

    # While the job is down: t1's insert and update again (the reader resending after a crash of its
    # own), more changes, one in the window the killed job still held open.
    script.resend(t1_insert)
    script.resend(t1_update)
    script.insert("transactions", _tx(4, 999, "2.00"), T0 + timedelta(minutes=31), partition=0)
    script.insert("transactions", _tx(5, 1, "3.33"), T0 + timedelta(minutes=36))
    script.insert("transactions", _tx(6, 999, "1.00"), T0 + timedelta(minutes=60), partition=0)
    script.flush()
    job = flink_jobs.spawn("windows", topics, checkpoints, log)
    try:
        read_committed(bootstrap, topics.sink, lambda rows: {"2030-01-01T00:30", "2030-01-01T00:35"} <=
                       {k[0][:16] for k in _account_cents(rows)}, timeout_s=180)
        # Caught up, so t1's changes sent once more are late: only the deduplication state restored from
        # the checkpoint remembers them. A late payment behind them in their partition shows when they
        # have been read.
        script.resend(t1_insert)
        script.resend(t1_update)
        script.insert("transactions", _tx(7, 1, "1.00"), T0 + timedelta(minutes=1))
        script.flush()
        final = read_committed(bootstrap, topics.sink,
                               lambda rows: any(r["late"] and r["dimension"] == "account" for r in rows),
                               timeout_s=120)
    finally:
        script.close()
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(30)
    starts = [line for line in log.read_text().splitlines() if "flink.job_started" in line]
    assert len(starts) == 2 and "restored_from=-" in starts[0] and "/chk-" in starts[1], starts
    assert max(_windows(final).values()) == 1, "a window was written twice"
    # Window 00:00 of account 1: t1 (10.25) once, whatever the copies, and the late 1.00.
    assert _account_cents(final) == {("2030-01-01T00:00", 1): 1125, ("2030-01-01T00:05", 2): 2000,
                                     ("2030-01-01T00:30", 999): 300, ("2030-01-01T00:35", 1): 333}
