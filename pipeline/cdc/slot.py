"""The publication (which tables Postgres decodes for us) and the replication slot (where we are).

The slot is the reader's offset store for the stream: its confirmed_flush_lsn
is the position after the last transaction Kafka acknowledged, and Postgres
keeps the WAL after it until we confirm more.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from pipeline.cdc.catalog import CdcError
from pipeline.cdc.pgoutput import parse_lsn
from pipeline.config import PostgresConfig


@dataclass(frozen=True)
class SlotInfo:
    name: str
    plugin: str | None
    database: str | None
    confirmed_flush_lsn: int | None
    wal_status: str | None  # reserved / extended / unreserved / lost (lost: invalidated)
    active_pid: int | None

    @property
    def invalidated(self) -> bool:
        return self.wal_status == "lost"


@dataclass(frozen=True)
class CreatedSlot:
    consistent_point: int
    snapshot_name: str | None


def slot_info(conn: psycopg.Connection, name: str) -> SlotInfo | None:
    row = conn.execute("""
        SELECT slot_name, plugin, database, confirmed_flush_lsn::text, wal_status, active_pid
        FROM pg_replication_slots WHERE slot_name = %s""", (name,)).fetchone()
    if row is None:
        return None
    return SlotInfo(row[0], row[1], row[2], parse_lsn(row[3]) if row[3] else None, row[4], row[5])


def check_slot(info: SlotInfo, database: str) -> None:
    if info.plugin != "pgoutput":
        raise CdcError(f"replication slot {info.name} uses plugin {info.plugin}, not pgoutput: "
                       f"drop it (SELECT pg_drop_replication_slot('{info.name}')) or set [cdc] slot to another name")
    if info.database != database:
        raise CdcError(f"replication slot {info.name} belongs to database {info.database}, not {database}: "
                       "set [cdc] slot to a name of its own")


def connect_replication(pg: PostgresConfig, options: str = "") -> psycopg.Connection:
    """A replication connection (for slots and streaming), or an error that says how to allow it."""
    try:
        return psycopg.connect(pg.dsn(), autocommit=True, replication="database", options=options)
    except psycopg.OperationalError as exc:
        if "replication" in str(exc) and ("permission" in str(exc) or "must be" in str(exc)):
            raise CdcError(f"role {pg.user} may not open replication connections: "
                           f"ALTER ROLE {pg.user} WITH REPLICATION; ({exc})") from None
        raise


def create_slot(repl: psycopg.Connection, name: str, *, export_snapshot: bool, temporary: bool = False) -> CreatedSlot:
    """On a replication connection. With export, the snapshot stays importable (SET TRANSACTION
    SNAPSHOT) until this connection runs its next command: take the snapshot before streaming.
    A temporary slot is dropped when the connection ends (or fails): for a consistent point only
    (the history export's), never for streaming that must survive a restart."""
    mode = "export" if export_snapshot else "nothing"
    kind = " TEMPORARY" if temporary else ""
    row = repl.execute(f"CREATE_REPLICATION_SLOT {sql.Identifier(name).as_string(repl)}{kind} LOGICAL pgoutput "
                       f"(SNAPSHOT '{mode}')").fetchone()
    return CreatedSlot(parse_lsn(row[1]), row[2])


def drop_slot(conn: psycopg.Connection, name: str) -> None:
    conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s", (name,))


def ensure_publication(conn: psycopg.Connection, name: str, tables: list[str], *, create: bool) -> None:
    """Make the publication cover `tables` (schema.table), or say exactly what is missing."""
    exists = conn.execute("SELECT puballtables FROM pg_publication WHERE pubname = %s", (name,)).fetchone()
    idents = [sql.Identifier(*t.split(".", 1)) for t in tables]
    if exists is None:
        if not create:
            raise CdcError(f"publication {name} does not exist: CREATE PUBLICATION {name} FOR TABLE "
                           f"{', '.join(tables)}; or set [cdc] create_publication = true")
        conn.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(name), sql.SQL(", ").join(idents)))
        return
    if exists[0]:
        return  # FOR ALL TABLES
    published = {f"{s}.{t}" for s, t in conn.execute(
        "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s", (name,))}
    missing = [t for t in tables if t not in published]
    if not missing:
        return
    if not create:
        raise CdcError(f"publication {name} lacks {', '.join(missing)}: ALTER PUBLICATION {name} ADD TABLE "
                       f"{', '.join(missing)}; or drop them from [cdc] tables")
    conn.execute(sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(
        sql.Identifier(name), sql.SQL(", ").join(sql.Identifier(*t.split(".", 1)) for t in missing)))
