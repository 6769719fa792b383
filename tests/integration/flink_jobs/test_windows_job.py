"""The windows job on a scripted change stream with known answers, exact to the cent.

Commit times are chosen (2030-01-01, compressed into seconds of wall time):
inserts, updates inside and across windows, a delete, a resend of the same
event, and, after the first windows were written, changes arriving late,
resends of changes whose windows were written, and a resend of a late change
after its late row was written. Summing every row the job wrote for a
(window, account, currency) must give Postgres' figures for that window.
A merchant paid in two currencies (and a payment whose currency was
corrected) gets one row per currency, each equal to Postgres' per-currency sum.
"""

import dataclasses
import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone

from decimal import Decimal

import pytest

from flink_jobs import runner, windows
from pipeline.cdc.scripted import ChangeScript, iso, read_committed

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
WINDOW_A, WINDOW_B = T0, T0 + timedelta(minutes=5)
FIRST_WINDOWS = {(WINDOW_A, "account", 1), (WINDOW_A, "account", 2), (WINDOW_B, "account", 1),
                 (WINDOW_A, "merchant", 100), (WINDOW_A, "merchant", 200), (WINDOW_B, "merchant", 101),
                 (WINDOW_A, "merchant", 300)}
TWO_CURRENCY_MERCHANT = 300


