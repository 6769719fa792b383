"""`cdc-olap druid backfill`: a datasource's history from a JSON history export on S3, joined exactly to its stream.

The export (`cdc-olap history export --format json`, pipeline/backfill) holds
the table as of its cutover, the consistent point C of a replication slot, as
signed facts (+1 per row). The stream holds every change as signed facts with
their transaction's commit LSN. The datasource gets the history, plus the
stream's facts from C on (pipeline/druid/cutover.py): each change once.

1. Read the export's manifest: C, and the table's files per month.
2. Cut the stream over, unless its supervisor already holds this cutover and
   the state says so: check that the facts topic still holds everything after
   C; suspend the supervisor and wait for its tasks (a task publishing later
   would bring back old rows); drop every segment and wait for the kill task;
   submit the spec with the filter `_commit_lsn >= C`, suspended, and forget
   its offsets.
3. Load the history, one Druid native batch task (`index_parallel`) per month:
   the spec's own dataSchema (the files are facts, with the facts' columns),
   `appendToExisting`, the month's files read over HTTP from presigned S3 URLs
   (real S3 and the local stand-in alike, without S3 credentials in Druid).
   Each task's processed rows must equal the manifest's count, with nothing
   unparseable or thrown away (`maxParseExceptions` 0 fails the task instead).
4. Resume the supervisor: it re-reads the facts topic from the earliest
   offset and keeps only the facts after C.

The supervisor stays suspended while the months load (Kafka keeps the facts
meanwhile; it catches up afterwards). Running both at once needs either time
chunk locks, where a batch task waits up to an hour for the days a stream
task holds, or concurrent locks, under which every appended segment gets the
same version (1970-01-01): after the next backfill's drop, new segments then
took the dropped ones' ids, and Druid silently kept the dropped copies (the
resume test lost rows both ways). Sequential, each load writes new versions.

Resumable: the state, `<prefix>/_druid_backfill/<datasource>.json` beside the
export it belongs to, records the cutover and, per month, the task id (saved
before the task is submitted) and whether it succeeded. A rerun skips the
months done, waits for a month whose task is still running, and submits again
only a month whose task failed or never reached Druid. A failed batch task
publishes nothing, so a retry cannot count a month twice. A new export removes
the state with the rest of the prefix; a supervisor that no longer holds the
state's cutover (terminated, reset) makes the rerun start again at step 2.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Callable

from tqdm import tqdm

from pipeline import log
from pipeline.aws import client
from pipeline.backfill import manifest as manifests
from pipeline.backfill.errors import BackfillError
from pipeline.backfill.manifest import ExportedFile, Manifest
from pipeline.config import Config
from pipeline.druid import cutover, inputs, load_specs
from pipeline.druid.apply import with_marker
from pipeline.druid.client import Druid, DruidError
from pipeline.druid.reset import drain, drop_segments
from pipeline.druid.specs import DatasourceSpec, by_name

_log = log.get("druid")
STATE_DIR = "_druid_backfill"
DONE, SUBMITTED = "done", "submitted"
FINISHED = ("SUCCESS", "FAILED")


@dataclass(frozen=True)
class Options:
    concurrency: int = 1  # maxNumConcurrentSubTasks: 1 reads the month in the task itself (one indexer slot)
    task_timeout_s: float = 3600.0  # one month's task
    drain_timeout_s: float = 600.0  # the supervisor's tasks finishing at the cutover
    url_expiry_s: int = 6 * 3600  # presigned URLs: long enough for a task that waits for a slot
    poll_s: float = 2.0


@dataclass(frozen=True)
class MonthLoaded:
    period: str
    rows: int
    seconds: float
    task_id: str


@dataclass
class BackfillResult:
    datasource: str
    cutover_lsn: int
    cut_over: bool  # this run cut the stream over (dropping the datasource's rows)
    loaded: list[MonthLoaded] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # months an earlier run loaded
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(m.rows for m in self.loaded)

    @property
    def rows_per_s(self) -> float:
        busy = sum(m.seconds for m in self.loaded)
        return self.rows / busy if busy else 0.0


@dataclass
class State:
    """What a backfill has done, saved next to its export after every step."""
    datasource: str
    cutover_lsn: int
    cut_over: bool = False
    months: dict[str, dict] = field(default_factory=dict)  # period -> {task, status, rows, seconds}

    def done(self, period: str) -> bool:
        return self.months.get(period, {}).get("status") == DONE


class StateStore:
    def __init__(self, s3, bucket: str, prefix: str, datasource: str) -> None:
        self.s3, self.bucket = s3, bucket
        self.key = f"{prefix}/{STATE_DIR}/{datasource}.json"

    def load(self) -> State | None:
        try:
            body = self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        return State(**json.loads(body))

    def save(self, state: State) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=json.dumps(asdict(state), indent=1).encode())


def batch_task(spec: DatasourceSpec, values: dict[str, str], datasource_prefix: str, period: str, urls: list[str],
               *, task_id: str, concurrency: int = 1) -> dict:
    """The native batch task loading one period's files: the datasource's own dataSchema, appended."""
    rendered = spec.render(values, datasource_prefix)
    return {
        "type": "index_parallel",
        "id": task_id,
        "spec": {
            "dataSchema": rendered["spec"]["dataSchema"],
            "ioConfig": {"type": "index_parallel", "inputSource": {"type": "http", "uris": list(urls)},
                         "inputFormat": rendered["spec"]["ioConfig"]["inputFormat"], "appendToExisting": True},
            "tuningConfig": {"type": "index_parallel", "maxNumConcurrentSubTasks": concurrency,
                             "partitionsSpec": {"type": "dynamic"}, "maxParseExceptions": 0},
        },
        "context": {"cdc_olap.backfill": period},
    }


def table_of(spec: DatasourceSpec) -> str:
    if spec.input.table is None:
        raise BackfillError(f"{spec.name} is fed by {spec.input.written_by}, not by the CDC reader's signed facts: "
                            "only a facts datasource can be loaded from a history export")
    return spec.input.table


def backfill(config: Config, datasource: str, bucket: str, prefix: str, options: Options = Options(), *,
             progress: bool = True, on_month: Callable[[MonthLoaded], None] = lambda m: None,
             say: Callable[[str], None] = print) -> BackfillResult:
    """Load `datasource`'s history from the JSON export at s3://bucket/prefix and cut its stream over."""
    started = time.monotonic()
    prefix = prefix.strip("/")
    spec = by_name(load_specs(config), datasource)
    table = table_of(spec)
    druid, values, s3 = Druid(config.druid), inputs.placeholders(config), client(config.aws, "s3")
    name = spec.datasource(config.druid.datasource_prefix)
    export = manifests.read(s3, bucket, prefix)
    cut = _cutover_of(export, bucket, prefix)
    periods = export.periods(table)
    running = druid.supervisor_spec(name)
    if running is None:
        raise DruidError(f"no supervisor for {name}: run `cdc-olap druid apply` first (the backfill cuts its "
                         "stream over, then loads the history)")
    store = StateStore(s3, bucket, prefix, name)
    state = store.load()
    if state is None or state.cutover_lsn != cut.lsn or not state.cut_over or cutover.of(running) != cut:
        if state is not None:
            _stop_tasks(druid, state)  # an older run's month must not publish into the emptied datasource
        state = State(name, cut.lsn)
    result = BackfillResult(name, cut.lsn, cut_over=not state.cut_over)
    if not state.cut_over:
        try:
            _cut_over(druid, spec, values, config, cut, options, say)
        except DruidError as exc:
            raise DruidError(f"cutting {name} over to LSN {cut.lsn_text} failed: {exc}. No history was loaded; "
                             "run the backfill again: it starts over at the cutover") from None
        state.cut_over = True
        store.save(state)
    bar = tqdm(total=len(periods), unit="month", desc=name, disable=not progress)
    try:
        for period, files in periods.items():
            if state.done(period):
                result.skipped.append(period)
                bar.update(1)
                continue
            loaded = _load_month(druid, s3, bucket, spec, values, config.druid.datasource_prefix, period, files,
                                 state, store, options)
            result.loaded.append(loaded)
            bar.update(1)
            bar.set_postfix_str(f"{result.rows_per_s:,.0f} rows/s")
            _log.info("druid.backfill_month", datasource=name, period=period, rows=loaded.rows,
                      seconds=round(loaded.seconds, 1), task=loaded.task_id)
            on_month(loaded)
    finally:
        bar.close()
    if (druid.supervisor_spec(name) or {}).get("suspended"):
        druid.resume(name)
        say(f"{name} re-reads {spec.topic(values)} from its earliest offsets, keeping the facts committed from LSN "
            f"{cut.lsn_text} on")
    result.seconds = time.monotonic() - started
    _log.info("druid.backfilled", datasource=name, cutover_lsn=cut.lsn_text, months=len(result.loaded),
              skipped=len(result.skipped), rows=result.rows, rows_per_s=round(result.rows_per_s))
    return result


