"""History export (JSON, as of a slot's consistent point) -> `druid backfill` + the stream after the cutover.

The datasource first holds the stream's rows; payments span several months
and go through every kind of change. The export runs while a writer keeps
committing inserts and status changes, so transactions straddle the cutover,
and the writer goes on through the backfill. Then Druid equals Postgres per
day x currency x merchant x status: the history as of the cutover plus every
change after it, each once (a duplicate or a gap shows as a slice that
differs). A later `apply` keeps the cutover filter. A backfill interrupted
after its first month skips that month on the rerun and still ends exact.
"""

from __future__ import annotations

import time
import uuid

import pytest

from pipeline.backfill import manifest
from pipeline.backfill.export import export
from pipeline.aws import client
from pipeline.druid import apply_all, cutover
from pipeline.druid.backfill import STATE_DIR, MonthLoaded, Options, backfill
from pipeline.kafka.changelog import read_all

from totals import assert_equal
from traffic import Writer, every_kind_of_change, start_pipeline

pytestmark = pytest.mark.integration

MONTHS_BACK = (0, 35, 70, 100)  # payments from this month back to three or four months ago
OPTIONS = Options(poll_s=0.5, task_timeout_s=600, drain_timeout_s=300)


@pytest.fixture(scope="module")
def pipeline(fresh_database, cdc_reader, druid, test_stack):
    aws = test_stack.need("aws").aws
    pg, reader, accounts, merchants = start_pipeline(fresh_database, cdc_reader, druid)
    every_kind_of_change(pg, accounts, merchants, MONTHS_BACK)
    assert_equal(druid, pg)  # the datasource holds the stream's rows: the backfill must replace them, not add
    return pg, reader, accounts, merchants, aws


def _export_while_writing(pg, aws, writer: Writer, prefix: str) -> manifest.Manifest:
    """The JSON export with commits before, during and after it."""
    _wait_for_rounds(writer, 20)
    during = writer.count
    export(pg, aws, bucket=aws.s3_bucket, prefix=prefix, file_format="json", progress=False)
    assert writer.count > during, "no transaction committed while the export ran"
    _wait_for_rounds(writer, writer.count + 20)  # and more after it, before the backfill
    return manifest.read(client(aws, "s3"), aws.s3_bucket, prefix)


def _wait_for_rounds(writer: Writer, rounds: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while writer.count < rounds:
        assert time.monotonic() < deadline, f"the writer made {writer.count} of {rounds} rounds"
        time.sleep(0.1)


def test_history_and_stream_meet_exactly_at_the_cutover(pipeline, druid):
    pg, reader, accounts, merchants, aws = pipeline
    prefix = f"t-druid-backfill-{uuid.uuid4().hex[:8]}"
    with Writer(pg, accounts, merchants, MONTHS_BACK, seed=21) as writer:
        export_ = _export_while_writing(pg, aws, writer, prefix)
        result = backfill(druid.config, "transactions", aws.s3_bucket, prefix, OPTIONS, progress=False,
                          say=lambda line: None)
    reader.fence()
    assert_equal(druid, pg, timeout_s=300)

    periods = export_.periods("transactions")
    assert result.cut_over and len(periods) >= 4
    assert [m.period for m in result.loaded] == list(periods) and not result.skipped
    assert result.rows == export_.rows["transactions"] and result.rows_per_s > 0
    # Transactions on both sides of the cutover, through the export's and the stream's own numbers.
    commit_lsns = [r.value["_commit_lsn"] for r in read_all(reader.bootstrap, f"{reader.prefix}.facts.transactions")]
    assert min(commit_lsns) < export_.cutover_lsn <= max(commit_lsns)

    # A later apply keeps the cutover: nothing to change, and the filter is still in the running spec.
    assert apply_all(druid.config, skip_missing_topics=True) == []
    running = druid.client.supervisor_spec(druid.name("transactions"))
    assert cutover.of(running) == cutover.Cutover(export_.cutover_lsn, f"s3://{aws.s3_bucket}/{prefix}/")
    assert f"_commit_lsn >= {export_.cutover_lsn}" in str(running["spec"]["dataSchema"]["transformSpec"]["filter"])
    every_kind_of_change(pg, accounts, merchants, MONTHS_BACK)
    reader.fence()
    assert_equal(druid, pg)


class _Interrupted(Exception):
    pass


def _stop(month: MonthLoaded) -> None:
    raise _Interrupted(month.period)


def test_an_interrupted_backfill_resumes_after_the_months_it_loaded(pipeline, druid):
    pg, reader, accounts, merchants, aws = pipeline
    prefix = f"t-druid-backfill-{uuid.uuid4().hex[:8]}"
    with Writer(pg, accounts, merchants, MONTHS_BACK, seed=22) as writer:
        export_ = _export_while_writing(pg, aws, writer, prefix)  # a newer export: the datasource is cut over again
        with pytest.raises(_Interrupted) as stopped:
            backfill(druid.config, "transactions", aws.s3_bucket, prefix, OPTIONS, progress=False, on_month=_stop,
                     say=lambda line: None)
        first = str(stopped.value)
        state = client(aws, "s3").get_object(Bucket=aws.s3_bucket,
                                             Key=f"{prefix}/{STATE_DIR}/{druid.name('transactions')}.json")
        assert b'"cut_over": true' in state["Body"].read()
        again = backfill(druid.config, "transactions", aws.s3_bucket, prefix, OPTIONS, progress=False,
                         say=lambda line: None)
    periods = list(export_.periods("transactions"))
    assert first == periods[0] and not again.cut_over
    assert again.skipped == [first] and [m.period for m in again.loaded] == periods[1:]
    reader.fence()
    assert_equal(druid, pg, timeout_s=300)
