"""Reading a change topic back: records between offsets, and folding them into table state.

Used to prove losslessness (rebuild a table from its topic and compare with
Postgres), by the CDC benchmark, and by reconciliation. Reads with
kafka-python, partition by partition, up to end offsets fixed beforehand, so it
terminates.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Iterator

from kafka import KafkaConsumer, TopicPartition



# The op of the CDC reader's watermark records (pipeline/cdc/watermarks.py): a promise about commit
# times, not a row. Defined here, in the layer that reads topics, so the writer imports it downward.
WATERMARK_OP = "m"


@dataclass(frozen=True)
class Record:
    partition: int
    offset: int
    timestamp: int  # ms; the broker's append time on LogAppendTime topics
    key: Any
    value: Any


def partition_ends(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> end offset: read_committed, the last stable offset (nothing of a transaction
    still open or aborted is counted as readable)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed")
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return {tp.partition: end for tp, end in consumer.end_offsets(parts).items()} if parts else {}
    finally:
        consumer.close()


def partition_starts(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> earliest offset still held (above 0 once retention has deleted the first records)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return {tp.partition: off for tp, off in consumer.beginning_offsets(parts).items()} if parts else {}
    finally:
        consumer.close()


def first_records(bootstrap: str, topic: str, timeout_s: float = 60.0) -> dict[int, Record]:
    """partition -> the first committed record it still holds (partitions holding none are left out)."""
    found: dict[int, Record] = {}
    ends = partition_ends(bootstrap, topic)
    wanted = {p for p, end in ends.items() if end > 0}
    records = read_range(bootstrap, topic, partition_starts(bootstrap, topic), ends, timeout_s)
    for record in records:
        found.setdefault(record.partition, record)
        if set(found) == wanted:
            records.close()  # the rest is not needed: stop reading
            break
    return found


def end_offsets(bootstrap: str, topic: str) -> int:
    """Total records in a topic (sum of partition end offsets)."""
    return sum(partition_ends(bootstrap, topic).values())


def wait_for_count(bootstrap: str, topic: str, target: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while (count := end_offsets(bootstrap, topic)) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{topic}: {count} of {target} records after {timeout_s:.0f}s")
        time.sleep(0.1)


def read_range(bootstrap: str, topic: str, start: dict[int, int], end: dict[int, int],
               timeout_s: float = 60.0) -> Iterator[Record]:
    """Every record from `start` (default 0) up to `end`, per partition; values and keys parsed as JSON."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=2000,
                             isolation_level="read_committed",
                             max_partition_fetch_bytes=16 << 20, fetch_max_bytes=64 << 20)
    try:
        parts = [TopicPartition(topic, p) for p, stop in end.items() if stop > start.get(p, 0)]
        if not parts:
            return
        consumer.assign(parts)
        for tp in parts:
            consumer.seek(tp, start.get(tp.partition, 0))
        remaining = set(parts)
        deadline = time.monotonic() + timeout_s
        while remaining and time.monotonic() < deadline:
            for tp, messages in consumer.poll(timeout_ms=500, max_records=50_000).items():
                stop = end[tp.partition]
                for m in messages:
                    if m.offset < stop:
                        yield Record(m.partition, m.offset, m.timestamp, json.loads(m.key) if m.key else None,
                                     json.loads(m.value) if m.value else None)
            # Every partition, not only those that returned records: a transaction marker at the end
            # moves the position on without returning anything.
            remaining = {tp for tp in remaining if consumer.position(tp) < end[tp.partition]}
        if remaining:
            where = ", ".join(f"{tp.partition}: at {consumer.position(tp)} of {start.get(tp.partition, 0)}.."
                              f"{end[tp.partition]}" for tp in sorted(remaining, key=lambda t: t.partition))
            raise TimeoutError(f"{topic}: partitions not read to their end within {timeout_s:.0f}s ({where})")
    finally:
        consumer.close()


