"""The fraud job on scripted change streams: each rule fires on its scenario and stays quiet on near misses.

The scenarios mirror pipeline/workload/scenarios.py (what the demo injects);
each has one or two near misses beside it that differ in exactly one respect
(one probe too few, a burst too slow, a second country too late, a known
device, an amount under the threshold, an account idle for too short).
"""

import json
from datetime import datetime, timedelta, timezone

import pytest

from flink_jobs.fraud import job as fraud
from fraud_scenarios import T0, Scenarios, account_row, at
from pipeline.cdc.scripted import ChangeScript, iso, read_committed

LAST_ACTIVE = {16: T0 - timedelta(days=200), 26: T0 - timedelta(days=80), 36: T0 - timedelta(days=200),
               46: T0 - timedelta(days=200)}  # the rest: two days ago
ACCOUNTS = (11, 12, 13, 14, 15, 16, 21, 22, 23, 24, 25, 26, 32, 34, 36, 46)
EXPECTED = {
    ("card_testing", 11, "card_testing:1107"),
    ("velocity_spike", 12, "velocity_spike:1214"),
    ("impossible_travel", 13, "impossible_travel:1302"),
    ("new_device_large_transfer", 14, "new_device_large_transfer:1401"),
    ("mcc_anomaly", 15, "mcc_anomaly:1501"),
    ("dormant_reactivation", 16, "dormant_reactivation:16@{dormant_lsn}"),
}


@pytest.fixture(scope="module")
def alerts(flink_jobs):
    config = flink_jobs.config
    topics = flink_jobs.topics(("transactions", "logins", "accounts", "merchants"), "fraud_alerts")
    script = ChangeScript(config.kafka.bootstrap, topics.sources, 3)
    s = Scenarios(script)

    day_before = T0 - timedelta(days=1)
    script.snapshot("merchants", {"merchant_id": 500, "mcc": "5411", "country": "US"}, day_before)
    script.snapshot("merchants", {"merchant_id": 501, "mcc": "7995", "country": "US"}, day_before)
    for account in ACCOUNTS:
        script.snapshot("accounts", account_row(account, LAST_ACTIVE.get(account, T0 - timedelta(days=2))), day_before)
    for login_id, customer in ((1, 1014), (2, 1024), (3, 1034)):
        s.login(login_id, customer, "dev-known", -86400, op="r")

    # card testing: six 1.00 probes then 800.00 online; near miss: four probes.
    s.probes(11, 6, 60)
    s.large_charge(1107, 11, 180)
    s.probes(21, 4, 60)
    s.large_charge(2105, 21, 180)
    # velocity: 15 payments in 15 s; near misses: 13 in 13 s, and 14 spread over 65 s.
    s.burst(12, 15, 300)
    s.burst(22, 13, 300)
    s.burst(32, 14, 300, every_s=5)
    # back-loaded history (created a day before its commit) is not a payment happening now.
    script.insert("transactions", {"transaction_id": 3601, "account_id": 26, "card_id": 260, "merchant_id": 501,
                                   "amount": "5000.00", "currency": "USD", "direction": "debit",
                                   "channel": "ecommerce", "country": "US", "status": "settled",
                                   "created_at": iso(at(3000 - 86400))}, at(3000))
    # impossible travel: US then JP ten minutes later; near miss: two hours later.
    s.pay(1301, 13, "120.00", 600)
    s.pay(1302, 13, "80.00", 1200, country="JP")
    s.pay(2301, 23, "120.00", 600)
    s.pay(2302, 23, "80.00", 600 + 7200, country="JP")
    # new device then a large transfer; near misses: a known device, and a transfer under the threshold.
    s.login(11, 1014, "dev-new", 1800)
    s.pay(1401, 14, "5000.00", 1860, channel="transfer")
    s.login(12, 1024, "dev-known", 1800)
    s.pay(2401, 24, "5000.00", 1860, channel="transfer")
    s.login(13, 1034, "dev-new-too", 1800)
    s.pay(3401, 34, "1000.00", 1860, channel="transfer")
    # high-risk category; near miss: the same category under the amount.
    s.pay(1501, 15, "900.00", 2400, channel="ecommerce", merchant=501)
    s.pay(2501, 25, "100.00", 2400, channel="ecommerce", merchant=501)
    # dormant for 200 days: the payment's settlement debits the account and moves its last activity,
    # in the same millisecond as the payment (as the workload's pipelined writers do); then a second
    # payment, after the account is active again. Near misses: idle for 80 days; a debit under the
    # amount; a deposit.
    s.pay(1601, 16, "500.00", 3000, channel="ecommerce")
    dormant_lsn = s.settle(16, LAST_ACTIVE[16], "1000.00", "500.00", 3000)
    s.pay(1602, 16, "500.00", 3060, channel="ecommerce")
    s.settle(16, at(3000), "500.00", "0.00", 3060)
    s.settle(26, LAST_ACTIVE[26], "1000.00", "500.00", 3000)
    s.settle(36, LAST_ACTIVE[36], "1000.00", "900.00", 3000)
    s.settle(46, LAST_ACTIVE[46], "1000.00", "1900.00", 3000)
    # Move both event streams' watermarks past everything (the quiet partitions go idle).
    s.pay(9999, 999, "1.00", 6 * 3600)
    script.insert("logins", {"login_id": 9999, "customer_id": 9999, "device_id": "x", "ip": "1.1.1.1",
                             "country": "US", "success": True, "created_at": iso(at(6 * 3600))}, at(6 * 3600))
    script.flush()
    script.close()

    flink_jobs.start(fraud.build(config, topics))
    read_committed(config.kafka.bootstrap, topics.sink, lambda rows: len(rows) >= len(EXPECTED), timeout_s=240)
    # Anything a near miss wrongly produced would come out with the rest; read again a moment later.
    return read_committed(config.kafka.bootstrap, topics.sink, lambda rows: False, timeout_s=5), dormant_lsn


def test_every_rule_fires_on_its_scenario_and_only_there(alerts):
    found, dormant_lsn = alerts
    expected = {(rule, account, alert_id.format(dormant_lsn=dormant_lsn)) for rule, account, alert_id in EXPECTED}
    assert {(a["rule_id"], a["account_id"], a["alert_id"]) for a in found} == expected


def test_an_alert_carries_evidence_and_both_times(alerts):
    alerts, _ = alerts
    card = next(a for a in alerts if a["rule_id"] == "card_testing")
    assert card["severity"] == "high" and card["pattern"] == "card_testing"
    assert card["event_time"].startswith("2030-01-01T00:03:00")
    assert datetime.fromisoformat(card["detected_at"].replace("Z", "+00:00")) > datetime.now(timezone.utc) - \
        timedelta(hours=1)
    evidence = json.loads(card["evidence"])
    assert (evidence["probes"], evidence["card_id"], evidence["large_tx"], evidence["large_amount"]) == \
        (6, 110, 1107, "800.00")
    travel = json.loads(next(a for a in alerts if a["rule_id"] == "impossible_travel")["evidence"])
    assert (travel["from_country"], travel["to_country"]) == ("US", "JP")
    dormant = json.loads(next(a for a in alerts if a["rule_id"] == "dormant_reactivation")["evidence"])
    assert (dormant["dormant_days"], dormant["debit"]) == (200, "500.00")
