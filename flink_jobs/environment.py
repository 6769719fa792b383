"""One way to get a Flink TableEnvironment, for every job and test.

Local mode runs an embedded mini-cluster in a JVM that PyFlink starts next to
this Python process; remote mode submits to a JobManager over REST. Memory is
sized for a 2-core machine shared with Kafka, Druid and Superset.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from pipeline.config import Config
from pipeline.stack.layout import Layout
from pipeline.stack.services import flink as flink_stage


def settings(config: Config, layout: Layout) -> dict[str, str]:
    """The Flink configuration for this config: connector jars, parallelism, memory, target."""
    jar_urls = ";".join(p.as_uri() for p in flink_stage.jars(config, layout))
    values = {
        "pipeline.jars": jar_urls,
        "parallelism.default": str(config.flink.parallelism),
        "table.exec.source.idle-timeout": "10 s",
        "taskmanager.numberOfTaskSlots": "4",
        "taskmanager.memory.managed.size": "64m",
        "taskmanager.memory.network.min": "32m",
        "taskmanager.memory.network.max": "32m",
        "table.local-time-zone": "UTC",
    }
    if config.flink.mode == "remote":
        url = urlparse(config.flink.rest_url)
        values.update({"execution.target": "remote", "rest.address": url.hostname or "",
                       "rest.port": str(url.port or 8081)})
    return values


def table_environment(config: Config, layout: Layout):
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    # PyFlink reads the gateway JVM's options from JVM_ARGS when it launches it.
    os.environ.setdefault("JVM_ARGS", f"-Xmx{config.flink.local_heap}")
    os.environ.setdefault("FLINK_LOG_DIR", str(layout.logs / "flink"))
    (layout.logs / "flink").mkdir(parents=True, exist_ok=True)
    flink_conf = Configuration()
    for key, value in settings(config, layout).items():
        flink_conf.set_string(key, value)
    env_settings = EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(flink_conf).build()
    return TableEnvironment.create(env_settings)


def kafka_table_options(config: Config, topic: str, fmt: str, *, group_id: str | None = None,
                        bounded: bool = False) -> str:
    """The WITH (...) clause of a Kafka table, so jobs never spell connector options by hand."""
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": config.kafka.bootstrap,
        "format": fmt,
        "scan.startup.mode": "earliest-offset",
    }
    if group_id:
        options["properties.group.id"] = group_id
    if bounded:
        options["scan.bounded.mode"] = "latest-offset"
    return ", ".join(f"'{k}' = '{v}'" for k, v in options.items())
