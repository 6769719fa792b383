"""Druid: a Kafka supervisor ingests rows from the stack's Kafka; Druid SQL through pydruid reads them back."""

import json
import time
import uuid
from urllib.parse import urlparse

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from pydruid.db import connect

from pipeline.stack import health as probe


def _supervisor(datasource: str, topic: str, bootstrap: str) -> dict:
    return {
        "type": "kafka",
        "spec": {
            "dataSchema": {
                "dataSource": datasource,
                "timestampSpec": {"column": "ts", "format": "iso"},
                "dimensionsSpec": {"dimensions": ["account_id"]},
                "metricsSpec": [{"type": "count", "name": "n"},
                                {"type": "longSum", "name": "amount_cents", "fieldName": "amount_cents"}],
                "granularitySpec": {"segmentGranularity": "hour", "queryGranularity": "none", "rollup": False},
            },
            "ioConfig": {"topic": topic, "inputFormat": {"type": "json"},
                         "consumerProperties": {"bootstrap.servers": bootstrap},
                         "useEarliestOffset": True, "taskCount": 1, "replicas": 1, "taskDuration": "PT10M"},
            "tuningConfig": {"type": "kafka", "maxRowsInMemory": 10000},
        },
    }


def test_kafka_supervisor_ingests_and_sql_reads_back(test_stack):
    config = test_stack.need("kafka", "druid-broker", "druid-coordinator", "druid-historical", "druid-indexer")
    suffix = uuid.uuid4().hex[:8]
    topic, datasource = f"smoke.druid.{suffix}", f"smoke_druid_{suffix}"
    admin = KafkaAdminClient(bootstrap_servers=config.kafka.bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    rows = [{"ts": f"2026-11-20T10:0{i}:00Z", "account_id": f"a{i % 2}", "amount_cents": 1000 + i} for i in range(5)]
    producer = KafkaProducer(bootstrap_servers=config.kafka.bootstrap, acks="all")
    for row in rows:
        producer.send(topic, json.dumps(row).encode())
    producer.flush(30)
    producer.close()

    probe.http(f"{config.druid.overlord}/druid/indexer/v1/supervisor", method="POST",
               body=_supervisor(datasource, topic, config.kafka.bootstrap), timeout=30)
    broker = urlparse(config.druid.broker)
    cursor = connect(host=broker.hostname, port=broker.port, path="/druid/v2/sql/", scheme=broker.scheme).cursor()
    try:
        deadline, result = time.monotonic() + 180, []
        while time.monotonic() < deadline:
            try:
                cursor.execute(f'SELECT account_id, SUM(n) AS n, SUM(amount_cents) AS cents FROM "{datasource}" '
                               "GROUP BY account_id ORDER BY account_id")
                result = [tuple(r) for r in cursor.fetchall()]
            except Exception:  # noqa: BLE001 - datasource not visible to SQL until the first rows land
                result = []
            if sum(r[1] for r in result) == len(rows):
                break
            time.sleep(1)
        assert result == [("a0", 3, 1000 + 1002 + 1004), ("a1", 2, 1001 + 1003)]
    finally:
        probe.http(f"{config.druid.overlord}/druid/indexer/v1/supervisor/{datasource}/terminate", method="POST",
                   timeout=30)
