"""The computed change stream behaves like the live writers' changes as the CDC reader would see them."""

import itertools
from collections import Counter
from datetime import datetime, timedelta, timezone

from pipeline.workload.changes import stream
from pipeline.workload.traffic import LOGIN_SHARE

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
KEYS = {"transactions": "transaction_id", "accounts": "account_id", "logins": "login_id",
        "merchants": "merchant_id"}


def _take(n, **kwargs):
    return list(itertools.islice(stream(start=T0, changes_per_s=1000, customers=200, merchants=20, **kwargs), n))


def test_same_seed_same_changes():
    assert _take(3000, seed=3) == _take(3000, seed=3)
    assert _take(3000, seed=3) != _take(3000, seed=4)


def test_snapshot_first_then_traffic_at_the_chosen_rate():
    changes = _take(20_000)
    snapshot = list(itertools.takewhile(lambda c: c.op == "r", changes))
    assert {c.table for c in snapshot} == {"accounts", "merchants"} and all(c.at == T0 for c in snapshot)
    assert {c.op for c in changes[len(snapshot):]} == {"c", "u"}
    times = [c.at for c in changes]
    assert times == sorted(times)
    assert abs(times[-1] - (T0 + timedelta(seconds=len(changes) / 1000))) < timedelta(seconds=0.1)


def test_every_update_carries_the_row_as_it_was_and_payments_are_decided():
    rows, ops = {}, Counter()
    for c in _take(30_000):
        key = (c.table, c.after[KEYS[c.table]])
        if c.op == "u":
            assert c.before == rows[key], c  # the whole old row, as REPLICA IDENTITY FULL gives it
        else:
            assert key not in rows
        rows[key] = c.after
        ops[(c.table, c.op, c.after.get("status"))] += 1
    inserted = ops[("transactions", "c", "pending")]
    decided = ops[("transactions", "u", "settled")] + ops[("transactions", "u", "declined")]
    assert inserted - decided <= 5  # SETTLE_LAG payments still pending at the end
    assert 0.02 < ops[("transactions", "u", "declined")] / decided < 0.07
    assert ops[("accounts", "u", "active")] >= ops[("transactions", "u", "settled")]  # a settlement moves the balance
    logins = ops[("logins", "c", None)]
    assert abs(logins / (logins + inserted) - LOGIN_SHARE) < 0.02


def test_a_settlement_moves_the_balance_by_the_amount():
    changes = _take(10_000)
    checked = 0
    for settle, move in zip(changes, changes[1:]):
        if settle.op == "u" and settle.table == "transactions" and settle.before["status"] == "pending" \
                and settle.after["status"] == "settled":
            row = settle.after
            signed = float(row["amount"]) * (1 if row["direction"] == "credit" else -1)
            delta = float(move.after["balance"]) - float(move.before["balance"])
            assert move.table == "accounts" and move.after["account_id"] == row["account_id"]
            assert abs(delta - signed) < 0.005 and move.at == settle.at
            checked += 1
    assert checked > 1000
