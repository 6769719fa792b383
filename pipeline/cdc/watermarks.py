"""Watermark records: a promise in every partition that lets event-time consumers move on.

Flink keeps an event-time watermark per Kafka partition: the newest commit
time seen there, minus the allowed disorder. A quiet partition holds it back,
so windows and patterns wait for some unrelated event to land on that
partition. Logins are a few per second over three partitions; waiting for the
next one held fraud alerts back by seconds, and the idle timeout only trades
that wait for a fixed one.

The reader knows more than any single partition shows: once a transaction is
sent, every change committed up to its commit time is in its topic's
partitions, because the reader sends in commit order and Kafka keeps order
per partition. A watermark record says exactly that, in each partition of
each table topic:

    {"op": "m", "before": null, "after": null, "source": {"ts_ms": T, "lsn": L, ...}}

with no key: "every change committed at or before T (up to LSN L) is already
in this partition". On a compacted topic (accounts and merchants by default),
where Kafka refuses a record without a key, the key is `{"watermark": P}`,
P the partition: compaction then keeps each partition's newest promise. They go out at most every [cdc] watermark_interval_ms
while transactions flow, after a transaction, never inside one. An idle
database sends none (the consumers' idle timeout covers that).

Consumers that rebuild tables from the topics skip op "m"
(pipeline/kafka/changelog.fold does). A plain Debezium consumer would see an
op it does not know: set [cdc] watermark_interval_ms = 0 if one reads these
topics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


from pipeline.kafka.changelog import WATERMARK_OP

OP = WATERMARK_OP


@dataclass
class WatermarkClock:
    """When the next round of watermark records is due, and what it promises."""

    interval_s: float
    _last_round: float = 0.0
    _pending: tuple[int, int] | None = None  # (commit ts in µs, end LSN) of the newest transaction sent

    @property
    def enabled(self) -> bool:
        return self.interval_s > 0

    def committed(self, ts_us: int, end_lsn: int) -> None:
        """A transaction's events are all queued to the producer."""
        self._pending = (ts_us, end_lsn)

    def due(self, now: float | None = None) -> tuple[int, int] | None:
        """(ts_us, lsn) to announce now, or None: nothing new committed, or the last round was too recent."""
        if self._pending is None or not self.enabled:
            return None
        now = time.monotonic() if now is None else now
        if now - self._last_round < self.interval_s:
            return None
        self._last_round = now
        pending, self._pending = self._pending, None
        return pending
