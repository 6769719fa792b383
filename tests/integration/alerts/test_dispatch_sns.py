"""The dispatcher against Kafka and SNS (moto): duplicates and repeats never reach the pager twice."""

import json
import uuid

from kafka import KafkaProducer

from pipeline.kafka.admin import ensure_topics


def _alert(alert_id, account, rule):
    return {"alert_id": alert_id, "rule_id": rule, "pattern": rule, "severity": "critical", "account_id": account,
            "event_time": "2030-01-01T00:31:00Z", "detected_at": "2030-01-01T00:31:00.300Z",
            "evidence": json.dumps({"transfer_tx": 1401, "amount": "5000.00"})}


def test_pages_reach_sns_once_per_alert_and_rate_limit(pager):
    bootstrap = pager.config.kafka.bootstrap
    topic = f"t.{uuid.uuid4().hex[:8]}.fraud_alerts"
    ensure_topics(bootstrap, [topic], 3)
    alerts = [_alert("new_device_large_transfer:1401", 14, "new_device_large_transfer"),
              _alert("new_device_large_transfer:1401", 14, "new_device_large_transfer"),  # replayed
              _alert("new_device_large_transfer:1499", 14, "new_device_large_transfer"),  # same account+rule
              _alert("mcc_anomaly:1501", 15, "mcc_anomaly")]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for alert in alerts:
        producer.send(topic, key=json.dumps({"account_id": alert["account_id"]}).encode(),
                      value=json.dumps(alert).encode())
    producer.flush(30)
    producer.close()

    pager.start(topic)
    received = pager.receive(lambda p: len(p.dispatcher.ledger.pages()) == 3, timeout_s=20)
    pages = {p.alert_id: p.outcome for p in pager.dispatcher.ledger.pages()}
    assert pages == {"new_device_large_transfer:1401": "sent", "new_device_large_transfer:1499": "rate_limited",
                     "mcc_anomaly:1501": "sent"}
    assert sorted(page["alert_id"] for page in received) == ["mcc_anomaly:1501", "new_device_large_transfer:1401"]
    assert pager.dispatcher.stats.duplicates == 1


def test_dead_letters_page_once_and_malformed_alerts_are_rejected_not_fatal(pager):
    bootstrap = pager.config.kafka.bootstrap
    topic = f"t.{uuid.uuid4().hex[:8]}.fraud_alerts"
    dead_letters = pager.config.cdc.dead_letters
    ensure_topics(bootstrap, [topic], 3)
    ensure_topics(bootstrap, [dead_letters], 1)
    letter = {"reason": "MSG_SIZE_TOO_LARGE", "detail": "Broker: Message size too large", "topic": "fintech.public.notes",
              "table": "public.notes", "key": {"id": 6}, "lsn": 123456, "lsn_text": "0/1E240", "op": "c",
              "txId": 77, "size_bytes": 2_000_000, "value_sha256": "ab" * 32, "value_head": "{...", "ts_ms": 1_900_000_000_000}
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for _ in range(2):  # written again after an aborted transaction: one page
        producer.send(dead_letters, value=json.dumps(letter).encode())
    producer.send(topic, value=b"{not json")
    producer.send(topic, value=json.dumps({"alert_id": "x", "rule_id": "velocity_spike"}).encode())
    producer.send(topic, value=json.dumps(_alert("mcc_anomaly:1601", 16, "mcc_anomaly")).encode())
    producer.flush(30)
    producer.close()

    pager.start(topic)
    received = pager.receive(lambda p: len(p.dispatcher.ledger.pages()) == 2 and len(p.dispatcher.ledger.rejected()) == 2,
                             timeout_s=20)
    assert sorted(page["rule_id"] for page in received) == ["cdc_dead_letter", "mcc_anomaly"]
    page = next(p for p in received if p["rule_id"] == "cdc_dead_letter")
    assert page["severity"] == "critical" and page["evidence"]["table"] == "public.notes"
    assert page["evidence"]["key"] == {"id": 6} and page["evidence"]["lsn_text"] == "0/1E240"
    rejected = pager.dispatcher.ledger.rejected()
    assert [r[0] for r in rejected] == [topic, topic]
    reasons = sorted(r[3] for r in rejected)  # the two may sit in different partitions: any order
    assert reasons[0].startswith("missing severity, account_id") and reasons[1].startswith("not JSON")
    assert pager.dispatcher.stats.rejected == 2 and pager.dispatcher.stats.duplicates == 1
