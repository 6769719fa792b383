"""History -> Parquet on S3 (moto) -> read back: every cent and every row arrives."""

import io
from collections import Counter

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.backfill.export import export
from pipeline.aws import client
from pipeline.workload.history import HistorySpec
from pipeline.workload.history_load import load


@pytest.fixture(scope="module")
def exported(test_stack, fresh_database):
    config = test_stack.need("postgres", "aws")
    load(fresh_database, HistorySpec(months=2, payments_per_day=120, seed=5), customers=200, progress=False)
    result = export(fresh_database, config.aws, bucket=config.aws.s3_bucket, prefix="test-backfill", progress=False)
    s3 = client(config.aws, "s3")
    tables = {}
    for key in result.files:
        body = s3.get_object(Bucket=result.bucket, Key=key)["Body"].read()
        tables.setdefault(key.split("/")[1], []).append((key, pq.read_table(io.BytesIO(body))))
    with psycopg.connect(fresh_database.dsn()) as conn:
        yield result, tables, conn


def test_every_table_is_exported_in_month_partitions(exported):
    result, tables, conn = exported
    assert set(tables) == {"transactions", "ledger_entries", "logins", "disputes"} - {
        t for t, n in result.rows.items() if n == 0}
    for name, parts in tables.items():
        assert sum(t.num_rows for _, t in parts) == result.rows[name]
        assert result.rows[name] == conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
        for key, table in parts:
            month = key.split("month=")[1][:7]
            time_column = "opened_at" if name == "disputes" else "created_at"
            assert {t.strftime("%Y-%m") for t in table.column(time_column).to_pylist()} == {month}


def test_amounts_round_trip_to_the_cent(exported):
    _, tables, conn = exported
    merged = pa.concat_tables([t for _, t in tables["transactions"]])
    assert merged.schema.field("amount_cents").type == pa.int64()
    assert merged.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    from_parquet = Counter()
    for currency, status, cents in zip(*(merged.column(c).to_pylist() for c in ("currency", "status", "amount_cents"))):
        from_parquet[(currency, status)] += cents
    in_postgres = {(c, s): int(v) for c, s, v in conn.execute(
        "SELECT currency, status, SUM(amount * 100) FROM transactions GROUP BY 1, 2").fetchall()}
    assert dict(from_parquet) == in_postgres
    ledger = pa.concat_tables([t for _, t in tables["ledger_entries"]])
    assert sum(ledger.column("amount_cents").to_pylist()) == int(
        conn.execute("SELECT SUM(amount * 100) FROM ledger_entries").fetchone()[0])


def test_times_are_utc_and_exact(exported):
    _, tables, conn = exported
    first = tables["transactions"][0][1].slice(0, 1).to_pylist()[0]
    created = conn.execute("SELECT created_at FROM transactions WHERE transaction_id = %s",
                           (first["transaction_id"],)).fetchone()[0]
    assert first["created_at"] == created and first["created_at"].utcoffset().total_seconds() == 0
