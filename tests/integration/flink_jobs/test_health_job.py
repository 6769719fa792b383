"""The health job on a scripted stream with known answers.

Account 1 makes four payments, two are declined, its balance falls 40.00 and
its owner fails three logins out of four: with the test's weights its score
is exactly 74.7. Account 2 pays once and its owner does not log in: 100.
Commit times are chosen (2030-01-01); a change half an hour later moves the
watermark past the first six 5-minute slides.
"""

from datetime import datetime, timedelta, timezone

import pytest

from flink_jobs.health import job as health
from flink_jobs.health import weights
from pipeline.kafka.scripted import ChangeScript, iso, read_committed

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
FIRST_END = T0 + timedelta(minutes=5)
# Small round weights, so the expected score is worked out by hand below.
WEIGHTS = weights.parse({"version": 1, "penalties": {
    "declines": {"weight": 5, "cap": 25},                        # 2 declines: 10
    "decline_ratio_pct": {"weight": 0.1, "free": 20, "cap": 15},  # 50 %: (50 - 20) * 0.1 = 3
    "reversals": {"weight": 10, "cap": 20},
    "failed_logins": {"weight": 4, "cap": 20},                   # 3: 12
    "logins": {"weight": 1, "free": 10, "cap": 10},
    "payments": {"weight": 0.5, "free": 50, "cap": 10},
    "balance_drop": {"weight": 0.01, "free": 10, "cap": 20},     # 40.00: (40 - 10) * 0.01 = 0.3
}}, "test weights")


def _at(seconds):
    return T0 + timedelta(seconds=seconds)


def _tx(tx_id, account, amount, status="pending", seconds=0):
    return {"transaction_id": tx_id, "account_id": account, "card_id": account * 10, "merchant_id": 100,
            "amount": amount, "currency": "USD", "direction": "debit", "channel": "ecommerce", "country": "US",
            "status": status, "created_at": iso(_at(seconds))}


def _account(account, balance):
    return {"account_id": account, "customer_id": account + 1000, "currency": "USD", "status": "active",
            "balance": balance, "last_activity_at": iso(T0)}


def _login(login_id, customer, success, seconds):
    return {"login_id": login_id, "customer_id": customer, "device_id": "dev", "ip": "23.45.1.1",
            "country": "US", "success": success, "created_at": iso(_at(seconds))}


def _end(row):
    return datetime.fromisoformat(row["window_end"].replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def rows(flink_jobs):
    config = flink_jobs.config
    topics = flink_jobs.topics(health.EVENT_TABLES, "account_health")
    script = ChangeScript(config.kafka.bootstrap, topics.sources, 3)

    for account in (1, 2, 3):
        script.snapshot("accounts", _account(account, "1000.00"), T0 - timedelta(days=1))
    # Account 1: four payments of 20.00, two declined, two settled (balance -40.00).
    for i in range(4):
        script.insert("transactions", _tx(10 + i, 1, "20.00", seconds=10 + i), _at(10 + i))
    for i in (0, 1):
        script.update("transactions", _tx(10 + i, 1, "20.00", seconds=10 + i),
                      _tx(10 + i, 1, "20.00", "declined", seconds=10 + i), _at(20 + i))
    script.update("accounts", _account(1, "1000.00"), _account(1, "960.00"), _at(30))
    for i, success in enumerate((False, False, True, False)):
        script.insert("logins", _login(100 + i, 1001, success, 5 + i), _at(5 + i))
    # Account 2: one payment of 5.00, settled; its owner does not log in.
    script.insert("transactions", _tx(20, 2, "5.00", seconds=40), _at(40))
    script.update("accounts", _account(2, "1000.00"), _account(2, "995.00"), _at(45))
    # Half an hour later, on every source: the watermark passes the first windows' ends.
    script.insert("transactions", _tx(30, 3, "1.00", seconds=1800), _at(1800), partition=0)
    script.update("accounts", _account(3, "1000.00"), _account(3, "999.00"), _at(1800))
    script.insert("logins", _login(200, 1003, True, 1800), _at(1800), partition=0)
    script.flush()

    flink_jobs.start(health.build(config, topics, penalties=WEIGHTS))
    found = read_committed(config.kafka.bootstrap, topics.sink,
                           lambda rows: {(r["account_id"], _end(r)) for r in rows} >= {(1, FIRST_END), (2, FIRST_END)},
                           timeout_s=240)
    script.close()
    return found


def test_an_account_with_declines_and_failed_logins_gets_the_exact_score(rows):
    first = next(r for r in rows if r["account_id"] == 1 and _end(r) == FIRST_END)
    assert {k: first[k] for k in ("customer_id", "payments", "amount_cents", "declines", "reversals",
                                   "balance_change_cents", "logins", "failed_logins")} == {
        "customer_id": 1001, "payments": 4, "amount_cents": 8000, "declines": 2, "reversals": 0,
        "balance_change_cents": -4000, "logins": 4, "failed_logins": 3}
    assert first["decline_ratio_pct"] == pytest.approx(50.0)
    assert first["score"] == pytest.approx(74.7)  # 100 - (10 + 3 + 12 + 0.3)


def test_a_quiet_account_scores_100(rows):
    first = next(r for r in rows if r["account_id"] == 2 and _end(r) == FIRST_END)
    assert (first["payments"], first["logins"], first["score"]) == (1, 0, 100.0)


def test_active_accounts_are_scored_every_five_minutes(rows):
    ends = sorted(_end(r) for r in rows if r["account_id"] == 1)
    assert ends[:2] == [FIRST_END, FIRST_END + timedelta(minutes=5)]
    assert len(ends) == len(set(ends))  # once per slide
    assert all(r["score"] == pytest.approx(74.7) for r in rows if r["account_id"] == 1)
