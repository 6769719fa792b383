"""Starting a job: topics, TableEnvironment, its DDL, its INSERT; from a checkpoint when one is left.

Local mode runs the job in this process's mini-cluster (the call blocks while
it runs); remote mode asks the JobManager first (flink_jobs/startup.py: a job
of this name already running is not submitted again), submits, and then
follows the job's state there, so `up` has a process per job in either mode
and `status` shows a job that stopped. Stopping that process leaves the
cluster's job running. The same JobSpec runs either way: which one is
configuration ([flink] mode).
"""

from __future__ import annotations

import time

from pipeline import log
from pipeline.config import Config
from pipeline.kafka.admin import ensure_topics
from pipeline.paths import RunPaths
from flink_jobs import checkpoints, startup
from flink_jobs.cluster import JobManager
from flink_jobs.environment import table_environment
from flink_jobs.job import JobSpec

_log = log.get("flink")
FOLLOW_POLL_S = 10.0


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


def known_checkpoints(config: Config, job: str, cluster: JobManager | None) -> list[checkpoints.Checkpoint]:
    """Every version's checkpoints of the job: in its storage, and (remote) those the JobManager knows."""
    found = {c.path: c for c in checkpoints.stored(config, job)}
    if cluster is not None:
        root = checkpoints.job_root(config, job)
        for completed in cluster.checkpoints(job):
            parsed = checkpoints.parse(completed.external_path, root, completed.completed_at)
            if parsed is not None:
                found.setdefault(parsed.path, parsed)
    return list(found.values())


def start(config: Config, spec: JobSpec, restore: str = "auto"):
    """Submit the job and return its TableResult, or None when the cluster already runs it. restore: "auto"
    (the newest retained checkpoint of this version of the job, if any), "none", or a checkpoint/savepoint
    path. Raises startup.VersionChanged when only an earlier SQL's checkpoints exist."""
    cluster = JobManager(config.flink.rest_url) if config.flink.mode == "remote" else None
    running = cluster.active(spec.name) if cluster else []
    found = known_checkpoints(config, spec.name, cluster) if restore == "auto" and not running else []
    decided = startup.plan(spec.name, spec.version, restore, found, running)
    if not decided.submit:
        job = decided.running
        _log.info("flink.job_already_running", job=spec.name, job_id=job.job_id, state=job.state,
                  version=spec.version, mode=config.flink.mode,
                  note="not submitted again; to run a new version, stop that job (with a savepoint) first")
        return None
    ensure_topics(config.kafka.bootstrap, [*spec.topics.sources.values(), spec.topics.sink], config.cdc.partitions)
    t_env = prepare(config, spec, decided.restore_from)
    result = t_env.execute_sql(spec.insert)
    job_client = result.get_job_client()
    _log.info("flink.job_started", job=spec.name, job_id=str(job_client.get_job_id()) if job_client else "-",
              version=spec.version, restored_from=decided.restore_from or "-", sink=spec.topics.sink,
              mode=config.flink.mode, **spec.summary)
    return result


def follow(cluster: JobManager, job_id: str, poll_s: float = FOLLOW_POLL_S) -> str:
    """Wait while the cluster's job is active; its final state."""
    while (job := cluster.job(job_id)).active:
        time.sleep(poll_s)
    return job.state


def run(config: Config, name: str, restore: str = "auto") -> None:
    """`cdc-olap flink run <job>`: local mode until the job fails or the process is stopped; remote mode
    until the cluster's job stops (which exits non-zero)."""
    result = start(config, build(config, name), restore)
    if config.flink.mode == "local":
        result.wait()
        return
    cluster = JobManager(config.flink.rest_url)
    if result is not None:
        job_id = str(result.get_job_client().get_job_id())
    else:
        active = cluster.active(name)
        job_id = active[0].job_id if active else "-"
    state = follow(cluster, job_id) if job_id != "-" else "gone"
    _log.error("flink.job_stopped", job=name, job_id=job_id, state=state)
    raise SystemExit(1)
