"""Watermark records: every partition of a table topic gets them while transactions flow, and each
keeps its promise: every transaction committed up to it is already before it in that partition."""

import json
import time

import psycopg
import pytest

from pipeline.cdc.watermarks import OP
from pipeline.kafka.changelog import fold, read_all

PARTITIONS = 3


@pytest.fixture(scope="module")
def records(fresh_database, cdc_reader):
    reader = cdc_reader(fresh_database, partitions=PARTITIONS, watermark_interval_ms=50, watermark_tables="pings")
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE pings (id int PRIMARY KEY, v int NOT NULL)")
        conn.execute("CREATE TABLE plain (id int PRIMARY KEY)")
        conn.execute("INSERT INTO plain VALUES (1)")
        reader.start()
        with psycopg.connect(fresh_database.dsn()) as slow:
            # A transaction that starts early and commits late: its change's LSN is below the commit
            # LSNs announced meanwhile, yet it must still land after none of their promises are broken.
            slow.execute("INSERT INTO pings VALUES (0, 0)")
            for i in range(1, 31):
                conn.execute("INSERT INTO pings VALUES (%s, %s)", (i, i))
                time.sleep(0.02)
            slow.commit()
        conn.execute("UPDATE pings SET v = v + 100 WHERE id % 2 = 0")
        conn.execute("UPDATE plain SET id = id")
        rows = {r[0]: r[1] for r in conn.execute("SELECT id, v FROM pings")}
    reader.fence()
    return rows, list(read_all(reader.bootstrap, f"{reader.prefix}.public.pings")), reader


def test_tables_outside_watermark_tables_stay_plain_debezium(records):
    *_, reader = records
    ops = {r.value["op"] for r in read_all(reader.bootstrap, f"{reader.prefix}.public.plain")}
    assert ops == {"r", "u"}  # no watermark records (op "m") here


def test_every_partition_gets_watermark_records(records):
    _, recs, _ = records
    marks = [r for r in recs if r.value["op"] == OP]
    assert {r.partition for r in marks} == set(range(PARTITIONS))
    for r in marks:
        assert r.key is None and r.value["before"] is None and r.value["after"] is None
        assert r.value["source"]["ts_ms"] > 0 and r.value["source"]["lsn"] > 0


def test_no_change_committed_before_a_watermark_comes_after_it(records):
    _, recs, _ = records
    checked = 0
    for partition in range(PARTITIONS):
        promised_lsn, promised_ms = 0, 0
        for r in sorted((r for r in recs if r.partition == partition), key=lambda r: r.offset):
            value = r.value
            if value["op"] == OP:
                assert value["source"]["lsn"] >= promised_lsn, "watermarks move forward"
                promised_lsn, promised_ms = value["source"]["lsn"], value["source"]["ts_ms"]
                continue
            commit_lsn = int(value["transaction"]["id"].split(":")[1])
            assert commit_lsn >= promised_lsn, f"change {r.key} committed before a watermark it follows"
            assert value["source"]["ts_ms"] >= promised_ms - 100
            checked += promised_lsn > 0
    assert checked > 10, "too few changes followed a watermark to test the promise"


def test_folding_the_topic_skips_them(records):
    rows, recs, _ = records
    folded = {json.loads(key)["id"]: after["v"] for key, after in fold(iter(recs)).items()}
    assert folded == rows


def test_compacted_topics_get_keyed_watermark_records(fresh_database, cdc_reader):
    """Kafka refuses a record without a key on a compacted topic (accounts and merchants are, by
    default): an exactly-once reader's every Kafka transaction with a watermark record aborted, and
    it rewound until it stopped. There each partition's watermark records carry a key of their own."""
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE refs (id int PRIMARY KEY, v int NOT NULL)")
        reader = cdc_reader(fresh_database, partitions=PARTITIONS, watermark_interval_ms=50, watermark_tables="refs",
                            compacted_tables="refs", tables="public.refs", delivery="exactly-once").start()
        for i in range(20):
            conn.execute("INSERT INTO refs VALUES (%s, %s)", (i, i))
            time.sleep(0.02)
        rows = {r[0]: r[1] for r in conn.execute("SELECT id, v FROM refs")}
    health = reader.fence()
    assert health["rewinds"] == 0 and health["rejected"] == 0, health
    recs = list(read_all(reader.bootstrap, f"{reader.prefix}.public.refs"))
    marks = [r for r in recs if r.value["op"] == OP]
    assert {r.partition for r in marks} == set(range(PARTITIONS))
    assert all(r.key == {"watermark": r.partition} for r in marks)
    assert {json.loads(key)["id"]: after["v"] for key, after in fold(iter(recs)).items()} == rows
