"""The fraud job: every enabled rule of the rules file, as one Flink SQL INSERT into the alerts topic."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Config
from flink_jobs import sources
from flink_jobs.fraud import rules as rules_file
from flink_jobs.fraud import views
from flink_jobs.fraud.model import ALERT_COLUMNS, Rule
from flink_jobs.fraud.patterns import PATTERNS
from flink_jobs.job import JobSpec, Topics, group_id
from flink_jobs.sinks import kafka_sink_ddl

NAME = "fraud"
EVENT_TABLES = ("transactions", "logins", "accounts")  # read as event streams (one row per change)
VERSIONED_TABLES = ("accounts", "merchants")  # read as changelogs, joined as of each payment


def default_topics(config: Config) -> Topics:
    return Topics({t: sources.topic(config, t) for t in {*EVENT_TABLES, *VERSIONED_TABLES}}, config.flink.alerts_topic)


def build(config: Config, topics: Topics | None = None, rules: list[Rule] | None = None,
          rules_path: Path | None = None) -> JobSpec:
    """The job for these rules (default: the enabled rules of [flink] rules_file, validated here)."""
    topics = topics or default_topics(config)
    active = rules if rules is not None else rules_file.enabled(rules_path or config.rules_file)
    if not active:
        raise rules_file.RulesError(f"{rules_path or config.rules_file}: no rule is enabled; nothing to run")
    group = group_id(NAME)
    ddl = [sources.events_ddl(config, t, group, topics.sources[t]) for t in EVENT_TABLES]
    ddl += [stmt for t in VERSIONED_TABLES for stmt in sources.changelog_ddl(config, t, group, topics.sources[t])]
    ddl += views.statements()
    ddl.append(kafka_sink_ddl(config, "alerts", topics.sink, ALERT_COLUMNS, job=NAME,
                              delivery=config.flink.alerts_delivery, key_field="account_id"))
    insert = "INSERT INTO alerts\n" + "\nUNION ALL\n".join(PATTERNS[r.pattern].build(r) for r in active)
    return JobSpec(NAME, ddl, insert, topics, {"rules": ",".join(r.id for r in active)},
                   settings={"execution.checkpointing.interval": f"{checkpoint_interval_ms(config)} ms"})


def checkpoint_interval_ms(config: Config) -> int:
    """At-least-once alerts do not wait for checkpoints, so checkpoints here only bound how much is
    replayed after a crash (its alerts come again with the same ids and the dispatcher drops them).
    Each one pauses the job's operators for their RocksDB snapshots, which on a 2-core machine
    showed as a 1-3 s tail on pages; so this job checkpoints less often. Exactly-once alerts are
    released by checkpoints and keep the common interval."""
    flink = config.flink
    return flink.fraud_checkpoint_interval_ms if flink.alerts_delivery == "at-least-once" else flink.checkpoint_interval_ms
