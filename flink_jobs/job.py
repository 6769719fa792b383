"""What a job is, for the runner: its tables and views, the one INSERT that makes it run, its topics.

Each job is a single INSERT (the parts joined with UNION ALL), so it has one
sink and one transactional id: two exactly-once sinks of one job would fence
each other's transactions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


def group_id(job: str) -> str:
    """The Kafka consumer group a job's sources read (and commit their checkpointed position) as."""
    return f"cdc-olap-{job}"


@dataclass(frozen=True)
class Topics:
    """Where a job reads and writes. Defaults come from config; tests pass their own."""

    sources: dict[str, str]  # captured table name -> topic
    sink: str


@dataclass(frozen=True)
class JobSpec:
    name: str
    ddl: list[str]
    insert: str
    topics: Topics
    # Rules, parameters: what the job was built from, for the start-up log line.
    summary: dict[str, object] = field(default_factory=dict)
    # Options for this job only (state TTL, checkpoint interval). Not part of `version`: they must not change
    # what the state holds, so a checkpoint restores into the job whatever their values.
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def group_id(self) -> str:
        return group_id(self.name)

    @property
    def version(self) -> str:
        """A fingerprint of the job's SQL: checkpoints restore only into the same version."""
        return hashlib.sha256("\n".join([*self.ddl, self.insert]).encode()).hexdigest()[:12]
