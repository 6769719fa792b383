"""A change event Kafka refuses for good: named precisely, then stopped on or dead-lettered.

Retrying such a record can never succeed (it is larger than the topic's
max.message.bytes, or invalid for it), so a reader that only retried would
crash-loop while the slot pins ever more WAL. `[cdc] on_rejected` decides:

- "stop": the reader halts with exit code 3 (supervisors must not restart on
  it: systemd `RestartPreventExitStatus=3`), the slot stays before the record,
  and the error names the table, key, LSN and the fix; `status` shows it.
- "dead-letter": a description of the record (reason, table, key, LSN, size,
  SHA-256 and the first bytes of the event) goes to the dead-letter topic in
  its place, and the alert dispatcher pages on-call from there. The row itself
  is still in Postgres under that key; nothing is dropped without a trace.

The reader refuses one change itself the same way: a truncate of a table with
signed facts (facts.py), which no fact can retract.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.cdc import facts
from pipeline.cdc.catalog import CdcError
from pipeline.cdc.pgoutput import format_lsn

HEAD_BYTES = 4096  # how much of the refused event the dead letter carries
EXIT_CODE = 3


@dataclass(frozen=True)
class Rejection:
    topic: str
    table: str
    key: Any
    lsn: int
    op: str
    txid: int | None
    reason: str  # Kafka's error name, e.g. MSG_SIZE_TOO_LARGE, or the reader's (facts.TRUNCATE_REFUSED)
    detail: str
    size_bytes: int
    value_sha256: str
    value_head: str
    refused_by: str = "Kafka"
    fix: str = ""  # what the operator does; empty: Kafka's refusal (error() says it)

    @classmethod
    def of(cls, topic: str, key: bytes | None, value: bytes, err) -> "Rejection":
        """From the record Kafka refused, with Kafka's error."""
        return cls.of_record(topic, key, value, err.name(), err.str())

    @classmethod
    def of_record(cls, topic: str, key: bytes | None, value: bytes, reason: str, detail: str, *,
                  refused_by: str = "Kafka", fix: str = "") -> "Rejection":
        """From the record itself: its envelope says table, LSN, op and transaction; a signed fact
        (facts.py) says the LSN and op of its change, and its topic names the table."""
        try:
            event = orjson.loads(value)
            source = event.get("source")
            if source is None and facts.LSN in event:
                table, lsn, op, txid = topic, int(event[facts.LSN]), str(event[facts.OP]), None
            else:
                source = source or {}
                table, lsn = f"{source.get('schema')}.{source.get('table')}", int(source.get("lsn") or 0)
                op, txid = str(event.get("op")), source.get("txId")
        except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
            table, lsn, op, txid = "?", 0, "?", None
        return cls(topic, table, orjson.loads(key) if key else None, lsn, op, txid, reason, detail, len(value),
                   hashlib.sha256(value).hexdigest(), value[:HEAD_BYTES].decode(errors="replace"), refused_by, fix)

    @property
    def identity(self) -> tuple[str, bytes, int, str]:
        """What recognises the same record when Postgres sends it again."""
        return self.topic, orjson.dumps(self.key), self.lsn, self.op

    def describe(self) -> str:
        return (f"{self.refused_by} refused the change of {self.table} key {orjson.dumps(self.key).decode()} at LSN "
                f"{format_lsn(self.lsn)} (op {self.op}, {self.size_bytes} bytes) for topic {self.topic}: "
                f"{self.reason} ({self.detail})")

    def error(self) -> "RecordRefused":
        fix = self.fix or (
            "raise the topic's max.message.bytes (kafka-configs.sh --alter --entity-type topics "
            f"--entity-name {self.topic} --add-config max.message.bytes=<bytes>) and [cdc] max_message_bytes, "
            "or shrink the row, then start the reader again; or set [cdc] on_rejected = 'dead-letter' to "
            "divert such records and go on. Kafka refuses whole batches: if this record is small, another "
            "record of its batch may be the cause (the broker's log names it, e.g. a record without a key "
            "on a compacted topic)")
        return RecordRefused(f"{self.describe()}. The slot was not moved past it (its WAL is kept). Fix: {fix}",
                             self)

    def dead_letter(self) -> bytes:
        return orjson.dumps({"reason": self.reason, "detail": self.detail, "topic": self.topic, "table": self.table,
                             "key": self.key, "lsn": self.lsn, "lsn_text": format_lsn(self.lsn), "op": self.op,
                             "txId": self.txid, "size_bytes": self.size_bytes, "value_sha256": self.value_sha256,
                             "value_head": self.value_head, "ts_ms": time.time_ns() // 1_000_000})


class RecordRefused(CdcError):
    """Raised in "stop" mode; the runner exits with EXIT_CODE."""

    def __init__(self, message: str, rejection: Rejection) -> None:
        super().__init__(message)
        self.rejection = rejection
