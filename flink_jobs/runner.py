"""Starting a job: topics, TableEnvironment, its DDL, its INSERT; from a checkpoint when one is left.

Local mode runs the job in this process's mini-cluster (the call blocks while
it runs); remote mode submits it to the configured JobManager and returns.
The same JobSpec runs either way: which one is configuration ([flink] mode).
"""

from __future__ import annotations

from pipeline import log
from pipeline.config import Config
from pipeline.kafka.admin import ensure_topics
from pipeline.paths import RunPaths
from flink_jobs.environment import latest_checkpoint, table_environment
from flink_jobs.job import JobSpec

_log = log.get("flink")


def build(config: Config, name: str) -> JobSpec:
    if name == "windows":
        from flink_jobs import windows

        return windows.build(config)
    if name == "fraud":
        from flink_jobs.fraud import job as fraud

        return fraud.build(config)
    if name == "health":
        from flink_jobs.health import job as health

        return health.build(config)
    raise ValueError(f"unknown job {name!r}; jobs: windows, fraud, health")


def prepare(config: Config, spec: JobSpec, restore_from: str | None = None):
    """The job's TableEnvironment with its settings and tables in place: ready to run its INSERT, or to
    compile it (tests read the plan the optimizer makes)."""
    t_env = table_environment(config, RunPaths.from_config(config), job=spec.name, version=spec.version,
                              restore_from=restore_from)
    for key, value in spec.settings.items():
        t_env.get_config().set(key, value)
    for statement in spec.ddl:
        t_env.execute_sql(statement)
    return t_env


def start(config: Config, spec: JobSpec, restore: str = "auto"):
    """Submit the job and return its TableResult. restore: "auto" (the newest retained checkpoint of
    this version of the job, if any), "none", or a checkpoint/savepoint path."""
    ensure_topics(config.kafka.bootstrap, [*spec.topics.sources.values(), spec.topics.sink], config.cdc.partitions)
    restore_from = latest_checkpoint(config, spec.name, spec.version) if restore == "auto" else (
        None if restore == "none" else restore)
    t_env = prepare(config, spec, restore_from)
    result = t_env.execute_sql(spec.insert)
    job_client = result.get_job_client()
    _log.info("flink.job_started", job=spec.name, job_id=str(job_client.get_job_id()) if job_client else "-",
              version=spec.version, restored_from=restore_from or "-", sink=spec.topics.sink, mode=config.flink.mode, **spec.summary)
    return result


def run(config: Config, name: str, restore: str = "auto") -> None:
    """`cdc-olap flink run <job>`: in local mode, until the job fails or the process is stopped."""
    result = start(config, build(config, name), restore)
    if config.flink.mode == "local":
        result.wait()
