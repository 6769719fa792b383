"""`cdc-olap bench fraud`: the whole chain against labelled traffic.

Workload (fraud scenarios injected and labelled in `ground_truth.fraud_labels`)
-> Postgres -> CDC reader -> Kafka -> Flink fraud job -> alerts topic ->
dispatcher -> SNS (moto). Runs in a stack of its own (`.run/bench-fraud`,
ports +2500) so the demo's data does not mix in, and reports:

* detection latency per page: SNS publish time (the dispatcher's ledger) -
  Postgres commit time of the event that completed the pattern, p50/p95,
  overall and per rule, split into the part inside Flink (the alert's
  `detected_at`) and the dispatcher's part;
* precision and recall per rule against the labels: an alert is right when a
  label of the same pattern exists for the same account within `MATCH_WINDOW`
  of it; a label is found when at least one such alert exists.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
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
        warmup_s: float = 20, keep_running: bool = False) -> dict:
    """`warmup_s` of the same traffic without fraud first: the job is "started" (submitted) some
    seconds before its operators run and its state is loaded, and scenarios of those seconds would
    measure the start-up, not detection. Only alerts and labels after the warm-up count."""
    install_all(config)
    supervisor = stack.build(config)
    supervisor.up(only=SERVICES)
    spec = WorkloadSpec(tps=tps, duration_s=seconds, seed=int(time.time()) % 100_000, writers=2,
                        fraud_rate=fraud_rate, daily_shape=False)
    if warmup_s > 0:
        _log.info("bench.warmup", seconds=warmup_s, tps=tps)
        run_workload(config.postgres, replace(spec, duration_s=warmup_s, seed=spec.seed + 1, fraud_rate=0.0))
    started = datetime.now().astimezone()
    _log.info("bench.workload", seconds=seconds, tps=tps, fraud_rate=fraud_rate)
    stats = run_workload(config.postgres, spec)
    time.sleep(settle_s)  # let the last scenarios' windows close and their pages go out
    with psycopg.connect(config.postgres.dsn()) as conn:
        labels = [{"scenario": s, "account_id": a, "injected_at": t} for s, a, t in conn.execute(
            "SELECT scenario, account_id, injected_at FROM ground_truth.fraud_labels WHERE injected_at >= %s",
            (started,))]
    ledger = sqlite3.connect(config.run_path(config.alerts.ledger))
    pages = ledger.execute(
        "SELECT rule_id, account_id, event_time, detected_at, handled_at, outcome FROM pages").fetchall()
    ledger.close()
    patterns = _rule_patterns(config)
    alerts, latencies, detection = [], [], {}
    for rule_id, account_id, event_time, detected_at, handled_at, outcome in pages:
        at = _parse(event_time)
        if at < started:
            continue  # the warm-up's traffic
        pattern = patterns.get(rule_id, rule_id)
        alerts.append({"pattern": pattern, "account_id": account_id, "event_time": at})
        if outcome == "sent":
            latencies.append(handled_at - at.timestamp())
            detection.setdefault(pattern, []).append(
                (_parse(detected_at).timestamp() - at.timestamp(), handled_at - at.timestamp()))
    result = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seconds": seconds, "warmup_s": warmup_s,
        "tps": tps,
        "fraud_rate": fraud_rate, "payments": stats.payments, "scenarios": dict(stats.scenarios),
        "pages_sent": len(latencies),
        "latency_s": _summary(latencies),
        **score(alerts, labels),
        "latency_per_rule_s": latency_per_rule(detection),
    }
    if not keep_running:
        supervisor.down()
    return result


def _summary(values: list[float]) -> dict[str, float | None]:
    return {"p50": _round(percentile(values, 0.5)), "p95": _round(percentile(values, 0.95)),
            "max": _round(max(values)) if values else None}


def latency_per_rule(samples: dict[str, list[tuple[float, float]]]) -> dict[str, dict]:
    """Per pattern: commit -> Flink alert (`detected_at`) and commit -> SNS publish, so a slow rule
    shows whether the time went in Flink or in the dispatcher."""
    return {name: {"pages": len(pairs), "flink": _summary([d for d, _ in pairs]),
                   "sns": _summary([p for _, p in pairs])}
            for name, pairs in sorted(samples.items())}


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
    lines += ["", f"{'pattern':<28} {'pages':>6} {'flink p50':>10} {'p95':>7} {'sns p50':>8} {'p95':>7} {'max':>7}"]
    for name, lat in result.get("latency_per_rule_s", {}).items():
        f, s = lat["flink"], lat["sns"]
        lines.append(f"{name:<28} {lat['pages']:>6} {f['p50']:>10} {f['p95']:>7} {s['p50']:>8} {s['p95']:>7} {s['max']:>7}")
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
