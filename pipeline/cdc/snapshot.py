"""The initial snapshot: every existing row as an `op: "r"` event, lined up with the slot.

A fresh snapshot imports the snapshot the slot exported when it was created,
so it sees exactly the data before the slot's consistent point and streaming
continues from there with nothing missed or doubled.

Resumable: rows are read in primary-key order and, after each batch Kafka has
acknowledged, the last key is saved. After a crash the exported snapshot is
gone, so the rest is read from a new snapshot, starting after the saved key;
the slot still streams from the original consistent point, so per key the
last event is the current row (changes between the two snapshots may be
replayed after newer snapshot rows: consumers that fold by key converge).
"""

from __future__ import annotations

from typing import Callable, Iterable

import psycopg
from psycopg import sql
from psycopg.adapt import Loader
from tqdm import tqdm

from pipeline import log
from pipeline.cdc.catalog import TableInfo
from pipeline.cdc.state import ReaderState
from pipeline.cdc.typemap import SESSION_OPTIONS

_log = log.get("cdc.snapshot")

EmitRow = Callable[[TableInfo, tuple], None]


class _AsPrinted(Loader):
    """The value exactly as the type's output function printed it, the same text pgoutput sends
    (a ::text cast would not do: bool::text is 'true', char(n)::text drops the padding)."""

    def load(self, data) -> str:
        return bytes(data).decode()


def _key_types(conn: psycopg.Connection, info: TableInfo) -> list[str]:
    shape = info.shape
    return [conn.execute("SELECT format_type(%s, %s)", (shape.type_oids[shape.columns.index(k)],
                                                        shape.type_modifiers[shape.columns.index(k)])).fetchone()[0]
            for k in shape.key]


def _query(conn: psycopg.Connection, info: TableInfo, last_key: list | None) -> tuple[sql.Composable, list]:
    shape = info.shape
    select = sql.SQL(", ").join(sql.Identifier(c) for c in shape.columns)
    table = sql.Identifier(shape.schema, shape.name)
    keys = [sql.Identifier(k) for k in shape.key]
    order = sql.SQL(", ").join(keys) if keys else sql.SQL("ctid")
    where, params = sql.SQL(""), []
    if last_key is not None and keys:
        casts = sql.SQL(", ").join(sql.SQL("%s::{}").format(sql.SQL(t)) for t in _key_types(conn, info))
        where = sql.SQL(" WHERE ({}) > ({})").format(sql.SQL(", ").join(keys), casts)
        params = list(last_key)
    return sql.SQL("SELECT {} FROM {}{} ORDER BY {}").format(select, table, where, order), params


def _estimate(conn: psycopg.Connection, infos: Iterable[TableInfo]) -> int:
    total = 0
    for info in infos:
        row = conn.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                           (info.shape.qualified,)).fetchone()
        total += max(0, row[0]) if row else 0
    return total


def take(dsn: str, infos: list[TableInfo], state: ReaderState, emit: EmitRow, flush: Callable[[], None],
         *, exported_snapshot: str | None, fetch_rows: int, on_row: Callable[[], None] = lambda: None,
         resumable: bool = True) -> int:
    """Emit every row of every table not yet done; returns the number of rows emitted. `resumable`:
    remember the last key after each flushed batch (at-least-once); exactly-once snapshots are one
    Kafka transaction and start over instead."""
    progress = state.snapshot
    emitted = 0
    with psycopg.connect(dsn, options=SESSION_OPTIONS) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        if exported_snapshot:
            conn.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(exported_snapshot)))
        todo = [i for i in infos if i.shape.qualified not in progress.tables_done]
        bar = tqdm(total=_estimate(conn, todo), unit="rows", desc="snapshot", mininterval=1.0,
                   disable=None)  # None: only on a terminal
        for info in todo:
            table = info.shape.qualified
            last_key = progress.last_key.get(table)
            query, params = _query(conn, info, last_key)
            key_idx = [info.shape.columns.index(k) for k in info.shape.key]
            table_rows = 0
            with conn.cursor(name=f"snapshot_{info.shape.name}"[:60]) as cur:
                for oid in set(info.shape.type_oids):
                    cur.adapters.register_loader(oid, _AsPrinted)
                cur.itersize = fetch_rows
                cur.execute(query, params)
                while True:
                    batch = cur.fetchmany(fetch_rows)
                    if not batch:
                        break
                    for row in batch:
                        emit(info, row)
                        on_row()
                    flush()  # Kafka has everything up to here: safe to remember
                    if key_idx and resumable:
                        progress.last_key[table] = [batch[-1][i] for i in key_idx]
                        state.save()
                    table_rows += len(batch)
                    bar.update(len(batch))
            progress.tables_done.append(table)
            progress.last_key.pop(table, None)
            state.save()
            emitted += table_rows
            _log.info("snapshot.table", table=table, rows=table_rows, resumed=last_key is not None)
        bar.close()
        conn.rollback()
    return emitted
