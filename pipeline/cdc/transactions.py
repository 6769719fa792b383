"""Exactly-once delivery: whole Postgres transactions grouped into Kafka transactions.

One Kafka transaction per Postgres transaction would pay Kafka's commit round
trip (EndTxn, markers on every partition) for each one; instead a Kafka
transaction stays open for `[cdc] transaction_interval_ms` (or up to
`transaction_max_events`) and gathers every Postgres transaction that commits
meanwhile, never splitting one. It ends with the reader's checkpoint record
(checkpoint.py), so the change events and the position they reach become
visible together, or, if the process dies first, not at all.

Two measured costs shape the timing (docs/operations.md, "What exactly-once
costs"): a commit (flush + EndTxn) blocks the reader for a few milliseconds,
so while the reader is busy (draining a backlog: the changes it reads committed
more than `CATCH_UP_LAG_S` ago, or WAL kept arriving faster than it read it) a
transaction stays open `CATCH_UP_INTERVAL_S` and the commits amortise over many
events. Caught up, a transaction commits as soon as the reader finds no WAL
waiting (a group commit: whatever arrived meanwhile shares it), and at the
latest after the short interval. And a transaction begun the instant the previous one
committed finds its markers still being written: the coordinator answers
CONCURRENT_TRANSACTIONS and librdkafka retries after ~20 ms; waiting
`MARKER_GRACE_S` first avoids that (measured: flush p90 35 ms back to back,
7 ms after a 4 ms pause).

Order of truth: Kafka commit first, then the LSN is confirmed to Postgres.
Between the two, a crash leaves Postgres resending transactions that Kafka
already holds; the checkpoint read back at start says which, and the reader
skips them.
"""

from __future__ import annotations

import time

from pipeline.cdc.checkpoint import Checkpoint
from pipeline.kafka.producer import ChangeProducer

MARKER_GRACE_S = 0.004
CATCH_UP_LAG_S = 0.5
CATCH_UP_INTERVAL_S = 0.25


class KafkaTransactions:
    def __init__(self, producer: ChangeProducer, checkpoint_topic: str, checkpoint_key: bytes,
                 interval_s: float, max_events: int, committed: Checkpoint, system_id: str | None = None) -> None:
        self.producer = producer
        self.checkpoint_topic, self.checkpoint_key = checkpoint_topic, checkpoint_key
        self.interval_s, self.max_events = interval_s, max_events
        self.committed = committed  # what Kafka holds as of the last commit (or the start)
        self.system_id = system_id
        self.commits = 0
        self.commit_seconds = 0.0
        self._opened_at = 0.0
        self._events = 0
        self._pending: Checkpoint | None = None  # what the open transaction will hold once committed
        self._oldest_commit_us: int | None = None
        self._last_commit_end = 0.0
        self._newest_commit_us = 0  # commit time of the newest Postgres transaction in the open one
        self._idle_seen = False  # the reader found no WAL waiting since the open transaction began

    @property
    def open(self) -> bool:
        return self.producer.in_transaction

    def ensure_open(self) -> None:
        if not self.producer.in_transaction:
            pause = self._last_commit_end + MARKER_GRACE_S - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            self.producer.begin()
            self._opened_at = time.monotonic()
            self._events = 0
            self._idle_seen = False

    def added(self, events: int = 1) -> None:
        self._events += events

    def started(self, commit_us: int) -> None:
        """A Postgres transaction begins inside the open Kafka transaction (for the lag metric)."""
        if self._oldest_commit_us is None:
            self._oldest_commit_us = commit_us
        self._newest_commit_us = commit_us

    def pg_committed(self, end_lsn: int, txid: int | None) -> None:
        """Every event of a Postgres transaction is queued in the open Kafka transaction."""
        self._pending = Checkpoint(end_lsn, True, self.committed.snapshot_lsn, txid, self.system_id)

    def snapshot_done(self, consistent_lsn: int) -> None:
        self._pending = Checkpoint(consistent_lsn, True, consistent_lsn, None, self.system_id)

    def new_slot(self) -> None:
        """A slot was just created: the stream starts at its consistent point, after anything an
        older checkpoint of the same name describes, so nothing is to be skipped."""
        self.committed = Checkpoint(system_id=self.system_id)

    def due(self, now: float | None = None) -> bool:
        """Commit now? Only between Postgres transactions (the caller checks) and only when the open
        transaction has gathered long or much enough."""
        return self.producer.in_transaction and (self.seconds_until_due(now) <= 0 or self._events >= self.max_events)

    def idle(self) -> None:
        """The reader found no WAL waiting: changes come no faster than it reads them."""
        self._idle_seen = True

    def caught_up(self) -> bool:
        """An open transaction holding Postgres transactions that committed moments ago."""
        return (self.producer.in_transaction and self._pending is not None
                and time.time() - self._newest_commit_us / 1e6 <= CATCH_UP_LAG_S)

    def seconds_until_due(self, now: float | None = None) -> float:
        """How long the open transaction still gathers (the reader's idle wait is no longer)."""
        if not self.producer.in_transaction:
            return float("inf")
        now = time.monotonic() if now is None else now
        behind_s = time.time() - self._newest_commit_us / 1e6 if self._newest_commit_us else 0.0
        busy = behind_s > CATCH_UP_LAG_S or not self._idle_seen
        return self._opened_at + (CATCH_UP_INTERVAL_S if busy else self.interval_s) - now

    def commit(self) -> Checkpoint:
        """Write the checkpoint and commit; returns what Kafka now holds. Raises the producer's
        TransactionAborted (then nothing of it is visible, and the caller resends) or Fenced."""
        if not self.producer.in_transaction:
            return self.committed
        started = time.monotonic()
        pending = self._pending
        if pending is not None:
            self.producer.send(self.checkpoint_topic, self.checkpoint_key, pending.encode(), 0, _no_ack)
        self.producer.commit()
        self._last_commit_end = time.monotonic()
        self.commits += 1
        self.commit_seconds += self._last_commit_end - started
        if pending is not None:
            self.committed = pending
        self._pending = None
        self._oldest_commit_us = None
        return self.committed

    def abort(self, timeout_s: float | None = None) -> None:
        """Drop the open transaction: none of it will ever be visible; Postgres resends it. With a
        timeout (shutting down) the abort may be left to the next reader's init_transactions."""
        if self.producer.in_transaction:
            self.producer.abort(timeout_s=timeout_s)
        self._pending = None
        self._oldest_commit_us = None

    def oldest_commit_us(self) -> int | None:
        """Commit time of the oldest Postgres transaction not yet committed to Kafka (the lag's start)."""
        return self._oldest_commit_us


def _no_ack(err, msg) -> None:
    """The checkpoint's delivery is the transaction's commit: an error surfaces there."""
