"""`cdc-olap bench fraud`: the whole chain against labelled traffic.

Workload (fraud scenarios injected and labelled in `ground_truth.fraud_labels`)
-> Postgres -> CDC reader -> Kafka -> Flink fraud job -> alerts topic ->
dispatcher -> SNS (moto). Runs in a stack of its own (`.run/bench-fraud`,
ports +2500) so the demo's data does not mix in, and reports:

* detection latency per page: SNS publish time (the dispatcher's ledger) -
  Postgres commit time of the event that completed the pattern, p50/p95;
* precision and recall per rule against the labels: an alert is right when a
  label of the same pattern exists for the same account within `MATCH_WINDOW`
  of it; a label is found when at least one such alert exists.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

from pipeline import log
from pipeline.bench import own_stack, svg
from pipeline.bench.stack import RESULTS_DIR
from pipeline.bench.stats import percentile
from pipeline.config import Config
from pipeline.stack import stack
from pipeline.stack.install.plan import install_all
from pipeline.workload.generator import WorkloadSpec
from pipeline.workload.generator import run as run_workload

_log = log.get("bench.fraud")
MATCH_WINDOW = timedelta(minutes=15)
SERVICES = {"postgres", "kafka", "aws", "cdc", "flink-fraud", "alerts"}


def bench_config(base_env: dict[str, str]) -> Config:
    """The bench stack's config, from a clean slate (no data, checkpoints or page ledger of an earlier run)."""
    return own_stack.fresh(base_env, ".run/bench-fraud", 2500, {"CDC_OLAP_WORKLOAD_RUN_IN_UP": "false"})


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def score(alerts: list[dict], labels: list[dict]) -> dict:
    """alerts: {pattern, account_id, event_time}; labels: {scenario, account_id, injected_at}."""
    per: dict[str, dict] = {}
    for name in sorted({a["pattern"] for a in alerts} | {lab["scenario"] for lab in labels}):
        mine = [a for a in alerts if a["pattern"] == name]
        truth = [lab for lab in labels if lab["scenario"] == name]

        def near(a, lab) -> bool:
            return a["account_id"] == lab["account_id"] and abs(a["event_time"] - lab["injected_at"]) <= MATCH_WINDOW

        right = sum(1 for a in mine if any(near(a, lab) for lab in truth))
        found = sum(1 for lab in truth if any(near(a, lab) for a in mine))
        per[name] = {"alerts": len(mine), "labels": len(truth), "true_alerts": right, "found_labels": found,
                     "precision": round(right / len(mine), 3) if mine else None,
                     "recall": round(found / len(truth), 3) if truth else None}
    total_alerts = sum(p["alerts"] for p in per.values())
    total_labels = sum(p["labels"] for p in per.values())
    return {"per_rule": per,
            "precision": round(sum(p["true_alerts"] for p in per.values()) / total_alerts, 3) if total_alerts else None,
            "recall": round(sum(p["found_labels"] for p in per.values()) / total_labels, 3) if total_labels else None}


def run(config: Config, *, seconds: float = 120, tps: float = 200, fraud_rate: float = 0.01, settle_s: float = 30,
        keep_running: bool = False) -> dict:
    install_all(config)
    supervisor = stack.build(config)
    supervisor.up(only=SERVICES)
    spec = WorkloadSpec(tps=tps, duration_s=seconds, seed=int(time.time()) % 100_000, writers=2,
                        fraud_rate=fraud_rate, daily_shape=False)
    started = datetime.now().astimezone()
    _log.info("bench.workload", seconds=seconds, tps=tps, fraud_rate=fraud_rate)
    stats = run_workload(config.postgres, spec)
    time.sleep(settle_s)  # let the last scenarios' windows close and their pages go out
    with psycopg.connect(config.postgres.dsn()) as conn:
        labels = [{"scenario": s, "account_id": a, "injected_at": t} for s, a, t in conn.execute(
            "SELECT scenario, account_id, injected_at FROM ground_truth.fraud_labels WHERE injected_at >= %s",
            (started,))]
    ledger = sqlite3.connect(config.run_path(config.alerts.ledger))
    pages = ledger.execute("SELECT rule_id, account_id, event_time, handled_at, outcome FROM pages").fetchall()
    ledger.close()
    patterns = _rule_patterns(config)
    alerts, latencies = [], []
    for rule_id, account_id, event_time, handled_at, outcome in pages:
        at = _parse(event_time)
        if at < started - MATCH_WINDOW:
            continue
        alerts.append({"pattern": patterns.get(rule_id, rule_id), "account_id": account_id, "event_time": at})
        if outcome == "sent":
            latencies.append(handled_at - at.timestamp())
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": seconds, "tps": tps,
        "fraud_rate": fraud_rate, "payments": stats.payments, "scenarios": dict(stats.scenarios),
        "pages_sent": len(latencies),
        "latency_s": {"p50": _round(percentile(latencies, 0.5)), "p95": _round(percentile(latencies, 0.95)),
                      "max": round(max(latencies), 3) if latencies else None},
        **score(alerts, labels),
    }
    if not keep_running:
        supervisor.down()
    return result


def _rule_patterns(config: Config) -> dict[str, str]:
    from flink_jobs.fraud import rules

    return {rule.id: rule.pattern for rule in rules.load(config.rules_file)}


def report(result: dict) -> str:
    lat = result["latency_s"]
    lines = [f"{result['payments']:,} payments in {result['seconds']:.0f} s, scenarios injected: {result['scenarios']}",
             f"pages sent: {result['pages_sent']}; commit -> SNS publish p50 {lat['p50']} s, p95 {lat['p95']} s, "
             f"max {lat['max']} s",
             f"overall precision {result['precision']}, recall {result['recall']}", "",
             f"{'pattern':<28} {'alerts':>7} {'labels':>7} {'precision':>10} {'recall':>8}"]
    for name, p in result["per_rule"].items():
        lines.append(f"{name:<28} {p['alerts']:>7} {p['labels']:>7} {str(p['precision']):>10} {str(p['recall']):>8}")
    return "\n".join(lines)


def save(result: dict, label: str) -> list[Path]:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stem = RESULTS_DIR / f"fraud-{label}-{result['when'].replace(':', '')}"
    json_path, svg_path = stem.with_suffix(".json"), stem.with_suffix(".svg")
    json_path.write_text(json.dumps(result, indent=2, default=str))
    items = []
    for name, p in result["per_rule"].items():
        items.append((f"{name} recall", p["recall"] or 0, str(p["recall"])))
        items.append((f"{name} precision", p["precision"] or 0, str(p["precision"])))
    svg_path.write_text(svg.bars(f"Fraud rules vs labels (p95 commit->page {result['latency_s']['p95']} s)",
                                 items, left=300))
    return [json_path, svg_path]
