"""The producer behind the CDC hot path.

confluent-kafka (librdkafka), not kafka-python: with 300-byte events, acks=all
and idempotence, one Python process sent ~11k msgs/s with kafka-python
(CPU-bound in the client) and ~190k msgs/s with confluent-kafka (see
docs/cdc.md for our own figures). Scripted change streams (scripted.py: tests,
benchmarks) produce through it too. Everything else in the project that talks
to Kafka (admin, consumers) uses kafka-python; only this module imports
confluent_kafka.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from confluent_kafka import KafkaException, Producer

DeliveryCallback = Callable[[object, object], None]


class KafkaUnavailable(RuntimeError):
    """The brokers cannot be reached; the message says which bootstrap servers and what to check."""


@dataclass(frozen=True)
class ProducerSettings:
    bootstrap: str
    linger_ms: int = 5
    batch_size: int = 1_000_000
    compression: str = "lz4"
    max_buffered_messages: int = 200_000
    client_id: str = "cdc-olap"


class ChangeProducer:
    """Ordered, idempotent, acks=all. `send` blocks (serving callbacks) while the local buffer is
    full, which is the reader's backpressure: it stops reading WAL, and the slot keeps it."""

    def __init__(self, settings: ProducerSettings, on_wait: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self._on_wait = on_wait or (lambda: None)
        self._producer = Producer({
            "bootstrap.servers": settings.bootstrap,
            "client.id": settings.client_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": settings.linger_ms,
            "batch.size": settings.batch_size,
            "compression.type": settings.compression,
            "queue.buffering.max.messages": settings.max_buffered_messages,
            "queue.buffering.max.kbytes": 512 * 1024,
            # Kafka down: keep retrying forever rather than drop; the slot holds the WAL meanwhile.
            "message.timeout.ms": 0,
            "socket.keepalive.enable": True,
        })
        self.waits = 0

    def check_reachable(self, timeout_s: float = 10.0) -> None:
        try:
            self._producer.list_topics(timeout=timeout_s)
        except KafkaException as exc:
            raise KafkaUnavailable(
                f"Kafka at {self.settings.bootstrap} did not answer within {timeout_s:.0f}s ({exc}); "
                "check that the brokers run (`cdc-olap status`) and [kafka] bootstrap_servers") from None

    def partitions(self, topic: str, timeout_s: float = 10.0) -> int:
        """The topic's partition count. A topic created a moment ago (by us or by a job starting
        beside us) may not be in the broker's metadata yet, so a missing topic is asked again until
        `timeout_s` before it counts as missing."""
        deadline = time.monotonic() + timeout_s
        while True:
            metadata = self._producer.list_topics(topic, timeout=timeout_s)
            info = metadata.topics.get(topic)
            if info is not None and info.error is None and info.partitions:
                return len(info.partitions)
            if time.monotonic() >= deadline:
                raise KafkaUnavailable(f"topic {topic} is missing on {self.settings.bootstrap}: "
                                       f"{info.error if info else 'no metadata'}")
            time.sleep(0.2)

    def send(self, topic: str, key: bytes | None, value: bytes, partition: int | None,
             on_delivery: DeliveryCallback) -> None:
        produce = self._producer.produce
        while True:
            try:
                if partition is None:
                    produce(topic, value, key, on_delivery=on_delivery)
                else:
                    produce(topic, value, key, partition, on_delivery=on_delivery)
                return
            except BufferError:
                self.waits += 1
                self._producer.poll(0.05)
                self._on_wait()

    def poll(self, timeout_s: float = 0.0) -> int:
        return self._producer.poll(timeout_s)

    def flush(self, timeout_s: float | None = None) -> int:
        """Wait for acks; returns how many messages are still unacknowledged."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            remaining = self._producer.flush(0.5)
            if remaining == 0 or (deadline is not None and time.monotonic() >= deadline):
                return remaining
            self._on_wait()

    def __len__(self) -> int:
        return len(self._producer)
