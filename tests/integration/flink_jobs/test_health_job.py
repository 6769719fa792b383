"""The health job on a scripted stream with known answers: a row on every change, and every 5 minutes.

Customer 1001 fails three logins out of four, then their account 1 makes four
payments, two are declined and its balance falls 40.00: with the test's
weights its score ends at exactly 74.7, and each change of the account on the
way has its own row with the score at that moment, the owner's logins
included. Account 5 is customer 1001's second account: a deposit is its only
change, and its rows carry the same logins. Account 2 pays once and its owner
does not log in: 100. Account 4's payment is reversed: 90. Customer 1007 only
logs in: their account 7 has no row. Commit times are chosen (2030-01-01);
changes half an hour later, and the reader's watermark records just after
them (sent on while the test reads, as the reader does while transactions
flow), move the watermark past the first six 5-minute slides.
"""

from datetime import datetime, timedelta, timezone

import pytest

from flink_jobs.health import job as health
from flink_jobs.health import weights
from pipeline.cdc.scripted import ChangeScript, iso, read_committed
from pipeline.money import CURRENCIES

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
FIRST_END = T0 + timedelta(minutes=5)
LATER_S = 1800
# Small round weights, so the expected score is worked out by hand below.
WEIGHTS = weights.parse({"version": 1, "penalties": {
    "declines": {"weight": 5, "cap": 25},                        # 2 declines: 10
    "decline_ratio_pct": {"weight": 0.1, "free": 20, "cap": 15},  # 50 %: (50 - 20) * 0.1 = 3
    "reversals": {"weight": 10, "cap": 20},                      # 1: 10
    "failed_logins": {"weight": 4, "cap": 20},                   # 3: 12
    "logins": {"weight": 1, "free": 10, "cap": 10},
    "payments": {"weight": 0.5, "free": 50, "cap": 10},
    # 40.00 USD: (40 - 10) * 0.01 = 0.3; another currency's weights would not apply to a USD account.
    "balance_drop": {"cap": 20, "currencies": {c: {"weight": 0.01 if c == "USD" else 5, "free": "10.00"}
                                               for c in CURRENCIES}},
}}, "test weights")
INPUTS = ("payments", "amount_cents", "declines", "reversals", "balance_change_cents", "logins", "failed_logins")
# Account 1's change rows: (seconds after T0, payments, declines, balance change, logins, failed logins, score).
# The owner's four logins (5-8 s, three failed) are before all of them: 3 failed logins cost 12.
ACCOUNT_1_CHANGES = [
    (10, 1, 0, 0, 4, 3, 88.0),      # payments
    (11, 2, 0, 0, 4, 3, 88.0),
    (12, 3, 0, 0, 4, 3, 88.0),
    (13, 4, 0, 0, 4, 3, 88.0),
    (20, 4, 1, 0, 4, 3, 82.5),      # declined: 5 + (25 - 20) * 0.1 + 12
    (21, 4, 2, 0, 4, 3, 75.0),      # declined: 10 + 3 + 12
    (30, 4, 2, -4000, 4, 3, 74.7),  # balance -40.00: + 0.3
]


def _at(seconds):
    return T0 + timedelta(seconds=seconds)


def _tx(tx_id, account, amount, status="pending", seconds=0):
    return {"transaction_id": tx_id, "account_id": account, "card_id": account * 10, "merchant_id": 100,
            "amount": amount, "currency": "USD", "direction": "debit", "channel": "ecommerce", "country": "US",
            "status": status, "created_at": iso(_at(seconds))}


def _account(account, balance, customer=None):
    return {"account_id": account, "customer_id": customer or account + 1000, "currency": "USD",
            "status": "active", "balance": balance, "last_activity_at": iso(T0)}


def _login(login_id, customer, success, seconds):
    return {"login_id": login_id, "customer_id": customer, "device_id": "dev", "ip": "23.45.1.1",
            "country": "US", "success": success, "created_at": iso(_at(seconds))}


