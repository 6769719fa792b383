"""Reading and validating the fraud rules file.

Analysts change rules without touching code, so the file is checked before
anything runs: unknown or missing fields, wrong types, impossible values and
duplicate ids each fail with a message that names the file, the rule and the
field. A job never starts with half its rules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flink_jobs import yaml_file
from flink_jobs.fraud.model import SEVERITIES, Rule
from flink_jobs.fraud.patterns import PATTERNS

SUPPORTED_VERSIONS = (1,)
_RULE_FIELDS = {"id", "pattern", "severity", "enabled", "description", "params"}
_REQUIRED = ("id", "pattern", "severity", "params")


class RulesError(ValueError):
    """The rules file is unusable; the message says where and why."""


def load(path: Path) -> list[Rule]:
    """Every rule in the file, enabled or not, validated."""
    return parse(yaml_file.read(path, "rules file", RulesError), str(path))


def enabled(path: Path) -> list[Rule]:
    return [r for r in load(path) if r.enabled]


def parse(document: Any, source: str) -> list[Rule]:
    if not isinstance(document, dict):
        raise RulesError(f"{source}: expected a mapping with 'version' and 'rules', got {type(document).__name__}")
    unknown = sorted(set(document) - {"version", "rules"})
    if unknown:
        raise RulesError(f"{source}: unknown top-level field(s) {', '.join(unknown)}; expected 'version' and 'rules'")
    if document.get("version") not in SUPPORTED_VERSIONS:
        raise RulesError(f"{source}: field 'version' must be one of {list(SUPPORTED_VERSIONS)}, "
                         f"got {document.get('version')!r}")
    items = document.get("rules")
    if not isinstance(items, list) or not items:
        raise RulesError(f"{source}: field 'rules' must be a non-empty list")
    rules: list[Rule] = []
    for index, item in enumerate(items, start=1):
        rule = _rule(item, index, source)
        if any(r.id == rule.id for r in rules):
            raise RulesError(f"{source}: rule '{rule.id}' field 'id': the id is used twice (rule #{index})")
        rules.append(rule)
    return rules


def _rule(item: Any, index: int, source: str) -> Rule:
    name = item.get("id") if isinstance(item, dict) and isinstance(item.get("id"), str) else None
    where = f"{source}: rule '{name}'" if name else f"{source}: rule #{index}"

    def fail(fld: str, problem: str) -> RulesError:
        return RulesError(f"{where} field '{fld}': {problem}")

    if not isinstance(item, dict):
        raise RulesError(f"{where}: expected a mapping of fields, got {item!r}")
    for fld in sorted(set(item) - _RULE_FIELDS):
        raise fail(fld, f"unknown field; valid fields are {', '.join(sorted(_RULE_FIELDS))}")
    for fld in _REQUIRED:
        if fld not in item:
            raise fail(fld, "is required")
    if not name or not name.replace("_", "").replace("-", "").isalnum():
        raise fail("id", f"must be a word of letters, digits, '_' or '-', got {item['id']!r}")
    pattern = PATTERNS.get(item["pattern"]) if isinstance(item["pattern"], str) else None
    if pattern is None:
        raise fail("pattern", f"unknown pattern {item['pattern']!r}; known: {', '.join(PATTERNS)}")
    if item["severity"] not in SEVERITIES:
        raise fail("severity", f"must be one of {', '.join(SEVERITIES)}, got {item['severity']!r}")
    enabled_flag = item.get("enabled", True)
    if not isinstance(enabled_flag, bool):
        raise fail("enabled", f"must be true or false, got {enabled_flag!r}")
    description = item.get("description", "")
    if not isinstance(description, str):
        raise fail("description", f"must be text, got {description!r}")
    raw = item["params"]
    if not isinstance(raw, dict):
        raise fail("params", f"must be a mapping, got {raw!r}")
    for fld in sorted(set(raw) - set(pattern.params)):
        raise fail(f"params.{fld}", f"unknown parameter for pattern {pattern.name}; "
                                    f"valid: {', '.join(pattern.params)}")
    params = {}
    for fld, kind in pattern.params.items():
        if fld not in raw:
            raise fail(f"params.{fld}", f"is required by pattern {pattern.name}")
        try:
            params[fld] = kind.parse(raw[fld])
        except ValueError as exc:
            raise fail(f"params.{fld}", str(exc)) from None
    for fld, problem in pattern.check(params):
        raise fail(f"params.{fld}", problem)
    return Rule(name, pattern.name, item["severity"], enabled_flag, description.strip(), params)
