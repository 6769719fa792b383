"""What the backfill exports from each table, and how each value is made exact and portable.

Money leaves as integer minor units (`amount * 100` of the NUMERIC(18,2)
column, int64: every currency here, JPY included, is stored with two decimals)
next to its currency, so no float ever touches it. Times leave as UTC
microseconds (Parquet TIMESTAMP(MICROS, UTC)), converted in SQL so the client
never interprets a time zone.

In the JSON format a row is a signed fact, as the CDC reader writes it
(pipeline/cdc/facts.py), so that Druid's batch ingestion can use a
datasource's dataSchema verbatim: each column is read as Postgres holds it
(`source`) and becomes the fields its fact has (`kind`, pipeline/backfill/formats.py):
a money column its decimal string and its `<column>_cents`, a time an ISO-8601
UTC string with six fractional digits, anything else its JSON value.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

UTC_MICROS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    sql: str  # the Parquet value: an expression over the table
    type: pa.DataType
    kind: str = "plain"  # plain | money | utc: which fields it becomes in a JSON export's fact
    source: str = ""  # the JSON export reads this expression ("" = sql)


def money(column: str) -> Column:
    return Column(f"{column}_cents", f"({column} * 100)::bigint", pa.int64(), "money", f"{column}::text")


def utc(column: str) -> Column:
    return Column(column, f"(extract(epoch FROM {column}) * 1000000)::bigint", UTC_MICROS, "utc", column)


def plain(column: str, type_: pa.DataType) -> Column:
    return Column(column, column, type_)


@dataclass(frozen=True)
class ExportTable:
    name: str
    time_column: str  # partitions the files and bounds the export (`< until`)
    columns: tuple[Column, ...]

    @property
    def schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type) for c in self.columns])


_INT, _TEXT, _BOOL = pa.int64(), pa.string(), pa.bool_()

TABLES = (
    ExportTable("transactions", "created_at", (
        plain("transaction_id", _INT), plain("account_id", _INT), plain("card_id", _INT), plain("merchant_id", _INT),
        money("amount"), plain("currency", _TEXT), plain("direction", _TEXT), plain("channel", _TEXT),
        plain("country", _TEXT), plain("status", _TEXT), utc("created_at"), utc("updated_at"))),
    ExportTable("ledger_entries", "created_at", (
        plain("entry_id", _INT), plain("account_id", _INT), plain("transaction_id", _INT), money("amount"),
        money("balance_after"), utc("created_at"))),
    ExportTable("logins", "created_at", (
        plain("login_id", _INT), plain("customer_id", _INT), plain("device_id", _TEXT),
        Column("ip", "host(ip)", _TEXT), plain("country", _TEXT), plain("success", _BOOL), utc("created_at"))),
    ExportTable("disputes", "opened_at", (
        plain("dispute_id", _INT), plain("transaction_id", _INT), plain("reason", _TEXT), money("amount"),
        plain("status", _TEXT), utc("opened_at"), utc("resolved_at"))),
)
