"""How long a datasource keeps its rows and how its segments are compacted: `druid_specs/policies/<name>.json`.

    {"retention": [<Druid load/drop rules>], "compaction": {<Druid auto-compaction config>}}

Retention: finance's datasources (transactions, ledger, disputes) load forever
(the reports reach 14 months back and audits further); the Flink results keep
about 13 months. Compaction: streaming appends small segments per task (and a
late change, a reversal or a dispute 90 days on, adds a small segment to an
old interval); auto-compaction rewrites each interval into few segments once
it is older than `skipOffsetFromLatest`. Default locks, not concurrent ones:
docs/druid.md, "Late data, segments and retention", says why.

Both are applied by `cdc-olap druid apply` after the supervisors, compared
with what Druid holds first (a no-op when equal).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pipeline import log
from pipeline.druid.client import Druid
from pipeline.druid.specs import SpecError, read_json

_log = log.get("druid.policies")
RULE_TYPES = {"loadForever", "loadByPeriod", "loadByInterval", "dropForever", "dropByPeriod", "dropBeforeByPeriod",
              "dropByInterval", "broadcastForever", "broadcastByPeriod"}
_PERIOD = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+S)?)?$")
COMPACTION_KEYS = {"skipOffsetFromLatest", "tuningConfig", "granularitySpec", "taskContext", "taskPriority",
                   "inputSegmentSizeBytes", "ioConfig", "dimensionsSpec", "metricsSpec", "transformSpec"}


@dataclass(frozen=True)
class Policy:
    name: str
    path: Path
    retention: list[dict]
    compaction: dict | None

    def compaction_config(self, datasource: str) -> dict | None:
        return None if self.compaction is None else {"dataSource": datasource, **self.compaction}


def _check_period(path: Path, field: str, value) -> None:
    if not isinstance(value, str) or not _PERIOD.match(value):
        raise SpecError(f"{path}: {field}: {value!r} is not an ISO-8601 period (e.g. P1D, PT1H, P400D)")


def load(directory: Path, datasources: set[str]) -> list[Policy]:
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json")):
        doc = read_json(path)
        if path.stem not in datasources:
            raise SpecError(f"{path}: no datasource {path.stem!r} in the specs; known: {', '.join(sorted(datasources))}")
        if not isinstance(doc, dict) or not set(doc) <= {"retention", "compaction"}:
            raise SpecError(f"{path}: a policy has \"retention\" (a list of rules) and/or \"compaction\" (an object)")
        rules = doc.get("retention", [])
        if not isinstance(rules, list):
            raise SpecError(f"{path}: retention: must be a list of rules")
        for i, rule in enumerate(rules):
            kind = rule.get("type") if isinstance(rule, dict) else None
            if kind not in RULE_TYPES:
                raise SpecError(f"{path}: retention[{i}].type: unknown rule type {kind!r}; use one of "
                                + ", ".join(sorted(RULE_TYPES)))
            if "period" in rule:
                _check_period(path, f"retention[{i}].period", rule["period"])
        compaction = doc.get("compaction")
        if compaction is not None:
            if not isinstance(compaction, dict):
                raise SpecError(f"{path}: compaction: must be an object")
            unknown = sorted(set(compaction) - COMPACTION_KEYS)
            if unknown:
                raise SpecError(f"{path}: compaction: unknown key {', '.join(unknown)}; known: "
                                + ", ".join(sorted(COMPACTION_KEYS)))
            if "skipOffsetFromLatest" in compaction:
                _check_period(path, "compaction.skipOffsetFromLatest", compaction["skipOffsetFromLatest"])
        found.append(Policy(path.stem, path, rules, compaction))
    return found


def _subset(want, have) -> bool:
    """Druid answers with every default filled in: equal when everything we set has our value."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_subset(v, have.get(k)) for k, v in want.items())
    return want == have


def apply(druid: Druid, policies: list[Policy], prefix: str = "") -> list[str]:
    """Set the rules and compaction configs that differ; returns what changed, as `<datasource> retention`."""
    changed = []
    for policy in policies:
        datasource = prefix + policy.name
        current = druid.rules(datasource)
        if policy.retention and not (len(current) == len(policy.retention)
                                     and all(_subset(w, h) for w, h in zip(policy.retention, current))):
            druid.set_rules(datasource, policy.retention)
            changed.append(f"{datasource} retention")
        wanted = policy.compaction_config(datasource)
        if wanted is not None and not _subset(wanted, druid.compaction_config(datasource)):
            druid.set_compaction(wanted)
            changed.append(f"{datasource} compaction")
    for item in changed:
        _log.info("druid.policy_applied", what=item)
    return changed

