"""The dispatcher against Kafka and SNS (moto): duplicates and repeats never reach the pager twice."""

import json
import threading
import uuid

from kafka import KafkaProducer

from pipeline.alerts.dispatcher import build, consume
from pipeline.kafka.admin import ensure_topics
from pipeline.stack.services.aws import client


def _alert(alert_id, account, rule):
    return {"alert_id": alert_id, "rule_id": rule, "pattern": rule, "severity": "critical", "account_id": account,
            "event_time": "2030-01-01T00:31:00Z", "detected_at": "2030-01-01T00:31:00.300Z",
            "evidence": json.dumps({"transfer_tx": 1401, "amount": "5000.00"})}


def test_pages_reach_sns_once_per_alert_and_rate_limit(test_stack, tmp_path):
    config = test_stack.need("kafka", "aws")
    suffix = uuid.uuid4().hex[:8]
    topic = f"t.{suffix}.fraud_alerts"
    ensure_topics(config.kafka.bootstrap, [topic], 3)
    sns, sqs = client(config.aws, "sns"), client(config.aws, "sqs")
    dispatcher = build(config, tmp_path / "pages.sqlite")
    queue_url = sqs.create_queue(QueueName=f"pages-{suffix}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=dispatcher.topic_arn, Protocol="sqs", Endpoint=queue_arn)

    alerts = [_alert("new_device_large_transfer:1401", 14, "new_device_large_transfer"),
              _alert("new_device_large_transfer:1401", 14, "new_device_large_transfer"),  # replayed
              _alert("new_device_large_transfer:1499", 14, "new_device_large_transfer"),  # same account+rule
              _alert("mcc_anomaly:1501", 15, "mcc_anomaly")]
    producer = KafkaProducer(bootstrap_servers=config.kafka.bootstrap, acks="all")
    for alert in alerts:
        producer.send(topic, key=json.dumps({"account_id": alert["account_id"]}).encode(),
                      value=json.dumps(alert).encode())
    producer.flush(30)
    producer.close()

    stop = threading.Event()
    worker = threading.Thread(target=consume, args=(config, dispatcher, stop),
                              kwargs={"topic": topic, "group_id": f"pager-{suffix}"})
    worker.start()
    try:
        received = []
        for _ in range(20):
            received += sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1,
                                            MaxNumberOfMessages=10).get("Messages", [])
            if len(dispatcher.ledger.pages()) == 3 and len(received) >= 2:
                break
    finally:
        stop.set()
        worker.join(30)
    pages = {p.alert_id: p.outcome for p in dispatcher.ledger.pages()}
    assert pages == {"new_device_large_transfer:1401": "sent", "new_device_large_transfer:1499": "rate_limited",
                     "mcc_anomaly:1501": "sent"}
    bodies = sorted(json.loads(json.loads(m["Body"])["Message"])["alert_id"] for m in received)
    assert bodies == ["mcc_anomaly:1501", "new_device_large_transfer:1401"]
    assert dispatcher.stats.duplicates == 1
