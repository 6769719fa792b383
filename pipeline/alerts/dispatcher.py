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

It also pages the CDC reader's dead letters (changes Kafka refused, with
[cdc] on_rejected = "dead-letter") as critical pipeline pages, and records any
record that is neither (records.py) as rejected instead of crashing on it.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline import log
from pipeline.aws import client
from pipeline.alerts import records
from pipeline.alerts.ledger import Ledger, Page
from pipeline.config import Config

_log = log.get("alerts")


@dataclass
class Stats:
    sent: int = 0
    duplicates: int = 0
    rate_limited: int = 0
    rejected: int = 0


def message(alert: dict) -> tuple[str, str]:
    """Subject (SNS allows 100 characters) and body of the page for one alert."""
    if alert["rule_id"] == records.DEAD_LETTER_RULE:
        subject = f"[{alert['severity'].upper()}] CDC: Kafka refused a change of {alert['evidence']['table']}"[:100]
    else:
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
        # boto3 clients are thread-safe; a few pages in flight at once is all a burst needs.
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="sns")

    def handle(self, alert: dict) -> str:
        """Page, suppress or drop one alert; returns what happened: sent, rate_limited or duplicate."""
        return self.handle_batch([alert])[0]

    def handle_batch(self, alerts: list[dict]) -> list[str]:
        """One poll's alerts, in order: each is decided against the ledger and the alerts before it
        (dedupe, rate limit), then the pages go to SNS concurrently, then all are recorded. A burst
        (card testing and velocity often fire together) is not paged one SNS round trip after
        another: measured, sequential publishing put up to 0.5 s on the last page of a burst."""
        decided: list[tuple[dict, str]] = []
        seen: set[str] = set()
        sent_at: dict[tuple, float] = {}
        now = self.clock()
        for alert in alerts:
            key = (alert["account_id"], alert["rule_id"])
            if alert["alert_id"] in seen or self.ledger.seen(alert["alert_id"]):
                outcome = "duplicate"
            else:
                last = sent_at.get(key, self.ledger.last_sent(*key))
                outcome = "rate_limited" if last is not None and now - last < self.rate_limit_s else "sent"
                if outcome == "sent":
                    sent_at[key] = now
            seen.add(alert["alert_id"])
            decided.append((alert, outcome))
        to_page = [alert for alert, outcome in decided if outcome == "sent"]
        published = dict(zip((a["alert_id"] for a in to_page), self._pool.map(self._publish, to_page)))
        for alert, outcome in decided:
            if outcome == "duplicate":
                self.stats.duplicates += 1
                continue
            message_id, handled_at = published.get(alert["alert_id"], (None, now))
            self.stats.sent += outcome == "sent"
            self.stats.rate_limited += outcome == "rate_limited"
            self.ledger.record(Page(alert["alert_id"], alert["rule_id"], alert["account_id"], alert["severity"],
                                    alert["event_time"], alert["detected_at"], outcome, message_id, handled_at))
            _log.info("alerts.page" if outcome == "sent" else "alerts.suppressed", alert_id=alert["alert_id"],
                      outcome=outcome, account=alert["account_id"], rule=alert["rule_id"])
        return [outcome for _, outcome in decided]

    def handle_records(self, batch: list, dead_letter_topic: str) -> list[str]:
        """Kafka records (fraud alerts and dead letters) -> alerts, in order; malformed ones are
        recorded as rejected with their position and reason."""
        alerts = []
        for r in batch:
            try:
                alerts.append(records.dead_letter_alert(r.value) if r.topic == dead_letter_topic
                              else records.fraud_alert(r.value))
            except records.Malformed as exc:
                self.stats.rejected += 1
                head = (r.value or b"")[:512].decode(errors="replace")
                self.ledger.reject(r.topic, r.partition, r.offset, str(exc), head, self.clock())
                _log.error("alerts.rejected", topic=r.topic, partition=r.partition, offset=r.offset, reason=str(exc))
        return self.handle_batch(alerts) if alerts else []

    def _publish(self, alert: dict) -> tuple[str, float]:
        """SNS message id, and when SNS accepted it (the page's time in the ledger and the latency figures)."""
        subject, body = message(alert)
        message_id = self.sns.publish(
            TopicArn=self.topic_arn, Subject=subject, Message=body,
            MessageAttributes={"severity": {"DataType": "String", "StringValue": alert["severity"]},
                               "rule_id": {"DataType": "String", "StringValue": alert["rule_id"]}},
        )["MessageId"]
        return message_id, self.clock()


def consume(config: Config, dispatcher: Dispatcher, stop: threading.Event, *, topic: str | None = None,
            group_id: str | None = None) -> None:
    """Read committed alerts and hand each to the dispatcher until `stop` is set; offsets are committed
    after the ledger has the outcome."""
    from kafka import KafkaConsumer

    from pipeline.kafka.admin import ensure_topics

    topic = topic or config.flink.alerts_topic
    dead_letters = config.cdc.dead_letters
    # The dispatcher may start before the fraud job (or the reader) has made its topic: make it as they
    # would, rather than subscribe to a name that does not exist yet.
    ensure_topics(config.kafka.bootstrap, [topic], config.cdc.partitions)
    ensure_topics(config.kafka.bootstrap, [dead_letters], 1)
    consumer = KafkaConsumer(topic, dead_letters, bootstrap_servers=config.kafka.bootstrap,
                             group_id=group_id or config.alerts.group_id, enable_auto_commit=False,
                             auto_offset_reset="earliest", isolation_level="read_committed",
                             # An alert is paged as soon as the broker has it: short fetch waits, every poll.
                             fetch_max_wait_ms=50)
    try:
        while not stop.is_set():
            batches = consumer.poll(timeout_ms=200)
            if batches:
                dispatcher.handle_records([r for batch in batches.values() for r in batch], dead_letters)
                consumer.commit()
    finally:
        consumer.close()


def build(config: Config, ledger_path: Path | None = None) -> Dispatcher:
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
