"""The CDC reader: Postgres logical replication (pgoutput) -> Debezium-style events in Kafka.

Order of work: preflight checks, publication, topics, slot (and the initial
snapshot when the mode asks for one), then the stream. The slot's confirmed
LSN moves only past transactions Kafka holds, so kill -9 at any moment loses
nothing: Postgres resends the rest.

Two delivery modes ([cdc] delivery):
- exactly-once (default): events are written in Kafka transactions that end
  with the reader's checkpoint (transactions.py, checkpoint.py). Confirmed to
  Postgres after the Kafka commit; at start the newest committed checkpoint
  says which resent Postgres transactions Kafka already has, and those are
  skipped. A transaction Kafka could not commit (Kafka away past the timeout,
  a refused record to divert) is aborted and read again from the slot.
- at-least-once: plain idempotent producer; the slot moves past transactions
  whose every event Kafka acknowledged (acks.AckTracker); after a crash the
  unacknowledged tail may reach Kafka twice, with the same (table, key, lsn).
"""

from __future__ import annotations

import select
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import orjson
import psycopg

from pipeline import log
from pipeline.cdc import catalog, facts, slot as slots
from pipeline.cdc import snapshot as snapshots
from pipeline.cdc import checkpoint as checkpoints
from pipeline.cdc.acks import AckTracker, PendingTransaction
from pipeline.cdc.catalog import CdcError, TableInfo
from pipeline.cdc.checkpoint import Checkpoint
from pipeline.cdc.envelope import EnvelopeWriter, Topics
from pipeline.cdc.facts import SignedFacts
from pipeline.cdc.masking import masks_for_table
from pipeline.cdc.metrics import Metrics
from pipeline.cdc.pgoutput import (PG_EPOCH_US, Begin, Commit, Decoder, Delete, Insert, LogicalMessage, Origin,
                                   Relation, StreamAbort, StreamCommit, StreamStart, StreamStop, Truncate,
                                   TypeMessage, Update, format_lsn)
from pipeline.cdc.rejections import Rejection
from pipeline.cdc.rows import RowCodec, TableShape, partition_column
from pipeline.cdc.state import ReaderState
from pipeline.cdc.transactions import KafkaTransactions
from pipeline.cdc.typemap import SESSION_OPTIONS, TypeMap
from pipeline.cdc.watermarks import WatermarkClock
from pipeline.config import CdcConfig, KafkaConfig, PostgresConfig
from pipeline.kafka.admin import TopicSpec, ensure, topic_configs
from pipeline.kafka.producer import (ChangeProducer, ProducerSettings, RecordRejected, TransactionAborted,
                                     is_permanent)

_log = log.get("cdc")
_XLOG = struct.Struct(">QQQ")
_KEEPALIVE = struct.Struct(">QQB")
_STATUS = struct.Struct(">cQQQqB")
STATUS_INTERVAL_S = 1.0
_BATCH_OVERHEAD = 1024  # bytes a record batch adds around its records, with room to spare
# pg_logical_emit_message(true, FENCE_PREFIX, id): once the reader reports the id as its fence,
# every transaction committed before it is in Kafka (used by tests, benchmarks and reconciliation).
FENCE_PREFIX = "cdc-olap.fence"


@dataclass
class _Table:
    codec: RowCodec
    topic: str
    partitions: int
    version: int
    facts: SignedFacts | None = None  # a table in [cdc] signed_tables: its facts and their topic


class _Rewind(Exception):
    """The open Kafka transaction was aborted: read again from the slot's confirmed position."""


