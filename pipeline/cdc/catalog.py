"""What the reader needs to know from the Postgres catalog, and the checks it runs before starting.

Every check fails with `CdcError` naming the problem and the statement or
setting that fixes it, so an operator never has to read a stack trace.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

from pipeline.cdc.errors import CdcError
from pipeline.cdc.rows import TableShape, partition_column

__all__ = ["CdcError", "TableInfo"]  # CdcError is imported from here by the reader, slot and runner


@dataclass(frozen=True)
class TableInfo:
    shape: TableShape
    replica_identity: str  # d, n, f, i
    has_primary_key: bool


def check_server(conn: psycopg.Connection, user: str) -> None:
    wal_level = conn.execute("SHOW wal_level").fetchone()[0]
    if wal_level != "logical":
        raise CdcError(f"wal_level is '{wal_level}', logical replication needs 'logical': run "
                       "ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL")
    row = conn.execute("SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if not row or not row[0]:
        raise CdcError(f"role {user} lacks the REPLICATION privilege: run ALTER ROLE {user} WITH REPLICATION;")


def tables(conn: psycopg.Connection, schemas: tuple[str, ...], include: tuple[str, ...],
           exclude: tuple[str, ...]) -> list[TableInfo]:
    """Ordinary tables selected by the include/exclude lists (schema.table), with their shapes."""
    rows = conn.execute("""
        SELECT n.nspname, c.relname, c.relreplident,
               EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p') AND n.nspname <> ALL (ARRAY['pg_catalog', 'information_schema'])
        ORDER BY n.nspname, c.relname""").fetchall()
    found = {f"{s}.{t}": (ident, has_pk) for s, t, ident, has_pk in rows}
    if include:
        missing = [t for t in include if t not in found]
        if missing:
            raise CdcError(f"[cdc] tables lists {', '.join(missing)}, which do not exist; "
                           "create them or fix the list (schema.table)")
        names = list(include)
    else:
        names = [t for t in found if t.split(".", 1)[0] in schemas]
    names = [t for t in names if t not in exclude]
    result = []
    for name in names:
        schema, table = name.split(".", 1)
        ident, has_pk = found[name]
        result.append(TableInfo(shape(conn, schema, table), ident, has_pk))
    return result


def shape(conn: psycopg.Connection, schema: str, table: str) -> TableShape:
    cols = conn.execute("""
        SELECT a.attname, a.atttypid, a.atttypmod FROM pg_attribute a
        WHERE a.attrelid = format('%%I.%%I', %s::text, %s::text)::regclass AND a.attnum > 0 AND NOT a.attisdropped
        ORDER BY a.attnum""", (schema, table)).fetchall()
    return TableShape(schema, table, tuple(c[0] for c in cols), tuple(c[1] for c in cols),
                      tuple(c[2] for c in cols), primary_key(conn, schema, table))


def primary_key(conn: psycopg.Connection, schema: str, table: str) -> tuple[str, ...]:
    """Primary key columns in key order; falls back to the replica identity index."""
    rows = conn.execute("""
        WITH rel AS (SELECT format('%%I.%%I', %s::text, %s::text)::regclass AS oid),
             idx AS (SELECT i.indkey FROM pg_index i, rel WHERE i.indrelid = rel.oid
                     AND (i.indisprimary OR i.indisreplident) ORDER BY NOT i.indisprimary LIMIT 1)
        SELECT a.attname FROM idx, rel, unnest(idx.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attnum = k.attnum
        WHERE a.attrelid = rel.oid ORDER BY k.ord""", (schema, table)).fetchall()
    return tuple(r[0] for r in rows) if rows else ()


def check_tables(infos: list[TableInfo], partition_by: dict[str, str]) -> None:
    for info in infos:
        s = info.shape
        if not info.has_primary_key and info.replica_identity in ("d", "n"):
            raise CdcError(
                f"table {s.qualified} has no primary key and no replica identity, so its updates and deletes "
                f"cannot be captured: add a primary key, or ALTER TABLE {s.qualified} REPLICA IDENTITY FULL; "
                "or exclude it with [cdc] exclude_tables")
        column = partition_column(partition_by, s)
        if column and column not in s.columns:
            raise CdcError(f"[cdc] partition_by says {s.name} -> {column}, but {s.qualified} has no column "
                           f"{column}; valid columns: {', '.join(s.columns)}")
        if column and column not in s.key and info.replica_identity != "f":
            raise CdcError(
                f"table {s.qualified} is partitioned by {column}, which is not in its key, so deletes would "
                f"arrive without it and land on another partition: ALTER TABLE {s.qualified} REPLICA IDENTITY FULL")


def type_lookup(conn: psycopg.Connection):
    """(category, element oid, domain base oid) per type oid, for `TypeMap`."""
    def lookup(oid: int) -> tuple[str, int, int]:
        row = conn.execute("SELECT typcategory, typelem, typbasetype FROM pg_type WHERE oid = %s", (oid,)).fetchone()
        return (row[0], int(row[1]), int(row[2])) if row else ("X", 0, 0)
    return lookup
