"""`cdc-olap history export`: the system of record as files on S3, for Druid batch backfill and other consumers.

Layout: `s3://<bucket>/<prefix>/<table>/<month=YYYY-MM | day=YYYY-MM-DD>/part-NNNNN.<parquet | json.gz>`
(UTC periods of the table's time column, at most PART_ROWS rows a file) and
`<prefix>/_manifest.json` (pipeline/backfill/manifest.py), written last, with
every file and its row count. All tables are read from one REPEATABLE READ
snapshot, so they agree with each other. Memory stays bounded: rows stream
from a server-side cursor in chunks, each chunk is appended to the one file
being written (on local disk), and a file is uploaded and deleted as soon as
it is complete. A re-run replaces the files under the prefix and removes those
it did not write.

Two formats (pipeline/backfill/formats.py):
- `parquet` (default): cut off by time (`--until`, default the snapshot's time).
- `json`: signed facts for Druid, cut off by a WAL position instead: the
  snapshot is the one a temporary replication slot exports, and the slot's
  consistent point is the manifest's `cutover_lsn` (pipeline/backfill/consistent.py).
  Every row the snapshot sees is exported, whatever its time: the stream brings
  only the transactions after the cutover, so nothing may be left out here.
"""

from __future__ import annotations

import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
from tqdm import tqdm

from pipeline import log
from pipeline.aws import client
from pipeline.backfill import formats, manifest
from pipeline.backfill.consistent import consistent_point, import_snapshot
from pipeline.backfill.errors import BackfillError
from pipeline.backfill.manifest import ExportedFile, Manifest
from pipeline.backfill.tables import TABLES, ExportTable
from pipeline.cdc.pgoutput import format_lsn
from pipeline.config import AwsConfig, PostgresConfig

_log = log.get("backfill")
PARTITION_FORMATS = {"month": ("month", "YYYY-MM"), "day": ("day", "YYYY-MM-DD")}
CHUNK_ROWS = 50_000
PART_ROWS = 1_000_000  # rows a file holds at most: several files let a Druid task read in parallel


@dataclass
class ExportResult:
    bucket: str
    prefix: str
    until: datetime
    format: str = "parquet"
    cutover_lsn: int | None = None
    rows: dict[str, int] = field(default_factory=dict)
    files: list[ExportedFile] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return sum(self.rows.values()) / self.seconds if self.seconds else 0.0


