"""Kafka goes away mid-stream: the reader waits (bounded memory), the slot keeps the WAL and is not
confirmed past what Kafka acknowledged; when Kafka is back everything arrives once, nothing is lost."""

import json
import time

import psycopg

from pipeline.cdc.pgoutput import parse_lsn
from pipeline.kafka.changelog import fold, read_all
from topic_checks import assert_each_change_once


def _write(pg, first: int, count: int) -> None:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("INSERT INTO payouts SELECT g, g %% 10, g * 1.5 FROM generate_series(%s::int, %s::int) g",
                     (first, first + count - 1))
        conn.execute("UPDATE payouts SET amount = amount + 1 WHERE id %% 7 = 0 AND id >= %s", (first,))


def test_outage_loses_nothing(fresh_database, cdc_reader, own_kafka):
    kafka_config, kafka = own_kafka
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE payouts (id int PRIMARY KEY, account_id int, amount numeric(12,2))")
    reader = cdc_reader(fresh_database, transaction_topic="false")
    reader.env.update(CDC_OLAP_KAFKA_MANAGED="false", CDC_OLAP_KAFKA_BOOTSTRAP_SERVERS=kafka_config.kafka.bootstrap)
    reader.bootstrap = kafka_config.kafka.bootstrap
    reader.start()
    _write(fresh_database, 1, 2000)
    before_outage = reader.fence()

    kafka.down()
    _write(fresh_database, 10_001, 3000)
    time.sleep(8)  # the reader has read the WAL by now; Kafka cannot acknowledge any of it
    during = reader.health()
    assert reader.proc.poll() is None, "the reader must wait for Kafka, not exit"
    assert parse_lsn(during["confirmed_lsn"]) <= parse_lsn(before_outage["received_lsn"]) + 100_000
    assert during["lag_seconds"] > 5
    with psycopg.connect(fresh_database.dsn()) as conn:
        held = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) FROM "
                            "pg_replication_slots WHERE slot_name = %s", (reader.slot,)).fetchone()[0]
    assert held > 100_000, "the slot must keep the WAL of the unacknowledged changes"

    kafka.up(only={"kafka"})
    reader.fence(timeout_s=180)
    records = list(read_all(reader.bootstrap, f"{reader.prefix}.public.payouts"))
    assert_each_change_once(records)  # what was sent while Kafka was away was not sent twice
    rebuilt = {json.loads(k)["id"]: v for k, v in fold(iter(records)).items()}
    with psycopg.connect(fresh_database.dsn()) as conn:
        table = {r[0]: {"id": r[0], "account_id": r[1], "amount": r[2]}
                 for r in conn.execute("SELECT id, account_id, amount::text FROM payouts")}
    assert len(table) == 5000 and rebuilt == table
