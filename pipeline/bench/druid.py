"""`cdc-olap bench druid`: how fresh Druid's `transactions` is under load.

Freshness is Postgres commit -> the row visible through Druid SQL, the whole
path: the CDC reader's signed facts (exactly-once: visible when its Kafka
transaction commits) -> Druid's Kafka supervisor (read_committed) -> the
broker. Runs in a stack of its own (`.run/bench-druid`, ports +2700):
Postgres, Kafka, Druid, the reader; `transactions` applied from
druid_specs/. The warm-up (reference data, every account's opening balance
back to 3.5 years ago, then `warmup_s` of the load) is a backlog Druid reads
first; the measured load starts once a payment committed then is visible.

While the workload writes `tps` payments per second (each with its
settlement, ledger entry and balance update: about 4 changes per payment,
of which the payment's own give 3 facts), a probe commits one payment every
`probe_every_s` to a merchant of its own, noting the time its COMMIT
returned, and a poller asks Druid every `poll_s` which probe payments it
holds, noting when each first appears. Freshness = appeared - committed; the
poll adds up to `poll_s` (plus one query's time) to each figure, so the
figures are an upper bound.

With `flink` (the default), the windows, fraud and health jobs run too and
their datasources are applied; a second poller measures, for each of them,
the time from the moment a result could first exist to its first appearance
in Druid SQL:
- `tx_windows`: a window's end (the job emits it once the watermark passes
  its end; its exactly-once sink makes it visible at the next checkpoint);
- `account_health`: a `change` row's event time (the payment's commit);
- `fraud_alerts`: the alert's detection time in the job (at-least-once sink,
  visible without waiting for a checkpoint); the detection's own latency
  is `bench fraud`'s.
The goal for these is one checkpoint interval ([flink]
checkpoint_interval_ms) plus 1 s.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import nullcontext
from dataclasses import replace
from pathlib import Path

import psycopg

from pipeline import log
from pipeline.bench import own_stack, svg
from pipeline.bench.stack import RESULTS_DIR
from pipeline.bench.stats import percentile
from pipeline.config import Config
from pipeline.druid import apply_all
from pipeline.druid.client import Druid
from pipeline.stack import stack
from pipeline.stack.install.plan import install_all
from pipeline.workload.generator import WorkloadSpec
from pipeline.workload.generator import run as run_workload

_log = log.get("bench.druid")
SERVICES = {"postgres", "kafka", "cdc", "druid-coordinator", "druid-broker", "druid-historical", "druid-indexer"}
FLINK_SERVICES = {"flink-windows", "flink-fraud", "flink-health"}
WINDOW_MS = 5 * 60 * 1000  # the windows job's tumbling window
# Per Flink-fed datasource: (key, ms when the result could first exist) of its rows since {since} (epoch ms).
RESULT_QUERIES = {
    "tx_windows": 'SELECT TIMESTAMP_TO_MILLIS(__time) AS k, TIMESTAMP_TO_MILLIS(__time) + {window} AS ready '
                  'FROM "tx_windows" WHERE __time >= MILLIS_TO_TIMESTAMP({since}) AND "late" = \'false\' GROUP BY 1',
    "account_health": 'SELECT TIMESTAMP_TO_MILLIS(__time) AS k, TIMESTAMP_TO_MILLIS(__time) AS ready '
                      'FROM "account_health" WHERE __time >= MILLIS_TO_TIMESTAMP({since}) AND "trigger" = \'change\' '
                      'AND account_id = {account} GROUP BY 1',  # the probe's account: a handful of rows per poll
    "fraud_alerts": 'SELECT alert_id AS k, MIN(first_detected_ms) AS ready FROM "fraud_alerts" '
                    'WHERE __time >= MILLIS_TO_TIMESTAMP({since}) GROUP BY 1',
}
PROBE_MERCHANT = "druid freshness probe"


def bench_config(base_env: dict[str, str]) -> Config:
    return own_stack.fresh(base_env, ".run/bench-druid", 2700, {"CDC_OLAP_WORKLOAD_RUN_IN_UP": "false"})


class _Probe:
    """Commits probe payments and watches Druid for them."""

    def __init__(self, config: Config, every_s: float, poll_s: float) -> None:
        self.config, self.every_s, self.poll_s = config, every_s, poll_s
        self.committed: dict[int, float] = {}
        self.seen: dict[int, float] = {}
        self.lag: list[tuple[float, int]] = []  # (seconds into the run, supervisor lag)
        self.failed_polls = 0
        self.stop = threading.Event()
        self.started = time.time()
        with psycopg.connect(config.postgres.dsn(), autocommit=True) as conn:
            self.merchant = conn.execute(
                "INSERT INTO merchants (name, mcc, country) VALUES (%s, '5999', 'DE') RETURNING merchant_id",
                (PROBE_MERCHANT,)).fetchone()[0]
            self.account, self.currency = conn.execute(
                "SELECT account_id, currency FROM accounts ORDER BY account_id LIMIT 1").fetchone()
        self.threads = [threading.Thread(target=self._write, daemon=True),
                        threading.Thread(target=self._poll, daemon=True)]

    def _pay(self, conn: psycopg.Connection) -> int:
        """One probe payment, committed (autocommit); its id."""
        return conn.execute(
            "INSERT INTO transactions (account_id, merchant_id, amount, currency, direction, channel, country)"
            " VALUES (%s, %s, 1.00, %s, 'debit', 'transfer', 'DE') RETURNING transaction_id",
            (self.account, self.merchant, self.currency)).fetchone()[0]

    def _write(self) -> None:
        with psycopg.connect(self.config.postgres.dsn(), autocommit=True) as conn:
            while not self.stop.wait(self.every_s):
                tx = self._pay(conn)
                self.committed[tx] = time.time()

    def _poll(self) -> None:
        druid = Druid(self.config.druid)
        query = (f'SELECT transaction_id FROM "transactions" WHERE merchant_id = {self.merchant} '
                 f"AND __time >= MILLIS_TO_TIMESTAMP({int(self.started * 1000) - 60_000}) GROUP BY 1")
        last_lag = 0.0
        while not self.stop.is_set():
            try:
                rows = druid.sql(query)
            except Exception as exc:  # noqa: BLE001 - a failed poll is counted, and the next one tries again
                self.failed_polls += 1
                if self.failed_polls <= 3:
                    _log.warning("bench.poll_failed", error=str(exc)[:160])
                rows = []
            now = time.time()
            for row in rows:
                self.seen.setdefault(row["transaction_id"], now)
            if now - last_lag >= 1.0:
                last_lag = now
                status = druid.supervisor_status("transactions") or {}
                lag = (status.get("payload") or {}).get("aggregateLag")
                if lag is not None:
                    self.lag.append((round(now - self.started, 1), lag))
            time.sleep(self.poll_s)

    def caught_up(self, timeout_s: float = 900) -> float:
        """Wait until Druid has read everything before now (the warm-up's backlog, the snapshot): one
        probe payment committed now becomes visible. Returns the seconds that took."""
        started = time.monotonic()
        with psycopg.connect(self.config.postgres.dsn(), autocommit=True) as conn:
            tx = self._pay(conn)
        Druid(self.config.druid).wait_for(f'SELECT COUNT(*) AS n FROM "transactions" WHERE transaction_id = {tx}',
                                          lambda rows: rows[0]["n"] > 0, timeout_s, "Druid caught up with the backlog")
        return time.monotonic() - started

    def __enter__(self) -> "_Probe":
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(30)

    def samples(self) -> list[tuple[float, float]]:
        """(commit time into the run, freshness) per probe payment Druid showed."""
        return sorted((self.committed[tx] - self.started, self.seen[tx] - self.committed[tx])
                      for tx in self.committed if tx in self.seen)


class _ResultPoller:
    """Watches the Flink-fed datasources for new results; freshness = first seen - could first exist."""

    def __init__(self, config: Config, account: int, poll_s: float = 0.25) -> None:
        self.druid, self.account, self.poll_s = Druid(config.druid), account, poll_s
        self.started_ms = int(time.time() * 1000)
        self.seen: dict[str, dict] = {ds: {} for ds in RESULT_QUERIES}  # ds -> key -> (ready_ms, seen_ms)
        self.failed_polls = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self.stop.wait(self.poll_s):
            for ds, query in RESULT_QUERIES.items():
                sql = query.format(since=self.started_ms - WINDOW_MS, window=WINDOW_MS, account=self.account)
                try:
                    rows = self.druid.sql(sql)
                except Exception:  # noqa: BLE001 - not queryable before its first rows; the next poll tries again
                    self.failed_polls += 1
                    continue
                now_ms = time.time() * 1000
                for row in rows:
                    if row["ready"] is not None and row["ready"] >= self.started_ms:  # results of the run only
                        self.seen[ds].setdefault(row["k"], (row["ready"], now_ms))

    def __enter__(self) -> "_ResultPoller":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)

    def freshness(self) -> dict[str, dict]:
        out = {}
        for ds, seen in self.seen.items():
            values = [(seen_ms - ready) / 1000 for ready, seen_ms in seen.values()]
            out[ds] = {"results": len(values), **_summary(values)}
        return out


def _summary(values: list[float]) -> dict:
    pick = {"p50": 0.5, "p95": 0.95, "p99": 0.99}
    out = {k: round(percentile(values, q) * 1000, 1) if values else None for k, q in pick.items()}
    out["max"] = round(max(values) * 1000, 1) if values else None
    return out


def _queryable(druid: Druid, timeout_s: float = 300) -> None:
    """Wait until Druid serves rows of `transactions` (its first task has started and read)."""
    druid.wait_for('SELECT COUNT(*) AS n FROM "transactions"', lambda rows: rows[0]["n"] > 0, timeout_s,
                   "transactions queryable in Druid", poll_s=1)


def _apply(config: Config, names: set[str], timeout_s: float = 300) -> None:
    """Apply the datasources once their topics exist (a Flink job creates its result topic when it starts)."""
    deadline, applied = time.monotonic() + timeout_s, set()
    while True:
        apply_all(config, skip_missing_topics=True, only=names)
        applied = {name for name in names if Druid(config.druid).supervisor_spec(name)}
        if applied == names:
            _log.info("bench.applied", datasources=",".join(sorted(applied)))
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"no topic for {', '.join(sorted(names - applied))} after {timeout_s:.0f} s")
        time.sleep(5)


def run(config: Config, *, seconds: float = 120, tps: float = 1000, warmup_s: float = 30, probe_every_s: float = 0.2,
        poll_s: float = 0.02, flink: bool = True, keep_running: bool = False) -> dict:
    install_all(config)
    supervisor = stack.build(config)
    supervisor.up(only=SERVICES | (FLINK_SERVICES if flink else set()))
    spec = WorkloadSpec(tps=tps, duration_s=seconds, seed=int(time.time()) % 100_000, writers=2,
                        fraud_rate=0.002 if flink else 0.0, daily_shape=False)
    # The reader's service created the schema, the tables' topics and their facts topics at its start.
    _apply(config, {"transactions", *(RESULT_QUERIES if flink else ())})
    if warmup_s > 0:  # seeds the reference data on its first run, and lets the supervisor's first task start
        run_workload(config.postgres, replace(spec, duration_s=warmup_s, seed=spec.seed + 1))
    _queryable(Druid(config.druid))
    probe = _Probe(config, probe_every_s, poll_s)
    catch_up_s = probe.caught_up()
    _log.info("bench.caught_up", seconds=round(catch_up_s, 1))
    probe.started = time.time()
    results = _ResultPoller(config, probe.account)
    with probe, results if flink else nullcontext():
        _log.info("bench.load", seconds=seconds, tps=tps)
        stats = run_workload(config.postgres, spec)
        time.sleep(5 + (config.flink.checkpoint_interval_ms / 1000 if flink else 0))  # the last answers
    samples = probe.samples()
    values = [f for _, f in samples]
    lags = [lag for _, lag in probe.lag]
    rss = {r.name: r.rss_mib for r in supervisor.status()
           if r.rss_mib is not None and (r.name.startswith("druid-") or r.name.startswith("flink-") or r.name == "cdc")}
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": seconds, "tps": tps,
        "payments": stats.payments, "payments_per_s": round(stats.payments / seconds, 1),
        "probes": len(probe.committed), "probes_seen": len(samples), "poll_ms": poll_s * 1000,
        "failed_polls": probe.failed_polls, "catch_up_s": round(catch_up_s, 1),
        "freshness_ms": _summary(values),
        "flink_freshness_ms": results.freshness() if flink else {},
        "checkpoint_interval_ms": config.flink.checkpoint_interval_ms,
        "ingestion": _ingestion(Druid(config.druid), ["transactions", *(RESULT_QUERIES if flink else ())]),
        "supervisor_lag": {"p50": percentile(lags, 0.5), "p95": percentile(lags, 0.95), "max": max(lags, default=None)},
        "rss_mib": rss, "samples": samples, "lag_samples": probe.lag,
    }
    if not keep_running:
        supervisor.down()
    return result


def _ingestion(druid: Druid, names: list[str]) -> dict[str, float | None]:
    """Rows/s each supervisor's tasks processed over the last minute or so (Druid's moving average)."""
    out = {}
    for name in names:
        try:
            stats = druid.supervisor_stats(name)
        except Exception:  # noqa: BLE001 - a figure missing from the report, not a failed benchmark
            stats = {}
        rates = [task.get("movingAverages", {}).get("buildSegments", {}).get("1m", {}).get("processed")
                 for group in (stats or {}).values() for task in group.values()]
        out[name] = round(sum(r for r in rates if r), 1) if any(rates) else None
    return out


def report(result: dict) -> str:
    f = result["freshness_ms"]
    lag = result["supervisor_lag"]
    return "\n".join([
        f"{result['payments']:,} payments in {result['seconds']:.0f} s ({result['payments_per_s']:,}/s, target "
        f"{result['tps']:,}/s); probes {result['probes_seen']}/{result['probes']} seen; Druid took "
        f"{result['catch_up_s']} s to catch up with the warm-up's backlog before the measured load",
        f"transactions freshness (commit -> visible in Druid SQL, polled every {result['poll_ms']:.0f} ms): "
        f"p50 {f['p50']} ms, p95 {f['p95']} ms, p99 {f['p99']} ms, max {f['max']} ms",
        f"supervisor lag (records): p50 {lag['p50']}, p95 {lag['p95']}, max {lag['max']}",
        *[f"{ds} freshness (could first exist -> visible; goal {result['checkpoint_interval_ms'] + 1000:,} ms): "
          f"{f['results']} results, p50 {f['p50']} ms, p95 {f['p95']} ms, max {f['max']} ms"
          for ds, f in result.get("flink_freshness_ms", {}).items()],
        "ingestion (rows/s per supervisor, 1-minute moving average): "
        + ", ".join(f"{k} {v}" for k, v in result.get("ingestion", {}).items()),
        "RSS MiB at the end of the load: " + ", ".join(f"{k} {v}" for k, v in result["rss_mib"].items()),
    ])


def save(result: dict, label: str) -> list[Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"druid-{label}-{result['when'].replace(':', '')}"
    json_path, svg_path = stem.with_suffix(".json"), stem.with_suffix(".svg")
    json_path.write_text(json.dumps(result, indent=2, default=str))
    f = result["freshness_ms"]
    svg_path.write_text(svg.line(
        f"transactions: commit -> visible in Druid at {result['payments_per_s']:,} payments/s "
        f"(p50 {f['p50']} ms, p95 {f['p95']} ms, p99 {f['p99']} ms)",
        [("freshness (ms)", [(t, ms * 1000) for t, ms in result["samples"]])],
        x_label="seconds into the run", y_label="ms"))
    return [json_path, svg_path]
