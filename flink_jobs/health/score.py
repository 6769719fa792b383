"""The score formula as SQL, built from the weights file.

One function builds it, and the job applies it to both kinds of rows (the
5-minute schedule and each change), so the two can never disagree on the
formula: they differ only in which 24 hours their inputs were summed over.
A money penalty takes the weight and allowance of the row's currency (each
row's sums are one account's, in one currency): the allowance is compared
in integer cents, so the threshold is exact.
"""

from __future__ import annotations

from flink_jobs import sql
from flink_jobs.health.weights import MoneyPenalty, Penalty

# The value each penalty of the weights file applies to, over a row of summed inputs
# (the columns INPUTS names in flink_jobs/health/job.py). Money values are in cents of the row's currency.
VALUES = {
    "declines": "declines",
    "decline_ratio_pct": "decline_ratio_pct",
    "reversals": "reversals",
    "failed_logins": "failed_logins",
    "logins": "logins",
    "payments": "payments",
    "balance_drop": "-balance_change_cents",
}
_ZERO = "CAST(0 AS DOUBLE)"


def _number(value: float) -> str:
    return f"CAST({value!r} AS DOUBLE)"


def _penalty(name: str, penalty: Penalty) -> str:
    value = f"CAST({VALUES[name]} AS DOUBLE)"
    return (f"LEAST({_number(penalty.cap)}, {_number(penalty.weight)} * "
            f"GREATEST({_ZERO}, {value} - {_number(penalty.free)}))")


def _money_penalty(name: str, penalty: MoneyPenalty) -> str:
    """Per currency: weight * whole units above the allowance (cents subtracted as integers first)."""
    cases = " ".join(
        f"WHEN {sql.string(code)} THEN {_number(rate.weight)} * "
        f"GREATEST({_ZERO}, CAST({VALUES[name]} - {rate.free_cents} AS DOUBLE) / 100)"
        for code, rate in penalty.rates.items())
    return f"LEAST({_number(penalty.cap)}, CASE currency {cases} ELSE {_ZERO} END)"


def score_sql(penalties: dict[str, Penalty | MoneyPenalty]) -> str:
    """The score over a row of summed inputs: the formula of docs/flink.md with these weights."""
    total = "\n      + ".join(_money_penalty(name, p) if isinstance(p, MoneyPenalty) else _penalty(name, p)
                              for name, p in penalties.items())
    return f"ROUND(GREATEST(CAST(0 AS DOUBLE), 100 - (\n        {total})), 1)"
