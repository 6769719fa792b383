"""The reader's position as Kafka knows it: the checkpoint record inside every Kafka transaction.

In exactly-once mode each Kafka transaction ends with one record on the
checkpoint topic (`<prefix>.cdc.checkpoints`, compacted, keyed by database
and slot) that says which Postgres transactions it holds: the end LSN of the
newest one, and whether the initial snapshot is complete. The checkpoint
commits atomically with the change events, so reading the newest committed
checkpoint back (read_committed) tells a restarted reader exactly what Kafka
already has, wherever the previous process died: before the Kafka commit
(nothing of the open transaction is visible, Postgres resends it), or after it
but before the slot was confirmed (Postgres resends transactions that the
checkpoint shows are in Kafka: the reader skips them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import orjson
from kafka import KafkaConsumer, TopicPartition

from pipeline.kafka.admin import TopicSpec

# Compacted: only each reader's newest checkpoint matters; one partition keeps them in order.
TOPIC_SUFFIX = "cdc.checkpoints"


def topic(prefix: str) -> str:
    return f"{prefix}.{TOPIC_SUFFIX}"


def topic_spec(prefix: str, replication: int, configs: dict[str, str]) -> TopicSpec:
    """The checkpoint topic: `configs` (the cluster-wide ones, e.g. min.insync.replicas) plus compaction."""
    return TopicSpec(topic(prefix), 1, replication,
                     {**configs, "cleanup.policy": "compact", "min.compaction.lag.ms": "60000"})


@dataclass(frozen=True)
class Checkpoint:
    """What the newest committed Kafka transaction of one reader (database, slot) holds."""

    end_lsn: int = 0  # every Postgres transaction ending at or before this LSN is in Kafka
    snapshot_done: bool = False
    snapshot_lsn: int = 0  # the slot's consistent point the snapshot lined up with
    txid: int | None = None  # the newest Postgres transaction in it (for people reading the topic)
    system_id: str | None = None  # the Postgres cluster (IDENTIFY_SYSTEM) whose LSNs these are

    def covers(self, commit_lsn: int) -> bool:
        """Is the Postgres transaction whose commit record starts at `commit_lsn` already in Kafka?
        Transactions arrive in commit order and one's end LSN is past its commit record's start, so
        every transaction up to the checkpoint's has commit_lsn < end_lsn, and every later one not."""
        return commit_lsn < self.end_lsn

    def encode(self) -> bytes:
        return orjson.dumps({"end_lsn": self.end_lsn, "snapshot_done": self.snapshot_done,
                             "snapshot_lsn": self.snapshot_lsn, "txid": self.txid, "system_id": self.system_id,
                             "ts_ms": time.time_ns() // 1_000_000})

    @classmethod
    def decode(cls, value: bytes) -> "Checkpoint":
        data = orjson.loads(value)
        return cls(int(data["end_lsn"]), bool(data["snapshot_done"]), int(data.get("snapshot_lsn") or 0),
                   data.get("txid"), data.get("system_id"))


def key(database: str, slot: str) -> bytes:
    return f"{database}/{slot}".encode()


def read_latest(bootstrap: str, prefix: str, database: str, slot: str, *, timeout_s: float = 30.0,
                window: int = 2000) -> Checkpoint | None:
    """The newest committed checkpoint of this reader, or None when it never committed one.

    Reads backwards from the end in windows of `window` offsets (compaction keeps the topic short,
    but between compactions it holds one record per Kafka transaction of every reader sharing it),
    read_committed, so an aborted transaction's checkpoint is never taken for a committed one.
    """
    name, wanted = topic(prefix), key(database, slot)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed",
                             consumer_timeout_ms=1000, request_timeout_ms=int(timeout_s * 1000) + 1000)
    try:
        tp = TopicPartition(name, 0)
        if not consumer.partitions_for_topic(name):
            return None
        consumer.assign([tp])
        low = consumer.beginning_offsets([tp])[tp]
        end = consumer.end_offsets([tp])[tp]  # read_committed: the last stable offset
        deadline = time.monotonic() + timeout_s
        stop = end
        while stop > low:
            start = max(low, stop - window)
            consumer.seek(tp, start)
            found: Checkpoint | None = None
            idle = 0
            # Transaction markers and aborted records occupy offsets but are never returned: stop
            # when the position reaches the window's end or nothing more arrives.
            while consumer.position(tp) < stop and idle < 3:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"reading checkpoints from {name} took over {timeout_s:.0f}s")
                messages = consumer.poll(timeout_ms=300).get(tp, ())
                idle = 0 if messages else idle + 1
                for message in messages:
                    if message.offset < stop and message.key == wanted and message.value:
                        found = Checkpoint.decode(message.value)
            if found is not None:
                return found
            stop = start
        return None
    finally:
        consumer.close()