def _end(row):
    return datetime.fromisoformat(row["window_end"].replace("Z", "+00:00"))


def _seconds(row):
    return (_end(row) - T0).total_seconds()


def _changes(rows, account):
    return sorted((r for r in rows if r["account_id"] == account and r["trigger"] == "change"), key=_seconds)


def _scheduled(rows, account, end=FIRST_END):
    return next(r for r in rows if r["account_id"] == account and r["trigger"] == "schedule" and _end(r) == end)


def _complete(rows):
    keys = {(r["account_id"], r["trigger"], _seconds(r)) for r in rows}
    return (keys >= {(a, "schedule", 300.0) for a in (1, 2, 4, 5)}
            and keys >= {(1, "change", 30.0), (2, "change", 45.0), (4, "change", 70.0), (5, "change", 50.0),
                         (3, "change", 1800.0)})


@pytest.fixture(scope="module")
def rows(flink_jobs):
    config = flink_jobs.config
    topics = flink_jobs.topics(health.EVENT_TABLES, "account_health")
    script = ChangeScript(config.kafka.bootstrap, topics.sources, 3)

    for account in (1, 2, 3, 4):
        script.snapshot("accounts", _account(account, "1000.00"), T0 - timedelta(days=1))
    script.snapshot("accounts", _account(5, "1000.00", customer=1001), T0 - timedelta(days=1))
    script.snapshot("accounts", _account(7, "1000.00"), T0 - timedelta(days=1))
    # Account 1: four payments of 20.00, two declined, two settled (balance -40.00).
    for i in range(4):
        script.insert("transactions", _tx(10 + i, 1, "20.00", seconds=10 + i), _at(10 + i))
    for i in (0, 1):
        script.update("transactions", _tx(10 + i, 1, "20.00", seconds=10 + i),
                      _tx(10 + i, 1, "20.00", "declined", seconds=10 + i), _at(20 + i))
    script.update("accounts", _account(1, "1000.00"), _account(1, "960.00"), _at(30))
    for i, success in enumerate((False, False, True, False)):
        script.insert("logins", _login(100 + i, 1001, success, 5 + i), _at(5 + i))
    # Account 5 (customer 1001's second account): a deposit of 10.00, its only change.
    script.update("accounts", _account(5, "1000.00", customer=1001), _account(5, "1010.00", customer=1001), _at(50))
    # Customer 1007: a failed login, and nothing on their account 7.
    script.insert("logins", _login(300, 1007, False, 55), _at(55))
    # Account 2: one payment of 5.00, settled; its owner does not log in.
    script.insert("transactions", _tx(20, 2, "5.00", seconds=40), _at(40))
    script.update("accounts", _account(2, "1000.00"), _account(2, "995.00"), _at(45))
    # Account 4: a payment of 7.00, reversed ten seconds later.
    script.insert("transactions", _tx(40, 4, "7.00", seconds=60), _at(60))
    script.update("transactions", _tx(40, 4, "7.00", seconds=60), _tx(40, 4, "7.00", "reversed", seconds=60),
                  _at(70))
    # Half an hour later, account 3: a payment, its balance change and its owner's login, all at one
    # commit time; then (below) the reader's watermark records just after, in every partition.
    script.insert("transactions", _tx(30, 3, "1.00", seconds=LATER_S), _at(LATER_S))
    script.update("accounts", _account(3, "1000.00"), _account(3, "999.00"), _at(LATER_S))
    script.insert("logins", _login(200, 1003, True, LATER_S), _at(LATER_S))
    script.flush()

    with script.watermarks(_at(LATER_S + 1)):
        # Every partition gets watermark records, so none needs to go idle; the tests' 2 s timeout let
        # partitions whose first fetch came late (a loaded machine at job start) be passed over, and their
        # rows then arrived behind the watermark and were dropped.
        flink_jobs.start(health.build(config, topics, penalties=WEIGHTS), idle_timeout_ms=60_000)
        found = read_committed(config.kafka.bootstrap, topics.sink, _complete, timeout_s=240)
    script.close()
    return found


