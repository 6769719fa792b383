"""Reading and validating the health weights file.

The weights are tuned without touching code, so the file is checked before
the job runs, like the fraud rules: an unknown or missing penalty or field, a
wrong type or a negative number fails with a message naming the file and the
field. A score is never computed from half a formula.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flink_jobs import yaml_file

SUPPORTED_VERSIONS = (1,)
# Every penalty the job can compute, and what its value is (docs/flink.md lists them too).
INPUTS = {
    "declines": "transactions declined",
    "decline_ratio_pct": "declines per 100 payments made",
    "reversals": "transactions reversed",
    "failed_logins": "failed logins of the owner",
    "logins": "logins of the owner",
    "payments": "payments made",
    "balance_drop": "net fall of the balance, whole currency units",
}
_FIELDS = {"weight", "cap", "free"}


class WeightsError(ValueError):
    """The weights file is unusable; the message says where and why."""


@dataclass(frozen=True)
class Penalty:
    """min(cap, weight * max(0, value - free)) points off the score."""

    weight: float
    cap: float
    free: float = 0.0


def load(path: Path) -> dict[str, Penalty]:
    return parse(yaml_file.read(path, "health weights file", WeightsError), str(path))


def parse(document: Any, source: str) -> dict[str, Penalty]:
    if not isinstance(document, dict):
        raise WeightsError(f"{source}: expected a mapping with 'version' and 'penalties', "
                           f"got {type(document).__name__}")
    for fld in sorted(set(document) - {"version", "penalties"}):
        raise WeightsError(f"{source}: unknown top-level field '{fld}'; expected 'version' and 'penalties'")
    if document.get("version") not in SUPPORTED_VERSIONS:
        raise WeightsError(f"{source}: field 'version' must be one of {list(SUPPORTED_VERSIONS)}, "
                           f"got {document.get('version')!r}")
    penalties = document.get("penalties")
    if not isinstance(penalties, dict):
        raise WeightsError(f"{source}: field 'penalties' must be a mapping of penalty name to weights")
    for name in sorted(set(penalties) - set(INPUTS)):
        raise WeightsError(f"{source}: field 'penalties.{name}': unknown penalty; known: {', '.join(INPUTS)}")
    return {name: _penalty(penalties.get(name), f"{source}: field 'penalties.{name}") for name in INPUTS}


def _penalty(item: Any, where: str) -> Penalty:
    if item is None:
        raise WeightsError(f"{where}': is required")
    if not isinstance(item, dict):
        raise WeightsError(f"{where}': must be a mapping with weight, cap and optionally free, got {item!r}")
    for fld in sorted(set(item) - _FIELDS):
        raise WeightsError(f"{where}.{fld}': unknown field; valid fields are cap, free, weight")
    for fld in ("weight", "cap"):
        if fld not in item:
            raise WeightsError(f"{where}.{fld}': is required")
    values = {}
    for fld in sorted(_FIELDS & set(item)):
        value = item[fld]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise WeightsError(f"{where}.{fld}': must be a number, got {value!r}")
        if value < 0:
            raise WeightsError(f"{where}.{fld}': must be 0 or more, got {value!r}")
        values[fld] = float(value)
    return Penalty(**values)
