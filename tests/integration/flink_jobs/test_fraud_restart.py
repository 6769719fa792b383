"""kill -9 the fraud job, start it again: it restores from its checkpoint, every scenario is alerted once
(those half done at the kill too), and the dispatcher running across the restart pages each alert once.

The alerts sink is at-least-once, so the topic may hold an alert twice after the restart; the promise is
on distinct alert ids and on pages. Two scenarios are half done at the kill (card testing probes, the
first country of a trip): their completing payments come while the job is down, so their partial
matches can only come from the checkpoint. A near miss (four probes, then the large charge after the
restart) fails the test if the restarted job reads its input a second time.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

from fraud_scenarios import Scenarios
from pipeline.alerts.dispatcher import Stats
from pipeline.kafka import changelog
from pipeline.cdc.scripted import ChangeScript, read_committed

BEFORE_KILL = {"card_testing:1107", "velocity_spike:1214"}
EXPECTED = BEFORE_KILL | {"card_testing:1307", "impossible_travel:1402", "velocity_spike:1514", "card_testing:1607"}


def _newest_checkpoint(checkpoints: Path) -> int:
    """N of the newest complete chk-N (one with _metadata) the job has retained; 0 if none."""
    return max((int(p.parent.name.split("-")[1]) for p in checkpoints.glob("*/*/*/chk-*/_metadata")), default=0)


def _wait_for_checkpoint_after(checkpoints: Path, number: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while _newest_checkpoint(checkpoints) <= number:
        assert time.monotonic() < deadline, f"no checkpoint after chk-{number} within {timeout_s:.0f}s"
        time.sleep(0.2)


def _handled(stats: Stats) -> int:
    """Alerts the dispatcher has decided on, whatever the outcome."""
    return stats.sent + stats.duplicates + stats.rate_limited


def _alert_ids(rows: list[dict]) -> set[str]:
    return {r["alert_id"] for r in rows}


def test_restart_after_kill_alerts_and_pages_every_scenario_once(flink_jobs, pager, tmp_path):
    bootstrap = flink_jobs.config.kafka.bootstrap
    topics = flink_jobs.topics(("transactions", "logins", "accounts", "merchants"), "fraud_alerts")
    script = ChangeScript(bootstrap, topics.sources, 3)
    s = Scenarios(script, partition=0)  # in commit order, as the reader writes a partition
    s.probes(11, 6, 60)  # card testing, complete before the kill
    s.large_charge(1107, 11, 180)
    s.probes(13, 6, 300)  # card testing, the large charge after the kill
    s.probes(21, 4, 400)  # near miss: one probe too few, the large charge after the kill
    s.pay(1401, 14, "120.00", 500)  # impossible travel, JP after the kill
    s.burst(12, 15, 600)  # velocity; its alert needs the watermark past the half-done scenarios above
    s.pay(9998, 999, "1.00", 700)  # moves the watermark past the burst
    script.flush()

    checkpoints, log = tmp_path / "checkpoints", tmp_path / "fraud.log"
    job = flink_jobs.spawn("fraud", topics, checkpoints, log)
    try:
        first = read_committed(bootstrap, topics.sink, lambda rows: BEFORE_KILL <= _alert_ids(rows), timeout_s=180)
        assert _alert_ids(first) == BEFORE_KILL, log.read_text()[-3000:]
        # Paging from here on, across the kill and the restart. (Started before the topic had any
        # record, the dispatcher's consumer once sat the whole test out on a loaded machine.)
        pager.start(topics.sink)
        # The checkpoint after these alerts holds the half-done matches (watermark past them).
        _wait_for_checkpoint_after(checkpoints, _newest_checkpoint(checkpoints), timeout_s=60)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(30)
    assert _newest_checkpoint(checkpoints) > 0, "no checkpoint was retained"

    # While the job is down: the half-done scenarios complete, and two whole new ones.
    s.large_charge(1307, 13, 720)
    s.large_charge(2105, 21, 730)
    s.pay(1402, 14, "80.00", 800, country="JP")
    s.burst(15, 15, 900)
    s.probes(16, 6, 1000)
    s.large_charge(1607, 16, 1100)
    s.pay(9999, 999, "1.00", 6 * 3600)
    script.flush()
    script.close()
    job = flink_jobs.spawn("fraud", topics, checkpoints, log)
    try:
        read_committed(bootstrap, topics.sink, lambda rows: EXPECTED <= _alert_ids(rows), timeout_s=180)
        # Anything extra would come out with the rest; give it a checkpoint's flush.
        _wait_for_checkpoint_after(checkpoints, _newest_checkpoint(checkpoints), timeout_s=60)
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(30)
    starts = [line for line in log.read_text().splitlines() if "flink.job_started" in line]
    assert len(starts) == 2 and "restored_from=-" in starts[0] and "/chk-" in starts[1], starts

    alerts = [r.value for r in changelog.read_all(bootstrap, topics.sink)]
    assert _alert_ids(alerts) == EXPECTED
    received = pager.receive(lambda p: _handled(p.dispatcher.stats) == len(alerts), timeout_s=60)
    assert Counter(page["alert_id"] for page in received) == Counter(EXPECTED), \
        f"{len(alerts)} alerts on the topic, {pager.dispatcher.stats}"
