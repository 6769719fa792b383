"""The demo's live traffic: `cdc-olap workload` run as a stack service, so `up` shows a working system
and `down` stops it with everything else. On first start it applies the schema, seeds reference data and
loads a few months of back history ([workload] history_months), so charts have a past from the start."""

from __future__ import annotations

import sys

from pipeline.config import Config, child_env
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service, Unhealthy


def _health(layout: Layout) -> str:
    path = layout.log_file("workload")
    text = path.read_text(errors="replace") if path.exists() else ""
    if "workload.writing" not in text.rsplit("\n=== ", 1)[-1]:
        raise Unhealthy("waiting for the writers to start (schema, seed, history)")
    return "writing"


def service(config: Config, layout: Layout) -> Service:
    w = config.workload
    argv = [sys.executable, "-m", "pipeline", "workload", "--tps", str(w.tps), "--seed", str(w.seed),
            "--writers", str(w.writers), "--fraud-rate", str(w.fraud_rate), "--customers", str(w.customers),
            "--duration", str(10 * 365 * 86400), "--history-months", str(w.history_months),
            "--history-payments-per-day", str(w.history_payments_per_day)]
    return Service(
        name="workload",
        port=None,
        argv=argv,
        # The child reads the same config: same file, same environment, same run dir.
        env=child_env(config),
        health=lambda: _health(layout),
        requires=("postgres",),
        start_timeout_s=120,
        stop_timeout_s=20,
    )
