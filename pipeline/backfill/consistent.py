"""A snapshot of the system of record with an exact WAL position: what the JSON export reads, and its cutover.

A plain REPEATABLE READ snapshot has no position in the WAL, so nothing could
say which later changes it already contains. A logical replication slot
created with an exported snapshot has one: Postgres decodes exactly the
transactions whose commit record starts at or after the slot's consistent
point, and the exported snapshot sees exactly those that committed before it.
The CDC reader's signed facts carry that same commit LSN (`_commit_lsn`), so
"in the export" and "in the stream" split at this one number with nothing
in both and nothing in neither.

The slot is TEMPORARY: it exists only while its replication connection is
open (an interrupted export leaves no slot holding back WAL), and that
connection runs nothing more after creating it, because the exported
snapshot stays importable only until then.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from pipeline import log
from pipeline.backfill.errors import BackfillError
from pipeline.cdc import slot as slots
from pipeline.cdc.errors import CdcError
from pipeline.cdc.pgoutput import format_lsn
from pipeline.config import PostgresConfig

_log = log.get("backfill")


@dataclass(frozen=True)
class ConsistentPoint:
    lsn: int  # the slot's consistent point: the cutover
    snapshot: str  # the exported snapshot's name, for SET TRANSACTION SNAPSHOT
    slot: str


def slot_name() -> str:
    """Unique per export (a name Postgres accepts: lowercase, digits, underscores, at most 63)."""
    return f"cdc_olap_export_{os.getpid()}_{secrets.token_hex(4)}"


@contextmanager
def consistent_point(pg: PostgresConfig) -> Iterator[ConsistentPoint]:
    """A temporary slot and its exported snapshot, held for the `with` block; gone afterwards."""
    name = slot_name()
    try:
        repl = slots.connect_replication(pg)
    except CdcError as exc:
        raise BackfillError(f"the JSON export needs a replication connection for its consistent point: {exc}") \
            from None
    with repl:
        try:
            created = slots.create_slot(repl, name, export_snapshot=True, temporary=True)
        except psycopg.Error as exc:
            raise BackfillError(
                f"could not create the export's temporary replication slot {name}: {exc}. It needs wal_level = "
                "logical and a free slot (max_replication_slots); it waits for transactions open at that moment "
                "to end") from None
        _log.info("backfill.consistent_point", slot=name, lsn=format_lsn(created.consistent_point))
        yield ConsistentPoint(created.consistent_point, created.snapshot_name, name)


def import_snapshot(conn: psycopg.Connection, point: ConsistentPoint) -> None:
    """Make `conn`'s transaction (REPEATABLE READ, just begun) see exactly what the slot's snapshot sees."""
    conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(point.snapshot)))
