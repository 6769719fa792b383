"""A change Kafka refuses for good: the reader stops naming it (exit 3, slot kept, no crash loop), or
dead-letters it and goes on; either way every other change arrives exactly once."""

import json
import os
import re
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from pipeline.cdc.pgoutput import parse_lsn
from pipeline.cdc.rejections import EXIT_CODE
from pipeline.cdc.state import ReaderState
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.changelog import read_all

TOPIC_LIMIT = 20_000  # bytes: the test topics' max.message.bytes (a record batch must fit too)


@pytest.fixture(scope="module")
def db(fresh_database):
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        for table in ("notes", "memos"):
            conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, account_id int NOT NULL, body text NOT NULL)")
    return fresh_database


def _insert(pg, first: int, last: int, body_bytes: int = 10, table: str = "notes") -> None:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        for i in range(first, last + 1):
            # Random hex does not compress: its size is what Kafka sees.
            conn.execute(f"INSERT INTO {table} VALUES (%s, %s, %s)", (i, i % 3, os.urandom(body_bytes // 2).hex()))


def _ids(reader, table: str = "notes") -> list[int]:
    return sorted(r.key["id"] for r in read_all(reader.bootstrap, f"{reader.prefix}.public.{table}") if r.value)


def _slot_lsn(pg, slot: str) -> int:
    with psycopg.connect(pg.dsn()) as conn:
        return parse_lsn(conn.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                                      (slot,)).fetchone()[0])


def _limit_topic(reader, limit: int, table: str = "notes") -> None:
    topic = f"{reader.prefix}.public.{table}"
    ensure_topics(reader.bootstrap, [topic], 3, configs={"max.message.bytes": str(limit)})
    admin = KafkaAdminClient(bootstrap_servers=reader.bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, configs={"max.message.bytes": str(limit)})])
    finally:
        admin.close()


def test_stop_names_the_record_and_keeps_the_slot(db, cdc_reader):
    reader = cdc_reader(db, tables="public.notes")
    _limit_topic(reader, TOPIC_LIMIT)
    reader.start()
    _insert(db, 1, 5)
    reader.fence()
    held = _slot_lsn(db, reader.slot)
    _insert(db, 6, 6, body_bytes=30_000)
    _insert(db, 7, 8)
    code = reader.proc.wait(60)
    log = reader.log_path.read_text()
    assert code == EXIT_CODE, log[-3000:]
    assert "cdc.record_refused" in log and "public.notes" in log and "max.message.bytes" in log
    assert log.count("cdc.rewind") == 0, "a refused record is recognised at once, not retried"
    failure = ReaderState.load(next(Path(reader.env["CDC_OLAP_CDC_STATE_DIR"]).glob("*.json"))).failure
    assert failure and failure["exit_code"] == EXIT_CODE
    assert 'public.notes key {"id":6} at LSN' in failure["error"] and "max.message.bytes" in failure["error"]
    refused_lsn = parse_lsn(re.search(r"at LSN (\S+)", failure["error"]).group(1))
    assert held <= _slot_lsn(db, reader.slot) < refused_lsn, "the slot must not move past the refused change"
    assert _ids(reader) == [1, 2, 3, 4, 5]

    # The operator raises the topic's limit and starts the reader again: everything arrives, once.
    _limit_topic(reader, 1_000_000)
    reader.start()
    reader.fence()
    assert _ids(reader) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_dead_letter_diverts_and_goes_on(db, cdc_reader):
    reader = cdc_reader(db, tables="public.memos", on_rejected="dead-letter", max_message_bytes=50_000)
    _limit_topic(reader, TOPIC_LIMIT, "memos")
    reader.start()
    _insert(db, 1, 3, table="memos")
    _insert(db, 4, 4, body_bytes=30_000, table="memos")  # refused by the broker (topic limit), inside a Kafka transaction
    _insert(db, 5, 6, table="memos")
    _insert(db, 7, 7, body_bytes=60_000, table="memos")  # refused by the producer before sending (max_message_bytes)
    _insert(db, 8, 9, table="memos")
    health = reader.fence()
    assert reader.proc.poll() is None
    assert _ids(reader, "memos") == [1, 2, 3, 5, 6, 8, 9]
    letters = [r.value for r in read_all(reader.bootstrap, f"{reader.prefix}.cdc.dead_letter")]
    assert sorted(letter["key"]["id"] for letter in letters) == [4, 7]
    for letter in letters:
        assert letter["table"] == "public.memos" and letter["reason"] == "MSG_SIZE_TOO_LARGE"
        assert letter["lsn"] > 0 and len(letter["value_sha256"]) == 64 and letter["size_bytes"] > 25_000
    # (a refused record inside an aborted Kafka transaction is counted again when it is diverted)
    assert health["dead_letters"] >= 2 and health["rejected"] >= 2
    assert json.loads(json.dumps(health))["delivery"] == "exactly-once"
