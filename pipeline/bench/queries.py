"""`cdc-olap bench queries`: how fast Druid answers the dashboard and report questions over millions of payments,
against Postgres (base tables and the legacy reporting views) and DuckDB over the history export.

In a stack of its own (`.run/bench-queries`, ports +3600): Postgres, Kafka,
the CDC reader (it creates the facts topics, then is stopped: the history is
loaded the way production loads it, not streamed), moto for S3 and Druid.

1. Seed the reference data, generate `payments` payments over `months`
   months and their disputes inside Postgres (query_data.py), refresh the
   legacy reporting views.
2. Export the history twice: JSON signed facts (what Druid's backfill reads)
   and Parquet (what DuckDB reads: its files downloaded first, since DuckDB's
   S3 extension is fetched from the internet at run time, which this machine
   cannot reach; local files favour DuckDB).
3. Apply `transactions`, `transactions_daily` and `disputes` and backfill them (`druid backfill`,
   pipeline/druid/backfill.py, the real path); their compaction configs are
   removed first, so no compaction task competes with the queries.
4. Ask every question once per engine and check the answers agree (rows, and
   the total of the money or count column): a fast wrong answer is an error.
5. Time each question per engine with 1 and 16 concurrent clients: each
   client asks again and again for `seconds` (at least once). Druid's caches
   are off for every query (`useCache`, `useResultLevelCache` false), so the
   figures are segment scans, not cache hits; Postgres and DuckDB keep their
   page caches, as they would in use.
"""

from __future__ import annotations

import json
import os
import signal
import tempfile
import threading
import time
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

import psycopg

from pipeline import log
from pipeline.aws import client
from pipeline.backfill.export import export
from pipeline.bench import own_stack, query_data, svg
from pipeline.bench.questions import QUESTIONS, Question, render
from pipeline.bench.stack import RESULTS_DIR
from pipeline.bench.stats import percentile
from pipeline.config import Config
from pipeline.druid import apply_all
from pipeline.druid.backfill import Options, backfill
from pipeline.druid.client import Druid
from pipeline.sor import reporting
from pipeline.stack import stack
from pipeline.stack.install.plan import install_all
from pipeline.workload.generator import WorkloadSpec, prepare

_log = log.get("bench.queries")
SERVICES = {"postgres", "kafka", "cdc", "aws", "druid-coordinator", "druid-broker", "druid-historical",
            "druid-indexer"}
DATASOURCES = ("transactions", "transactions_daily", "disputes")
NO_CACHE = {"useCache": False, "populateCache": False, "useResultLevelCache": False,
            "populateResultLevelCache": False}
EXPORT_PREFIX = "bench-queries"
ENGINES = ("druid", "postgres", "reporting", "duckdb")


LOAD_FILE = "bench-queries-load.json"  # in the run dir: what the load did, for a later `--reuse` run's report


def bench_config(base_env: dict[str, str], reuse: bool = False) -> Config:
    make = own_stack.kept if reuse else own_stack.fresh
    return make(base_env, ".run/bench-queries", 3600, {"CDC_OLAP_WORKLOAD_RUN_IN_UP": "false"})


# ---- the engines: each gives a per-client "ask" (a callable running one SQL and returning its rows) ----

def _druid_client(config: Config) -> Callable[[str], list[tuple]]:
    druid = Druid(config.druid)
    return lambda sql: [tuple(r.values()) for r in druid.sql(sql, context=NO_CACHE)]


def _postgres_client(config: Config) -> Callable[[str], list[tuple]]:
    conn = psycopg.connect(config.postgres.dsn(), autocommit=True)
    conn.execute("SET TIME ZONE 'UTC'")
    return lambda sql: conn.execute(sql).fetchall()


