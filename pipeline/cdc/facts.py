"""Signed facts: each change of a signed table as rows that an append-only store can sum.

Apache Druid only appends, and its Kafka ingestion turns one record into at
most one row: it can neither update nor delete the row an earlier change made.
So for the tables in `[cdc] signed_tables` the reader also writes every change
as facts to `<prefix>.facts.<table>`: an insert or snapshot row adds the row
(`_sign` = 1, from `after`), a delete takes it back (-1, from `before`), an
update does both (-before, then +after; REPLICA IDENTITY FULL makes `before`
the whole old row), and a key-changing update, which the reader already sends
as a delete and a create, follows from those. SUM(_sign) and
SUM(amount_cents * _sign) grouped by any columns then equal the same query
on Postgres, whatever the changes moved (a status, a merchant). The reader
writes the facts in the change event's Kafka transaction, with its key and
partition, so exactly-once and per-key order hold for them as for the events.

A fact is the row exactly as the event carries it (masking applied), then
`<column>_cents` for each NUMERIC column whose value is not null and not
masked, and the meta fields `_sign`, `_op`, `_lsn`, `_commit_lsn`,
`_commit_ms` (the change's `source.lsn`, its transaction's commit LSN and
`source.ts_ms`). `_commit_lsn` orders facts against a point in the WAL: the
history backfill (pipeline/druid/backfill.py) loads Postgres as of a slot's
consistent point, and the stream then adds only the facts of transactions
committed from that point on. A snapshot row's commit LSN is the reader's own
slot's consistent point: the snapshot is the data as of there. Cents are exact (money is
NUMERIC(18,2), pipeline/money.py): a value that is not a whole number of cents
stops the reader, like a NaN does (rows.py), rather than be rounded.

A truncate names no rows, so no fact can take them back: the reader refuses
it through rejections.py (`[cdc] on_rejected`: stop, or dead-letter and page),
naming the Druid datasource that must be re-indexed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable

import orjson

from pipeline import money
from pipeline.cdc.catalog import TableInfo
from pipeline.cdc.errors import CdcError
from pipeline.cdc.pgoutput import format_lsn
from pipeline.cdc.rows import RowCodec, TableShape

SIGN, OP, LSN, COMMIT_LSN, COMMIT_MS = "_sign", "_op", "_lsn", "_commit_lsn", "_commit_ms"
META = (SIGN, OP, LSN, COMMIT_LSN, COMMIT_MS)
CENTS_SUFFIX = "_cents"
NUMERIC_OID = 1700
TRUNCATE_REFUSED = "TRUNCATE_NOT_RETRACTABLE"  # the reason a refused truncate's dead letter gives
# op -> the facts of one change: (which row, sign), in the order they are sent. Others (t, m) have none.
_FACTS = {"c": (("after", 1),), "r": (("after", 1),), "u": (("before", -1), ("after", 1)),
          "d": (("before", -1),)}


def _reserved(shape: TableShape) -> set[str]:
    """The field names a fact adds to the row: the meta fields and a cents field per NUMERIC column."""
    return set(META) | {column + CENTS_SUFFIX for column, oid in zip(shape.columns, shape.type_oids)
                        if oid == NUMERIC_OID}


def check_columns(shape: TableShape) -> None:
    """A column named like a field the facts add would be overwritten in every fact: refuse the table."""
    clash = [column for column in shape.columns if column in _reserved(shape)]
    if clash:
        raise CdcError(f"table {shape.qualified} has column(s) {', '.join(clash)}, which its signed facts use for "
                       f"their own fields ({', '.join(META)} and <numeric column>{CENTS_SUFFIX}): rename the "
                       f"column(s), or take {shape.name} out of [cdc] signed_tables")


def check_identity(table: str, replica_identity: str) -> None:
    """An update's -1 fact is the whole old row: without REPLICA IDENTITY FULL Postgres sends only its key."""
    if replica_identity != "f":
        raise CdcError(f"table {table} is in [cdc] signed_tables but its updates and deletes do not carry the old "
                       f"row, which their -1 facts need: ALTER TABLE {table} REPLICA IDENTITY FULL; (or take it out "
                       "of signed_tables). A change already streamed without it cannot be retracted: re-index the "
                       "table's Druid datasource after the fix")


def check_partitions(topic: str, partitions: int, table_topic: str, table_partitions: int) -> None:
    """A fact goes to its change's partition, so that one key's facts keep their order: the topics
    must have as many partitions (one made before, by someone else, may not)."""
    if partitions != table_partitions:
        raise CdcError(f"topic {topic} has {partitions} partitions and {table_topic} {table_partitions}: a signed "
                       "fact goes to its change's partition, so they need the same number. Add partitions to the "
                       "smaller (kafka-topics.sh --alter --partitions) before anything is in it, or delete "
                       f"{topic} and let the reader create it, then re-index its Druid datasource")


