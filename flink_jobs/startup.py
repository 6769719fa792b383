"""Before a job is submitted: whether to submit it at all, and from which checkpoint.

A pure decision over what was found (the job's checkpoints in storage and on
the JobManager, the cluster's jobs of this name), so every rule is tested
without Flink:

- A job of this name already active on the cluster is not submitted again.
- `--restore auto` restores the newest checkpoint of this version of the job.
- A job whose SQL changed (checkpoints exist, but only of other versions) is
  not started from scratch by itself: starting afresh reads the topics from
  the earliest offsets and writes every result again, so the operator has to
  ask for it (`--restore none`), or name a checkpoint to try (`--restore <path>`).
- The first start ever (no checkpoint of any version) starts afresh.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flink_jobs.checkpoints import Checkpoint, newest
from flink_jobs.cluster import ClusterJob


class VersionChanged(RuntimeError):
    """Only checkpoints of an earlier SQL exist; the message says what the operator can do."""


@dataclass(frozen=True)
class StartPlan:
    submit: bool
    restore_from: str | None = None
    running: ClusterJob | None = None  # the active job that made us not submit


def plan(job: str, version: str, restore: str, found: Sequence[Checkpoint],
         running: Sequence[ClusterJob] = ()) -> StartPlan:
    """restore: "auto", "none" or a checkpoint/savepoint path; found: checkpoints of every version of the job."""
    if running:
        return StartPlan(submit=False, running=min(running, key=lambda j: j.start_time_ms))
    if restore == "none":
        return StartPlan(submit=True)
    if restore != "auto":
        return StartPlan(submit=True, restore_from=restore)
    mine = newest(found, version)
    if mine is not None:
        return StartPlan(submit=True, restore_from=mine.path)
    others = [c for c in found if c.version != version]
    if others:
        last = max(others, key=lambda c: (c.completed_at, c.number))
        raise VersionChanged(
            f"job {job}: its SQL changed (version {version}); the retained checkpoints are of version(s) "
            f"{', '.join(sorted({c.version for c in others}))}, newest {last.path}. The changed SQL cannot "
            f"be expected to restore that state (Flink SQL has no savepoint-compatible upgrade of a changed "
            f"query). Choose: `cdc-olap flink run {job} --restore none` starts afresh from the earliest offsets "
            f"(results are written again: windows counted twice in Druid, alerts paged again unless the "
            f"dispatcher has seen their ids); `--restore {last.path}` tries the old state (only when the "
            f"change kept every stateful operator, e.g. a new version of this tool with the same queries; "
            f"Flink refuses it otherwise).")
    return StartPlan(submit=True)