class _DuckDB:
    """One in-memory DuckDB with views over the downloaded Parquet export; a cursor per client."""

    def __init__(self, config: Config, bucket: str, prefix: str, scratch: Path) -> None:
        import duckdb

        s3 = client(config.aws, "s3")
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/")
        for obj in (o for page in pages for o in page.get("Contents", ()) if o["Key"].endswith(".parquet")):
            target = scratch / obj["Key"][len(prefix) + 1:]
            target.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(target))
        self.db = duckdb.connect()
        self.db.execute("SET TimeZone = 'UTC'")
        for table in ("transactions", "disputes"):
            if not any((scratch / table).glob("*/*.parquet")):  # the export's <table>/<period>/part-N.parquet
                raise RuntimeError(f"no Parquet files of {table} under s3://{bucket}/{prefix}/{table}/")
            self.db.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{scratch / table}/*/*.parquet')")

    def client(self) -> Callable[[str], list[tuple]]:
        cursor = self.db.cursor()
        return lambda sql: cursor.execute(sql).fetchall()


# ---- answers and timings ----

def fingerprint(rows: list[tuple]) -> tuple[int, int]:
    """(rows, total of the last column as an integer): equal across engines when the answers agree."""
    return len(rows), sum(int(row[-1]) for row in rows)


def timed(make_client: Callable[[], Callable[[str], list[tuple]]], sql: str, clients: int,
          seconds: float) -> list[float]:
    """Latencies (s) of `clients` threads each asking `sql` again and again for `seconds` (at least once)."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)

    def worker() -> None:
        try:
            ask = make_client()
            barrier.wait(60)
            stop_at = time.monotonic() + seconds
            while True:
                started = time.monotonic()
                ask(sql)
                with lock:
                    latencies.append(time.monotonic() - started)
                if time.monotonic() >= stop_at:
                    return
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return latencies


@dataclass(frozen=True)
class Case:
    question: str
    engine: str
    clients: int
    samples: int
    p50_ms: float
    p95_ms: float
    qps: float


def _values(start: datetime, end: datetime) -> dict[str, str]:
    day = (end - timedelta(days=1)).date()
    fmt = "%Y-%m-%d %H:%M:%S"
    return {"day": f"{day} 00:00:00", "day_end": f"{end.date()} 00:00:00",
            "month_ago": (end - timedelta(days=30)).strftime(fmt), "as_of": end.strftime(fmt),
            "start": start.strftime(fmt)}


def _sql(question: Question, engine: str) -> str | None:
    return question.reporting if engine == "reporting" else getattr(question, engine)


def _stop_reader(supervisor) -> None:
    """The reader made the topics; the history comes by backfill, so it must not stream it too."""
    for row in supervisor.status():
        if row.name == "cdc" and row.pid:
            os.kill(row.pid, signal.SIGTERM)


def _wait_served(druid: Druid, expected: dict[str, int], timeout_s: float = 900) -> None:
    """Until each datasource's signed count equals Postgres's rows (the historical has loaded every segment)."""
    metric = {"transactions": "tx_count", "transactions_daily": "tx_count", "disputes": "dispute_count"}
    for ds, rows in expected.items():
        druid.wait_for(f'SELECT SUM({metric[ds]}) AS n FROM "{ds}"', lambda got: got[0]["n"] == rows, timeout_s,
                       f"{ds} served with Postgres's {rows:,} rows", poll_s=2, context=NO_CACHE)


def load(config: Config, supervisor, *, payments: int, months: int, concurrency: int, customers: int,
         merchants: int, say: Callable[[str], None]) -> dict:
    """Steps 1-3: the history into Postgres, both exports, Druid's backfill; what each took."""
    _stop_reader(supervisor)
    pg, bucket = config.postgres, config.aws.s3_bucket
    prepare(pg, WorkloadSpec(customers=customers, merchants=merchants))
    start, end = query_data.history_span(months, datetime.now(timezone.utc).replace(hour=0, minute=0, second=0,
                                                                                    microsecond=0))
    say(f"generating {payments:,} payments from {start.date()} to {end.date()} in Postgres")
    generated = query_data.generate(pg, payments=payments, start=start, end=end)
    refreshed = reporting.refresh(pg)
    say(f"exporting the history as JSON facts (Druid) and Parquet (DuckDB) to s3://{bucket}/{EXPORT_PREFIX}/")
    exported = {fmt: export(pg, config.aws, bucket=bucket, prefix=f"{EXPORT_PREFIX}/{fmt}", file_format=fmt)
                for fmt in ("json", "parquet")}
    loads = _backfill(config, DATASOURCES, concurrency, say)
    served_started = time.monotonic()
    _wait_served(Druid(config.druid), _postgres_counts(config))
    return {
        "payments": generated.payments, "disputes": generated.disputes, "months": months,
        "from": start.isoformat(), "to": end.isoformat(), "generated_rows_per_s": round(generated.rows_per_s),
        "reporting_refresh_s": refreshed,
        "export": {fmt: {"rows": sum(e.rows.values()), "seconds": round(e.seconds, 1),
                         "rows_per_s": round(e.rows_per_s)} for fmt, e in exported.items()},
        "backfill": loads, "served_after_s": round(time.monotonic() - served_started, 1),
    }


def _backfill(config: Config, names: tuple[str, ...], concurrency: int, say: Callable[[str], None]) -> dict:
    """Apply and backfill `names` from the JSON export, with no compaction to compete with the queries."""
    druid = Druid(config.druid)
    apply_all(config, only=set(names))
    loads = {}
    for ds in names:
        druid.delete_compaction(ds)
        result = backfill(config, ds, config.aws.s3_bucket, f"{EXPORT_PREFIX}/json",
                          Options(concurrency=concurrency), say=say)
        loads[ds] = {"rows": result.rows, "seconds": round(result.seconds, 1), "rows_per_s": round(result.rows_per_s)}
    return loads


def _postgres_counts(config: Config) -> dict[str, int]:
    with closing(psycopg.connect(config.postgres.dsn())) as conn:
        payments = conn.execute("SELECT count(*) FROM transactions").fetchone()[0]
        return {"transactions": payments, "transactions_daily": payments,
                "disputes": conn.execute("SELECT count(*) FROM disputes").fetchone()[0]}


def run(config: Config, *, payments: int = 10_000_000, months: int = 14, clients: tuple[int, ...] = (1, 16),
        seconds: float = 10.0, concurrency: int = 1, customers: int = 20_000, merchants: int = 3_000,
        reuse: bool = False, keep_running: bool = False, say: Callable[[str], None] = print) -> dict:
    """Load (or, with `reuse`, take the kept stack's data as it is), check the answers, time the questions."""
    install_all(config)
    supervisor = stack.build(config)
    load_file = supervisor.layout.run_dir / LOAD_FILE
    if reuse:
        if not load_file.exists():
            raise RuntimeError(f"no loaded benchmark stack in {supervisor.layout.run_dir}: run `cdc-olap bench "
                               "queries --keep-running` once without --reuse")
        supervisor.up(only=SERVICES - {"cdc"})
        loaded = json.loads(load_file.read_text())
        missing = tuple(ds for ds in DATASOURCES if ds not in loaded["backfill"])  # added since the load
        if missing:
            loaded["backfill"].update(_backfill(config, missing, concurrency, say))
        _wait_served(Druid(config.druid), _postgres_counts(config))
    else:
        supervisor.up(only=SERVICES)
        loaded = load(config, supervisor, payments=payments, months=months, concurrency=concurrency,
                      customers=customers, merchants=merchants, say=say)
    load_file.write_text(json.dumps(loaded, indent=2))
    values = _values(datetime.fromisoformat(loaded["from"]), datetime.fromisoformat(loaded["to"]))
    bucket = config.aws.s3_bucket
    with tempfile.TemporaryDirectory(prefix="cdc-olap-bench-duckdb-") as scratch:
        duck = _DuckDB(config, bucket, f"{EXPORT_PREFIX}/parquet", Path(scratch))
        makers = {"druid": lambda: _druid_client(config), "postgres": lambda: _postgres_client(config),
                  "reporting": lambda: _postgres_client(config), "duckdb": duck.client}
        answers = _check_answers(makers, values)
        say("the engines agree on every answer: " + ", ".join(f"{k} {v['postgres'][0]} rows" for k, v in
                                                              answers.items()))
        cases = []
        for question in QUESTIONS:
            for engine in ENGINES:
                sql = _sql(question, engine)
                if sql is None:
                    continue
                for n in clients:
                    cases.append(_case(question.name, engine, n, timed(makers[engine], render(sql, values), n,
                                                                        seconds), seconds))
                    say(_line(cases[-1]))
    rss = {r.name: r.rss_mib for r in supervisor.status() if r.rss_mib is not None}
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **loaded, "rows": _postgres_counts(config),
              "answers": answers, "seconds_per_case": seconds, "cases": [c.__dict__ for c in cases], "rss_mib": rss}
    if not keep_running:
        supervisor.down()
    return result


def _check_answers(makers: dict[str, Callable], values: dict[str, str]) -> dict[str, dict[str, list[int]]]:
    answers: dict[str, dict[str, list[int]]] = {}
    for question in QUESTIONS:
        got = {}
        for engine in ENGINES:
            sql = _sql(question, engine)
            if sql is not None:
                got[engine] = list(fingerprint(makers[engine]()(render(sql, values))))
        if len({tuple(v) for v in got.values()}) != 1:
            raise AssertionError(f"{question.name}: the engines disagree (rows, total): {got}")
        if not got["postgres"][0]:
            raise AssertionError(f"{question.name}: no rows in any engine: the data does not cover the question")
        answers[question.name] = got
    return answers


def _case(question: str, engine: str, clients: int, latencies: list[float], seconds: float) -> Case:
    return Case(question, engine, clients, len(latencies), round(percentile(latencies, 0.5) * 1000, 1),
                round(percentile(latencies, 0.95) * 1000, 1), round(len(latencies) / max(seconds, 1e-9), 1))


def _line(c: Case) -> str:
    return (f"{c.question:<22} {c.engine:<9} {c.clients:>2} clients: p50 {c.p50_ms:>9,.1f} ms  p95 {c.p95_ms:>9,.1f} ms"
            f"  ({c.samples} queries)")


def report(result: dict) -> str:
    lines = [f"{result['payments']:,} payments and {result['disputes']:,} disputes over {result['months']} months "
             f"({result['from'][:10]} .. {result['to'][:10]}); generated at {result['generated_rows_per_s']:,} rows/s",
             "export: " + ", ".join(f"{k} {v['rows']:,} rows at {v['rows_per_s']:,}/s" for k, v in
                                    result["export"].items()),
             "Druid backfill: " + ", ".join(f"{k} {v['rows']:,} rows in {v['seconds']} s ({v['rows_per_s']:,} rows/s "
                                            "inside the month tasks)" for k, v in result["backfill"].items())
             + f"; every segment served {result['served_after_s']} s later",
             "", f"{'question':<22} {'engine':<9} {'clients':>7} {'p50 ms':>10} {'p95 ms':>10} {'queries':>8}"]
    cases = [Case(**c) for c in result["cases"]]
    for c in cases:
        lines.append(f"{c.question:<22} {c.engine:<9} {c.clients:>7} {c.p50_ms:>10,.1f} {c.p95_ms:>10,.1f} "
                     f"{c.samples:>8}")
    lines += ["", "Druid's p95 against the others (x times faster):"]
    lines += [_ratios(cases, q.name, n) for q in QUESTIONS for n in sorted({c.clients for c in cases})]
    lines.append("RSS MiB: " + ", ".join(f"{k} {v}" for k, v in result["rss_mib"].items()))
    return "\n".join(lines)


def _ratios(cases: list[Case], question: str, clients: int) -> str:
    p95 = {c.engine: c.p95_ms for c in cases if c.question == question and c.clients == clients}
    parts = [f"{engine} x{p95[engine] / p95['druid']:,.1f}" for engine in ENGINES[1:] if engine in p95]
    return f"  {question:<22} {clients:>2} clients: Druid p95 {p95.get('druid', 0):,.1f} ms; " + ", ".join(parts)


def save(result: dict, label: str) -> list[Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"queries-{label}-{result['when'].replace(':', '')}"
    json_path, svg_path = stem.with_suffix(".json"), stem.with_suffix(".svg")
    json_path.write_text(json.dumps(result, indent=2, default=str))
    top = max(c["clients"] for c in result["cases"])
    items = [(f"{c['question']} {c['engine']}", c["p95_ms"], f"{c['p95_ms']:,.0f} ms")
             for c in result["cases"] if c["clients"] == top]
    svg_path.write_text(svg.bars(f"p95 per question and engine, {top} concurrent clients, "
                                 f"{result['payments']:,} payments", items, left=260))
    return [json_path, svg_path]
