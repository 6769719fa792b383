"""The alert dispatcher: fraud alerts topic -> SNS pages.

Alerts reach the topic at least once (the fraud job does not hold them for a
checkpoint, so a page is not a checkpoint late), and their ids are stable, so
the dispatcher removes duplicates by alert_id. It also rate-limits: at most
one page per (account, rule) per [alerts] rate_limit_s; an alert inside that
interval is recorded as `rate_limited` instead of paging again. Every alert
handled is in the ledger (ledger.py) before its Kafka offset is committed,
so a restart neither loses nor repeats what was decided.

A crash between the SNS publish and the ledger write can repeat that one
page on restart (SNS standard topics have no idempotency key).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline import log
from pipeline.alerts.ledger import Ledger, Page
from pipeline.config import Config

_log = log.get("alerts")


@dataclass
class Stats:
    sent: int = 0
    duplicates: int = 0
    rate_limited: int = 0
    outcomes: list[str] = field(default_factory=list)


def message(alert: dict) -> tuple[str, str]:
    """Subject (SNS allows 100 characters) and body of the page for one alert."""
    subject = f"[{alert['severity'].upper()}] fraud {alert['rule_id']} on account {alert['account_id']}"[:100]
    evidence = alert.get("evidence")
    body = {
        "alert_id": alert["alert_id"], "rule_id": alert["rule_id"], "severity": alert["severity"],
        "account_id": alert["account_id"], "event_time": alert["event_time"], "detected_at": alert["detected_at"],
        "evidence": json.loads(evidence) if isinstance(evidence, str) else evidence,
    }
    return subject, json.dumps(body, sort_keys=True)


class Dispatcher:
    def __init__(self, sns, topic_arn: str, ledger: Ledger, rate_limit_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self.sns = sns
        self.topic_arn = topic_arn
        self.ledger = ledger
        self.rate_limit_s = rate_limit_s
        self.clock = clock
        self.stats = Stats()

    def handle(self, alert: dict) -> str:
        """Page, suppress or drop one alert; returns what happened: sent, rate_limited or duplicate."""
        if self.ledger.seen(alert["alert_id"]):
            self.stats.duplicates += 1
            return "duplicate"
        now = self.clock()
        last = self.ledger.last_sent(alert["account_id"], alert["rule_id"])
        message_id = None
        if last is not None and now - last < self.rate_limit_s:
            outcome = "rate_limited"
            self.stats.rate_limited += 1
        else:
            subject, body = message(alert)
            message_id = self.sns.publish(
                TopicArn=self.topic_arn, Subject=subject, Message=body,
                MessageAttributes={"severity": {"DataType": "String", "StringValue": alert["severity"]},
                                   "rule_id": {"DataType": "String", "StringValue": alert["rule_id"]}},
            )["MessageId"]
            now = self.clock()  # the page's time is when SNS accepted it (what the latency figures measure)
            outcome = "sent"
            self.stats.sent += 1
        self.ledger.record(Page(alert["alert_id"], alert["rule_id"], alert["account_id"], alert["severity"],
                                alert["event_time"], alert["detected_at"], outcome, message_id, now))
        _log.info("alerts.page" if outcome == "sent" else "alerts.suppressed", alert_id=alert["alert_id"],
                  outcome=outcome, account=alert["account_id"], rule=alert["rule_id"])
        return outcome


def consume(config: Config, dispatcher: Dispatcher, stop: threading.Event, *, topic: str | None = None,
            group_id: str | None = None) -> None:
    """Read committed alerts and hand each to the dispatcher until `stop` is set; offsets are committed
    after the ledger has the outcome."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic or config.flink.alerts_topic, bootstrap_servers=config.kafka.bootstrap,
                             group_id=group_id or config.alerts.group_id, enable_auto_commit=False,
                             auto_offset_reset="earliest", isolation_level="read_committed",
                             # An alert is paged as soon as the broker has it: short fetch waits, every poll.
                             fetch_max_wait_ms=50)
    try:
        while not stop.is_set():
            batches = consumer.poll(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    dispatcher.handle(json.loads(record.value))
            if batches:
                consumer.commit()
    finally:
        consumer.close()


def build(config: Config, ledger_path: Path | None = None) -> Dispatcher:
    from pipeline.stack.services.aws import client

    sns = client(config.aws, "sns")
    topic_arn = sns.create_topic(Name=config.aws.sns_topic)["TopicArn"]
    ledger = Ledger(ledger_path or Path(config.run_path(config.alerts.ledger)))
    return Dispatcher(sns, topic_arn, ledger, config.alerts.rate_limit_s)


def run(config: Config) -> None:
    """`cdc-olap alerts dispatch`: until interrupted."""
    dispatcher = build(config)
    _log.info("alerts.dispatching", topic=config.flink.alerts_topic, sns_topic=dispatcher.topic_arn,
              rate_limit_s=config.alerts.rate_limit_s)
    try:
        consume(config, dispatcher, threading.Event())
    finally:
        dispatcher.ledger.close()
