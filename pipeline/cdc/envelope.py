"""Change events in the Debezium envelope, serialised to JSON bytes.

The field names and meanings are Debezium's (`before`, `after`, `source`,
`op`, `ts_ms`, `transaction`), so Flink's `debezium-json` format and any
Debezium-aware tool read our topics. Additions: `schema_version` (moves when
a table's columns change) and microsecond timestamps (`ts_us`), which the
latency benchmark uses.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.cdc.pgoutput import format_lsn
from pipeline.cdc.watermarks import OP as WATERMARK_OP

CONNECTOR = "cdc-olap"
VERSION = "0.1.0"


@dataclass(frozen=True)
class Topics:
    prefix: str

    def table(self, schema: str, table: str) -> str:
        return f"{self.prefix}.{schema}.{table}"

    def facts(self, table: str) -> str:
        """Signed facts of a table in [cdc] signed_tables (pipeline/cdc/facts.py)."""
        return f"{self.prefix}.facts.{table}"

    @property
    def transaction(self) -> str:
        return f"{self.prefix}.transaction"

    @property
    def heartbeat(self) -> str:
        return f"{self.prefix}.heartbeat"


class EnvelopeWriter:
    """Builds events for one database; `source` blocks share a per-transaction template."""

    def __init__(self, server_name: str, database: str) -> None:
        self.server_name = server_name
        self.database = database

    def source(self, *, ts_us: int, txid: int | None, snapshot: str) -> dict[str, Any]:
        return {"version": VERSION, "connector": CONNECTOR, "name": self.server_name, "ts_ms": ts_us // 1000,
                "ts_us": ts_us, "snapshot": snapshot, "db": self.database, "schema": None, "table": None,
                "txId": txid, "lsn": None}

    @staticmethod
    def change(source: dict[str, Any], schema: str, table: str, lsn: int, op: str,
               before: dict | None, after: dict | None, schema_version: int,
               transaction: dict | None = None) -> bytes:
        now_us = time.time_ns() // 1000
        src = dict(source)
        src["schema"], src["table"], src["lsn"] = schema, table, lsn
        event = {"before": before, "after": after, "source": src, "op": op, "ts_ms": now_us // 1000,
                 "ts_us": now_us, "transaction": transaction, "schema_version": schema_version}
        return orjson.dumps(event)

    @staticmethod
    def key(key: dict[str, Any]) -> bytes:
        return orjson.dumps(key)

    @staticmethod
    def partition_key(kind: str, partition: int) -> bytes:
        """Key of a record that belongs to a partition rather than a row (a watermark record, a
        truncate), on compacted topics only: Kafka refuses a record without a key there, and with
        this one compaction keeps each partition's newest record of the kind, in place."""
        return orjson.dumps({kind: partition})

    def watermark_record(self, ts_us: int, lsn: int) -> bytes:
        """See pipeline/cdc/watermarks.py: no row, only the commit time and LSN it vouches for."""
        src = self.source(ts_us=ts_us, txid=None, snapshot="false")
        src["lsn"] = lsn
        now_us = time.time_ns() // 1000
        return orjson.dumps({"before": None, "after": None, "source": src, "op": WATERMARK_OP,
                             "ts_ms": now_us // 1000, "ts_us": now_us})

    @staticmethod
    def heartbeat_record(ts_us: int) -> bytes:
        return orjson.dumps({"ts_ms": ts_us // 1000})

    @staticmethod
    def transaction_record(status: str, txid: int, ts_us: int, lsn: int,
                           counts: dict[str, int] | None = None) -> bytes:
        """Debezium's transaction metadata: BEGIN, then END with per-table event counts."""
        record: dict[str, Any] = {"status": status, "id": f"{txid}:{lsn}", "ts_ms": ts_us // 1000,
                                  "lsn": format_lsn(lsn)}
        if counts is not None:
            record["event_count"] = sum(counts.values())
            record["data_collections"] = [{"data_collection": t, "event_count": n} for t, n in counts.items()]
        else:
            record["event_count"] = None
            record["data_collections"] = None
        return orjson.dumps(record)
