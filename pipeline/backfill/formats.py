"""The export's two file formats: how rows are selected, and how one file is written on local disk.

- Parquet (the default, for other consumers: Spark, Athena, pandas): typed
  columns, money as int64 cents, times as TIMESTAMP(MICROS, UTC).
- JSON: gzip'ed newline-delimited JSON, one signed fact per row in exactly the
  CDC reader's format (pipeline/cdc/facts.py): the row's fields, `_sign` 1,
  `_op` "b" (backfill), `_lsn` and `_commit_lsn` the export's cutover,
  `_commit_ms` the export's time. Druid 33 here cannot read Parquet, and with
  the facts' own columns a batch task uses the streaming datasource's
  dataSchema unchanged. Money is read as its decimal text and turned into
  cents exactly as the reader does (pipeline/money.py); times are formatted
  as the reader prints them.

A file is written chunk by chunk (memory stays at one chunk) and closed
before upload; `rows` counts what it holds, for the manifest.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import money
from pipeline.backfill.errors import BackfillError
from pipeline.backfill.tables import ExportTable
from pipeline.cdc.facts import CENTS_SUFFIX, COMMIT_LSN, COMMIT_MS, LSN, OP, SIGN

BACKFILL_OP = "b"  # the `_op` of an exported fact: a row as of the cutover, not a change
GZIP_LEVEL = 3  # most of level 9's size at a fraction of its CPU: the export is CPU-bound here


class Part(Protocol):
    rows: int

    def write(self, rows: list[tuple]) -> None:
        """Rows as selected: (period key, *values)."""

    def close(self) -> None: ...


class Format(Protocol):
    name: str
    extension: str

    def select(self, table: ExportTable) -> tuple[str, tuple]:
        """The SQL select list after the period key, and its parameters."""

    def open(self, table: ExportTable, path: Path) -> Part: ...


class _ParquetPart:
    def __init__(self, table: ExportTable, path: Path) -> None:
        self.table, self.rows = table, 0
        self.writer = pq.ParquetWriter(path, table.schema, compression="zstd")

    def write(self, rows: list[tuple]) -> None:
        columns = list(zip(*rows))[1:]  # the first value is the period key
        arrays = [pa.array(values, pa.int64()).cast(c.type) if pa.types.is_timestamp(c.type) else pa.array(values, c.type)
                  for c, values in zip(self.table.columns, columns)]
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.table.schema))
        self.rows += len(rows)

    def close(self) -> None:
        self.writer.close()


@dataclass(frozen=True)
class Parquet:
    name: str = "parquet"
    extension: str = "parquet"

    def select(self, table: ExportTable) -> tuple[str, tuple]:
        return ", ".join(c.sql for c in table.columns), ()

    def open(self, table: ExportTable, path: Path) -> Part:
        return _ParquetPart(table, path)


def iso_utc(value: datetime | None) -> str | None:
    """The reader's text of a timestamptz (pipeline/cdc/typemap.py): UTC, six fractional digits, 'Z'."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")[:-6] + "Z"  # '+00:00' -> 'Z'


def fact(table: ExportTable, values: Sequence, meta: dict[str, Any]) -> dict[str, Any]:
    """One exported row as the reader's signed fact of it: its fields, then `meta` (_sign, _op, ...).

    Money is read as Postgres's decimal text and its cents taken from its digits (pipeline/money.py:
    exact, never rounded)."""
    row: dict[str, Any] = {}
    for column, value in zip(table.columns, values):
        if column.kind == "money":
            row[column.name[: -len(CENTS_SUFFIX)]] = value
            if value is not None:
                try:
                    row[column.name] = money.cents_of_text(value)
                except (ValueError, ArithmeticError):
                    raise BackfillError(f"{table.name}.{column.name[: -len(CENTS_SUFFIX)]} holds {value!r}, not a "
                                        "whole number of cents: the export never rounds money; fix the data") \
                        from None
        elif column.kind == "utc":
            row[column.name] = iso_utc(value)
        else:
            row[column.name] = value
    row.update(meta)
    return row


class _JsonPart:
    def __init__(self, table: ExportTable, path: Path, meta: dict[str, Any]) -> None:
        self.table, self.meta, self.rows = table, meta, 0
        self.file = gzip.open(path, "wb", compresslevel=GZIP_LEVEL)

    def write(self, rows: list[tuple]) -> None:
        table, meta = self.table, self.meta
        self.file.write(b"".join(orjson.dumps(fact(table, row[1:], meta), option=orjson.OPT_APPEND_NEWLINE)
                                 for row in rows))
        self.rows += len(rows)

    def close(self) -> None:
        self.file.close()


@dataclass(frozen=True)
class JsonFacts:
    cutover_lsn: int
    exported_ms: int
    name: str = "json"
    extension: str = "json.gz"

    @property
    def meta(self) -> dict[str, Any]:
        return {SIGN: 1, OP: BACKFILL_OP, LSN: self.cutover_lsn, COMMIT_LSN: self.cutover_lsn,
                COMMIT_MS: self.exported_ms}

    def select(self, table: ExportTable) -> tuple[str, tuple]:
        return ", ".join(c.source or c.sql for c in table.columns), ()

    def open(self, table: ExportTable, path: Path) -> Part:
        return _JsonPart(table, path, self.meta)
