"""Which LSN the reader may confirm to Postgres: everything below it is acknowledged by Kafka.

Kafka acknowledges per partition, so the acks of one transaction's events
arrive in any order and interleave with the next transaction's. Transactions
are confirmed strictly in commit order: the confirmable LSN is the end LSN of
the newest transaction whose events, and every earlier transaction's events,
are all acknowledged. After a crash Postgres resends everything after it;
only that unacknowledged tail can reach Kafka twice, and its events carry the
same (table, key, lsn) as the first copy.
"""

from __future__ import annotations

from collections import deque


class PendingTransaction:
    __slots__ = ("tracker", "outstanding", "end_lsn", "commit_us")

    def __init__(self, tracker: "AckTracker", commit_us: int) -> None:
        self.tracker = tracker
        self.commit_us = commit_us
        self.outstanding = 0
        self.end_lsn: int | None = None  # set at commit

    def sent(self) -> None:
        self.outstanding += 1

    def acked(self, err, msg=None) -> None:
        """Delivery callback (confluent-kafka calls it with (err, msg))."""
        if err is not None:
            self.tracker.failures.append((self, err, msg))
            return
        self.outstanding -= 1
        if self.outstanding == 0 and self.end_lsn is not None:
            self.tracker.advance()


class AckTracker:
    def __init__(self, confirmed_lsn: int) -> None:
        self.confirmed_lsn = confirmed_lsn
        # Delivery errors not yet handled: (transaction, KafkaError, message). The reader takes them
        # from here after each poll (a refused record, or a transaction to resend).
        self.failures: list = []
        self._pending: deque[PendingTransaction] = deque()

    def begin(self, commit_us: int = 0) -> PendingTransaction:
        txn = PendingTransaction(self, commit_us)
        self._pending.append(txn)
        return txn

    def commit(self, txn: PendingTransaction, end_lsn: int) -> None:
        txn.end_lsn = end_lsn
        if txn.outstanding == 0:
            self.advance()

    def advance(self) -> None:
        pending = self._pending
        while pending and pending[0].end_lsn is not None and pending[0].outstanding == 0:
            self.confirmed_lsn = max(self.confirmed_lsn, pending.popleft().end_lsn)

    def idle(self) -> bool:
        return not self._pending

    def oldest_commit_us(self) -> int | None:
        """Commit time of the oldest transaction still waiting for acks (the lag's start)."""
        return self._pending[0].commit_us if self._pending else None

    @property
    def in_flight(self) -> int:
        return sum(t.outstanding for t in self._pending)
