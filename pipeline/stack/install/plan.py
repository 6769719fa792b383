"""`cdc-olap install`: everything the managed services need, in one idempotent pass.

Each service module owns its own install step (it knows what it runs); this
module only decides the order and reports progress. Steps already current
(by their input stamps) finish in milliseconds, so `up` always calls this.
"""

from __future__ import annotations

import time

from pipeline import log
from pipeline.config import Config
from pipeline.stack.install import apt
from pipeline.stack.layout import Layout
from pipeline.stack.preflight import free_disk, java_version

_log = log.get("install")


def install_all(config: Config) -> None:
    from pipeline.stack.services import druid, flink, kafka, superset

    layout = Layout.from_config(config)
    layout.ensure()
    free_disk(layout.cache_dir)
    free_disk(layout.run_dir)
    if config.kafka.managed or config.druid.managed or config.flink.mode == "local":
        java_version()
    steps = [
        ("debian packages", True, lambda: apt.ensure_postgres_and_redis(config.postgres.managed, config.redis.managed)),
        ("kafka jars", config.kafka.managed, lambda: kafka.install(config, layout)),
        ("druid distribution", config.druid.managed, lambda: druid.install(config, layout)),
        ("flink connector jars", True, lambda: flink.install(config, layout)),
        ("superset virtualenv", config.superset.managed, lambda: superset.install(config, layout)),
    ]
    for index, (name, wanted, step) in enumerate(steps, 1):
        if not wanted:
            continue
        started = time.monotonic()
        _log.info("install.step", step=f"{index}/{len(steps)}", name=name)
        step()
        _log.info("install.done", name=name, seconds=round(time.monotonic() - started, 1))
