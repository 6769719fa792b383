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

from confluent_kafka import KafkaError, KafkaException, Producer

DeliveryCallback = Callable[[object, object], None]

# Errors after which retrying the same record can never succeed: the record itself is wrong for
# this topic (too large, invalid), or the producer may not write there. Everything else (brokers
# down, leader moves, timeouts) is transient and is waited out.
_PERMANENT = {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_MSG_SIZE, KafkaError.INVALID_MSG,
              KafkaError.INVALID_RECORD, KafkaError.RECORD_LIST_TOO_LARGE, KafkaError.TOPIC_AUTHORIZATION_FAILED,
              KafkaError.INVALID_REQUIRED_ACKS, KafkaError.POLICY_VIOLATION}


def is_permanent(err) -> bool:
    """True for a delivery error that no retry fixes (see _PERMANENT)."""
    return err is not None and err.code() in _PERMANENT


class KafkaUnavailable(RuntimeError):
    """The brokers cannot be reached; the message says which bootstrap servers and what to check."""


class RecordRejected(RuntimeError):
    """Kafka (or the client, before sending) refused one record for good; `err` is the KafkaError."""

    def __init__(self, topic: str, err) -> None:
        super().__init__(f"{topic}: {err.name()} ({err.str()})")
        self.topic, self.err = topic, err


class TransactionAborted(RuntimeError):
    """The open Kafka transaction could not commit and was (or must be) aborted: nothing in it is
    visible to read_committed consumers. The caller resends its contents."""


class Fenced(RuntimeError):
    """Another producer with the same transactional.id started: this one must stop (two readers on
    one slot). Not retryable."""


@dataclass(frozen=True)
class ProducerSettings:
    bootstrap: str
    linger_ms: int = 5
    batch_size: int = 1_000_000
    compression: str = "lz4"
    max_buffered_messages: int = 200_000
    client_id: str = "cdc-olap"
    # Set: exactly-once mode (Kafka transactions, pipeline/cdc/transactions.py); None: at-least-once.
    transactional_id: str | None = None
    # Longest a Kafka transaction may stay open (the broker caps it with transaction.max.timeout.ms);
    # one Postgres transaction, or the initial snapshot, must fit in it.
    transaction_timeout_ms: int = 900_000
    max_message_bytes: int = 1_000_000


class ChangeProducer:
    """Ordered, idempotent, acks=all. `send` blocks (serving callbacks) while the local buffer is
    full, which is the reader's backpressure: it stops reading WAL, and the slot keeps it.

    With a transactional id, records are written inside Kafka transactions (`begin`/`commit`);
    read_committed consumers see a transaction's records only once it commits, and never see an
    aborted one."""

    def __init__(self, settings: ProducerSettings, on_wait: Callable[[], None] | None = None) -> None:
        self.settings = settings
        self._on_wait = on_wait or (lambda: None)
        conf = {
            "bootstrap.servers": settings.bootstrap,
            "client.id": settings.client_id,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": settings.linger_ms,
            "batch.size": settings.batch_size,
            "compression.type": settings.compression,
            "queue.buffering.max.messages": settings.max_buffered_messages,
            "queue.buffering.max.kbytes": 512 * 1024,
            "message.max.bytes": settings.max_message_bytes,
            # Kafka down: keep retrying forever rather than drop; the slot holds the WAL meanwhile.
            "message.timeout.ms": 0,
            "socket.keepalive.enable": True,
        }
        if settings.transactional_id:
            # Inside a transaction a record may not outlive it: librdkafka bounds message.timeout.ms by
            # transaction.timeout.ms. A timed-out record aborts the transaction, which is then resent.
            conf.update({"transactional.id": settings.transactional_id,
                         # Retries back off from 5 ms (exponentially, up to librdkafka's 1 s): a
                         # transaction's requests are on the latency path of every change in it.
                         "retry.backoff.ms": 5,
                         "transaction.timeout.ms": settings.transaction_timeout_ms,
                         "message.timeout.ms": settings.transaction_timeout_ms})
        self._producer = Producer(conf)
        self.waits = 0
        self.in_transaction = False

    # ---- transactions (exactly-once mode) ----

    def init_transactions(self, timeout_s: float = 30.0) -> None:
        """Register the transactional id: fences any older producer with the same id and aborts
        whatever transaction it left open. Waits (calling on_wait) while Kafka is unreachable."""
        while True:
            try:
                self._producer.init_transactions(timeout_s)
                return
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal():
                    raise Fenced(f"Kafka refused transactional id {self.settings.transactional_id}: {err.str()}") \
                        from None
                if not err.retriable():
                    raise KafkaUnavailable(f"Kafka at {self.settings.bootstrap} refused transactions "
                                           f"({err.str()}): the brokers must support them (Kafka >= 0.11, "
                                           "transaction.state.log.* set), or use [cdc] delivery = "
                                           "'at-least-once'") from None
                self._on_wait()

    def begin(self) -> None:
        self._producer.begin_transaction()
        self.in_transaction = True

    def commit(self, step_s: float = 1.0) -> None:
        """Commit the open transaction, calling on_wait between bounded attempts while Kafka is slow
        or away. Raises TransactionAborted when it cannot commit (it is then aborted), Fenced when
        another producer took over."""
        while True:
            try:
                self._producer.commit_transaction(step_s)
                self.in_transaction = False
                return
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal():
                    raise Fenced(f"transactional producer fenced or failed: {err.str()}") from None
                if err.txn_requires_abort():
                    self.abort()
                    raise TransactionAborted(err.str()) from None
                self._on_wait()  # retriable (timed out): the commit is still under way, ask again

    def abort(self, step_s: float = 1.0, timeout_s: float | None = None) -> bool:
        """Abort the open transaction (waiting while Kafka is away); its records are never visible.
        With a timeout (shutting down), give up after it and return False: the next producer with
        this transactional id aborts the transaction when it starts (init_transactions)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            if deadline is not None and time.monotonic() > deadline:
                return False
            try:
                self._producer.abort_transaction(step_s)
                self.in_transaction = False
                return True
            except KafkaException as exc:
                err = exc.args[0]
                if err.fatal():
                    raise Fenced(f"transactional producer fenced or failed: {err.str()}") from None
                if err.code() == KafkaError._STATE:
                    self.in_transaction = False  # nothing open
                    return True
                if deadline is None:
                    self._on_wait()

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
            except KafkaException as exc:
                err = exc.args[0]
                if is_permanent(err):
                    raise RecordRejected(topic, err) from None
                if self.in_transaction and err.code() == KafkaError._STATE:
                    # The open transaction already failed (a record refused, a timeout): it can only abort.
                    raise TransactionAborted(err.str()) from None
                raise
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
