"""Flink SQL in local execution: a Debezium changelog topic in, an aggregate changelog out."""

import json
import uuid

from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from flink_jobs.environment import kafka_table_options, table_environment
from pipeline.paths import RunPaths


def _envelope(op, before, after, lsn):
    return {"before": before, "after": after, "op": op, "ts_ms": 1_700_000_000_000 + lsn,
            "source": {"connector": "cdc-olap", "lsn": lsn, "table": "transactions"}}


def test_sql_job_reads_debezium_topic_and_writes_another(test_stack):
    config = test_stack.need("kafka")
    suffix = uuid.uuid4().hex[:8]
    source, sink = f"smoke.flink.in.{suffix}", f"smoke.flink.out.{suffix}"
    admin = KafkaAdminClient(bootstrap_servers=config.kafka.bootstrap)
    admin.create_topics([NewTopic(source, 1, 1), NewTopic(sink, 1, 1)])
    admin.close()

    events = [
        _envelope("c", None, {"id": 1, "account_id": 7, "amount": "10.25"}, 1),
        _envelope("c", None, {"id": 2, "account_id": 7, "amount": "5.00"}, 2),
        _envelope("u", {"id": 1, "account_id": 7, "amount": "10.25"}, {"id": 1, "account_id": 7, "amount": "11.25"}, 3),
        _envelope("d", {"id": 2, "account_id": 7, "amount": "5.00"}, None, 4),
    ]
    producer = KafkaProducer(bootstrap_servers=config.kafka.bootstrap, acks="all")
    for event in events:
        producer.send(source, json.dumps(event).encode())
    producer.flush(30)
    producer.close()

    t_env = table_environment(config, RunPaths.from_config(config))
    t_env.execute_sql(f"""
        CREATE TABLE tx (id BIGINT, account_id BIGINT, amount DECIMAL(18, 2), PRIMARY KEY (id) NOT ENFORCED)
        WITH ({kafka_table_options(config, source, 'debezium-json', group_id='smoke', bounded=True)})""")
    t_env.execute_sql(f"""
        CREATE TABLE totals (account_id BIGINT, total DECIMAL(18, 2), n BIGINT)
        WITH ({kafka_table_options(config, sink, 'debezium-json')})""")
    result = t_env.execute_sql("INSERT INTO totals SELECT account_id, SUM(amount), COUNT(*) FROM tx GROUP BY account_id")
    result.wait(180_000)

    consumer = KafkaConsumer(sink, bootstrap_servers=config.kafka.bootstrap, auto_offset_reset="earliest",
                             consumer_timeout_ms=10000)
    changes = [json.loads(m.value) for m in consumer]
    consumer.close()
    # Replay the changelog: the last surviving row must be the exact, retraction-aware total.
    state = {}
    for change in changes:
        if change["before"]:
            state.pop(change["before"]["account_id"], None)
        if change["after"]:
            state[change["after"]["account_id"]] = change["after"]
    assert state == {7: {"account_id": 7, "total": 11.25, "n": 1}}
