"""Snapshot modes, with Debezium's names: `never` streams only; `initial` refuses to continue when its slot
vanished (changes may be lost); `when_needed` re-snapshots then."""

import psycopg
import pytest

from pipeline.kafka.changelog import read_all


@pytest.fixture(scope="module")
def db(fresh_database):
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, v text)")
        conn.execute("INSERT INTO items SELECT g, 'old' FROM generate_series(1, 50) g")
    return fresh_database


def _ops(reader) -> list[str]:
    return [r.value["op"] for r in read_all(reader.bootstrap, f"{reader.prefix}.public.items")]


def _drop_slot(db, slot: str) -> None:
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


def test_never_streams_only_new_changes(db, cdc_reader):
    reader = cdc_reader(db, snapshot_mode="never").start()
    with psycopg.connect(db.dsn(), autocommit=True) as conn:
        conn.execute("UPDATE items SET v = 'new' WHERE id = 1")
    reader.fence()
    reader.stop()
    assert _ops(reader) == ["u"]


def test_initial_refuses_a_vanished_slot_and_when_needed_resnapshots(db, cdc_reader):
    reader = cdc_reader(db, snapshot_mode="initial").start()
    reader.fence()
    reader.stop()
    assert _ops(reader).count("r") == 50
    _drop_slot(db, reader.slot)
    code, log = reader.run_to_exit()
    assert code == 2 and "is gone but this reader already streamed from it" in log
    reader.env["CDC_OLAP_CDC_SNAPSHOT_MODE"] = "when_needed"
    reader.start()
    reader.fence()
    assert _ops(reader).count("r") == 100  # the whole table again, lined up with the new slot
