"""One way to get a Flink TableEnvironment, for every job and test.

Local mode runs an embedded mini-cluster in a JVM that PyFlink starts next to
this Python process; remote mode submits to a JobManager over REST. Memory is
sized for a 2-core machine shared with Kafka, Druid and Superset.

A named job checkpoints (RocksDB, incremental) into its own directory
(flink_jobs/checkpoints.py) and keeps the last checkpoints when it stops, so a
job killed with -9 can be started again from where it was (`restore_from`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlparse

from pipeline.config import Config
from pipeline.paths import RunPaths
from flink_jobs.checkpoints import checkpoint_dir

LOOPBACK = "127.0.0.1"


def settings(config: Config, paths: RunPaths, job: str | None = None, version: str = "",
             restore_from: str | None = None) -> dict[str, str]:
    """The Flink configuration for this config: connector jars, parallelism, memory, time, checkpoints, target."""
    flink = config.flink
    jar_urls = ";".join(p.as_uri() for p in paths.flink_jars(flink.kafka_connector_version))
    values = {
        "pipeline.jars": jar_urls,
        "parallelism.default": str(flink.parallelism),
        "table.exec.source.idle-timeout": f"{flink.idle_timeout_ms} ms",
        "pipeline.auto-watermark-interval": "50 ms",
        # Records between operators wait in network buffers until full or this old (Flink's default
        # 100 ms, paid once per exchange: a fraud alert crosses four or five of them).
        "execution.buffer-timeout.interval": f"{flink.buffer_timeout_ms} ms",
        "taskmanager.numberOfTaskSlots": "4",
        # Managed memory is shared by RocksDB and the window operators' buffers; 64m left the
        # buffers none ("minBucketMemorySize is not valid").
        "taskmanager.memory.managed.size": "256m",
        # One task per operator here: the local/global split of aggregations only adds buffers.
        "table.optimizer.agg-phase-strategy": "ONE_PHASE",
        "taskmanager.memory.network.min": "32m",
        "taskmanager.memory.network.max": "32m",
        "table.local-time-zone": "UTC",
    }
    if job:
        directory = checkpoint_dir(config, job, version)
        uri = directory if "://" in directory else Path(directory).as_uri()
        values.update({
            "pipeline.name": job,
            "execution.checkpointing.interval": f"{flink.checkpoint_interval_ms} ms",
            "execution.checkpointing.mode": "EXACTLY_ONCE",
            "execution.checkpointing.dir": uri,
            "execution.checkpointing.externalized-checkpoint-retention": "RETAIN_ON_CANCELLATION",
            "execution.checkpointing.incremental": "true",
            "state.backend.type": flink.state_backend,
        })
    if restore_from:
        values["execution.state-recovery.path"] = restore_from
    if flink.mode == "local":
        # The mini-cluster's REST endpoint, blob server and RPC would otherwise listen on every interface.
        values.update({"rest.bind-address": LOOPBACK, "rest.address": LOOPBACK,
                       "jobmanager.bind-host": LOOPBACK, "taskmanager.bind-host": LOOPBACK})
    if flink.mode == "local" and flink.local_rest_port:
        # A known port is for watching the job (`bench flink`): metrics as fresh as half a second, not
        # the web UI's 10 s. ("500": plain milliseconds parse whether the option is a number or a duration.)
        values.update({"rest.port": str(flink.local_rest_port), "metrics.fetcher.update-interval": "500"})
    if flink.mode == "remote":
        url = urlparse(flink.rest_url)
        values.update({"execution.target": "remote", "rest.address": url.hostname or "",
                       "rest.port": str(url.port or 8081)})
    return values


def table_environment(config: Config, paths: RunPaths, job: str | None = None, version: str = "",
                      restore_from: str | None = None):
    from pyflink.common import Configuration
    from pyflink.table import EnvironmentSettings, TableEnvironment

    # PyFlink reads the gateway JVM's options from JVM_ARGS when it launches it.
    os.environ.setdefault("JVM_ARGS", f"-Xmx{config.flink.local_heap}")
    # In local mode PyFlink otherwise serves Python UDF workers over gRPC on [::]:0, every interface and
    # unauthenticated; the jobs have no Python UDFs, so the workers' "process" mode costs nothing.
    os.environ.setdefault("_python_worker_execution_mode", "process")
    os.environ.setdefault("FLINK_LOG_DIR", str(paths.logs / "flink"))
    (paths.logs / "flink").mkdir(parents=True, exist_ok=True)
    flink_conf = Configuration()
    for key, value in settings(config, paths, job, version, restore_from).items():
        flink_conf.set_string(key, value)
    env_settings = EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(flink_conf).build()
    # PyFlink sets the root logger to WARNING while it starts; our own info events must still show.
    root_level = logging.getLogger().level
    t_env = TableEnvironment.create(env_settings)
    logging.getLogger().setLevel(root_level)
    return t_env


def kafka_table_options(config: Config, topic: str, fmt: str, *, group_id: str | None = None,
                        bounded: bool = False, extra: dict[str, str] | None = None) -> str:
    """The WITH (...) clause of a Kafka table, so jobs never spell connector options by hand."""
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": config.kafka.bootstrap,
        "format": fmt,
        "scan.startup.mode": "earliest-offset",
        # Only committed Kafka transactions: the CDC reader and the jobs' exactly-once sinks write
        # transactionally, and an aborted transaction's records must never be counted.
        "properties.isolation.level": "read_committed",
    }
    if group_id:
        options["properties.group.id"] = group_id
    if bounded:
        options["scan.bounded.mode"] = "latest-offset"
    options.update(extra or {})
    return ", ".join(f"'{k}' = '{v}'" for k, v in options.items())
