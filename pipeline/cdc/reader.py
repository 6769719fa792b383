"""The CDC reader: Postgres logical replication (pgoutput) -> Debezium-style events in Kafka.

Order of work: preflight checks, publication, topics, slot (and the initial
snapshot when the mode asks for one), then the stream. The only position that
matters is the slot's confirmed LSN, and it moves only past transactions whose
every event Kafka has acknowledged (`acks.AckTracker`), so kill -9 at any
moment loses nothing: Postgres resends the unacknowledged tail.
"""

from __future__ import annotations

import select
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psycopg

from pipeline import log
from pipeline.cdc import catalog, slot as slots
from pipeline.cdc import snapshot as snapshots
from pipeline.cdc.acks import AckTracker, PendingTransaction
from pipeline.cdc.catalog import CdcError, TableInfo
from pipeline.cdc.envelope import EnvelopeWriter, Topics
from pipeline.cdc.masking import masks_for_table
from pipeline.cdc.metrics import Metrics
from pipeline.cdc.pgoutput import (PG_EPOCH_US, Begin, Commit, Decoder, Delete, Insert, LogicalMessage, Origin,
                                   Relation, StreamAbort, StreamCommit, StreamStart, StreamStop, Truncate,
                                   TypeMessage, Update, format_lsn)
from pipeline.cdc.rows import RowCodec, TableShape, partition_column
from pipeline.cdc.state import ReaderState
from pipeline.cdc.typemap import SESSION_OPTIONS, TypeMap
from pipeline.cdc.watermarks import WatermarkClock
from pipeline.config import CdcConfig, PostgresConfig
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.producer import ChangeProducer, ProducerSettings

_log = log.get("cdc")
_XLOG = struct.Struct(">QQQ")
_KEEPALIVE = struct.Struct(">QQB")
_STATUS = struct.Struct(">cQQQqB")
STATUS_INTERVAL_S = 1.0
# pg_logical_emit_message(true, FENCE_PREFIX, id): once the reader reports the id as its fence,
# every transaction committed before it is in Kafka (used by tests, benchmarks and reconciliation).
FENCE_PREFIX = "cdc-olap.fence"


@dataclass
class _Table:
    codec: RowCodec
    topic: str
    partitions: int
    version: int