def test_an_account_with_declines_and_failed_logins_gets_the_exact_score(rows):
    first = _scheduled(rows, 1)
    assert {k: first[k] for k in ("customer_id", "currency", *INPUTS)} == {
        "customer_id": 1001, "currency": "USD", "payments": 4, "amount_cents": 8000, "declines": 2, "reversals": 0,
        "balance_change_cents": -4000, "logins": 4, "failed_logins": 3}
    assert first["decline_ratio_pct"] == pytest.approx(50.0)
    assert first["score"] == pytest.approx(74.7)  # 100 - (10 + 3 + 12 + 0.3)


def test_a_quiet_account_scores_100(rows):
    first = _scheduled(rows, 2)
    assert (first["payments"], first["logins"], first["score"]) == (1, 0, 100.0)


def test_active_accounts_are_scored_every_five_minutes(rows):
    scheduled = [r for r in rows if r["account_id"] == 1 and r["trigger"] == "schedule"]
    ends = sorted(_end(r) for r in scheduled)
    assert ends[:2] == [FIRST_END, FIRST_END + timedelta(minutes=5)]
    assert len(ends) == len(set(ends))  # once per slide
    assert all(r["score"] == pytest.approx(74.7) for r in scheduled)


def test_every_change_of_an_account_has_a_row_with_the_score_at_that_moment(rows):
    changes = _changes(rows, 1)
    assert [(_seconds(r), r["payments"], r["declines"], r["balance_change_cents"], r["logins"],
             r["failed_logins"], r["score"]) for r in changes] == ACCOUNT_1_CHANGES
    assert all(r["customer_id"] == 1001 and r["reversals"] == 0 for r in changes)
    assert all(_end(r) - datetime.fromisoformat(r["window_start"].replace("Z", "+00:00")) == timedelta(hours=24)
               for r in changes)


def test_a_reversal_and_a_balance_change_each_make_a_row(rows):
    assert [(_seconds(r), r["payments"], r["reversals"], r["score"]) for r in _changes(rows, 4)] == [
        (60, 1, 0, 100.0), (70, 1, 1, 90.0)]
    assert [(_seconds(r), r["balance_change_cents"], r["score"]) for r in _changes(rows, 2)] == [
        (40, 0, 100.0), (45, -500, 100.0)]


def test_the_owners_logins_reach_each_of_their_accounts(rows):
    """Account 5's deposit: customer 1001's logins, the same ones account 1 saw (a rise costs nothing)."""
    assert [(_seconds(r), r["payments"], r["balance_change_cents"], r["logins"], r["failed_logins"], r["score"])
            for r in _changes(rows, 5)] == [(50, 0, 1000, 4, 3, 88.0)]
    assert _scheduled(rows, 5)["score"] == 88.0


def test_logins_alone_make_no_row(rows):
    """A login is not a change of an account: customer 1007 logged in, their account 7 did nothing."""
    assert not [r for r in rows if r["account_id"] == 7 or r["customer_id"] == 1007]


def test_changes_at_one_commit_time_all_show_that_commits_sums(rows):
    """The payment and the balance change each make a row, and the owner's login at that same commit
    time counts in both (a change row covers its commit time inclusive)."""
    changes = _changes(rows, 3)
    assert len(changes) == 2
    assert {(r["payments"], r["balance_change_cents"], r["logins"], r["score"]) for r in changes} == {
        (1, -100, 1, 100.0)}


@pytest.mark.parametrize("account", [1, 2, 4, 5])
def test_the_last_change_and_the_next_scheduled_row_agree(rows, account):
    """Nothing happens between an account's last change and FIRST_END: both kinds of row sum the same
    events, so the shared formula must give the same inputs and score."""
    last, scheduled = _changes(rows, account)[-1], _scheduled(rows, account)
    fields = ("customer_id", "score", "decline_ratio_pct", *INPUTS)
    assert {k: last[k] for k in fields} == {k: scheduled[k] for k in fields}