def export(pg: PostgresConfig, aws: AwsConfig, *, bucket: str, prefix: str, partition: str = "month",
           until: datetime | None = None, progress: bool = True, file_format: str = "parquet") -> ExportResult:
    if partition not in PARTITION_FORMATS:
        raise ValueError(f"partition must be one of {', '.join(PARTITION_FORMATS)}, not {partition!r}")
    if file_format not in manifest.FORMATS:
        raise ValueError(f"format must be one of {', '.join(manifest.FORMATS)}, not {file_format!r}")
    if file_format == "json" and until is not None:
        raise BackfillError("the JSON export is cut at its consistent point (a WAL position), not at a time: the "
                            "stream brings exactly what is after it, so every row before it must be exported. "
                            "Leave out --until")
    prefix = prefix.strip("/")
    if not prefix:
        raise ValueError("give a prefix: the export replaces everything under it")
    s3 = client(aws, "s3")
    started = time.monotonic()
    with ExitStack() as held:
        # The replication connection (and its slot) stays open until every table is read.
        point = held.enter_context(consistent_point(pg)) if file_format == "json" else None
        conn = held.enter_context(psycopg.connect(pg.dsn()))
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            if point is not None:
                import_snapshot(conn, point)
            now = conn.execute("SELECT now()").fetchone()[0]
            if point is None:
                until = until or now
                writer: formats.Format = formats.Parquet()
            else:
                until = now
                writer = formats.JsonFacts(point.lsn, time.time_ns() // 1_000_000)
            result = ExportResult(bucket, prefix, until, file_format, point.lsn if point else None)
            bound = until if point is None else None
            with tempfile.TemporaryDirectory(prefix="cdc-olap-export-") as scratch:
                for table in TABLES:
                    result.rows[table.name] = _export_table(conn, s3, table, writer, result, partition, bound,
                                                            Path(scratch), progress)
    written = Manifest(file_format, partition, until.isoformat(), result.rows, result.files, result.cutover_lsn,
                       writer.exported_ms if isinstance(writer, formats.JsonFacts) else None)
    manifest.write(s3, bucket, prefix, written)
    _remove_stale(s3, bucket, prefix, {*(f.key for f in result.files), f"{prefix}/{manifest.NAME}"})
    result.seconds = time.monotonic() - started
    _log.info("backfill.exported", bucket=bucket, prefix=prefix, format=file_format, until=until.isoformat(),
              cutover_lsn=format_lsn(result.cutover_lsn) if result.cutover_lsn is not None else "-",
              files=len(result.files), seconds=round(result.seconds, 1), rows_per_s=round(result.rows_per_s),
              **result.rows)
    return result


def _export_table(conn: psycopg.Connection, s3, table: ExportTable, writer: formats.Format, result: ExportResult,
                  partition: str, until: datetime | None, scratch: Path, progress: bool) -> int:
    label, pattern = PARTITION_FORMATS[partition]
    where, bound = (f" WHERE {table.time_column} < %s", (until,)) if until is not None else ("", ())
    total = conn.execute(f"SELECT count(*) FROM {table.name}{where}", bound).fetchone()[0]
    select, params = writer.select(table)
    query = (f"SELECT to_char({table.time_column} AT TIME ZONE 'UTC', '{pattern}'), {select} FROM {table.name}"
             f"{where} ORDER BY {table.time_column}")
    current: _File | None = None
    bar = tqdm(total=total, unit="row", desc=table.name, disable=not progress)
    with conn.cursor(name=f"export_{table.name}") as cursor:
        cursor.itersize = CHUNK_ROWS
        cursor.execute(query, (*params, *bound))
        while rows := cursor.fetchmany(CHUNK_ROWS):
            # A chunk may span periods: split it where the period key changes (and where a file is full).
            start = 0
            while start < len(rows):
                key = rows[start][0]
                if current is None or current.period != key or current.part.rows >= PART_ROWS:
                    if current is not None:
                        result.files.append(current.upload(s3, result.bucket))
                    number = current.number + 1 if current is not None and current.period == key else 0
                    current = _File(writer, table, key, number, f"{result.prefix}/{table.name}/{label}={key}",
                                    scratch)
                end = start + 1
                room = start + PART_ROWS - current.part.rows
                while end < min(len(rows), room) and rows[end][0] == key:
                    end += 1
                current.part.write(rows[start:end])
                start = end
            bar.update(len(rows))
    if current is not None:
        result.files.append(current.upload(s3, result.bucket))
    bar.close()
    return total


class _File:
    """One file of one period, written on local disk, then uploaded and deleted."""

    def __init__(self, writer: formats.Format, table: ExportTable, period: str, number: int, key_prefix: str,
                 scratch: Path) -> None:
        self.table, self.period, self.number = table, period, number
        self.s3_key = f"{key_prefix}/part-{number:05d}.{writer.extension}"
        self.path = scratch / f"{table.name}-{period}-{number:05d}.{writer.extension}"
        self.part = writer.open(table, self.path)

    def upload(self, s3, bucket: str) -> ExportedFile:
        self.part.close()
        s3.upload_file(str(self.path), bucket, self.s3_key)
        self.path.unlink()
        return ExportedFile(self.table.name, self.period, self.s3_key, self.part.rows)


def _remove_stale(s3, bucket: str, prefix: str, keep: set[str]) -> None:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        stale = [{"Key": o["Key"]} for o in page.get("Contents", []) if o["Key"] not in keep]
        if stale:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": stale})
