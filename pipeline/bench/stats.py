"""Small statistics shared by the benchmarks."""

from __future__ import annotations

from typing import NamedTuple, Sequence


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Steady(NamedTuple):
    rate: float  # units per second
    first: Sequence[float]  # the samples it was taken between
    last: Sequence[float]


def steady_rate(samples: Sequence[Sequence[float]], total: float, low: float = 0.1, high: float = 0.9) -> Steady | None:
    """The rate of a run that drains `total` units, once started and before its tail.

    samples: (seconds, units done so far, anything else), in time order. The
    rate is taken between the first sample at or above `low` of the total and
    the first at or above `high`, so start-up (a JVM starting, a job being
    planned) and the tail (the last partitions, the last checkpoint) do not
    count. None when the samples do not reach both marks at different times.
    """
    first = next((s for s in samples if s[1] >= low * total), None)
    last = next((s for s in samples if s[1] >= high * total), None)
    if first is None or last is None or last[0] <= first[0]:
        return None
    return Steady((last[1] - first[1]) / (last[0] - first[0]), first, last)
