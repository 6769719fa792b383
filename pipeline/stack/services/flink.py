"""Flink: jobs run in local execution (an embedded mini-cluster inside the submitting Python
process) unless [flink] mode = "remote" points at a JobManager. Either way the job code is the same;
this module provides the connector jars and the stage's health for `status`."""

from __future__ import annotations

import importlib.util
import json

from pipeline.config import Config
from pipeline.stack import health as probe
from pipeline.stack.install import maven
from pipeline.stack.layout import Layout
from pipeline.stack.service import External, Unhealthy


def install(config: Config, layout: Layout) -> None:
    maven.copy_dependencies(layout.infra / "maven" / "flink" / "pom.xml",
                            layout.flink_jars_dir(config.flink.kafka_connector_version),
                            layout.cache_dir, {"kafka.connector.version": config.flink.kafka_connector_version})


def health(config: Config, layout: Layout) -> str:
    flink = config.flink
    if flink.mode == "remote":
        overview = json.loads(probe.http(f"{flink.rest_url.rstrip('/')}/overview"))
        return f"cluster {overview.get('flink-version')}: {overview.get('taskmanagers')} TM, {overview.get('jobs-running')} jobs running"
    if importlib.util.find_spec("pyflink") is None:
        raise Unhealthy("apache-flink (pyflink) is not installed in this Python environment")
    if not layout.flink_jars(flink.kafka_connector_version):
        raise Unhealthy(f"no connector jars in {layout.flink_jars_dir(flink.kafka_connector_version)}; "
                        "run `cdc-olap install`")
    return f"local execution, kafka connector {flink.kafka_connector_version}"


def stage(config: Config, layout: Layout) -> External:
    endpoint = config.flink.rest_url if config.flink.mode == "remote" else "local mini-cluster"
    return External("flink", endpoint, lambda: health(config, layout), local=config.flink.mode == "local")