def _tx(tx_id, account, amount, status="pending", merchant=100, card=7, currency="USD"):
    return {"transaction_id": tx_id, "account_id": account, "card_id": card, "merchant_id": merchant,
            "amount": amount, "currency": currency, "direction": "debit", "channel": "ecommerce", "country": "US",
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
    t1_insert = script.insert("transactions", t1, _at(10))
    script.insert("transactions", t2, _at(20))
    script.update("transactions", t1, {**t1, "status": "settled"}, _at(30))
    t2_decline = script.update("transactions", t2, {**t2, "status": "declined"}, _at(40))
    script.insert("transactions", t3, _at(50))
    script.delete("transactions", t3, _at(60))
    t4_insert = script.insert("transactions", t4, _at(100))
    # Merchant 300 in window A, paid in USD (account 3) and EUR (account 4): an EUR amount corrected, and a
    # payment entered as USD whose currency was corrected to EUR. Postgres' final rows are kept beside.
    two_currency = {}
    for tx in (_tx(11, 3, "12.34", merchant=300, card=31), _tx(12, 4, "56.78", merchant=300, card=41, currency="EUR"),
               _tx(13, 4, "10.00", merchant=300, card=41, currency="EUR"), _tx(14, 3, "0.66", merchant=300, card=31),
               _tx(15, 3, "5.00", merchant=300, card=31)):
        script.insert("transactions", tx, _at(110 + tx["transaction_id"]))
        two_currency[tx["transaction_id"]] = tx
    for tx_id, change in ((13, {"amount": "11.11"}), (15, {"currency": "EUR"})):
        script.update("transactions", two_currency[tx_id], {**two_currency[tx_id], **change}, _at(130 + tx_id))
        two_currency[tx_id] = {**two_currency[tx_id], **change}
    script.update("transactions", t4, {**t4, "amount": "1000.10"}, _at(240))
    # Window B [00:05, 00:10): t1 reversed (its insert was in A), a new payment, sent twice.
    script.update("transactions", {**t1, "status": "settled"}, {**t1, "status": "reversed"}, _at(360))
    t5 = _tx(5, 1, "7.77", card=9, merchant=101)
    t5_insert = script.insert("transactions", t5, _at(420))
    script.resend(t5_insert)
    # Moves the watermark past both windows; the other partitions go idle and stop holding it back.
    script.insert("transactions", _tx(99, 999, "1.00"), _at(1800), partition=0)
    script.flush()

    flink_jobs.start(windows.build(config, topics))
    first = read_committed(config.kafka.bootstrap, topics.sink,
                           lambda rows: {(_start(r), r["dimension"], r["entity_id"]) for r in rows} >= FIRST_WINDOWS,
                           timeout_s=180)

    # After windows A and B were written: resends of their changes (an insert, both rows of an update,
    # a third copy of t5), then changes committed in window A arriving late, behind them in each partition.
    for lsn in (t1_insert, t2_decline, t5_insert, t4_insert):
        script.resend(lsn)
    t4_late = script.update("transactions", {**t4, "amount": "1000.10"}, {**t4, "amount": "900.00"}, _at(120))
    t2_late = script.delete("transactions", {**t2, "status": "declined"}, _at(130))
    script.flush()
    late = read_committed(config.kafka.bootstrap, topics.sink,
                          lambda rows: sum(1 for r in rows if r["late"]) >= 6, timeout_s=120)

    # After the late rows were written: the late changes again, then one new late payment per partition
    # (accounts 1 and 2), which the job can only write after reading the resends ahead of it.
    script.resend(t4_late)
    script.resend(t2_late)
    script.insert("transactions", _tx(6, 1, "3.00"), _at(150))
    script.insert("transactions", _tx(7, 2, "4.00", merchant=200, card=8), _at(160))
    script.flush()
    final = read_committed(config.kafka.bootstrap, topics.sink,
                           lambda rows: sum(1 for r in rows if r["late"]) >= 10, timeout_s=120)
    script.close()
    return first, late, final, list(two_currency.values())


def _totals(rows, dimension="account", currency="USD"):
    sums = defaultdict(lambda: defaultdict(int))
    for r in rows:
        if r["dimension"] == dimension and r["currency"] == currency:
            for field in ("tx_count", "amount_cents", "declined_count", "new_tx_count"):
                sums[(_start(r), r["entity_id"])][field] += r[field]
    return {k: dict(v) for k, v in sums.items()}


def test_windows_count_updates_deletes_and_resends_exactly(stream):
    first, _, _, _ = stream
    totals = _totals(first)
    # t1 10.25 + t2 5.00 (t3 inserted and deleted; the updates move no count); t2 declined.
    assert totals[(WINDOW_A, 1)] == {"tx_count": 2, "amount_cents": 1525, "declined_count": 1, "new_tx_count": 3}
    assert totals[(WINDOW_A, 2)] == {"tx_count": 1, "amount_cents": 100010, "declined_count": 0, "new_tx_count": 1}
    # t1's reversal is a net zero; t5 counts once although it was sent twice.
    assert totals[(WINDOW_B, 1)] == {"tx_count": 1, "amount_cents": 777, "declined_count": 0, "new_tx_count": 1}
    assert not any(r["late"] for r in first)


def test_window_rows_carry_average_distinct_counts_and_velocity(stream):
    first, _, _, _ = stream
    rows = {(_start(r), r["dimension"], r["entity_id"]): r for r in first
            if not r["late"] and r["entity_id"] != TWO_CURRENCY_MERCHANT}
    a1 = rows[(WINDOW_A, "account", 1)]
    assert (a1["avg_amount_cents"], a1["distinct_cards"], a1["distinct_merchants"]) == (763, 1, 1)
    assert a1["velocity"] is None  # no trailing history yet
    b1 = rows[(WINDOW_B, "account", 1)]
    assert b1["trailing_avg_tx"] == pytest.approx(3 / 12)
    assert b1["velocity"] == pytest.approx(4.0)
    assert rows[(WINDOW_A, "merchant", 100)]["amount_cents"] == 1525
    assert rows[(WINDOW_A, "merchant", 200)]["amount_cents"] == 100010


def _late_rows(rows):
    return sorted((r["entity_id"], r["tx_count"], r["amount_cents"]) for r in rows
                  if r["late"] and r["dimension"] == "account")


def test_late_changes_land_in_their_window_as_signed_rows(stream):
    _, late, _, _ = stream
    # Only the two late changes; the resends of window A's and B's changes, also late now, add nothing.
    assert _late_rows(late) == [(1, -1, -500), (2, -1, -100010), (2, 1, 90000)]
    totals = _totals(late)
    assert totals[(WINDOW_A, 1)] == {"tx_count": 1, "amount_cents": 1025, "declined_count": 0, "new_tx_count": 3}
    assert totals[(WINDOW_A, 2)] == {"tx_count": 1, "amount_cents": 90000, "declined_count": 0, "new_tx_count": 1}
    assert totals[(WINDOW_B, 1)] == {"tx_count": 1, "amount_cents": 777, "declined_count": 0, "new_tx_count": 1}
    assert _totals(late, "merchant")[(WINDOW_A, 200)]["amount_cents"] == 90000


def test_a_late_change_sent_again_counts_once(stream):
    _, _, final, _ = stream
    # The new late payments t6 and t7 are the only additions: the late update and delete, sent again
    # after their late rows were written, are not counted a second time.
    assert _late_rows(final) == [(1, -1, -500), (1, 1, 300), (2, -1, -100010), (2, 1, 400), (2, 1, 90000)]
    totals = _totals(final)
    assert totals[(WINDOW_A, 1)] == {"tx_count": 2, "amount_cents": 1325, "declined_count": 0, "new_tx_count": 4}
    assert totals[(WINDOW_A, 2)] == {"tx_count": 2, "amount_cents": 90400, "declined_count": 0, "new_tx_count": 2}
    assert totals[(WINDOW_B, 1)] == {"tx_count": 1, "amount_cents": 777, "declined_count": 0, "new_tx_count": 1}


def test_a_merchant_paid_in_two_currencies_gets_one_row_per_currency_equal_to_postgres(stream):
    _, _, final, table = stream
    rows = [r for r in final if r["dimension"] == "merchant" and r["entity_id"] == TWO_CURRENCY_MERCHANT]
    assert rows and {r["currency"] for r in rows} == {"USD", "EUR"}
    assert len({(_start(r), r["currency"]) for r in rows if not r["late"]}) == len([r for r in rows if not r["late"]])
    written = defaultdict(lambda: defaultdict(int))
    for r in rows:
        for field in ("tx_count", "amount_cents", "new_tx_count"):
            written[r["currency"]][field] += r[field]
    # What Postgres holds for the merchant: SELECT currency, count(*), sum(amount * 100) ... GROUP BY currency.
    postgres = defaultdict(lambda: defaultdict(int))
    for tx in table:
        postgres[tx["currency"]]["tx_count"] += 1
        postgres[tx["currency"]]["amount_cents"] += int(Decimal(tx["amount"]) * 100)
    assert {c: written[c]["amount_cents"] for c in written} == {c: postgres[c]["amount_cents"] for c in postgres} \
        == {"USD": 1234 + 66, "EUR": 5678 + 1111 + 500}
    assert {c: written[c]["tx_count"] for c in written} == {c: postgres[c]["tx_count"] for c in postgres} \
        == {"USD": 2, "EUR": 3}
    # Payments made: the corrected one was made in USD, so it counts there; its move to EUR moves the net count.
    assert {c: written[c]["new_tx_count"] for c in written} == {"USD": 3, "EUR": 2}
    on_time = {r["currency"]: r for r in rows if not r["late"]}
    assert on_time["EUR"]["avg_amount_cents"] == round((5678 + 1111 + 500) / 3)
    assert (on_time["USD"]["distinct_cards"], on_time["EUR"]["distinct_cards"]) == (1, 1)
    # The accounts' rows are per currency too.
    accounts = {(r["entity_id"], r["currency"]) for r in final if r["dimension"] == "account" and r["entity_id"] in (3, 4)}
    assert accounts == {(3, "USD"), (3, "EUR"), (4, "EUR")}


def test_one_deduplication_serves_every_output_and_expires_by_the_configured_ttl(flink_jobs):
    """The four outputs (windows and late rows, per account and merchant) share one deduplication, and
    it is the only state the TTL expires: the windows and the trailing hour clean up by event time."""
    flink = dataclasses.replace(flink_jobs.config.flink, windows_dedupe_ttl_h=3)
    config = dataclasses.replace(flink_jobs.config, flink=flink)
    spec = windows.build(config)
    plan = json.loads(runner.prepare(config, spec).compile_plan_sql(spec.insert).as_json_string())
    expiring = [(node["type"].rsplit("_", 1)[0], state["ttl"]) for node in plan["nodes"]
                for state in node.get("state", []) if state.get("ttl", "0 ms") != "0 ms"]
    assert expiring == [("stream-exec-deduplicate", "3 h")]
