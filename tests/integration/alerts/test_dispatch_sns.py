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