class Reader:
    def __init__(self, cdc: CdcConfig, pg: PostgresConfig, bootstrap: str, state_dir: Path,
                 metrics: Metrics | None = None) -> None:
        self.cdc, self.pg, self.bootstrap = cdc, pg, bootstrap
        self.topics = Topics(cdc.topic_prefix)
        self.state = ReaderState.load(state_dir / f"{pg.database}-{cdc.slot}.json")
        self.metrics = metrics or Metrics()
        self.stop_event = threading.Event()
        self.envelope = EnvelopeWriter(cdc.topic_prefix, pg.database)
        self.tracker = AckTracker(0)
        self.metrics.oldest_unacked_commit_us = self.tracker.oldest_commit_us
        self._streaming = False
        self._fence: tuple[str, PendingTransaction] | None = None
        self._tables: dict[str, _Table] = {}  # schema.table -> table
        self._by_relid: dict[int, _Table] = {}
        self._partitions: dict[str, int] = {}
        self._repl: psycopg.Connection | None = None
        self._last_status = 0.0
        self._txn: PendingTransaction | None = None
        self._watermarks = WatermarkClock(cdc.watermark_interval_ms / 1000)

    # ---- setup ----

    def _connect_replication(self) -> psycopg.Connection:
        try:
            return psycopg.connect(self.pg.dsn(), autocommit=True, replication="database", options=SESSION_OPTIONS)
        except psycopg.OperationalError as exc:
            if "replication" in str(exc) and ("permission" in str(exc) or "must be" in str(exc)):
                raise CdcError(f"role {self.pg.user} may not open replication connections: "
                               f"ALTER ROLE {self.pg.user} WITH REPLICATION; ({exc})") from None
            raise

    def prepare(self) -> list[TableInfo]:
        """Checks, publication, topics; everything that can fail with an operator-fixable error."""
        if self.cdc.mask and not self.cdc.mask_key:
            raise CdcError("[cdc] mask rules need an HMAC key: set CDC_OLAP_CDC_MASK_KEY from your secret store "
                           "(the local stack generates one)")
        self._catalog = psycopg.connect(self.pg.dsn(), autocommit=True, options=SESSION_OPTIONS)
        catalog.check_server(self._catalog, self.pg.user)
        infos = catalog.tables(self._catalog, self.cdc.schemas, self.cdc.tables, self.cdc.exclude_tables)
        if not infos:
            raise CdcError(f"no tables to capture in schemas {', '.join(self.cdc.schemas)}: "
                           "check [cdc] tables / schemas / exclude_tables")
        catalog.check_tables(infos, self.cdc.partition_by)
        slots.ensure_publication(self._catalog, self.cdc.publication, [i.shape.qualified for i in infos],
                                 create=self.cdc.create_publication)
        self.typemap = TypeMap(catalog.type_lookup(self._catalog))
        self.producer = ChangeProducer(
            ProducerSettings(self.bootstrap, self.cdc.linger_ms, self.cdc.batch_size, self.cdc.compression,
                             self.cdc.max_buffered_messages), on_wait=self._waiting_for_kafka)
        self.producer.check_reachable()
        table_topics = [self.topics.table(i.shape.schema, i.shape.name) for i in infos]
        ensure_topics(self.bootstrap, table_topics, self.cdc.partitions)
        extra = [self.topics.transaction] if self.cdc.transaction_topic else []
        extra += [self.topics.heartbeat] if self.cdc.heartbeat_interval_s > 0 else []
        if extra:
            ensure_topics(self.bootstrap, extra, 1)
        for info in infos:
            self._table_for(info.shape)
        return infos

    def _table_for(self, shape: TableShape) -> _Table:
        current = self._tables.get(shape.qualified)
        if current is not None and current.codec.shape == shape:
            return current
        topic = self.topics.table(shape.schema, shape.name)
        if topic not in self._partitions:
            self._partitions[topic] = self.producer.partitions(topic)
        column = partition_column(self.cdc.partition_by, shape)
        codec = RowCodec(shape, self.typemap, masks_for_table(self.cdc.mask, shape.schema, shape.name,
                                                              self.cdc.mask_key or ""), column)
        version = self.state.schema_version(shape.qualified, shape.fingerprint)
        if current is not None:
            _log.info("cdc.schema_change", table=shape.qualified, schema_version=version,
                      columns=",".join(shape.columns))
        table = _Table(codec, topic, self._partitions[topic], version)
        self._tables[shape.qualified] = table
        return table

    # ---- the run ----

    def run(self) -> None:
        infos = self.prepare()
        self._repl = self._connect_replication()
        start_lsn = self._position(infos)
        self._stream(start_lsn)

    def _position(self, infos: list[TableInfo]) -> int:
        """Find or create the slot; take the snapshot the mode asks for; return where streaming starts."""
        mode, progress = self.cdc.snapshot_mode, self.state.snapshot
        info = slots.slot_info(self._catalog, self.cdc.slot)
        if info is not None:
            slots.check_slot(info, self.pg.database)
            if info.invalidated:
                if mode != "when_needed":
                    raise CdcError(
                        f"replication slot {self.cdc.slot} was invalidated (Postgres removed WAL it still needed, "
                        "see max_slot_wal_keep_size): changes since the last confirmed position are gone. Re-snapshot "
                        f"with [cdc] snapshot_mode = 'when_needed', or drop the slot and start over")
                _log.warning("cdc.slot_invalidated", slot=self.cdc.slot, action="drop and re-snapshot")
                slots.drop_slot(self._catalog, self.cdc.slot)
                info = None
        if info is None:
            if not self.cdc.create_slot:
                raise CdcError(f"replication slot {self.cdc.slot} does not exist: create it "
                               f"(SELECT pg_create_logical_replication_slot('{self.cdc.slot}', 'pgoutput')) "
                               "or set [cdc] create_slot = true")
            if progress.status != "none" and mode == "initial":
                raise CdcError(
                    f"replication slot {self.cdc.slot} is gone but this reader already streamed from it "
                    f"(state {self.state.path}): changes may be missing. Use snapshot_mode = 'when_needed' to "
                    "re-snapshot, or delete the state file to start over")
            want_snapshot = mode != "never"
            created = slots.create_slot(self._repl, self.cdc.slot, export_snapshot=want_snapshot)
            _log.info("cdc.slot_created", slot=self.cdc.slot, consistent_point=format_lsn(created.consistent_point))
            if want_snapshot:
                self.state.reset()
                self.state.snapshot.status, self.state.snapshot.lsn = "running", created.consistent_point
                self.state.save()
                self._snapshot(infos, created.snapshot_name, created.consistent_point)
            else:
                self.state.snapshot.status = "done"
                self.state.save()
            return created.consistent_point
        start = info.confirmed_flush_lsn or 0
        if progress.status == "running" or (progress.status == "none" and mode in ("initial", "when_needed")
                                            and not self.state.exists):
            # A snapshot that crashed half way, or a slot made by someone else: read the rest now.
            if progress.status != "running":
                progress.status, progress.lsn = "running", start
            self._snapshot(infos, None, progress.lsn or start)
        return start

    def _snapshot(self, infos: list[TableInfo], exported: str | None, lsn: int) -> None:
        self.metrics.phase = "snapshot"
        source = self.envelope.source(ts_us=time.time_ns() // 1000, txid=None, snapshot="true")
        started = time.monotonic()

        def emit(info: TableInfo, values: tuple) -> None:
            table = self._tables[info.shape.qualified]
            self._send(table, source, lsn, "r", None, values)

        def flush() -> None:
            self.producer.flush()
            self._fail_if_delivery_failed()
            self.metrics.phase = "snapshot"

        txn = self.tracker.begin(time.time_ns() // 1000)  # the snapshot is one "transaction" for acknowledgement purposes
        self._txn = txn
        rows = snapshots.take(self.pg.dsn(), infos, self.state, emit, flush, exported_snapshot=exported,
                              fetch_rows=self.cdc.snapshot_fetch_rows, on_row=self._count_snapshot_row)
        self.tracker.commit(txn, lsn)
        self._txn = None
        self.state.snapshot.status = "done"
        self.state.save()
        seconds = time.monotonic() - started
        _log.info("cdc.snapshot_done", rows=rows, seconds=round(seconds, 1),
                  rows_per_s=round(rows / seconds) if seconds else 0)

    def _count_snapshot_row(self) -> None:
        self.metrics.snapshot_rows += 1

    # ---- streaming ----

    def _stream(self, start_lsn: int) -> None:
        cdc = self.cdc
        self.tracker.confirmed_lsn = max(self.tracker.confirmed_lsn, start_lsn)
        self.metrics.confirmed_lsn = self.tracker.confirmed_lsn
        repl = self._repl
        repl.execute(f"START_REPLICATION SLOT {cdc.slot} LOGICAL {format_lsn(start_lsn)} "
                     f"(proto_version '1', publication_names '{cdc.publication}', messages 'true')")
        self.metrics.phase = "streaming"
        self._streaming = True
        _log.info("cdc.streaming", slot=cdc.slot, start_lsn=format_lsn(start_lsn), tables=len(self._tables))
        pgconn = repl.pgconn
        sock = pgconn.socket
        decoder = Decoder()
        handlers = {Begin: self._on_begin, Commit: self._on_commit, Relation: self._on_relation,
                    Insert: self._on_insert, Update: self._on_update, Delete: self._on_delete,
                    Truncate: self._on_truncate, TypeMessage: self._on_type, Origin: _ignore,
                    LogicalMessage: self._on_message, StreamStart: _unexpected, StreamStop: _unexpected,
                    StreamCommit: _unexpected, StreamAbort: _unexpected}
        metrics = self.metrics
        produced = 0
        last_beat = time.monotonic()
        while not self.stop_event.is_set():
            nbytes, data = pgconn.get_copy_data(1)
            if nbytes == 0:
                self._housekeeping()
                self._send_watermarks()
                if cdc.heartbeat_interval_s > 0 and time.monotonic() - last_beat > cdc.heartbeat_interval_s:
                    self._heartbeat()
                    last_beat = time.monotonic()
                if select.select([sock], [], [], 0.05)[0]:
                    pgconn.consume_input()
                continue
            if nbytes < 0:
                result = pgconn.get_result()
                message = result.error_message.decode(errors="replace") if result else "server ended the stream"
                raise CdcError(f"replication stream ended: {message.strip()}")
            kind = data[0]
            if kind == 119:  # 'w' XLogData
                wal_start = _XLOG.unpack_from(data, 1)[0]
                message = decoder.decode(bytes(data[25:]))
                handlers[type(message)](message, wal_start)
                if wal_start > metrics.received_lsn:
                    metrics.received_lsn = wal_start
                produced += 1
                if produced % 2000 == 0:
                    self._housekeeping()
            elif kind == 107:  # 'k' primary keepalive
                wal_end, _, reply = _KEEPALIVE.unpack_from(data, 1)
                metrics.server_lsn = max(metrics.server_lsn, wal_end)
                self._housekeeping(force=bool(reply))

    def _housekeeping(self, force: bool = False) -> None:
        self.metrics.phase = "streaming"
        self.producer.poll(0)
        self._fail_if_delivery_failed()
        if self._fence is not None and self._fence[1].end_lsn is not None \
                and self.tracker.confirmed_lsn >= self._fence[1].end_lsn:
            self.metrics.fence = self._fence[0]
            self._fence = None
        now = time.monotonic()
        if force or now - self._last_status >= STATUS_INTERVAL_S:
            self._send_status()
            self._last_status = now

    def _send_status(self) -> None:
        tracker, metrics = self.tracker, self.metrics
        if self._txn is None and tracker.idle() and metrics.server_lsn > tracker.confirmed_lsn:
            # Nothing in flight: everything before the server's position was sent and acknowledged
            # (or is outside the publication), so the slot may move on and release WAL.
            tracker.confirmed_lsn = metrics.server_lsn
        lsn = tracker.confirmed_lsn
        metrics.confirmed_lsn = lsn
        now_pg = time.time_ns() // 1000 - PG_EPOCH_US
        self._repl.pgconn.put_copy_data(_STATUS.pack(b"r", max(lsn, metrics.received_lsn), lsn, lsn, now_pg, 0))
        self._repl.pgconn.flush()

    def _waiting_for_kafka(self) -> None:
        """Called while the producer's buffer is full (Kafka slow or down): keep the replication
        connection alive, read no more WAL, and give up only when asked to stop."""
        self.metrics.phase = "waiting_for_kafka"
        self._fail_if_delivery_failed()
        if self.stop_event.is_set():
            raise Stopped()
        now = time.monotonic()
        if self._streaming and now - self._last_status >= STATUS_INTERVAL_S:
            self._send_status()
            self._last_status = now

    def _fail_if_delivery_failed(self) -> None:
        if self.tracker.failed is not None:
            raise CdcError(f"Kafka rejected a change event: {self.tracker.failed}; the slot was not moved past it, "
                           "so a restart resends it")

    # ---- message handlers ----

    def _on_begin(self, msg: Begin, lsn: int) -> None:
        self._txn = self.tracker.begin(msg.commit_ts_us)
        self._xid, self._final_lsn = msg.xid, msg.final_lsn
        self._source = self.envelope.source(ts_us=msg.commit_ts_us, txid=msg.xid, snapshot="false")
        self._counts: Counter = Counter()
        self._order = 0
        self.metrics.last_commit_us = msg.commit_ts_us
        if self.cdc.transaction_topic:
            self.producer.send(self.topics.transaction, None, self.envelope.transaction_record(
                "BEGIN", msg.xid, msg.commit_ts_us, msg.final_lsn), 0, self._txn.acked)
            self._txn.sent()

    def _on_commit(self, msg: Commit, lsn: int) -> None:
        txn = self._txn
        if self.cdc.transaction_topic:
            self.producer.send(self.topics.transaction, None, self.envelope.transaction_record(
                "END", self._xid, msg.commit_ts_us, self._final_lsn, dict(self._counts)), 0, txn.acked)
            txn.sent()
        self._txn = None
        self.tracker.commit(txn, msg.end_lsn)
        self.metrics.transactions += 1
        self._watermarks.committed(msg.commit_ts_us, msg.end_lsn)
        self._send_watermarks()

    def _on_relation(self, msg: Relation, lsn: int) -> None:
        key = catalog.primary_key(self._catalog, msg.namespace, msg.name) or tuple(
            c.name for c in msg.columns if c.flags & 1)
        shape = TableShape(msg.namespace, msg.name, tuple(c.name for c in msg.columns),
                           tuple(c.type_oid for c in msg.columns), tuple(c.type_modifier for c in msg.columns), key)
        self._by_relid[msg.relid] = self._table_for(shape)

    def _on_type(self, msg: TypeMessage, lsn: int) -> None:
        self.typemap.forget(msg.oid)

    def _on_message(self, msg: LogicalMessage, lsn: int) -> None:
        if msg.prefix == FENCE_PREFIX and self._txn is not None:
            self._fence = (msg.content.decode(errors="replace"), self._txn)

    def _on_insert(self, msg: Insert, lsn: int) -> None:
        self._send(self._by_relid[msg.relid], self._source, lsn, "c", None, msg.new)

    def _on_update(self, msg: Update, lsn: int) -> None:
        table = self._by_relid[msg.relid]
        if msg.old_kind == "K":
            # The key changed: like Debezium, a delete of the old key and a create of the new one.
            self._send(table, self._source, lsn, "d", msg.old, None)
            self._send(table, self._source, lsn, "c", None, msg.new)
            return
        self._send(table, self._source, lsn, "u", msg.old, msg.new)

    def _on_delete(self, msg: Delete, lsn: int) -> None:
        self._send(self._by_relid[msg.relid], self._source, lsn, "d", msg.old, None)

    def _on_truncate(self, msg: Truncate, lsn: int) -> None:
        if not self.cdc.emit_truncate:
            return
        for relid in msg.relids:
            table = self._by_relid.get(relid)
            if table is None:
                continue
            shape = table.codec.shape
            value = self.envelope.change(self._source, shape.schema, shape.name, lsn, "t", None, None, table.version)
            # No key orders a truncate against a table's rows, so every partition gets it, in place.
            for partition in range(table.partitions):
                self.producer.send(table.topic, None, value, partition, self._txn.acked)
                self._txn.sent()
            self._counts[shape.qualified] += 1

    def _send(self, table: _Table, source: dict, lsn: int, op: str, old: tuple | None, new: tuple | None) -> None:
        codec = table.codec
        shape = codec.shape
        before = codec.row(old) if old is not None else None
        after = codec.row(new, old) if new is not None else None
        ident = new if new is not None else old
        transaction = None
        if op != "r" and self.cdc.transaction_topic:
            self._order += 1
            counts = self._counts
            counts[shape.qualified] += 1
            transaction = {"id": f"{self._xid}:{self._final_lsn}", "total_order": self._order,
                           "data_collection_order": counts[shape.qualified]}
        value = self.envelope.change(source, shape.schema, shape.name, lsn, op, before, after, table.version,
                                     transaction)
        key = self.envelope.key(codec.key(ident))
        self.producer.send(table.topic, key, value, codec.partition(ident, table.partitions), self._txn.acked)
        self._txn.sent()
        metrics = self.metrics
        metrics.events += 1
        metrics.bytes += len(value)
        metrics.last_event_at = time.time()

    def _send_watermarks(self) -> None:
        """A watermark record in every partition of every table topic, when one is due (watermarks.py).
        Not acknowledged through the tracker: a lost one only delays consumers until the next."""
        due = self._watermarks.due()
        if due is None:
            return
        value = self.envelope.watermark_record(*due)
        for topic, partitions in self._partitions.items():
            for partition in range(partitions):
                self.producer.send(topic, None, value, partition, _no_ack)
        self.metrics.watermarks += 1

    def _heartbeat(self) -> None:
        txn = self.tracker.begin(time.time_ns() // 1000)
        value = self.envelope.heartbeat_record(time.time_ns() // 1000)
        self.producer.send(self.topics.heartbeat, None, value, 0, txn.acked)
        txn.sent()
        self.tracker.commit(txn, self.tracker.confirmed_lsn)

    # ---- shutdown ----

    def close(self, timeout_s: float = 10.0) -> None:
        """Flush what Kafka will still take, confirm it, and let go of the slot."""
        try:
            if hasattr(self, "producer"):
                self.producer.flush(timeout_s)
            if self._streaming and self._repl is not None and not self._repl.closed:
                self.producer.poll(0)
                try:
                    self._send_status()
                except psycopg.Error:
                    pass
        finally:
            for conn in (self._repl, getattr(self, "_catalog", None)):
                if conn is not None:
                    conn.close()
            self.metrics.phase = "stopped"


class Stopped(Exception):
    """Raised inside a blocked send when a stop was requested."""


def _no_ack(err, msg) -> None:
    """Delivery of a watermark record: nothing waits for it (the producer retries it like any other)."""


def _ignore(msg, lsn: int) -> None:
    pass


def _unexpected(msg, lsn: int) -> None:
    raise CdcError(f"pgoutput sent {type(msg).__name__}, a protocol v2 streaming message, although the reader "
                   "asked for protocol 1")
