"""Reading and validating the health weights file.

The weights are tuned without touching code, so the file is checked before
the job runs, like the fraud rules: an unknown or missing penalty or field, a
wrong type, a negative, non-finite (.nan, .inf) or out-of-range number (1e30)
fails with a message naming the file and the field. A score is never computed
from half a formula.

A penalty over money (`balance_drop`) has its weight and allowance per
currency: a fall of 5,000 means different money in each currency, and there
is no FX table to convert (pipeline/money.py). Every currency of the system
must be given, so no account silently escapes the penalty; allowances are
exact amounts (Decimal -> cents), never floats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from flink_jobs import yaml_file
from pipeline import money

SUPPORTED_VERSIONS = (1,)
# Every penalty the job can compute, and what its value is (docs/flink.md lists them too).
INPUTS = {
    "declines": "transactions declined",
    "decline_ratio_pct": "declines per 100 payments made",
    "reversals": "transactions reversed",
    "failed_logins": "failed logins of the owner",
    "logins": "logins of the owner",
    "payments": "payments made",
    "balance_drop": "net fall of the balance in the account's currency, whole units",
}
MONEY_INPUTS = ("balance_drop",)  # weight and free per currency
# The largest sensible value of each number: a cap or weight above 100 takes the whole 0..100 score at
# once, and an allowance of a million events in 24 hours is none. Beyond these a value is a typo.
_MAXIMUM = {"weight": 100.0, "cap": 100.0, "free": 1_000_000.0}
_FIELDS = {"weight", "cap", "free"}
_MONEY_FIELDS = {"cap", "currencies"}


class WeightsError(ValueError):
    """The weights file is unusable; the message says where and why."""


@dataclass(frozen=True)
class Penalty:
    """min(cap, weight * max(0, value - free)) points off the score."""

    weight: float
    cap: float
    free: float = 0.0


@dataclass(frozen=True)
class Rate:
    """One currency's part of a money penalty: `weight` points per whole unit above `free_cents`."""

    weight: float
    free_cents: int


@dataclass(frozen=True)
class MoneyPenalty:
    """min(cap, weight[c] * max(0, value - free[c])) for an account in currency c."""

    cap: float
    rates: Mapping[str, Rate]


def load(path: Path) -> dict[str, Penalty | MoneyPenalty]:
    return parse(yaml_file.read(path, "health weights file", WeightsError), str(path))


def parse(document: Any, source: str) -> dict[str, Penalty | MoneyPenalty]:
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
    return {name: (_money_penalty if name in MONEY_INPUTS else _penalty)(penalties.get(name),
                                                                          f"{source}: field 'penalties.{name}")
            for name in INPUTS}


def _mapping(item: Any, where: str, allowed: set[str], required: tuple[str, ...], shape: str) -> dict:
    if item is None:
        raise WeightsError(f"{where}': is required")
    if not isinstance(item, dict):
        raise WeightsError(f"{where}': must be a mapping with {shape}, got {item!r}")
    for fld in sorted(set(item) - allowed):
        raise WeightsError(f"{where}.{fld}': unknown field; valid fields are {', '.join(sorted(allowed))}")
    for fld in required:
        if fld not in item:
            raise WeightsError(f"{where}.{fld}': is required")
    return item


def _number(value: Any, fld: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WeightsError(f"{where}.{fld}': must be a number, got {value!r}")
    if not math.isfinite(value):
        raise WeightsError(f"{where}.{fld}': must be a finite number, got {value!r}")
    if value < 0:
        raise WeightsError(f"{where}.{fld}': must be 0 or more, got {value!r}")
    if value > _MAXIMUM[fld]:
        raise WeightsError(f"{where}.{fld}': must be at most {_MAXIMUM[fld]:g}, got {value!r}")
    return float(value)


def _penalty(item: Any, where: str) -> Penalty:
    item = _mapping(item, where, _FIELDS, ("weight", "cap"), "weight, cap and optionally free")
    return Penalty(**{fld: _number(item[fld], fld, where) for fld in sorted(_FIELDS & set(item))})


def _money_penalty(item: Any, where: str) -> MoneyPenalty:
    item = _mapping(item, where, _MONEY_FIELDS, ("cap", "currencies"),
                    "cap and currencies ({USD: {weight: 0.002, free: \"5000.00\"}, ...})")
    currencies = item["currencies"]
    if not isinstance(currencies, dict):
        raise WeightsError(f"{where}.currencies': must map every currency ({', '.join(money.CURRENCIES)}) to "
                           f"its weight and free amount, got {currencies!r}")
    for code in currencies:
        try:
            money.currency(code)
        except ValueError as exc:
            raise WeightsError(f"{where}.currencies': {exc}") from None
    rates = {}
    for code in money.CURRENCIES:
        at = f"{where}.currencies.{code}"
        rate = _mapping(currencies.get(code), at, {"weight", "free"}, ("weight", "free"),
                        "weight (points per whole unit) and free (an amount)")
        try:
            free = money.amount(rate["free"], zero_allowed=True)
        except ValueError as exc:
            raise WeightsError(f"{at}.free': {exc}") from None
        rates[code] = Rate(_number(rate["weight"], "weight", at), money.cents(free))
    return MoneyPenalty(_number(item["cap"], "cap", where), rates)
