"""The score formula as SQL, built from the weights file.

One function builds it, and the job applies it to both kinds of rows (the
5-minute schedule and each change), so the two can never disagree on the
formula: they differ only in which 24 hours their inputs were summed over.
"""

from __future__ import annotations

from flink_jobs.health.weights import Penalty

# The value each penalty of the weights file applies to, over a row of summed inputs
# (the columns INPUTS names in flink_jobs/health/job.py).
VALUES = {
    "declines": "declines",
    "decline_ratio_pct": "decline_ratio_pct",
    "reversals": "reversals",
    "failed_logins": "failed_logins",
    "logins": "logins",
    "payments": "payments",
    "balance_drop": "-balance_change_cents / 100.0",
}


def _number(value: float) -> str:
    return f"CAST({value!r} AS DOUBLE)"


def _penalty(name: str, penalty: Penalty) -> str:
    value = f"CAST({VALUES[name]} AS DOUBLE)"
    return (f"LEAST({_number(penalty.cap)}, {_number(penalty.weight)} * "
            f"GREATEST(CAST(0 AS DOUBLE), {value} - {_number(penalty.free)}))")


def score_sql(penalties: dict[str, Penalty]) -> str:
    """The score over a row of summed inputs: the formula of docs/flink.md with these weights."""
    total = "\n      + ".join(_penalty(name, p) for name, p in penalties.items())
    return f"ROUND(GREATEST(CAST(0 AS DOUBLE), 100 - (\n        {total})), 1)"
