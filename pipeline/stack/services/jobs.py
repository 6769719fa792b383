"""The Flink jobs and the alert dispatcher as stack services: `up` starts them after Kafka, `down` stops
them with everything else, `status` shows them.

Each job is `cdc-olap flink run <job>` in its own process (local mini-cluster), so a job that dies is one
service down, not the stack. A job restarted by `up` resumes from its newest retained checkpoint. With
[flink] mode = "remote" the process submits the job to the cluster and the cluster runs it.
"""

from __future__ import annotations

import sys

from pipeline.config import Config, child_env
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service, Unhealthy

JOBS = ("windows", "fraud", "health")


def _logged(layout: Layout, name: str, marker: str, waiting: str) -> str:
    path = layout.log_file(name)
    text = path.read_text(errors="replace") if path.exists() else ""
    if marker not in text.rsplit("\n=== ", 1)[-1]:
        raise Unhealthy(waiting)
    return "running"


def services(config: Config, layout: Layout) -> list[Service]:
    env = child_env(config)
    made = [Service(name=f"flink-{job}", port=None, argv=[sys.executable, "-m", "pipeline", "flink", "run", job],
                    env=env, requires=("kafka",), start_timeout_s=180, stop_timeout_s=20,
                    health=lambda job=job: _logged(layout, f"flink-{job}", "flink.job_started",
                                                   "waiting for the job to be submitted"))
            for job in JOBS]
    if config.alerts.run_in_up:
        made.append(Service(name="alerts", port=None, argv=[sys.executable, "-m", "pipeline", "alerts", "dispatch"],
                            env=env, requires=("kafka", "aws"), start_timeout_s=60, stop_timeout_s=20,
                            health=lambda: _logged(layout, "alerts", "alerts.dispatching",
                                                   "waiting for the dispatcher to subscribe")))
    return made
