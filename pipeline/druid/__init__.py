"""The Druid serving layer: datasource specs as files, applied to supervisors, watched and reset."""

from __future__ import annotations

from typing import Callable

from pipeline.config import Config
from pipeline.druid import apply, inputs, lookups, policies, specs
from pipeline.druid.client import Druid
from pipeline.kafka.admin import existing_topics


def load_specs(config: Config) -> list[specs.DatasourceSpec]:
    """Every spec of [druid] specs_dir, checked against what its topic carries."""
    return specs.load(config.druid_specs_dir, inputs.known())


def apply_all(config: Config, say: Callable[[str], None] = lambda line: None, *,
              skip_missing_topics: bool = False, only: set[str] | None = None) -> list[str]:
    """Check every spec and its topic, then create or update the supervisors that differ.

    `skip_missing_topics` (for `up`, where a job may not have created its topic yet) leaves out the
    datasources whose topic does not exist yet, naming them, instead of refusing everything. `only`
    names the datasources to apply (every file is still checked)."""
    druid, values = Druid(config.druid), inputs.placeholders(config)
    every = load_specs(config)
    wanted = [s for s in every if only is None or s.name in only]
    topics = existing_topics(config.kafka.bootstrap)
    if skip_missing_topics:
        missing = [s for s in wanted if s.topic(values) not in topics]
        for s in missing:
            say(f"druid: {s.name} not applied yet: its topic {s.topic(values)} does not exist "
                f"(written by {s.input.written_by})")
        wanted = [s for s in wanted if s not in missing]
    apply.check_topics(wanted, values, topics)
    changes = apply.plan(druid, wanted, values, config.druid.datasource_prefix)
    for change in changes:
        if change.pending:  # a new supervisor is the whole file: `druid diff` shows it on request
            say(f"{change.name}: {change.action}" + (f"\n{change.diff}" if change.action != "create" else ""))
    done = [c.name for c in apply.apply(druid, changes)]
    wanted_policies = [p for p in policies.load(config.druid_specs_dir / "policies", {s.name for s in every})
                       if p.name in {s.name for s in wanted}]
    return done + policies.apply(druid, wanted_policies, config.druid.datasource_prefix)


def lookup_sync(config: Config) -> lookups.LookupSync:
    """The lookups of <specs_dir>/lookups/, synced from their topics into Druid."""
    return lookups.LookupSync(Druid(config.druid), lookups.load(config.druid_specs_dir / "lookups"),
                              inputs.placeholders(config), config.kafka.bootstrap, config.druid.datasource_prefix)