def _cutover_of(export: Manifest, bucket: str, prefix: str) -> cutover.Cutover:
    if export.format != "json" or export.cutover_lsn is None:
        raise BackfillError(f"{manifests.url(bucket, prefix)} is a {export.format} export without a cutover: Druid "
                            f"needs `cdc-olap history export --format json --bucket {bucket} --prefix {prefix}`")
    return cutover.Cutover(export.cutover_lsn, f"s3://{bucket}/{prefix}/")


def _stop_tasks(druid: Druid, state: State) -> None:
    for month in state.months.values():
        if month.get("status") == SUBMITTED:
            druid.shutdown_task(month["task"])


def _cut_over(druid: Druid, spec: DatasourceSpec, values: dict[str, str], config: Config, cut: cutover.Cutover,
              options: Options, say: Callable[[str], None]) -> None:
    """Empty the datasource and make its supervisor re-read the facts topic, keeping those after the cutover."""
    name, topic = spec.datasource(config.druid.datasource_prefix), spec.topic(values)
    cutover.check_topic(config.kafka.bootstrap, topic, cut)
    drain(druid, name, options.drain_timeout_s, say)
    kill = drop_segments(druid, name, say, options.drain_timeout_s)
    _wait(druid, kill, f"the kill task dropping {name}'s segments", options.drain_timeout_s, options.poll_s)
    # Suspended until the history is in (backfill()); its offsets forgotten, so it starts from the earliest.
    druid.submit({**with_marker(cutover.applied(spec.render(values, config.druid.datasource_prefix), cut)),
                  "suspended": True})
    druid.reset_offsets(name)
    _log.info("druid.cut_over", datasource=name, topic=topic, cutover_lsn=cut.lsn_text, export=cut.export)
    say(f"{name} cut over at LSN {cut.lsn_text}: the history before it comes from {cut.export}")