class Reader:
    def __init__(self, cdc: CdcConfig, pg: PostgresConfig, kafka: KafkaConfig, state_dir: Path,
                 metrics: Metrics | None = None) -> None:
        self.cdc, self.pg, self.kafka_config, self.bootstrap = cdc, pg, kafka, kafka.bootstrap
        self.exactly_once = cdc.delivery == "exactly-once"
        self.topics = Topics(cdc.topic_prefix)
        self.state = ReaderState.load(ReaderState.path_for(state_dir, pg.database, cdc.slot))
        self.metrics = metrics or Metrics()
        self.metrics.delivery = cdc.delivery
        self.stop_event = threading.Event()
        self.envelope = EnvelopeWriter(cdc.topic_prefix, pg.database)
        self.tracker = AckTracker(0)
        self.confirmed_lsn = 0  # what the slot may be told: every change before it is in Kafka
        self.kafka: KafkaTransactions | None = None  # exactly-once mode, after prepare()
        self.metrics.oldest_unacked_commit_us = self._oldest_pending_commit_us
        self.dead_letter_topic = cdc.dead_letters
        self._divert: dict[tuple, Rejection] = {}  # refused in an aborted transaction: dead-letter on the resend
        self._skipping = False  # the Postgres transaction being received is already in Kafka
        self._sent_upto = 0  # WAL end the server reported in a keepalive on the current connection
        self._streaming = False
        self._fence: tuple[str, PendingTransaction] | None = None
        self._tables: dict[str, _Table] = {}  # schema.table -> table
        self._by_relid: dict[int, _Table] = {}
        self._partitions: dict[str, int] = {}
        self._watermark_topics: dict[str, int] = {}  # topic -> partitions, for watermark records
        self._compacted: set[str] = set()  # compacted table topics: records without a row need a key there
        self._repl: psycopg.Connection | None = None
        self._last_status = 0.0
        self._txn: PendingTransaction | None = None
        self._watermarks = WatermarkClock(cdc.watermark_interval_ms / 1000)

    # ---- setup ----

    def _connect_replication(self) -> psycopg.Connection:
        return slots.connect_replication(self.pg, SESSION_OPTIONS)

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
        facts.check_tables(infos, self.cdc.signed_tables, self.exactly_once)
        slots.ensure_publication(self._catalog, self.cdc.publication, [i.shape.qualified for i in infos],
                                 create=self.cdc.create_publication)
        self.typemap = TypeMap(catalog.type_lookup(self._catalog))
        cdc = self.cdc
        ensure(self.bootstrap, self._topic_specs(infos))
        batch_size = self._learn_topics(infos)
        self.producer = ChangeProducer(
            ProducerSettings(self.bootstrap, cdc.linger_ms, batch_size, cdc.compression,
                             cdc.max_buffered_messages,
                             transactional_id=f"cdc-olap.{self.pg.database}.{cdc.slot}" if self.exactly_once else None,
                             transaction_timeout_ms=cdc.transaction_timeout_ms,
                             max_message_bytes=cdc.max_message_bytes),
            on_wait=self._waiting_for_kafka)
        self.producer.check_reachable()
        if self.exactly_once:
            # Fences an older reader of this slot and aborts what it left open.
            self.producer.init_transactions()
        for info in infos:
            self._table_for(info.shape)
        return infos

    def _topic_specs(self, infos: list[TableInfo]) -> list[TopicSpec]:
        """Every topic this reader writes, with its policy: reference tables compacted (a late
        consumer still finds every current row), the rest kept for retention_ms."""
        cdc, replication = self.cdc, self.kafka_config.replication_factor
        common = {"min.insync.replicas": str(self.kafka_config.min_insync_replicas)}
        retained = {"cleanup.policy": "delete", "retention.ms": str(cdc.retention_ms)}
        specs = []
        for info in infos:
            policy = {"cleanup.policy": "compact"} if info.shape.name in cdc.compacted_tables else retained
            specs.append(TopicSpec(self.topics.table(info.shape.schema, info.shape.name), cdc.partitions,
                                   replication, {**common, **policy, **cdc.topic_config}))
            if info.shape.name in cdc.signed_tables:  # facts are a log: never compacted
                specs.append(TopicSpec(self.topics.facts(info.shape.name), cdc.partitions, replication,
                                       {**common, **cdc.topic_config, **retained}))
        one = [self.topics.transaction] if cdc.transaction_topic else []
        one += [self.topics.heartbeat] if cdc.heartbeat_interval_s > 0 else []
        one += [self.dead_letter_topic] if cdc.on_rejected == "dead-letter" else []
        specs += [TopicSpec(name, 1, replication, dict(common)) for name in one]
        if self.exactly_once:
            specs.append(checkpoints.topic_spec(cdc.topic_prefix, replication, common))
        return specs

    def _learn_topics(self, infos: list[TableInfo]) -> int:
        """What the brokers say of the table topics (whoever made them), and the producer batch size.

        Compacted topics refuse a record without a key, so watermark records and truncates carry a
        partition key there (envelope.partition_key). And Kafka judges `max.message.bytes` per
        record batch: batches kept below the smallest topic limit mean a refusal is always one
        record's own (a batch of small records over the limit would be refused whole, innocent
        records with it)."""
        names = [self.topics.table(i.shape.schema, i.shape.name) for i in infos]
        names += [self.topics.facts(i.shape.name) for i in infos if i.shape.name in self.cdc.signed_tables]
        configs = topic_configs(self.bootstrap, names) if names else {}
        self._compacted = {name for name, c in configs.items() if "compact" in c.get("cleanup.policy", "")}
        limits = [int(c["max.message.bytes"]) for c in configs.values() if c.get("max.message.bytes", "").isdigit()]
        return max(1024, min([self.cdc.batch_size] + [limit - _BATCH_OVERHEAD for limit in limits]))

    def _table_for(self, shape: TableShape) -> _Table:
        current = self._tables.get(shape.qualified)
        if current is not None and current.codec.shape == shape:
            return current
        topic = self.topics.table(shape.schema, shape.name)
        column = partition_column(self.cdc.partition_by, shape)
        codec = RowCodec(shape, self.typemap, masks_for_table(self.cdc.mask, shape.schema, shape.name,
                                                              self.cdc.mask_key or ""), column)
        signed = None
        if shape.name in self.cdc.signed_tables:
            signed = SignedFacts.of(codec, self.topics.facts(shape.name))
            facts.check_partitions(signed.topic, self._partition_count(signed.topic), topic,
                                   self._partition_count(topic))
        version = self.state.schema_version(shape.qualified, shape.fingerprint)
        if current is not None:
            _log.info("cdc.schema_change", table=shape.qualified, schema_version=version,
                      columns=",".join(shape.columns))
        table = _Table(codec, topic, self._partition_count(topic), version, signed)
        self._tables[shape.qualified] = table
        if shape.name in self.cdc.watermark_tables:
            self._watermark_topics[topic] = table.partitions
        return table

    def _partition_count(self, topic: str) -> int:
        """The brokers' partition count of a topic this reader writes, asked once."""
        if topic not in self._partitions:
            self._partitions[topic] = self.producer.partitions(topic)
        return self._partitions[topic]

    # ---- the run ----

    def run(self) -> None:
        infos = self.prepare()
        self._repl = self._connect_replication()
        if self.exactly_once:
            self._recover_checkpoint()
        start_lsn = self._position(infos)
        while True:
            try:
                self._stream(start_lsn)
                return
            except (_Rewind, TransactionAborted) as why:
                start_lsn = self._rewind(str(why))

    def _rewind(self, why: str) -> int:
        """Abort the open Kafka transaction and restart replication at the confirmed LSN: Postgres
        sends every transaction after it again, and the checkpoint skips what Kafka already has."""
        self.producer.poll(0)
        self._handle_delivery_failures(inside_wait=True)  # a refused record: stop, or divert on the resend
        self.kafka.abort()
        self.metrics.rewinds += 1
        _log.warning("cdc.rewind", reason=why, restart_lsn=format_lsn(self.confirmed_lsn))
        if self._repl is not None and not self._repl.closed:
            self._repl.close()
        self._repl = self._connect_replication()
        self._wait_for_slot_release()
        self.tracker = AckTracker(self.confirmed_lsn)
        self._txn, self._skipping, self._streaming = None, False, False
        self._sent_upto = 0  # the old connection's keepalives say nothing about what the new one resends
        self._watermarks = WatermarkClock(self.cdc.watermark_interval_ms / 1000)
        return self.confirmed_lsn

    def _recover_checkpoint(self) -> None:
        """What Kafka already holds, from the newest committed checkpoint of this (database, slot).
        LSNs only mean something on the server that wrote them: a checkpoint of another server (a
        restored or replaced cluster under the same names) is ignored, loudly."""
        cdc = self.cdc
        system_id = str(self._repl.execute("IDENTIFY_SYSTEM").fetchone()[0])
        found = checkpoints.read_latest(self.bootstrap, cdc.topic_prefix, self.pg.database, cdc.slot)
        if found is not None and found.system_id not in (None, system_id):
            _log.warning("cdc.kafka_checkpoint_foreign", checkpoint_system=found.system_id, server_system=system_id,
                         action="ignored: it describes another Postgres cluster")
            found = None
        self.kafka = KafkaTransactions(self.producer, checkpoints.topic(cdc.topic_prefix),
                                       checkpoints.key(self.pg.database, cdc.slot),
                                       cdc.transaction_interval_ms / 1000, cdc.transaction_max_events,
                                       found or Checkpoint(system_id=system_id), system_id)
        self.metrics.kafka_commits = lambda: (self.kafka.commits, self.kafka.commit_seconds)
        _log.info("cdc.kafka_checkpoint", found=found is not None, end_lsn=format_lsn(found.end_lsn) if found else "-",
                  snapshot_done=found.snapshot_done if found else False)

    def _wait_for_slot_release(self, timeout_s: float = 30.0) -> None:
        """The previous connection's walsender lets go of the slot a moment after the close."""
        deadline = time.monotonic() + timeout_s
        while (info := slots.slot_info(self._catalog, self.cdc.slot)) is not None and info.active_pid is not None:
            if time.monotonic() > deadline:
                raise CdcError(f"replication slot {self.cdc.slot} still in use {timeout_s:.0f}s after the reader "
                               "closed its connection: another process streams from it")
            time.sleep(0.05)

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
            elif self.kafka is not None and progress.status == "running" and not self.kafka.committed.snapshot_done \
                    and self.cdc.create_slot:
                # Exactly-once: the interrupted snapshot was one Kafka transaction that never
                # committed, so none of it is visible. Take it again, lined up with a new slot.
                _log.warning("cdc.snapshot_restart", slot=self.cdc.slot,
                             reason="the interrupted snapshot was never committed to Kafka")
                slots.drop_slot(self._catalog, self.cdc.slot)
                info = None
        if info is None:
            if not self.cdc.create_slot:
                raise CdcError(f"replication slot {self.cdc.slot} does not exist: create it "
                               f"(SELECT pg_create_logical_replication_slot('{self.cdc.slot}', 'pgoutput')) "
                               "or set [cdc] create_slot = true")
            if progress.status == "done" and mode == "initial":
                raise CdcError(
                    f"replication slot {self.cdc.slot} is gone but this reader already streamed from it "
                    f"(state {self.state.path}): changes may be missing. Use snapshot_mode = 'when_needed' to "
                    "re-snapshot, or delete the state file to start over")
            want_snapshot = mode != "never"
            created = slots.create_slot(self._repl, self.cdc.slot, export_snapshot=want_snapshot)
            if self.kafka is not None:
                self.kafka.new_slot()
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
        if self.kafka is not None and progress.status == "running" and self.kafka.committed.snapshot_done:
            # Died between the snapshot's Kafka commit and saving that fact locally.
            progress.status = "done"
            self.state.save()
        if progress.status == "running" or (progress.status == "none" and mode in ("initial", "when_needed")
                                            and not self.state.exists):
            # A snapshot that crashed half way (at-least-once), or a slot made by someone else: read the rest now.
            if progress.status != "running":
                progress.status, progress.lsn = "running", start
            self._snapshot(infos, None, progress.lsn or start)
        return start

    def _snapshot(self, infos: list[TableInfo], exported: str | None, lsn: int) -> None:
        """Exactly-once: the whole snapshot is one Kafka transaction (all of it or none becomes
        visible; bounded by [cdc] transaction_timeout_ms). At-least-once: resumable after the last
        acknowledged key."""
        self.metrics.phase = "snapshot"
        source = self.envelope.source(ts_us=time.time_ns() // 1000, txid=None, snapshot="true")
        started = time.monotonic()

        # The snapshot is the data as of the slot's consistent point: that is its rows' commit LSN
        # (their signed facts' _commit_lsn), as a transaction's is its commit record's.
        self._final_lsn = lsn

        def emit(info: TableInfo, values: tuple) -> None:
            table = self._tables[info.shape.qualified]
            self._send(table, source, lsn, "r", None, values)

        def flush() -> None:
            if self.kafka is None:
                self.producer.flush()
            else:
                self.producer.poll(0)
            self._handle_delivery_failures()
            self.metrics.phase = "snapshot"

        if self.kafka is not None:
            self.kafka.ensure_open()
        txn = self.tracker.begin(time.time_ns() // 1000)  # the snapshot is one "transaction" for acknowledgement purposes
        self._txn = txn
        rows = snapshots.take(self.pg.dsn(), infos, self.state, emit, flush, exported_snapshot=exported,
                              fetch_rows=self.cdc.snapshot_fetch_rows, on_row=self._count_snapshot_row,
                              resumable=self.kafka is None)
        self.tracker.commit(txn, lsn)
        self._txn = None
        if self.kafka is not None:
            self.kafka.snapshot_done(lsn)
            try:
                self.confirmed_lsn = max(self.confirmed_lsn, self.kafka.commit().end_lsn)
            except TransactionAborted as exc:
                raise CdcError(f"Kafka could not commit the snapshot's transaction ({exc}); nothing of it is "
                               "visible: start the reader again (it takes the snapshot again). A snapshot "
                               "longer than [cdc] transaction_timeout_ms cannot commit: use snapshot_mode = "
                               "'never' and the batch backfill for large tables") from None
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
        self.confirmed_lsn = self.tracker.confirmed_lsn = max(self.confirmed_lsn, self.tracker.confirmed_lsn,
                                                              start_lsn)
        self.metrics.confirmed_lsn = self.confirmed_lsn
        repl = self._repl
        repl.execute(f"START_REPLICATION SLOT {cdc.slot} LOGICAL {format_lsn(start_lsn)} "
                     f"(proto_version '1', publication_names '{cdc.publication}', messages 'true')")
        self.metrics.phase = "streaming"
        self._streaming = True
        self.state.clear_failure()
        _log.info("cdc.streaming", slot=cdc.slot, start_lsn=format_lsn(start_lsn), tables=len(self._tables),
                  delivery=cdc.delivery)
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
                if select.select([sock], [], [], 0)[0]:  # more WAL already arrived: not idle
                    pgconn.consume_input()
                    continue
                if self.kafka is not None:
                    self.kafka.idle()
                self._housekeeping(idle=True)
                self._send_watermarks()
                if cdc.heartbeat_interval_s > 0 and time.monotonic() - last_beat > cdc.heartbeat_interval_s:
                    self._heartbeat()
                    last_beat = time.monotonic()
                if select.select([sock], [], [], self._idle_wait_s())[0]:
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
                self._sent_upto = max(self._sent_upto, wal_end)
                self._housekeeping(force=bool(reply))

    def _idle_wait_s(self) -> float:
        """How long to wait for WAL when none is buffered: 50 ms, or until the open Kafka
        transaction is due, so an idle moment never delays a commit."""
        if self.kafka is None:
            return 0.05
        return min(0.05, max(0.0005, self.kafka.seconds_until_due()))

    def _housekeeping(self, force: bool = False, idle: bool = False) -> None:
        """`idle`: the server has sent nothing more yet. Caught up and idle, the open Kafka transaction
        commits at once (like a group commit: what arrived meanwhile shares it); under load the
        interval decides (transactions.py)."""
        self.metrics.phase = "streaming"
        self.producer.poll(0)
        self._handle_delivery_failures()
        if self.kafka is not None and self._txn is None and (self.kafka.due()
                                                              or (idle and self.kafka.caught_up())):
            self._commit_kafka()
        if self.kafka is None:
            self.confirmed_lsn = max(self.confirmed_lsn, self.tracker.confirmed_lsn)
        if self._fence is not None and self._fence[1].end_lsn is not None \
                and self.confirmed_lsn >= self._fence[1].end_lsn:
            self.metrics.fence = self._fence[0]
            self._fence = None
        now = time.monotonic()
        if force or now - self._last_status >= STATUS_INTERVAL_S:
            self._send_status()
            self._last_status = now

    def _commit_kafka(self) -> None:
        """Commit the open Kafka transaction (between Postgres transactions only)."""
        try:
            committed = self.kafka.commit()
        except TransactionAborted as exc:
            # A refused record aborts the transaction before its delivery report is served: look
            # at the reports first, so it is stopped on or diverted rather than sent again.
            self.producer.poll(0)
            self._handle_delivery_failures()
            raise _Rewind(f"Kafka transaction aborted: {exc}") from None
        self.confirmed_lsn = max(self.confirmed_lsn, committed.end_lsn)

    def _idle(self) -> bool:
        """Nothing received is still on its way to Kafka."""
        if self._txn is not None:
            return False
        return not self.kafka.open if self.kafka is not None else self.tracker.idle()

    def _send_status(self, advance_when_idle: bool = True) -> None:
        metrics = self.metrics
        if advance_when_idle and self._idle() and self._sent_upto > self.confirmed_lsn:
            # Nothing in flight: everything before the position this connection's server says it has
            # sent was received and committed (or is outside the publication), so the slot may move
            # on and release WAL.
            self.confirmed_lsn = self._sent_upto
        lsn = self.confirmed_lsn
        metrics.confirmed_lsn = lsn
        now_pg = time.time_ns() // 1000 - PG_EPOCH_US
        self._repl.pgconn.put_copy_data(_STATUS.pack(b"r", max(lsn, metrics.received_lsn), lsn, lsn, now_pg, 0))
        self._repl.pgconn.flush()

    def _oldest_pending_commit_us(self) -> int | None:
        if self.kafka is not None:
            return self.kafka.oldest_commit_us()
        return self.tracker.oldest_commit_us()

    def _waiting_for_kafka(self) -> None:
        """Called while the producer's buffer is full or a commit waits (Kafka slow or down): keep
        the replication connection alive, read no more WAL, and give up only when asked to stop."""
        self.metrics.phase = "waiting_for_kafka"
        self._handle_delivery_failures(inside_wait=True)
        if self.stop_event.is_set():
            raise Stopped()
        now = time.monotonic()
        if self._streaming and now - self._last_status >= STATUS_INTERVAL_S:
            self._send_status()
            self._last_status = now

    def _handle_delivery_failures(self, inside_wait: bool = False) -> None:
        """Delivery errors since the last poll. A record refused for good stops the reader or goes
        to the dead-letter topic (rejections.py); anything else ends the open Kafka transaction,
        which is then read again (exactly-once), or stops the reader (at-least-once)."""
        failures = self.tracker.failures
        if not failures:
            return
        self.tracker.failures = []
        # Refused records first: a transaction that fails on one also purges its other records,
        # whose (transient) errors must not hide the cause.
        transient = [(txn, err) for txn, err, msg in failures if not is_permanent(err)]
        for txn, err, msg in failures:
            if is_permanent(err):
                rejection = Rejection.of(msg.topic(), msg.key(), msg.value(), err)
                self._rejected(rejection, txn, after_send=True)
        if self.kafka is not None:
            if (transient or self._divert) and not inside_wait:
                # The commit that waits raises TransactionAborted for these; outside it, abort now.
                raise _Rewind(f"delivery failed: {transient[0][1].str()}" if transient
                              else f"diverting a refused record to {self.dead_letter_topic}")
        elif transient:
            raise CdcError(f"Kafka did not take a change event: {transient[0][1].str()}; the slot was not moved "
                           "past it, so a restart resends it")

    def _rejected(self, rejection: Rejection, txn: PendingTransaction | None, *, after_send: bool) -> None:
        self.metrics.rejected += 1
        if self.cdc.on_rejected == "stop":
            raise rejection.error()
        _log.error("cdc.dead_letter", record=rejection.describe(), dead_letter_topic=self.dead_letter_topic)
        if self.kafka is not None and after_send:
            # Kafka refused it inside the open transaction, which can now only abort: divert it
            # when Postgres sends it again (the caller aborts and rewinds).
            self._divert[rejection.identity] = rejection
            return
        self._dead_letter(rejection, txn, takes_place_of_sent=after_send)

    def _dead_letter(self, rejection: Rejection, txn: PendingTransaction | None, *, takes_place_of_sent: bool) -> None:
        """The description goes where the record would have been, in the same transaction. A record
        already sent (and refused) hands its acknowledgement slot to it; otherwise it takes a new one."""
        callback = txn.acked if txn is not None else _no_ack
        if not takes_place_of_sent and txn is not None:
            txn.sent()
        self.producer.send(self.dead_letter_topic, orjson.dumps(rejection.key), rejection.dead_letter(), 0, callback)
        self.metrics.dead_letters += 1

    # ---- message handlers ----

    def _on_begin(self, msg: Begin, lsn: int) -> None:
        self._xid, self._final_lsn = msg.xid, msg.final_lsn
        self.metrics.last_commit_us = msg.commit_ts_us
        if self.kafka is not None and self.kafka.committed.covers(msg.final_lsn):
            # Kafka already holds this transaction (committed just before the slot was confirmed).
            self._skipping = True
            self.metrics.skipped_transactions += 1
            return
        self._skipping = False
        if self.kafka is not None:
            self.kafka.ensure_open()
            self.kafka.started(msg.commit_ts_us)
        self._txn = self.tracker.begin(msg.commit_ts_us)
        self._source = self.envelope.source(ts_us=msg.commit_ts_us, txid=msg.xid, snapshot="false")
        self._counts: Counter = Counter()
        self._order = 0
        if self.cdc.transaction_topic:
            self._produce(self.topics.transaction, None, self.envelope.transaction_record(
                "BEGIN", msg.xid, msg.commit_ts_us, msg.final_lsn), 0)

    def _on_commit(self, msg: Commit, lsn: int) -> None:
        if self._skipping:
            self._skipping = False
            self.confirmed_lsn = max(self.confirmed_lsn, msg.end_lsn)  # in Kafka, as is all before it
            return
        txn = self._txn
        if self.cdc.transaction_topic:
            self._produce(self.topics.transaction, None, self.envelope.transaction_record(
                "END", self._xid, msg.commit_ts_us, self._final_lsn, dict(self._counts)), 0)
        self._txn = None
        self.tracker.commit(txn, msg.end_lsn)
        self.metrics.transactions += 1
        self._watermarks.committed(msg.commit_ts_us, msg.end_lsn)
        if self.kafka is not None:
            self.kafka.pg_committed(msg.end_lsn, self._xid)
        self._send_watermarks()
        if self.kafka is not None and self.kafka.due():
            self._commit_kafka()

    def _on_relation(self, msg: Relation, lsn: int) -> None:
        key = catalog.primary_key(self._catalog, msg.namespace, msg.name) or tuple(
            c.name for c in msg.columns if c.flags & 1)
        shape = TableShape(msg.namespace, msg.name, tuple(c.name for c in msg.columns),
                           tuple(c.type_oid for c in msg.columns), tuple(c.type_modifier for c in msg.columns), key)
        table = self._table_for(shape)
        if table.facts is not None:
            facts.check_identity(shape.qualified, msg.replica_identity)  # it may have changed since the start
        self._by_relid[msg.relid] = table

    def _on_type(self, msg: TypeMessage, lsn: int) -> None:
        self.typemap.forget(msg.oid)

    def _on_message(self, msg: LogicalMessage, lsn: int) -> None:
        if msg.prefix != FENCE_PREFIX:
            return
        if self._txn is not None:
            self._fence = (msg.content.decode(errors="replace"), self._txn)
        elif self._skipping:
            # Its transaction is already in Kafka: the fence has passed once the slot catches up.
            self.metrics.fence = msg.content.decode(errors="replace")

    def _on_insert(self, msg: Insert, lsn: int) -> None:
        if not self._skipping:
            self._send(self._by_relid[msg.relid], self._source, lsn, "c", None, msg.new)

    def _on_update(self, msg: Update, lsn: int) -> None:
        if self._skipping:
            return
        table = self._by_relid[msg.relid]
        codec = table.codec
        if msg.old is not None and codec.key_changed(msg.old, msg.new):
            # The key changed: like Debezium, a delete under the old key (and its tombstone) and a
            # create under the new one. With REPLICA IDENTITY FULL the old row comes whole ('O'),
            # otherwise only its key ('K').
            self._send(table, self._source, lsn, "d", msg.old, None)
            self._send(table, self._source, lsn, "c", None, msg.new, old_for_toast=msg.old)
            return
        self._send(table, self._source, lsn, "u", msg.old, msg.new)

    def _on_delete(self, msg: Delete, lsn: int) -> None:
        if not self._skipping:
            self._send(self._by_relid[msg.relid], self._source, lsn, "d", msg.old, None)

    def _on_truncate(self, msg: Truncate, lsn: int) -> None:
        if self._skipping:
            return
        for relid in msg.relids:
            table = self._by_relid.get(relid)
            if table is None:
                continue
            shape = table.codec.shape
            value = self.envelope.change(self._source, shape.schema, shape.name, lsn, "t", None, None, table.version)
            if table.facts is not None:
                # No fact can take the rows back: refused like a record Kafka refuses (stop, or dead-letter
                # and page), even when truncates are not published (facts.py).
                detail, fix = table.facts.truncate_refusal()
                self._rejected(Rejection.of_record(table.facts.topic, None, value, facts.TRUNCATE_REFUSED, detail,
                                                   refused_by="Signed facts", fix=fix), self._txn, after_send=False)
            if not self.cdc.emit_truncate:
                continue
            # No key orders a truncate against a table's rows, so every partition gets it, in place.
            for partition in range(table.partitions):
                self._produce(table.topic, self._partition_key(table.topic, "truncate", partition), value, partition)
            self._counts[shape.qualified] += 1

    def _produce(self, topic: str, key: bytes | None, value: bytes, partition: int) -> None:
        """One record of the current Postgres transaction (counted for its acknowledgement)."""
        self.producer.send(topic, key, value, partition, self._txn.acked)
        self._txn.sent()
        if self.kafka is not None:
            self.kafka.added()

    def _send(self, table: _Table, source: dict, lsn: int, op: str, old: tuple | None, new: tuple | None,
              old_for_toast: tuple | None = None) -> None:
        codec = table.codec
        shape = codec.shape
        before = codec.row(old) if old is not None else None
        after = codec.row(new, old if old_for_toast is None else old_for_toast) if new is not None else None
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
        partition = codec.partition(ident, table.partitions)
        if self._divert and (diverted := self._diverted(table, key, lsn, op)) is not None:
            # Kept after use: the transaction holding the dead letter may abort and come round again.
            self._dead_letter(diverted, self._txn, takes_place_of_sent=False)
            return
        try:
            self._produce(table.topic, key, value, partition)
        except RecordRejected as exc:
            self._rejected(Rejection.of(table.topic, key, value, exc.err), self._txn, after_send=False)
            return
        if op == "d" and self.cdc.tombstones:
            self._produce(table.topic, key, None, partition)
        if table.facts is not None:
            self._send_facts(table.facts, key, partition, op, lsn, self._final_lsn, source["ts_ms"], before,
                             after)
        metrics = self.metrics
        metrics.events += 1
        metrics.bytes += len(value)
        metrics.last_event_at = time.time()

    def _diverted(self, table: _Table, key: bytes, lsn: int, op: str) -> Rejection | None:
        """Refused in an aborted transaction, the change's event or one of its facts: the change goes to
        the dead-letter topic whole, without facts."""
        topics = (table.topic,) if table.facts is None else (table.topic, table.facts.topic)
        return next((self._divert[(t, key, lsn, op)] for t in topics if (t, key, lsn, op) in self._divert), None)

    def _send_facts(self, signed: SignedFacts, key: bytes, partition: int | None, op: str, lsn: int,
                    commit_lsn: int, commit_ms: int, before: dict | None, after: dict | None) -> None:
        """A change's signed facts, after its event, in its Kafka transaction, with its key and partition."""
        records = signed.records(op, lsn, commit_lsn, commit_ms, before, after)
        for record in records:
            try:
                self._produce(signed.topic, key, record, partition)
            except RecordRejected as exc:
                # Its event is already in the open transaction: stop, or abort and dead-letter the change
                # whole when Postgres sends it again.
                self._rejected(Rejection.of(signed.topic, key, record, exc.err), self._txn, after_send=True)
                raise _Rewind(f"diverting a change whose fact Kafka refused to {self.dead_letter_topic}") from None
        self.metrics.facts += len(records)

    def _send_watermarks(self) -> None:
        """A watermark record in every partition of the watermark tables' topics, when one is due
        (watermarks.py). At-least-once: not acknowledged through the tracker (a lost one only delays
        consumers until the next). Exactly-once: inside the Kafka transaction, after the Postgres
        transactions they vouch for."""
        if not self._watermark_topics:
            return
        due = self._watermarks.due()
        if due is None:
            return
        value = self.envelope.watermark_record(*due)
        if self.kafka is not None:
            self.kafka.ensure_open()
        for topic, partitions in self._watermark_topics.items():
            for partition in range(partitions):
                self.producer.send(topic, self._partition_key(topic, "watermark", partition), value, partition,
                                   _no_ack)
        self.metrics.watermarks += 1

    def _partition_key(self, topic: str, kind: str, partition: int) -> bytes | None:
        """A record of a partition rather than a row: keyless, except on compacted topics (they refuse that)."""
        return self.envelope.partition_key(kind, partition) if topic in self._compacted else None

    def _heartbeat(self) -> None:
        if self.kafka is not None:
            self.kafka.ensure_open()
        txn = self.tracker.begin(time.time_ns() // 1000)
        value = self.envelope.heartbeat_record(time.time_ns() // 1000)
        self.producer.send(self.topics.heartbeat, None, value, 0, txn.acked)
        txn.sent()
        self.tracker.commit(txn, self.tracker.confirmed_lsn)

    # ---- shutdown ----

    def close(self, timeout_s: float = 10.0) -> None:
        """Hand Kafka what it will still take, confirm it, and let go of the slot. Exactly-once: the
        open Kafka transaction commits if it holds only whole Postgres transactions, else aborts."""
        try:
            if self.kafka is not None and self.kafka.open:
                try:
                    if self._txn is None and not self.tracker.failures and self.metrics.phase != "failed":
                        self._commit_kafka()
                    else:
                        self.kafka.abort(timeout_s=timeout_s)
                except Exception as exc:  # noqa: BLE001 - shutting down: Postgres resends what did not commit
                    _log.warning("cdc.close_uncommitted", error=str(exc))
            elif hasattr(self, "producer"):
                self.producer.flush(timeout_s)
            if self._streaming and self._repl is not None and not self._repl.closed:
                self.producer.poll(0)
                if self.kafka is None:
                    self.confirmed_lsn = max(self.confirmed_lsn, self.tracker.confirmed_lsn)
                try:
                    self._send_status(advance_when_idle=self.metrics.phase != "failed")
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
