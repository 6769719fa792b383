"""`cdc-olap bench cdc`: our reader against Debezium Server, same database, workload and Kafka.

Two measurements, each run for both readers one after the other (never at
once: they would share the two cores):

* throughput: a mixed insert/update backlog is committed while both readers
  are stopped (each has its own slot, so each gets the whole backlog); then
  each reader drains it. Rate = changes / (broker append time of the last
  event - that of the first), so JVM start-up and our process start do not count.
* latency at a steady rate (5,000 changes/s by default): transactions of 50
  changes every 10 ms; latency per event = the moment a read_committed
  consumer receives it - Postgres commit time (`source.ts_us`). Visibility to
  consumers, not the broker's append, is what counts: in exactly-once mode an
  event is appended before its Kafka transaction commits and is invisible
  until then. The same consumer measures every contender. Both clocks are this
  machine's.

Contenders: our reader exactly-once (Kafka transactions) and at-least-once
(idempotent producer), and Debezium Server (at-least-once), one after the other.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

from pipeline import log
from pipeline.bench import svg
from pipeline.bench.stack import RESULTS_DIR
from pipeline.bench.stats import percentile
from pipeline.cdc.control import ReaderProcess, free_port, reader_env
from pipeline.config import Config
from pipeline.kafka import changelog
from pipeline.kafka.admin import ensure_topics
from pipeline.stack import stack

_log = log.get("bench.cdc")
DATABASE = "cdc_bench"
TABLE = "bench_payments"
PARTITIONS = 3
BATCH = 1000


@dataclasses.dataclass
class Contender:
    name: str
    topic: str
    start: callable
    stop: callable
    peak_rss_mb: callable


def _database(config: Config):
    admin = config.postgres.dsn("postgres", superuser=True)
    with psycopg.connect(admin, autocommit=True) as conn:
        for (slot,) in conn.execute("SELECT slot_name FROM pg_replication_slots WHERE database = %s", (DATABASE,)):
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DATABASE),
                                                                  sql.Identifier(config.postgres.user)))
    pg = dataclasses.replace(config.postgres, database=DATABASE)
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(f"""CREATE TABLE {TABLE} (id bigint PRIMARY KEY, account_id int NOT NULL,
                         amount numeric(12,2) NOT NULL, status text NOT NULL, memo text,
                         updated_at timestamptz NOT NULL DEFAULT now())""")
        conn.execute(f"ALTER TABLE {TABLE} REPLICA IDENTITY FULL")
    return pg


def _insert(conn: psycopg.Connection, first: int, last: int) -> None:
    conn.execute(f"""INSERT INTO {TABLE} (id, account_id, amount, status, memo)
                     SELECT g, g %% 5000, (g %% 100000) / 100.0, 'pending', 'card payment ' || g
                     FROM generate_series(%s::bigint, %s::bigint) g""", (first, last))


def _settle(conn: psycopg.Connection, first: int, last: int) -> None:
    conn.execute(f"UPDATE {TABLE} SET status = 'settled', updated_at = now() WHERE id BETWEEN %s AND %s",
                 (first, last))


def _write_backlog(pg, rows: int, updates: int) -> int:
    with psycopg.connect(pg.dsn()) as conn:
        for lo in range(1, rows + 1, BATCH):
            _insert(conn, lo, min(lo + BATCH - 1, rows))
            conn.commit()
        for lo in range(1, updates + 1, BATCH):
            _settle(conn, lo, min(lo + BATCH - 1, updates))
            conn.commit()
    return rows + updates


def _paced_writer(pg, rate: int, seconds: float, first_id: int) -> tuple[int, int]:
    """Transactions of 50 changes (25 inserts, 25 updates of recent rows) at `rate` changes/s."""
    per_tx, half = 50, 25
    interval = per_tx / rate
    changes, next_id = 0, first_id
    with psycopg.connect(pg.dsn()) as conn:
        started = time.monotonic()
        due = started
        while time.monotonic() - started < seconds:
            _insert(conn, next_id, next_id + half - 1)
            _settle(conn, next_id - half, next_id - 1)
            conn.commit()
            next_id += half
            changes += per_tx
            due += interval
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    return changes, next_id


def _records(bootstrap: str, topic: str, before: dict[int, int], changes: int, timeout_s: float = 600) -> list:
    """The `changes` records written after `before`, once all are committed. Offsets alone overcount:
    transaction markers take offsets too."""
    deadline = time.monotonic() + timeout_s
    changelog.wait_for_count(bootstrap, topic, sum(before.values()) + changes, timeout_s=timeout_s)
    while True:
        after = changelog.partition_ends(bootstrap, topic)
        records = [r for r in changelog.read_range(bootstrap, topic, before, after, timeout_s=60) if r.value]
        if len(records) >= changes or time.monotonic() > deadline:
            return records
        time.sleep(0.2)


def _throughput(bootstrap: str, c: Contender, changes: int) -> dict:
    """Drain the backlog (all of it written while `c` was stopped)."""
    before = changelog.partition_ends(bootstrap, c.topic)
    c.start()
    stamps = sorted(r.timestamp for r in _records(bootstrap, c.topic, before, changes))
    seconds = max((stamps[-1] - stamps[0]) / 1000, 1e-3)
    # A JVM compiles its hot path during the first tens of thousands of events: report the rate after
    # the first third too ("steady"), for both readers alike.
    k = len(stamps) // 3
    steady_s = max((stamps[-1] - stamps[k]) / 1000, 1e-3)
    return {"changes": changes, "seconds": round(seconds, 2), "changes_per_s": round(changes / seconds),
            "steady_changes_per_s": round((len(stamps) - k) / steady_s)}


def _latency(bootstrap: str, pg, c: Contender, rate: int, seconds: float, first_id: int) -> tuple[dict, int, int]:
    """`c` is running and caught up; returns (figures, changes written, next free id)."""
    before = changelog.partition_ends(bootstrap, c.topic)
    with changelog.Watcher(bootstrap, c.topic, before) as watcher:
        changes, next_id = _paced_writer(pg, rate, seconds, first_id)
        seen = watcher.wait_for(changes, timeout_s=600)
    lat = []
    for received_s, value in seen:
        src = value["source"]
        commit_ms = src["ts_us"] / 1000 if src.get("ts_us") else src["ts_ms"]
        lat.append(received_s * 1000 - commit_ms)
    figures = {f"p{int(q * 100)}_ms": round(percentile(lat, q), 1) for q in (0.5, 0.95, 0.99)}
    return ({"changes": changes, "achieved_per_s": round(changes / seconds), **figures,
             "max_ms": round(max(lat), 1), "mean_ms": round(statistics.fmean(lat), 1)}, changes, next_id)


def run(config: Config, *, rows: int = 300_000, updates: int = 150_000, rate: int = 5000, seconds: float = 20,
        debezium: bool = True) -> dict:
    stack.build(config).up(only={"postgres", "kafka"})
    pg = _database(config)
    bootstrap = config.kafka.bootstrap
    work = Path(tempfile.mkdtemp(prefix="cdc-bench-"))
    contenders: list[Contender] = []

    for delivery, name in (("exactly-once", "ours"), ("at-least-once", "oursalo")):
        port = free_port()
        reader = ReaderProcess(reader_env(dict(os.environ), pg, name, work / f"{name}-state", port,
                                          config.stack.port_offset, tables=f"public.{TABLE}", partitions=PARTITIONS,
                                          transaction_topic="false", partition_by=f"{TABLE}=account_id",
                                          # Debezium sends no watermark records or signed facts either.
                                          watermark_interval_ms=0, signed_tables="", delivery=delivery),
                               port, work / f"{name}.log", pg, name, bootstrap)
        contenders.append(Contender(f"cdc-olap {delivery}", f"{name}.public.{TABLE}",
                                    lambda r=reader: r.start(timeout_s=120), reader.stop, reader.peak_rss_mb))
    if debezium:
        from pipeline.bench.debezium import DebeziumServer, install

        server = DebeziumServer(install(config), config, work / "debezium", database=DATABASE, slot="dbz_bench",
                                topic_prefix="dbz", tables=f"public.{TABLE}", http_port=free_port())

        def start_dbz() -> None:
            server.start()
            server.wait_streaming()

        contenders.append(Contender("Debezium Server 3.6", f"dbz.public.{TABLE}", start_dbz, server.stop,
                                    server.peak_rss_mb))
    ensure_topics(bootstrap, [c.topic for c in contenders], PARTITIONS,
                  configs={"message.timestamp.type": "LogAppendTime"})
    result: dict = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows, "updates": updates,
                    "rate": rate, "seconds": seconds, "contenders": {}}
    try:
        for c in contenders:  # create each slot (empty snapshot), then stop: both slots hold the backlog
            c.start()
            c.stop()
        _log.info("bench.backlog", rows=rows, updates=updates)
        changes = _write_backlog(pg, rows, updates)
        for c in contenders:
            _log.info("bench.throughput", reader=c.name)
            result["contenders"][c.name] = {"throughput": _throughput(bootstrap, c, changes)}
            c.stop()
        expected = {c.topic: changelog.end_offsets(bootstrap, c.topic) for c in contenders}  # every backlog event is in
        next_id = rows + 1
        for c in contenders:
            _log.info("bench.latency", reader=c.name, rate=rate)
            c.start()
            changelog.wait_for_count(bootstrap, c.topic, expected[c.topic], timeout_s=600)  # catch up on the others' phases
            figures, written, next_id = _latency(bootstrap, pg, c, rate, seconds, next_id)
            for topic in expected:
                expected[topic] += written
            entry = result["contenders"][c.name]
            entry["latency"], entry["peak_rss_mb"] = figures, round(c.peak_rss_mb())
            c.stop()
            _log.info("bench.result", reader=c.name, **entry["throughput"], **{f"lat_{k}": v for k, v in figures.items()})
    finally:
        for c in contenders:
            c.stop()
    names = [n for n in result["contenders"] if "at-least-once" not in n]
    if len(names) == 2:
        a, b = (result["contenders"][n] for n in names)
        result["ratio_throughput"] = round(a["throughput"]["changes_per_s"] / b["throughput"]["changes_per_s"], 2)
        result["ratio_steady_throughput"] = round(a["throughput"]["steady_changes_per_s"]
                                                  / b["throughput"]["steady_changes_per_s"], 2)
        result["ratio_p99_latency"] = round(a["latency"]["p99_ms"] / max(b["latency"]["p99_ms"], 0.1), 2)
    eos, alo = (result["contenders"].get(f"cdc-olap {d}") for d in ("exactly-once", "at-least-once"))
    if eos and alo:
        result["cost_of_exactly_once"] = {
            "throughput_ratio": round(eos["throughput"]["changes_per_s"] / alo["throughput"]["changes_per_s"], 2),
            "p99_ms_delta": round(eos["latency"]["p99_ms"] - alo["latency"]["p99_ms"], 1)}
    return result


def report(result: dict) -> str:
    lines = [f"backlog: {result['rows']:,} inserts + {result['updates']:,} updates; latency at {result['rate']:,} "
             f"changes/s for {result['seconds']:.0f} s", "",
             f"{'reader':<22} {'changes/s':>10} {'steady/s':>10} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
             f"{'max ms':>8} {'peak MB':>8}"]
    for name, e in result["contenders"].items():
        t, lat = e["throughput"], e["latency"]
        lines.append(f"{name:<22} {t['changes_per_s']:>10,} {t['steady_changes_per_s']:>10,} {lat['p50_ms']:>8} {lat['p95_ms']:>8} {lat['p99_ms']:>8} "
                     f"{lat['max_ms']:>8} {e['peak_rss_mb']:>8}")
    if "ratio_throughput" in result:
        lines.append(f"\nours (exactly-once)/Debezium: throughput x{result['ratio_throughput']} "
                     f"(steady x{result['ratio_steady_throughput']}), p99 latency x{result['ratio_p99_latency']}")
    if "cost_of_exactly_once" in result:
        cost = result["cost_of_exactly_once"]
        lines.append(f"exactly-once vs at-least-once: throughput x{cost['throughput_ratio']}, "
                     f"p99 {cost['p99_ms_delta']:+} ms")
    return "\n".join(lines)


def save(result: dict, label: str) -> list[Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"cdc-{label}-{result['when'].replace(':', '')}"
    paths = [stem.with_suffix(".json"), Path(f"{stem}-throughput.svg"), Path(f"{stem}-latency.svg")]
    paths[0].write_text(json.dumps(result, indent=2))
    entries = result["contenders"].items()
    paths[1].write_text(svg.bars("CDC throughput, changes/s draining a backlog (broker append times)",
                                 [(n, e["throughput"]["changes_per_s"], f"{e['throughput']['changes_per_s']:,}/s")
                                  for n, e in entries]))
    latency_items = []
    for n, e in entries:
        lat = e["latency"]
        latency_items += [(f"{n} p50", lat["p50_ms"], f"{lat['p50_ms']} ms"),
                          (f"{n} p99", lat["p99_ms"], f"{lat['p99_ms']} ms")]
    paths[2].write_text(svg.bars(f"Commit-to-visible latency (read_committed consumer) at {result['rate']:,} changes/s",
                                 latency_items))
    return paths
