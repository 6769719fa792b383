"""Literals for generated Flink SQL.

Rule thresholds and window sizes come from files, so they are rendered here
in one way: money as exact DECIMAL casts (never floats), a threshold per
currency as a test of the row's own currency and amount, durations as
INTERVAL literals in the largest unit that divides them (leading precision
spelled out beyond two digits, Calcite's default: '120' DAY(3)), strings with
quotes doubled.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Mapping

_UNITS = (("DAY", 86400), ("HOUR", 3600), ("MINUTE", 60), ("SECOND", 1))


def interval(seconds: int) -> str:
    if seconds <= 0:
        raise ValueError(f"an interval must be positive, got {seconds} s")
    for unit, size in _UNITS:
        if seconds % size == 0:
            value = seconds // size
            precision = f"({len(str(value))})" if value > 99 else ""
            return f"INTERVAL '{value}' {unit}{precision}"
    raise AssertionError("unreachable: every whole number of seconds divides by 1")


def money(value: Decimal) -> str:
    return f"CAST('{value:.2f}' AS DECIMAL(18, 2))"


def amount_test(amount: str, currency: str, op: str, thresholds: Mapping[str, Decimal]) -> str:
    """`amount op threshold` against the threshold of the row's own currency. A row in a currency
    without a threshold never passes: amounts of different currencies are never compared."""
    tests = " OR ".join(f"{currency} = {string(code)} AND {amount} {op} {money(value)}"
                        for code, value in sorted(thresholds.items()))
    return f"({tests})"


def string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def string_list(values: tuple[str, ...]) -> str:
    return ", ".join(string(v) for v in values)