def _load_month(druid: Druid, s3, bucket: str, spec: DatasourceSpec, values: dict[str, str], prefix: str,
                period: str, files: list[ExportedFile], state: State, store: StateStore,
                options: Options) -> MonthLoaded:
    name, expected = spec.datasource(prefix), sum(f.rows for f in files)
    started = time.monotonic()
    previous = state.months.get(period, {}).get("task")
    status = druid.task_status(previous) if previous else None
    if status is not None and status.get("statusCode") != "FAILED":
        task_id = previous  # submitted by an interrupted run: wait for it rather than load the month twice
    else:
        task_id = f"cdc_olap_backfill_{name}_{period}_{uuid.uuid4().hex[:8]}"
        urls = [s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": f.key},
                                          ExpiresIn=options.url_expiry_s) for f in files]
        state.months[period] = {"task": task_id, "status": SUBMITTED}
        store.save(state)  # before submitting: a rerun must know the task may exist
        druid.submit_task(batch_task(spec, values, prefix, period, urls, task_id=task_id,
                                     concurrency=options.concurrency))
    status = _wait(druid, task_id, f"month {period} of {name}", options.task_timeout_s, options.poll_s)
    if status.get("statusCode") != "SUCCESS":
        raise DruidError(f"month {period} of {name}: batch task {task_id} failed: "
                         f"{status.get('errorMsg') or 'no error message (see the task log in Druid)'}. It published "
                         f"nothing; fix the cause and run the backfill again (it retries this month)")
    rows = _check_rows(druid, task_id, name, period, expected)
    seconds = time.monotonic() - started
    state.months[period] = {"task": task_id, "status": DONE, "rows": rows, "seconds": round(seconds, 3)}
    store.save(state)
    return MonthLoaded(period, rows, seconds, task_id)


def _wait(druid: Druid, task_id: str, what: str, timeout_s: float, poll_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        status = druid.task_status(task_id)
        if status is None:
            raise DruidError(f"{what}: Druid does not know task {task_id}; run the backfill again")
        if status.get("statusCode") in FINISHED:
            return status
        if time.monotonic() > deadline:
            raise DruidError(f"{what}: task {task_id} still {status.get('statusCode')} after {timeout_s:.0f} s. It "
                             "goes on in Druid: run the backfill again later (it waits for this task instead of "
                             "loading the month twice), or shut the task down and run it again")
        time.sleep(poll_s)


def _check_rows(druid: Druid, task_id: str, name: str, period: str, expected: int) -> int:
    """The task's own row counts against the manifest's: a row dropped (or doubled) is an error, not a warning."""
    payload = ((druid.task_reports(task_id) or {}).get("ingestionStatsAndErrors") or {}).get("payload") or {}
    stats = (payload.get("rowStats") or {}).get("buildSegments")
    if stats is None:
        _log.warning("druid.backfill_unverified", datasource=name, period=period, task=task_id,
                     reason="the task has no row statistics")
        return expected
    counts = {k: int(stats.get(k, 0)) for k in ("processed", "processedWithError", "thrownAway", "unparseable")}
    if counts["processed"] != expected or any(counts[k] for k in ("processedWithError", "thrownAway", "unparseable")):
        raise DruidError(f"month {period} of {name}: task {task_id} published {counts} but the export holds "
                         f"{expected} rows: the datasource does not equal the history. Check the spec's filter and "
                         f"timestamp, then run the backfill from a new export")
    return counts["processed"]
