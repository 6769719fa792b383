"""What a job is, for the runner: its tables and views, the one INSERT that makes it run, its topics.

Each job is a single INSERT (the parts joined with UNION ALL), so it has one
sink and one transactional id: two exactly-once sinks of one job would fence
each other's transactions.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace

# Table options that say how to reach or pace Kafka, not what the job computes or keeps in its state: the
# client's properties (bootstrap addresses, security, timeouts, the group it commits as), watermark pacing
# and idle timeouts, where a source without state starts. A checkpoint restores into the job whatever their
# values, so they are left out of its version: moving to another bootstrap address or changing a timeout
# restarts the job from its checkpoint, not from scratch.
_OPERATIONAL_OPTION = re.compile(r"'(?:properties|scan\.watermark|scan\.startup)\.[^']*' = '[^']*'")
# The watermark's allowance for out-of-order commit times changes what is late from now on, not the state.
_WATERMARK_DELAY = re.compile(r"(WATERMARK FOR `[^`]+` AS `[^`]+` - INTERVAL )'[^']*'")


def fingerprint(statements: list[str]) -> str:
    """A version of the job's SQL that changes with what it computes and keeps (queries, columns, topics,
    formats, delivery), and not with operational settings (see _OPERATIONAL_OPTION)."""
    shape = [_WATERMARK_DELAY.sub(r"\1'?'", _OPERATIONAL_OPTION.sub("?", s)) for s in statements]
    return hashlib.sha256("\n".join(shape).encode()).hexdigest()[:12]


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
    # what the state holds, so a checkpoint restores into the job whatever their values. Nor are the
    # environment's settings (parallelism, buffer timeout, memory): they are not in the SQL.
    settings: dict[str, str] = field(default_factory=dict)

    @property
    def group_id(self) -> str:
        return group_id(self.name)

    @property
    def version(self) -> str:
        """The job's identity for restoring: checkpoints restore only into the same version."""
        return fingerprint([*self.ddl, self.insert])


def with_versioned_sink(spec: JobSpec) -> JobSpec:
    """The job writing to `<sink>.v<version>`, the version of everything else it runs.

    A new version of a job's SQL starts from the earliest offsets and writes every result again.
    Into the old topic, Druid (which only appends) would sum both runs; into a topic of its own, the
    old results stay where they were, and whoever serves them switches topics by re-reading the new
    one from the start (`cdc-olap druid apply` does, on seeing the topic change: docs/druid.md)."""
    quoted = f"'{spec.topics.sink}'"
    core = fingerprint([s.replace(quoted, "'<sink>'") for s in (*spec.ddl, spec.insert)])[:8]
    sink = f"{spec.topics.sink}.v{core}"
    return replace(spec, ddl=[s.replace(quoted, f"'{sink}'") for s in spec.ddl],
                   topics=Topics(spec.topics.sources, sink))
