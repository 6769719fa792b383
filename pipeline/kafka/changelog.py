"""Reading a change topic back: every record up to the current end, and folding it into table state.

Used to prove losslessness (rebuild a table from its topic and compare with
Postgres) and by reconciliation. Reads with kafka-python, partition by
partition, to the end offsets taken at the start, so it terminates.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Iterator

from kafka import KafkaConsumer, TopicPartition


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    key: Any
    value: Any


def read_all(bootstrap: str, topic: str, timeout_s: float = 60.0) -> Iterator[Record]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000,
                             max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not parts:
            return
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        remaining = {tp for tp in parts if end[tp] > 0}
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for tp, messages in consumer.poll(timeout_ms=500, max_records=50_000).items():
                for m in messages:
                    if m.offset < end[tp]:
                        yield Record(m.partition, m.offset, json.loads(m.key) if m.key else None,
                                     json.loads(m.value) if m.value else None)
                if consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        if remaining:
            raise TimeoutError(f"{topic}: partitions {sorted(tp.partition for tp in remaining)} not read to their "
                               f"end within {timeout_s:.0f}s")
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> int:
    """Total records in a topic (sum of partition end offsets)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum(consumer.end_offsets(parts).values()) if parts else 0
    finally:
        consumer.close()


def fold(records: Iterator[Record]) -> dict[str, dict]:
    """Table state from a change topic: key (as canonical JSON) -> the last `after` row.

    Each key lives in one partition and a partition is in commit order, so each
    partition is folded on its own: a truncate (copied to every partition)
    empties only the partition it is read from, at its place in that order.
    """
    partitions: dict[int, dict[str, dict]] = {}
    for r in records:
        v = r.value
        if v is None:
            continue
        state = partitions.setdefault(r.partition, {})
        op = v["op"]
        if op == "t":
            state.clear()
        elif op == "d":
            state.pop(json.dumps(r.key, sort_keys=True), None)
        else:
            state[json.dumps(r.key, sort_keys=True)] = v["after"]
    merged: dict[str, dict] = {}
    for state in partitions.values():
        merged.update(state)
    return merged
