"""The Flink jobs, the alert dispatcher and the Druid lookup sync as stack services: `up` starts them after Kafka, `down` stops
them with everything else, `status` shows them.

Each job is `cdc-olap flink run <job>` in its own process (local mini-cluster), so a job that dies is one
service down, not the stack. A job restarted by `up` resumes from its newest retained checkpoint. With
[flink] mode = "remote" the process submits the job to the cluster unless the cluster already runs it, then
follows it there (flink_jobs/runner.py); `down` stops only that process, not the cluster's job.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pipeline.config import Config, child_env
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service, Unhealthy

JOBS = ("windows", "fraud", "health")
# Submitted by this process, or (remote mode) found already running on the cluster.
_JOB_RUNNING = ("flink.job_started", "flink.job_already_running")


def _logged(layout: Layout, name: str, markers: tuple[str, ...], waiting: str) -> str:
    path = layout.log_file(name)
    text = path.read_text(errors="replace") if path.exists() else ""
    if not any(marker in text.rsplit("\n=== ", 1)[-1] for marker in markers):
        raise Unhealthy(waiting)
    return "running"


def services(config: Config, layout: Layout) -> list[Service]:
    env = child_env(config)
    made = [Service(name=f"flink-{job}", port=None, argv=[sys.executable, "-m", "pipeline", "flink", "run", job],
                    env=env, requires=("kafka",), start_timeout_s=300, stop_timeout_s=20,
                    health=lambda job=job: _logged(layout, f"flink-{job}", _JOB_RUNNING,
                                                   "waiting for the job to be submitted"))
            for job in JOBS]
    if config.alerts.run_in_up:
        made.append(Service(name="alerts", port=None, argv=[sys.executable, "-m", "pipeline", "alerts", "dispatch"],
                            env=env, requires=("kafka", "aws"), start_timeout_s=60, stop_timeout_s=20,
                            health=lambda: _dispatcher_health(config, layout)))
    return made


def lookups_service(config: Config, layout: Layout) -> Service:
    """Reference attributes (merchant names, customer countries) as Druid lookups, kept current."""
    return Service(name="druid-lookups", port=None, argv=[sys.executable, "-m", "pipeline", "druid", "lookups",
                                                          "--follow"],
                   env=child_env(config), requires=("kafka", "druid-coordinator", "cdc"), start_timeout_s=120,
                   stop_timeout_s=20, health=lambda: _logged(layout, "druid-lookups", ("druid.lookups_synced",),
                                                             "waiting for the first sync"))


def _dispatcher_health(config: Config, layout: Layout) -> str:
    """Subscribed, and what it did so far from its ledger: pages, suppressed, and rejected records
    (malformed alerts or dead letters, kept with their position: `sqlite3 <ledger> 'select * from rejected'`)."""
    from pipeline.alerts.ledger import Ledger

    _logged(layout, "alerts", ("alerts.dispatching",), "waiting for the dispatcher to subscribe")
    ledger = Ledger(Path(config.run_path(config.alerts.ledger)))
    try:
        counts = ledger.counts()
    finally:
        ledger.close()
    rejected = f", {counts['rejected']} REJECTED records" if counts["rejected"] else ""
    return f"running, {counts.get('sent', 0)} pages sent, {counts.get('rate_limited', 0)} rate-limited{rejected}"
