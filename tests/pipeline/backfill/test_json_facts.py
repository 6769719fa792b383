"""The JSON export's rows are signed facts in the reader's format: exact cents, ISO UTC times (no services)."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from pipeline.backfill import formats
from pipeline.backfill.errors import BackfillError
from pipeline.backfill.tables import TABLES
from pipeline.cdc import facts
from pipeline.druid import inputs

pytestmark = pytest.mark.unit
TRANSACTIONS = next(t for t in TABLES if t.name == "transactions")
CUTOVER, EXPORTED_MS = 54_710_960, 1_796_196_282_445
META = formats.JsonFacts(CUTOVER, EXPORTED_MS).meta
BERLIN = timezone(timedelta(hours=2))


def _row(amount: str | None = "12.30", created: datetime | None = None) -> tuple:
    created = created or datetime(2026, 6, 30, 23, 59, 59, 500000, tzinfo=BERLIN)
    # the columns in tables.py's order, as psycopg returns the JSON export's select (money as its text)
    return (42, 7, None, 3, amount, "USD", "debit", "transfer", "US", "settled", created, created)


def test_a_row_is_the_readers_fact_of_it():
    assert formats.fact(TRANSACTIONS, _row(), META) == {
        "transaction_id": 42, "account_id": 7, "card_id": None, "merchant_id": 3, "amount": "12.30",
        "amount_cents": 1230, "currency": "USD", "direction": "debit", "channel": "transfer", "country": "US",
        "status": "settled", "created_at": "2026-06-30T21:59:59.500000Z", "updated_at": "2026-06-30T21:59:59.500000Z",
        "_sign": 1, "_op": "b", "_lsn": CUTOVER, "_commit_lsn": CUTOVER, "_commit_ms": EXPORTED_MS}


@pytest.mark.parametrize("amount, cents", [("0.01", 1), ("12.30", 1230), ("9999999999999999.99", 999999999999999999),
                                           ("-1234567890123456.78", -123456789012345678), ("0.00", 0)])
def test_money_is_exact_cents_beside_its_decimal_text(amount, cents):
    fact = formats.fact(TRANSACTIONS, _row(amount), META)
    assert fact["amount_cents"] == cents and isinstance(fact["amount_cents"], int) and fact["amount"] == amount


def test_money_that_is_not_whole_cents_is_refused_not_rounded():
    with pytest.raises(BackfillError, match=r"transactions.amount holds '1.005', not a whole number of cents"):
        formats.fact(TRANSACTIONS, _row("1.005"), META)


@pytest.mark.parametrize("value, text", [
    (datetime(2026, 1, 1, 0, 30, tzinfo=BERLIN), "2025-12-31T22:30:00.000000Z"),  # another day, month, year in UTC
    (datetime(2026, 3, 4, 5, 6, 7, 1, tzinfo=timezone.utc), "2026-03-04T05:06:07.000001Z"),
    (None, None)])
def test_times_are_iso_utc_with_six_fractional_digits_as_the_reader_prints_them(value, text):
    assert formats.iso_utc(value) == text


def test_the_fields_are_the_facts_columns_the_druid_specs_are_checked_against():
    for table in TABLES:
        values = tuple("1.00" if c.kind == "money" else None for c in table.columns)
        fields = set(formats.fact(table, values, META))
        assert fields == inputs.known()[f"${{cdc.topic_prefix}}.facts.{table.name}"].columns, table.name
    assert set(META) == set(facts.META) == set(inputs.FACT_META)


def test_a_file_is_gzipped_json_lines(tmp_path):
    path = tmp_path / "part-00000.json.gz"
    part = formats.JsonFacts(CUTOVER, EXPORTED_MS).open(TRANSACTIONS, path)
    part.write([("2026-06", *_row("1.10")), ("2026-06", *_row("2.20"))])
    part.write([("2026-06", *_row(None))])
    part.close()
    lines = gzip.decompress(path.read_bytes()).splitlines()
    assert part.rows == len(lines) == 3
    assert [orjson.loads(line).get("amount_cents") for line in lines] == [110, 220, None]
