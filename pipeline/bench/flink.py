"""`cdc-olap bench flink`: how many CDC events per second each Flink job gets through on this machine.

In a stack of its own (`.run/bench-flink`, ports +3200, purged first; only
Kafka runs), each job gets fresh topics (`bench-<job>.public.<table>`)
preloaded with the first N changes, of the tables it reads, of a computed
stream of the live workload's changes (pipeline/workload/changes.py: a
snapshot of accounts and merchants, payments inserted pending then settled
or declined, balance updates, logins) as the CDC reader's envelopes, commit
times advancing at CHANGES_PER_S so windows close as they would live. Then
the job runs alone (never two at once: they would share the two cores) as
`cdc-olap flink run <job> --restore none`: from the earliest offsets, no
state, checkpoints every second.

How consumption is measured, polled twice a second from outside the job:

* events read: what the job's source operators have read, from Flink's REST
  API (flink_rest.py; the bench gives the local mini-cluster a known REST
  port). Live, record-exact, and what the rate is taken from.
* events committed: the job's consumer group offsets, which its Kafka
  sources commit when a checkpoint completes (pipeline/kafka/progress.py).
  That is progress made durable; the run ends when every input record is
  committed. It moves in steps (a checkpoint can wait seconds behind a
  window's output), too coarse for a rate over a minute, so it is recorded
  and drawn beside the other but not used for the rate.

Figures per job:

* steady events/s: events read between the moments 10% and 90% of the input
  was read (stats.steady_rate), so JVM start-up, planning and the tail are
  left out;
* start-up seconds (process start to the first event read), and total
  seconds (to the last event committed);
* peak RSS of the job's process tree (the Python process and its JVM),
  sampled with each poll; the CPU the job used in the steady part, in cores
  and as events per CPU second (a steadier figure than the rate when other
  work shares the cores; the load average is recorded too).

An event is one record of an input topic, counted once even where a job
reads a topic twice (the fraud job reads `accounts` as events and as a
changelog).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from flink_jobs import runner
from flink_jobs.job import JobSpec
from pipeline import log
from pipeline.bench import own_stack, svg
from pipeline.bench.flink_rest import SourceRecords, events_read
from pipeline.bench.stack import RESULTS_DIR
from pipeline.bench.stats import steady_rate
from pipeline.cdc.control import free_port
from pipeline.config import PROJECT_ROOT, Config, child_env
from pipeline.kafka import changelog
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.progress import GroupProgress
from pipeline.cdc.scripted import ChangeScript
from pipeline.stack import stack
from pipeline.stack.errors import StackError
from pipeline.stack.install.plan import install_all
from pipeline.stack.layout import Layout
from pipeline.procs import cpu_seconds, rss_kib
from pipeline.stack.process import log_tail
from pipeline.workload import changes

_log = log.get("bench.flink")
JOBS = ("windows", "fraud")  # `--job all`; the health job on request
# Events each job reads by default: a minute or two of it on two shared cores (docs/flink.md, "Measured").
EVENTS = {"windows": 500_000, "fraud": 250_000, "health": 400_000}
CHANGES_PER_S = 1000  # of commit time: about 320 payments/s, a busy fintech (the demo peaks at 50)
# So each account is about as busy as in the demo (50 payments/s over 2,000 customers); over the demo's
# 2,000 customers, 320 payments/s would make every account a velocity spike.
CUSTOMERS = 12_800
CHECKPOINT_INTERVAL_MS = 1000
POLL_S = 0.5
STEADY = (0.1, 0.9)


def bench_config(base_env: dict[str, str], checkpoint_interval_ms: int | None = None) -> Config:
    """The bench stack's config (purged first). Checkpoints every second by default, so the committed
    offsets move every second; the live default (5 s) makes them coarser and the job cheaper."""
    return own_stack.fresh(base_env, ".run/bench-flink", 3200, {
        "CDC_OLAP_FLINK_CHECKPOINT_INTERVAL_MS": str(checkpoint_interval_ms or CHECKPOINT_INTERVAL_MS)})


def run(config: Config, jobs: tuple[str, ...], *, events: int | None = None, seed: int = 1,
        keep_running: bool = False) -> dict:
    """Each job on topics of its own (`bench-<job>.public.<table>`), preloaded with `events` changes of
    the tables it reads (default EVENTS[job]), then measured."""
    install_all(config)
    supervisor = stack.build(config)
    supervisor.up(only={"kafka"})
    result = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "seed": seed,
              "changes_per_s_of_commit_time": CHANGES_PER_S, "customers": CUSTOMERS,
              "checkpoint_interval_ms": config.flink.checkpoint_interval_ms, "cpus": os.cpu_count(), "jobs": {}}
    try:
        for job in jobs:
            job_config = dataclasses.replace(config, cdc=dataclasses.replace(config.cdc, topic_prefix=f"bench-{job}"))
            spec = runner.build(job_config, job)
            loaded = preload(job_config, spec.topics.sources, events or EVENTS[job], seed)
            result["jobs"][job] = {"preload": loaded, **measure(job_config, spec)}
    finally:
        if not keep_running:
            supervisor.down()
    return result


def preload(config: Config, tables: dict[str, str], events: int, seed: int) -> dict:
    """The first `events` changes of the computed stream that fall in `tables` (table -> topic), into those
    (fresh) topics, as fast as the producer takes them."""
    bootstrap = config.kafka.bootstrap
    topics = sorted(set(tables.values()))
    ensure_topics(bootstrap, topics, config.cdc.partitions)
    script = ChangeScript(bootstrap, tables, config.cdc.partitions, resendable=False)
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(days=1)
    counts: Counter = Counter()
    written, last = 0, start
    started = time.monotonic()
    _log.info("bench.preload", events=events, topics=",".join(topics))
    for change in changes.stream(start=start, changes_per_s=CHANGES_PER_S, customers=CUSTOMERS, seed=seed):
        if change.table not in tables:
            continue
        script.write(change.table, change.op, change.before, change.after, change.at)
        counts[change.table] += 1
        written, last = written + 1, change.at
        if written >= events:
            break
    script.close()
    seconds = time.monotonic() - started
    return {"events": written, "per_table": dict(counts), "seconds": round(seconds, 1),
            "events_per_s": round(written / seconds), "commit_time_span_s": round((last - start).total_seconds())}


def _spawn(config: Config, job: str, log_path: Path) -> subprocess.Popen:
    """The job as `cdc-olap flink run` runs it under `up`: its own process group (Python and its JVM), with
    this config's stack, topics, checkpoint interval and REST port."""
    env = {**os.environ, **child_env(config), "CDC_OLAP_CDC_TOPIC_PREFIX": config.cdc.topic_prefix,
           "CDC_OLAP_FLINK_CHECKPOINT_INTERVAL_MS": str(config.flink.checkpoint_interval_ms),
           "CDC_OLAP_FLINK_LOCAL_REST_PORT": str(config.flink.local_rest_port)}
    with open(log_path, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "pipeline", "flink", "run", job, "--restore", "none"],
                                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=PROJECT_ROOT)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


