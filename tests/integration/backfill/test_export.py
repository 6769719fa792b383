"""History -> Parquet (or JSON signed facts) on S3 (moto) -> read back: every cent and every row arrives."""

import gzip
import io
import json
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
    for file in result.files:
        body = s3.get_object(Bucket=result.bucket, Key=file.key)["Body"].read()
        tables.setdefault(file.table, []).append((file.key, pq.read_table(io.BytesIO(body))))
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


@pytest.fixture(scope="module")
def exported_json(test_stack, fresh_database, exported):
    from pipeline.backfill.manifest import read

    config = test_stack.need("postgres", "aws")
    result = export(fresh_database, config.aws, bucket=config.aws.s3_bucket, prefix="test-backfill-json",
                    file_format="json", progress=False)
    s3 = client(config.aws, "s3")
    rows = {f.key: [json.loads(line) for line in gzip.decompress(
        s3.get_object(Bucket=result.bucket, Key=f.key)["Body"].read()).splitlines()] for f in result.files}
    return result, read(s3, result.bucket, result.prefix), rows


def test_the_json_export_is_signed_facts_as_of_its_cutover(exported_json, exported):
    _, _, conn = exported
    result, manifest, rows = exported_json
    assert manifest.format == "json" and manifest.cutover_lsn == result.cutover_lsn > 0
    assert {f.key: f.rows for f in manifest.files} == {k: len(v) for k, v in rows.items()}
    facts = [r for f in manifest.files if f.table == "transactions" for r in rows[f.key]]
    assert len(facts) == result.rows["transactions"] == conn.execute("SELECT count(*) FROM transactions").fetchone()[0]
    assert {(r["_sign"], r["_op"], r["_lsn"], r["_commit_lsn"]) for r in facts} == {
        (1, "b", result.cutover_lsn, result.cutover_lsn)}
    sums = Counter()
    for r in facts:
        sums[(r["currency"], r["status"])] += r["amount_cents"]
        assert r["created_at"].endswith("Z") and len(r["created_at"]) == 27
    assert dict(sums) == {(c, s): int(v) for c, s, v in conn.execute(
        "SELECT currency, status, SUM(amount * 100) FROM transactions GROUP BY 1, 2").fetchall()}
    first = min(facts, key=lambda r: r["transaction_id"])
    created = conn.execute("SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') "
                           "FROM transactions WHERE transaction_id = %s", (first["transaction_id"],)).fetchone()[0]
    assert first["created_at"] == created


def test_the_json_exports_slot_is_gone_and_its_cutover_is_in_the_past(exported_json, exported):
    from pipeline.cdc.pgoutput import parse_lsn

    _, _, conn = exported
    result, _, _ = exported_json
    assert conn.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name LIKE 'cdc_olap_export_%'"
                        ).fetchone()[0] == 0
    assert result.cutover_lsn <= parse_lsn(conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0])
