"""The kinds of value a rule parameter can hold, and how a file's text becomes one.

Each kind parses what YAML produced and raises ValueError with the reason
only; rules.py adds which file, rule and field it was. Money is Decimal per
currency (pipeline/money.py: `{USD: "500.00", EUR: "450.00"}`, a bare amount
is ambiguous and refused); numbers are bounded, so a typo like 1e30 is a
clear error rather than a query no one meant; durations are strings with a
unit, so "10" can never mean seconds to one analyst and minutes to another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pipeline import money

_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Integer:
    minimum: int = 1
    maximum: int = 10_000  # counts of events in a window; beyond this a pattern is a typo, not a rule

    def parse(self, raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(f"must be a whole number >= {self.minimum}, got {raw!r}")
        if raw < self.minimum:
            raise ValueError(f"must be >= {self.minimum}, got {raw}")
        if raw > self.maximum:
            raise ValueError(f"must be <= {self.maximum}, got {raw}")
        return raw


@dataclass(frozen=True)
class Money:
    """Amounts per currency, each > 0 with at most two decimal places; a payment is compared with the
    threshold of its own currency, and a rule does not apply to payments in currencies it does not list."""

    def parse(self, raw: Any) -> dict[str, Decimal]:
        return money.per_currency(raw)


@dataclass(frozen=True)
class Duration:
    """A length of time written with its unit: 45s, 10m, 1h, 90d. Parsed to seconds."""

    maximum_s: int = 400 * 86400

    def parse(self, raw: Any) -> int:
        match = _DURATION.match(raw) if isinstance(raw, str) else None
        if not match:
            raise ValueError(f"must be a duration like 45s, 10m, 1h or 90d, got {raw!r}")
        seconds = int(match.group(1)) * _SECONDS[match.group(2)]
        if seconds <= 0 or seconds > self.maximum_s:
            raise ValueError(f"must be between 1s and {self.maximum_s // 86400}d, got {raw!r}")
        return seconds


@dataclass(frozen=True)
class Choices:
    """A non-empty list drawn from `allowed` (channels, merchant category codes)."""

    allowed: tuple[str, ...] | None = None
    pattern: str | None = None

    def parse(self, raw: Any) -> tuple[str, ...]:
        if not isinstance(raw, list) or not raw:
            raise ValueError(f"must be a non-empty list, got {raw!r}")
        values = tuple(str(v) for v in raw)
        for value in values:
            if self.allowed is not None and value not in self.allowed:
                raise ValueError(f"{value!r} is not one of {', '.join(self.allowed)}")
            if self.pattern is not None and not re.fullmatch(self.pattern, value):
                raise ValueError(f"{value!r} does not match {self.pattern}")
        if len(set(values)) != len(values):
            raise ValueError(f"lists a value twice: {list(values)}")
        return values


Kind = Integer | Money | Duration | Choices