def measure(config: Config, spec: JobSpec, timeout_s: float = 1800) -> dict:
    """Run the job until its group has committed every record of its input topics; figures and samples."""
    job, bootstrap = spec.name, config.kafka.bootstrap
    config = dataclasses.replace(config, flink=dataclasses.replace(config.flink, local_rest_port=free_port()))
    inputs = sorted(set(spec.topics.sources.values()))
    total = sum(changelog.end_offsets(bootstrap, t) for t in inputs)
    layout = Layout.from_config(config)
    log_path = layout.log_file(f"bench-flink-{job}")
    committed = GroupProgress(bootstrap, spec.group_id, inputs)
    sources = SourceRecords(f"http://127.0.0.1:{config.flink.local_rest_port}")
    load_before = os.getloadavg()
    _log.info("bench.job", job=job, events=total, log=str(log_path))
    samples: list[tuple[float, int, int, float]] = []  # (seconds, events read, events committed, CPU seconds)
    peak_kib = 0
    started = time.monotonic()
    proc = _spawn(config, job, log_path)
    try:
        while True:
            elapsed = time.monotonic() - started
            if proc.poll() is not None:
                raise StackError(f"the {job} job exited with {proc.returncode} after {elapsed:.0f} s; "
                                 f"{log_path}:\n{log_tail(layout, f'bench-flink-{job}')}")
            read, done = events_read(sources.per_source()), committed.committed()
            samples.append((round(elapsed, 2), read, done, round(cpu_seconds(proc.pid), 2)))
            peak_kib = max(peak_kib, rss_kib(proc.pid))
            if done >= total:
                break
            if elapsed > timeout_s:
                raise StackError(f"the {job} job committed {done:,} of {total:,} events in {timeout_s:.0f} s")
            time.sleep(POLL_S)
    finally:
        _stop(proc)
        committed.close()
    steady = steady_rate(samples, total, *STEADY)
    figures: dict = {"events": total, "topics": inputs, "steady_events_per_s": None}
    if steady:
        (t0, read0, _, cpu0), (t1, read1, _, cpu1) = steady.first, steady.last
        figures.update({"steady_events_per_s": round(steady.rate), "steady_from_s": t0, "steady_to_s": t1,
                        "steady_cpu_cores": round((cpu1 - cpu0) / (t1 - t0), 2),
                        "steady_events_per_cpu_s": round((read1 - read0) / max(cpu1 - cpu0, 0.01))})
    total_s = samples[-1][0]
    figures.update({
        "startup_s": next((t for t, read, _, _ in samples if read > 0), None),
        "read_s": next((t for t, read, _, _ in samples if read >= total), None), "total_s": total_s,
        "overall_events_per_s": round(total / total_s), "peak_rss_mib": round(peak_kib / 1024),
        "cpu_s": samples[-1][3], "sink_end_offsets": changelog.end_offsets(bootstrap, spec.topics.sink),
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "samples": samples,
    })
    _log.info("bench.job_done", job=job, **{k: v for k, v in figures.items() if k not in ("samples", "topics")})
    return figures


