"""Dedupe by alert id, rate limit per (account, rule), and a ledger that survives a restart."""

import json

from pipeline.alerts.dispatcher import Dispatcher, message
from pipeline.alerts.ledger import Ledger


class FakeSns:
    def __init__(self):
        self.published = []

    def publish(self, **kwargs):
        self.published.append(kwargs)
        return {"MessageId": f"m{len(self.published)}"}


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def _alert(alert_id, account=7, rule="card_testing"):
    return {"alert_id": alert_id, "rule_id": rule, "pattern": rule, "severity": "high", "account_id": account,
            "event_time": "2030-01-01T00:03:00Z", "detected_at": "2030-01-01T00:03:00.2Z",
            "evidence": json.dumps({"probes": 6})}


def _dispatcher(tmp_path, sns, clock):
    return Dispatcher(sns, "arn:aws:sns:us-east-1:123456789012:pages", Ledger(tmp_path / "pages.sqlite"), 600, clock)


def test_duplicates_are_dropped_and_repeats_rate_limited(tmp_path):
    sns, clock = FakeSns(), Clock()
    d = _dispatcher(tmp_path, sns, clock)
    assert d.handle(_alert("card_testing:1")) == "sent"
    assert d.handle(_alert("card_testing:1")) == "duplicate"
    clock.now += 60
    assert d.handle(_alert("card_testing:2")) == "rate_limited"  # same account and rule, inside 10 minutes
    assert d.handle(_alert("velocity_spike:3", rule="velocity_spike")) == "sent"  # another rule
    assert d.handle(_alert("card_testing:4", account=8)) == "sent"  # another account
    clock.now += 600
    assert d.handle(_alert("card_testing:5")) == "sent"  # the interval has passed
    assert len(sns.published) == 4
    assert [p.outcome for p in d.ledger.pages()] == ["sent", "rate_limited", "sent", "sent", "sent"]


def test_a_batch_is_decided_in_order_and_paged_once_per_key(tmp_path):
    sns, clock = FakeSns(), Clock()
    d = _dispatcher(tmp_path, sns, clock)
    outcomes = d.handle_batch([_alert("card_testing:1"), _alert("velocity_spike:1", rule="velocity_spike"),
                               _alert("card_testing:1"), _alert("card_testing:2"), _alert("card_testing:3", account=8)])
    assert outcomes == ["sent", "sent", "duplicate", "rate_limited", "sent"]
    assert sorted(json.loads(p["Message"])["alert_id"] for p in sns.published) == [
        "card_testing:1", "card_testing:3", "velocity_spike:1"]
    assert [(p.alert_id, p.outcome) for p in d.ledger.pages()] == [
        ("card_testing:1", "sent"), ("card_testing:2", "rate_limited"), ("card_testing:3", "sent"),
        ("velocity_spike:1", "sent")]
    assert all(p.message_id for p in d.ledger.pages() if p.outcome == "sent")


def test_a_restarted_dispatcher_remembers_what_it_sent(tmp_path):
    sns, clock = FakeSns(), Clock()
    first = _dispatcher(tmp_path, sns, clock)
    first.handle(_alert("card_testing:1"))
    first.ledger.close()
    again = _dispatcher(tmp_path, sns, clock)
    assert again.handle(_alert("card_testing:1")) == "duplicate"
    clock.now += 30
    assert again.handle(_alert("card_testing:2")) == "rate_limited"
    assert len(sns.published) == 1


def test_the_page_names_rule_account_and_evidence():
    subject, body = message(_alert("card_testing:1"))
    assert subject == "[HIGH] fraud card_testing on account 7"
    assert json.loads(body)["evidence"] == {"probes": 6}
    assert json.loads(body)["event_time"] == "2030-01-01T00:03:00Z"
