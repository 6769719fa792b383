"""The windows job on a scripted change stream with known answers, exact to the cent.

Commit times are chosen (2030-01-01, compressed into seconds of wall time):
inserts, updates inside and across windows, a delete, a resend of the same
event, and, after the first windows were written, changes arriving late.
Summing every row the job wrote for a (window, account) must give Postgres'
figures for that window.
"""

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest

from flink_jobs import windows
from pipeline.kafka.scripted import ChangeScript, iso, read_committed

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
WINDOW_A, WINDOW_B = T0, T0 + timedelta(minutes=5)
FIRST_WINDOWS = {(WINDOW_A, "account", 1), (WINDOW_A, "account", 2), (WINDOW_B, "account", 1),
                 (WINDOW_A, "merchant", 100), (WINDOW_A, "merchant", 200), (WINDOW_B, "merchant", 101)}


def _tx(tx_id, account, amount, status="pending", merchant=100, card=7):
    return {"transaction_id": tx_id, "account_id": account, "card_id": card, "merchant_id": merchant,
            "amount": amount, "currency": "USD", "direction": "debit", "channel": "ecommerce", "country": "US",
            "status": status, "created_at": iso(T0)}


def _at(seconds):
    return T0 + timedelta(seconds=seconds)


def _start(row):
    return datetime.fromisoformat(row["window_start"].replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def stream(flink_jobs):
    config = flink_jobs.config
    topics = flink_jobs.topics(("transactions",), "tx_windows")
    script = ChangeScript(config.kafka.bootstrap, topics.sources, 3)

    t1, t2, t3 = _tx(1, 1, "10.25"), _tx(2, 1, "5.00"), _tx(3, 1, "99.99")
    t4 = _tx(4, 2, "1000.01", merchant=200, card=8)
    # Window A [00:00, 00:05)
    script.insert("transactions", t1, _at(10))
    script.insert("transactions", t2, _at(20))
    script.update("transactions", t1, {**t1, "status": "settled"}, _at(30))
    script.update("transactions", t2, {**t2, "status": "declined"}, _at(40))
    script.insert("transactions", t3, _at(50))
    script.delete("transactions", t3, _at(60))
    script.insert("transactions", t4, _at(100))
    script.update("transactions", t4, {**t4, "amount": "1000.10"}, _at(240))
    # Window B [00:05, 00:10): t1 reversed (its insert was in A), a new payment, sent twice.
    script.update("transactions", {**t1, "status": "settled"}, {**t1, "status": "reversed"}, _at(360))
    t5 = _tx(5, 1, "7.77", card=9, merchant=101)
    script.resend(script.insert("transactions", t5, _at(420)))
    # Moves the watermark past both windows; the other partitions go idle and stop holding it back.
    script.insert("transactions", _tx(99, 999, "1.00"), _at(1800), partition=0)
    script.flush()

    flink_jobs.start(windows.build(config, topics))
    first = read_committed(config.kafka.bootstrap, topics.sink,
                           lambda rows: {(_start(r), r["dimension"], r["entity_id"]) for r in rows} >= FIRST_WINDOWS,
                           timeout_s=180)

    # Late: changes committed in window A, delivered after it was written.
    script.update("transactions", {**t4, "amount": "1000.10"}, {**t4, "amount": "900.00"}, _at(120))
    script.delete("transactions", {**t2, "status": "declined"}, _at(130))
    script.flush()
    final = read_committed(config.kafka.bootstrap, topics.sink,
                           lambda rows: sum(1 for r in rows if r["late"]) >= 6, timeout_s=120)
    script.close()
    return first, final


def _totals(rows, dimension="account"):
    sums = defaultdict(lambda: defaultdict(int))
    for r in rows:
        if r["dimension"] == dimension:
            for field in ("tx_count", "amount_cents", "declined_count", "new_tx_count"):
                sums[(_start(r), r["entity_id"])][field] += r[field]
    return {k: dict(v) for k, v in sums.items()}


def test_windows_count_updates_deletes_and_resends_exactly(stream):
    first, _ = stream
    totals = _totals(first)
    # t1 10.25 + t2 5.00 (t3 inserted and deleted; the updates move no count); t2 declined.
    assert totals[(WINDOW_A, 1)] == {"tx_count": 2, "amount_cents": 1525, "declined_count": 1, "new_tx_count": 3}
    assert totals[(WINDOW_A, 2)] == {"tx_count": 1, "amount_cents": 100010, "declined_count": 0, "new_tx_count": 1}
    # t1's reversal is a net zero; t5 counts once although it was sent twice.
    assert totals[(WINDOW_B, 1)] == {"tx_count": 1, "amount_cents": 777, "declined_count": 0, "new_tx_count": 1}
    assert not any(r["late"] for r in first)


def test_window_rows_carry_average_distinct_counts_and_velocity(stream):
    first, _ = stream
    rows = {(_start(r), r["dimension"], r["entity_id"]): r for r in first if not r["late"]}
    a1 = rows[(WINDOW_A, "account", 1)]
    assert (a1["avg_amount_cents"], a1["distinct_cards"], a1["distinct_merchants"]) == (763, 1, 1)
    assert a1["velocity"] is None  # no trailing history yet
    b1 = rows[(WINDOW_B, "account", 1)]
    assert b1["trailing_avg_tx"] == pytest.approx(3 / 12)
    assert b1["velocity"] == pytest.approx(4.0)
    assert rows[(WINDOW_A, "merchant", 100)]["amount_cents"] == 1525
    assert rows[(WINDOW_A, "merchant", 200)]["amount_cents"] == 100010


def test_late_changes_land_in_their_window_as_signed_rows(stream):
    _, final = stream
    late = [r for r in final if r["late"] and r["dimension"] == "account"]
    assert sorted((r["entity_id"], r["tx_count"], r["amount_cents"]) for r in late) == [
        (1, -1, -500), (2, -1, -100010), (2, 1, 90000)]
    totals = _totals(final)
    assert totals[(WINDOW_A, 1)] == {"tx_count": 1, "amount_cents": 1025, "declined_count": 0, "new_tx_count": 3}
    assert totals[(WINDOW_A, 2)] == {"tx_count": 1, "amount_cents": 90000, "declined_count": 0, "new_tx_count": 1}
    assert _totals(final, "merchant")[(WINDOW_A, 200)]["amount_cents"] == 90000