def check_tables(infos: Iterable[TableInfo], signed_tables: tuple[str, ...], exactly_once: bool) -> None:
    """Before anything is created: every captured signed table can have facts, and they count once."""
    for info in infos:
        if info.shape.name not in signed_tables:
            continue
        if not exactly_once:
            raise CdcError(f"[cdc] signed_tables includes {info.shape.name}, but signed facts need [cdc] delivery = "
                           "'exactly-once': at-least-once resends its unacknowledged tail after a crash, and Druid "
                           "would add those facts to its sums twice. Use exactly-once, or set signed_tables = []")
        check_identity(info.shape.qualified, info.replica_identity)
        check_columns(info.shape)


@dataclass(frozen=True)
class SignedFacts:
    """The facts of one table shape: made once per shape (like its RowCodec), used for every change."""

    table: str  # schema.table, for errors
    name: str  # the table as [cdc] signed_tables names it
    topic: str
    key: tuple[str, ...]
    money: tuple[tuple[str, str], ...]  # (NUMERIC column, its cents field); masked columns have none

    @classmethod
    def of(cls, codec: RowCodec, topic: str) -> "SignedFacts":
        shape = codec.shape
        check_columns(shape)
        money_columns = tuple((column, column + CENTS_SUFFIX) for column, oid in zip(shape.columns, shape.type_oids)
                              if oid == NUMERIC_OID and column not in codec.masks)
        return cls(shape.qualified, shape.name, topic, shape.key, money_columns)

    def records(self, op: str, lsn: int, commit_lsn: int, commit_ms: int, before: dict[str, Any] | None,
                after: dict[str, Any] | None) -> list[bytes]:
        """The facts of one change (its rows as the event carries them), in sending order. `commit_lsn`:
        where its transaction's commit record starts (pgoutput's Begin final LSN)."""
        rows = {"before": before, "after": after}
        return [self._fact(rows[side], sign, op, lsn, commit_lsn, commit_ms) for side, sign in _FACTS.get(op, ())]

    def _fact(self, row: dict[str, Any] | None, sign: int, op: str, lsn: int, commit_lsn: int,
              commit_ms: int) -> bytes:
        if row is None:
            raise CdcError(f"{self.table}: a change (op {op}) at LSN {format_lsn(lsn)} came without the row its "
                           f"{sign:+d} fact needs; the table must have REPLICA IDENTITY FULL")
        fact = dict(row)
        for column, field in self.money:
            value = row.get(column)
            if value is not None:
                fact[field] = self._cents(column, value, row, lsn)
        fact[SIGN], fact[OP], fact[LSN], fact[COMMIT_LSN], fact[COMMIT_MS] = sign, op, lsn, commit_lsn, commit_ms
        return orjson.dumps(fact)

    def _cents(self, column: str, value: Any, row: dict[str, Any], lsn: int) -> int:
        try:
            return money.cents(Decimal(value))
        except (ArithmeticError, ValueError, TypeError):
            key = ", ".join(f"{k}={row.get(k)}" for k in self.key)
            raise CdcError(
                f"{self.table}.{column} holds {value!r} (key {key}) at LSN {format_lsn(lsn)}, which is not a whole "
                f"number of cents: its signed fact's {column}{CENTS_SUFFIX} must be exact (money is NUMERIC(18,2), "
                f"pipeline/money.py), so the reader stops here rather than round. Fix the data and the column's "
                f"type; the change already in the WAL comes again on every restart: to get past it, take {self.name} "
                f"out of [cdc] signed_tables (then re-index its Druid datasource) or advance the slot past it "
                f"(pg_replication_slot_advance), knowing that this change is then not published.") from None

    def truncate_refusal(self) -> tuple[str, str]:
        """(detail, fix) of the rejection a truncate of this table gets (rejections.py)."""
        detail = (f"a truncate names no rows, so no signed fact can take them back: the Druid datasource fed by "
                  f"{self.topic} still counts every row {self.table} had; re-index it from Postgres")
        fix = (f"re-index the Druid datasource fed by {self.topic} (docs/cdc.md, 'Signed facts for Druid'); to get "
               "past the truncate, set [cdc] on_rejected = 'dead-letter' (it is then dead-lettered and paged, and "
               f"the reader goes on) or take {self.name} out of [cdc] signed_tables, and start "
               "the reader again")
        return detail, fix
