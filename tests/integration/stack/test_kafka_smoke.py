"""Kafka: produce and consume with kafka-python (the tooling client) against the stack's broker."""

import uuid

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic


def test_produce_and_consume_round_trip(test_stack):
    config = test_stack.need("kafka")
    topic = f"smoke.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=config.kafka.bootstrap, request_timeout_ms=10000)
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])
    admin.close()

    producer = KafkaProducer(bootstrap_servers=config.kafka.bootstrap, acks="all", enable_idempotence=True)
    sent = [(f"acct-{i % 4}".encode(), f'{{"n": {i}}}'.encode()) for i in range(20)]
    for key, value in sent:
        producer.send(topic, key=key, value=value)
    producer.flush(timeout=30)
    producer.close()

    consumer = KafkaConsumer(topic, bootstrap_servers=config.kafka.bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=15000, group_id=f"g-{topic}")
    received = []
    for message in consumer:
        received.append((message.key, message.value, message.partition))
        if len(received) == len(sent):
            break
    consumer.close()
    assert sorted((k, v) for k, v, _ in received) == sorted(sent)
    # Same key, same partition: per-key order is what the CDC contract relies on.
    partitions_by_key = {}
    for key, _, partition in received:
        partitions_by_key.setdefault(key, set()).add(partition)
    assert all(len(p) == 1 for p in partitions_by_key.values())
