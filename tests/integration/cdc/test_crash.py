"""kill -9 during the stream and during the snapshot, restart: the table rebuilt from its topic equals
Postgres exactly, and (exactly-once, the default) a read_committed consumer sees every change once.
At-least-once: duplicates may only be the unacknowledged tail, identical by (key, lsn)."""

import json
import threading
import time

import psycopg
import pytest

from pipeline.kafka.changelog import fold, read_all
from topic_checks import assert_each_change_once

DDL = """
CREATE TABLE balances (id bigint PRIMARY KEY, account_id int NOT NULL, cents bigint NOT NULL, version int NOT NULL);
ALTER TABLE balances REPLICA IDENTITY FULL;
"""


def _table(pg, table: str = "balances") -> dict:
    with psycopg.connect(pg.dsn()) as conn:
        return {r[0]: {"id": r[0], "account_id": r[1], "cents": r[2], "version": r[3]}
                for r in conn.execute(f"SELECT id, account_id, cents, version FROM {table}")}


def _rebuilt(reader, table: str = "balances") -> tuple[dict, list]:
    records = list(read_all(reader.bootstrap, f"{reader.prefix}.public.{table}", timeout_s=180))
    return {json.loads(k)["id"]: v for k, v in fold(iter(records)).items()}, records


def _assert_duplicates_are_identical(records) -> None:
    seen = {}
    for r in records:
        ident = (r.key["id"], r.value["source"]["lsn"], r.value["op"])
        if ident in seen:
            assert seen[ident]["after"] == r.value["after"]  # a resend, not a different change
        seen[ident] = r.value


def _write(pg, stop: threading.Event, counter: list, table: str) -> None:
    """Small transactions of inserts, updates and deletes until told to stop."""
    with psycopg.connect(pg.dsn()) as conn:
        conn.execute("SET synchronous_commit = off")
        i = 0
        while not stop.is_set():
            i += 1
            conn.execute(f"INSERT INTO {table} VALUES (%s, %s, %s, 0)", (1_000_000 + i, i % 50, i * 3))
            conn.execute(f"UPDATE {table} SET cents = cents + 1, version = version + 1 WHERE id = %s",
                         (1_000_000 + max(1, i - 5),))
            if i % 9 == 0:
                conn.execute(f"DELETE FROM {table} WHERE id = %s", (1_000_000 + i - 3,))
            conn.commit()
            counter[0] = i


@pytest.mark.parametrize("delivery", ["exactly-once", "at-least-once"])
def test_kill9_while_streaming_loses_nothing(fresh_database, cdc_reader, delivery):
    table = f"balances_{delivery[0]}"
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute(DDL.replace("balances", table))
    reader = cdc_reader(fresh_database, partitions=3, partition_by=f"{table}=account_id", tables=f"public.{table}",
                        delivery=delivery).start()
    stop, counter = threading.Event(), [0]
    writer = threading.Thread(target=_write, args=(fresh_database, stop, counter, table))
    writer.start()
    try:
        for _ in range(3):
            reader.wait_for(lambda h: h["events"] > 500, 60, "streaming events")
            reader.kill9()
            time.sleep(0.5)
            reader.start()
    finally:
        stop.set()
        writer.join()
    reader.fence()
    rebuilt, records = _rebuilt(reader, table)
    assert counter[0] > 300
    assert rebuilt == _table(fresh_database, table)
    if delivery == "exactly-once":
        assert_each_change_once(records)
    else:
        _assert_duplicates_are_identical(records)


def test_kill9_during_snapshot_starts_over_and_loses_nothing(fresh_database, cdc_reader):
    """Exactly-once: the snapshot is one Kafka transaction, so the interrupted one is invisible and
    the restart takes it again, lined up with a new slot."""
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute(DDL.replace("balances", "history"))
        conn.execute("INSERT INTO history SELECT g, g % 50, g * 7, 0 FROM generate_series(1, 200000) g")
        conn.execute("ANALYZE history")
    reader = cdc_reader(fresh_database, snapshot_fetch_rows=2000, tables="public.history")
    reader.start(wait=False)
    reader.wait_for(lambda h: h["snapshot_rows"] >= 40_000, 120, "half way through the snapshot")
    reader.kill9()
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        # Changes while the reader is down, on both sides of where the snapshot stopped.
        conn.execute("UPDATE history SET cents = -1, version = 1 WHERE id % 1000 = 0")
        conn.execute("DELETE FROM history WHERE id % 777 = 0")
        conn.execute("INSERT INTO history VALUES (300001, 1, 1, 0)")
    reader.start(wait=True, timeout_s=180)
    reader.fence()
    rebuilt, records = _rebuilt(reader, "history")
    table = _table(fresh_database, "history")
    assert rebuilt == table
    snapshot_rows = sum(1 for r in records if r.value["op"] == "r")
    assert snapshot_rows == len(table)  # nothing of the interrupted snapshot is visible
    assert_each_change_once(records)
    assert "cdc.snapshot_restart" in reader.log_path.read_text()
