"""The contracts of the fraud job: a validated rule, and the alert every rule emits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SEVERITIES = ("low", "medium", "high", "critical")

# The alerts topic's columns, in order: every pattern's SELECT produces exactly these.
ALERT_COLUMNS = (
    ("alert_id", "STRING"),  # rule id + the identity of the event that completed the pattern: stable across replays
    ("rule_id", "STRING"),
    ("pattern", "STRING"),
    ("severity", "STRING"),
    ("account_id", "BIGINT"),
    ("event_time", "TIMESTAMP_LTZ(3)"),  # source commit time of the event that completed the pattern
    ("detected_at", "TIMESTAMP_LTZ(3)"),  # wall clock when Flink emitted the alert
    ("evidence", "STRING"),  # a JSON object: the transactions, amounts, countries, devices involved
)


@dataclass(frozen=True)
class Rule:
    id: str
    pattern: str
    severity: str
    enabled: bool
    description: str
    params: dict[str, Any]