def read_all(bootstrap: str, topic: str, timeout_s: float = 60.0) -> Iterator[Record]:
    return read_range(bootstrap, topic, {}, partition_ends(bootstrap, topic), timeout_s)


class Folder:
    """Table state kept up to date from a change topic's records, fed in offset order per partition.

    Each key lives in one partition and a partition is in commit order, so each
    partition is folded on its own: a truncate (copied to every partition)
    empties only the partition it is read from, at its place in that order.
    """

    def __init__(self) -> None:
        self.partitions: dict[int, dict[str, dict]] = {}

    def apply(self, r: Record) -> bool:
        """Fold one record in; True when it changed a row (a watermark record or a tombstone does not)."""
        v = r.value
        if v is None or v["op"] == WATERMARK_OP:
            return False  # a tombstone, or a promise about commit times (pipeline/cdc/watermarks.py)
        state = self.partitions.setdefault(r.partition, {})
        op = v["op"]
        if op == "t":
            state.clear()
        elif op == "d":
            state.pop(json.dumps(r.key, sort_keys=True), None)
        else:
            state[json.dumps(r.key, sort_keys=True)] = v["after"]
        return True

    def state(self) -> dict[str, dict]:
        """key (as canonical JSON) -> the last `after` row."""
        merged: dict[str, dict] = {}
        for state in self.partitions.values():
            merged.update(state)
        return merged


def fold(records: Iterator[Record]) -> dict[str, dict]:
    """Table state from a change topic: key (as canonical JSON) -> the last `after` row."""
    folder = Folder()
    for r in records:
        folder.apply(r)
    return folder.state()


class Watcher:
    """Records arriving on a topic from given offsets, stamped with the wall time a read_committed
    consumer received them: when a change became visible to consumers (benchmarks' latency).

    The consumer runs in a process of its own while the caller writes: in a thread it would share
    the caller's interpreter lock, and its stamps would include waits for the writer. Use as a
    context manager; `wait_for` returns [(received_at_s, value), ...]."""

    def __init__(self, bootstrap: str, topic: str, start: dict[int, int]) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self._stop, self._ready, self._count = ctx.Event(), ctx.Event(), ctx.Value("q", 0)
        self._results = ctx.Queue()
        self._process = ctx.Process(target=_watch, args=(bootstrap, topic, start, self._stop, self._ready,
                                                         self._count, self._results), name="changelog-watcher", daemon=True)
        self._seen: list[tuple[float, Any]] | None = None

    def __enter__(self) -> "Watcher":
        """Returns once the consumer is assigned and polling: records written after this are stamped
        when they become visible, not when a late-starting consumer gets to them."""
        self._process.start()
        if not self._ready.wait(60):
            raise TimeoutError("the watcher's consumer did not start within 60 s")
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()

    def wait_for(self, count: int, timeout_s: float) -> list[tuple[float, Any]]:
        deadline = time.monotonic() + timeout_s
        while self._count.value < count:
            if time.monotonic() > deadline or not self._process.is_alive():
                raise TimeoutError(f"{self._count.value} of {count} records visible after {timeout_s:.0f}s")
            time.sleep(0.05)
        self._stop.set()
        return self._results.get(timeout=60)


def _watch(bootstrap: str, topic: str, start: dict[int, int], stop, ready, count, results) -> None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, isolation_level="read_committed",
                             fetch_max_wait_ms=5, max_partition_fetch_bytes=16 << 20)
    parts = [TopicPartition(topic, p) for p in start]
    consumer.assign(parts)
    for tp in parts:
        consumer.seek(tp, start[tp.partition])
    seen: list[tuple[float, Any]] = []
    consumer.poll(timeout_ms=100)  # connects and fetches once: nothing is written yet
    ready.set()
    while not stop.is_set():
        for messages in consumer.poll(timeout_ms=50, max_records=10_000).values():
            now = time.time()
            seen.extend((now, m.value) for m in messages if m.value)
            count.value = len(seen)
    consumer.close()
    results.put([(at, json.loads(value)) for at, value in seen])
