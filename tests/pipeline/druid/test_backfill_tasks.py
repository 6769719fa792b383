"""The history backfill's batch tasks, built from the real druid_specs/transactions.json (no services)."""

from __future__ import annotations

import pytest

from pipeline.backfill.errors import BackfillError
from pipeline.backfill.manifest import ExportedFile, Manifest
from pipeline.config import PROJECT_ROOT, load_config
from pipeline.druid import backfill, inputs, specs

pytestmark = pytest.mark.unit
PREFIX = "t_"


@pytest.fixture(scope="module")
def real():
    loaded = specs.load(PROJECT_ROOT / "druid_specs", inputs.known())
    return {s.name: s for s in loaded}, inputs.placeholders(load_config(env={}))


def _export() -> Manifest:
    files = [ExportedFile("transactions", period, f"h/transactions/month={period}/part-{n:05d}.json.gz", rows)
             for period, n, rows in (("2026-03", 0, 10), ("2026-01", 0, 5), ("2026-03", 1, 7), ("2026-02", 0, 1))]
    files.append(ExportedFile("ledger_entries", "2026-01", "h/ledger_entries/month=2026-01/part-00000.json.gz", 9))
    return Manifest("json", "month", "2026-04-01T00:00:00+00:00", {"transactions": 23, "ledger_entries": 9}, files,
                    cutover_lsn=54_710_960, exported_ms=1)


def _task(real, period: str, urls: list[str], **kw) -> dict:
    loaded, values = real
    return backfill.batch_task(loaded["transactions"], values, PREFIX, period, urls, task_id=f"id-{period}", **kw)


def test_the_task_uses_the_datasources_own_data_schema(real):
    loaded, values = real
    task = _task(real, "2026-03", ["http://s3/a?sig=1"])
    stream = loaded["transactions"].render(values, PREFIX)
    assert task["spec"]["dataSchema"] == stream["spec"]["dataSchema"]
    assert task["spec"]["dataSchema"]["dataSource"] == "t_transactions"
    assert task["type"] == "index_parallel" and task["id"] == "id-2026-03"


def test_it_reads_the_presigned_urls_over_http_and_appends(real):
    urls = ["http://127.0.0.1:29000/b/h/transactions/month=2026-03/part-00000.json.gz?X-Amz-Signature=ab",
            "http://127.0.0.1:29000/b/h/transactions/month=2026-03/part-00001.json.gz?X-Amz-Signature=cd"]
    io = _task(real, "2026-03", urls)["spec"]["ioConfig"]
    assert io == {"type": "index_parallel", "inputSource": {"type": "http", "uris": urls},
                  "inputFormat": {"type": "json"}, "appendToExisting": True}


def test_tuning_is_one_or_two_slots_and_refuses_bad_rows(real):
    task = _task(real, "2026-03", ["u"], concurrency=2)
    assert task["spec"]["tuningConfig"] == {"type": "index_parallel", "maxNumConcurrentSubTasks": 2,
                                            "partitionsSpec": {"type": "dynamic"}, "maxParseExceptions": 0}
    assert task["context"] == {"cdc_olap.backfill": "2026-03"}  # time chunk locks: the supervisor is suspended


def test_one_task_per_month_oldest_first_with_that_months_files(real):
    periods = _export().periods("transactions")
    assert list(periods) == ["2026-01", "2026-02", "2026-03"]
    tasks = {p: _task(real, p, [f"https://s3/{f.key}" for f in files]) for p, files in periods.items()}
    assert [len(t["spec"]["ioConfig"]["inputSource"]["uris"]) for t in tasks.values()] == [1, 1, 2]
    assert all(f"month={p}/" in u for p, t in tasks.items() for u in t["spec"]["ioConfig"]["inputSource"]["uris"])
    assert sum(f.rows for f in periods["2026-03"]) == 17  # what the task's row count is checked against


def test_only_a_facts_datasource_can_be_backfilled(real):
    loaded, _ = real
    assert backfill.table_of(loaded["transactions"]) == "transactions"
    with pytest.raises(BackfillError, match="tx_windows is fed by the Flink windows job.*only a facts datasource"):
        backfill.table_of(loaded["tx_windows"])


def test_a_parquet_export_has_no_cutover_and_is_refused():
    parquet = Manifest("parquet", "month", "2026-04-01T00:00:00+00:00")
    with pytest.raises(BackfillError, match=r"parquet export without a cutover.*history export --format json "
                                            r"--bucket b --prefix h"):
        backfill._cutover_of(parquet, "b", "h")
    assert backfill._cutover_of(_export(), "b", "h").lsn == 54_710_960


def test_the_manifest_round_trips():
    again = Manifest.from_json(_export().to_json(), "s3://b/h/_manifest.json")
    assert again == _export()
    assert b'"cutover_lsn_text": "0/342D2B0"' in _export().to_json()