def report(result: dict) -> str:
    lines = [f"checkpoints every {result['checkpoint_interval_ms']} ms; commit time advancing "
             f"{result['changes_per_s_of_commit_time']:,} changes/s over {result['customers']:,} customers; "
             f"{result['cpus']} CPUs", ""]
    for job, f in result["jobs"].items():
        pre = f["preload"]
        lines.append(f"{job}: preloaded {pre['events']:,} changes "
                     f"({', '.join(f'{t} {n:,}' for t, n in pre['per_table'].items())}) in {pre['seconds']} s = "
                     f"{pre['events_per_s']:,}/s, {pre['commit_time_span_s']:,} s of commit time")
    lines += ["", f"{'job':<9} {'events':>8} {'steady/s':>9} {'cores':>6} {'per CPU s':>9} {'start-up s':>10} "
                  f"{'read s':>7} {'total s':>8} {'peak MiB':>8}  load avg 1 min"]
    for job, f in result["jobs"].items():
        lines.append(f"{job:<9} {f['events']:>8,} {_n(f['steady_events_per_s']):>9} {_n(f.get('steady_cpu_cores')):>6} "
                     f"{_n(f.get('steady_events_per_cpu_s')):>9} {_n(f['startup_s']):>10} {_n(f['read_s']):>7} "
                     f"{f['total_s']:>8} {f['peak_rss_mib']:>8}  {f['loadavg_before'][0]} -> {f['loadavg_after'][0]}")
    return "\n".join(lines)


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:,}"


def save(result: dict) -> list[Path]:
    """Per job: bench/results/flink-<job>-<UTC>.json (the run's settings and preload too) and .svg."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    paths = []
    common = {k: v for k, v in result.items() if k != "jobs"}
    for job, figures in result["jobs"].items():
        stem = RESULTS_DIR / f"flink-{job}-{result['when'].replace(':', '')}"
        stem.with_suffix(".json").write_text(json.dumps({**common, "job": job, **figures}, indent=2))
        band = None
        if figures["steady_events_per_s"]:
            band = (figures["steady_from_s"], figures["steady_to_s"], f"steady {figures['steady_events_per_s']:,}/s")
        samples = figures["samples"]
        stem.with_suffix(".svg").write_text(svg.line(
            f"Flink {job} job: {figures['events']:,} CDC events, {figures['total_s']:.0f} s in all",
            [("read (Flink REST metrics)", [(t, read) for t, read, _, _ in samples]),
             ("committed (at checkpoints)", [(t, done) for t, _, done, _ in samples])],
            x_label="seconds since the job process started", y_label="events", band=band))
        paths += [stem.with_suffix(".json"), stem.with_suffix(".svg")]
    return paths
