"""`cdc-olap history export`: the system of record up to a cut-off, as Parquet files on S3 for Druid batch backfill.

Layout: `s3://<bucket>/<prefix>/<table>/<month=YYYY-MM | day=YYYY-MM-DD>/part-00000.parquet`
(UTC periods of the table's time column) and `<prefix>/_manifest.json` with the
row counts and the cut-off. All tables are read from one REPEATABLE READ
snapshot, so they agree with each other; the cut-off defaults to that snapshot's
time. Memory stays bounded: rows stream from a server-side cursor in chunks,
each chunk becomes a row group of the one file being written (on local disk),
and a file is uploaded and deleted as soon as its period is complete. A re-run
replaces the files under the prefix and removes those it did not write.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from pipeline import log
from pipeline.config import AwsConfig, PostgresConfig
from pipeline.backfill.tables import TABLES, ExportTable
from pipeline.aws import client

_log = log.get("backfill")
PARTITION_FORMATS = {"month": ("month", "YYYY-MM"), "day": ("day", "YYYY-MM-DD")}
CHUNK_ROWS = 50_000


@dataclass
class ExportResult:
    bucket: str
    prefix: str
    until: datetime
    rows: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rows_per_s(self) -> float:
        return sum(self.rows.values()) / self.seconds if self.seconds else 0.0


def export(pg: PostgresConfig, aws: AwsConfig, *, bucket: str, prefix: str, partition: str = "month",
           until: datetime | None = None, progress: bool = True) -> ExportResult:
    if partition not in PARTITION_FORMATS:
        raise ValueError(f"partition must be one of {', '.join(PARTITION_FORMATS)}, not {partition!r}")
    prefix = prefix.strip("/")
    if not prefix:
        raise ValueError("give a prefix: the export replaces everything under it")
    s3 = client(aws, "s3")
    started = time.monotonic()
    with psycopg.connect(pg.dsn()) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction():
            until = until or conn.execute("SELECT now()").fetchone()[0]
            result = ExportResult(bucket, prefix, until)
            with tempfile.TemporaryDirectory(prefix="cdc-olap-export-") as scratch:
                for table in TABLES:
                    result.rows[table.name] = _export_table(conn, s3, table, result, partition, Path(scratch), progress)
    manifest = {"until": until.isoformat(), "partition": partition, "rows": result.rows,
                "money": "integer minor units (*_cents = amount * 100), with currency", "times": "UTC microseconds"}
    s3.put_object(Bucket=bucket, Key=f"{prefix}/_manifest.json", Body=json.dumps(manifest, indent=2).encode())
    _remove_stale(s3, bucket, prefix, {*result.files, f"{prefix}/_manifest.json"})
    result.seconds = time.monotonic() - started
    _log.info("backfill.exported", bucket=bucket, prefix=prefix, until=until.isoformat(), files=len(result.files),
              seconds=round(result.seconds, 1), rows_per_s=round(result.rows_per_s), **result.rows)
    return result


def _export_table(conn: psycopg.Connection, s3, table: ExportTable, result: ExportResult, partition: str,
                  scratch: Path, progress: bool) -> int:
    label, pattern = PARTITION_FORMATS[partition]
    total = conn.execute(f"SELECT count(*) FROM {table.name} WHERE {table.time_column} < %s",
                         (result.until,)).fetchone()[0]
    select = ", ".join(c.sql for c in table.columns)
    query = (f"SELECT to_char({table.time_column} AT TIME ZONE 'UTC', '{pattern}'), {select} FROM {table.name}"
             f" WHERE {table.time_column} < %s ORDER BY {table.time_column}")
    writer: _PartitionFile | None = None
    bar = tqdm(total=total, unit="row", desc=table.name, disable=not progress)
    with conn.cursor(name=f"export_{table.name}") as cursor:
        cursor.itersize = CHUNK_ROWS
        cursor.execute(query, (result.until,))
        while rows := cursor.fetchmany(CHUNK_ROWS):
            # A chunk may span periods: split it where the period key changes.
            start = 0
            for i in range(1, len(rows) + 1):
                if i < len(rows) and rows[i][0] == rows[start][0]:
                    continue
                key = rows[start][0]
                if writer is None or writer.key != key:
                    if writer:
                        result.files.append(writer.upload(s3, result.bucket))
                    writer = _PartitionFile(table, key, f"{result.prefix}/{table.name}/{label}={key}", scratch)
                writer.write(rows[start:i])
                start = i
            bar.update(len(rows))
    if writer:
        result.files.append(writer.upload(s3, result.bucket))
    bar.close()
    return total


class _PartitionFile:
    """One period's Parquet file, written row group by row group on local disk, then uploaded."""

    def __init__(self, table: ExportTable, key: str, key_prefix: str, scratch: Path) -> None:
        self.table, self.key = table, key
        self.s3_key = f"{key_prefix}/part-00000.parquet"
        self.path = scratch / f"{table.name}-{key}.parquet"
        self.writer = pq.ParquetWriter(self.path, table.schema, compression="zstd")

    def write(self, rows: list[tuple]) -> None:
        columns = list(zip(*rows))[1:]  # the first value is the period key
        arrays = [pa.array(values, pa.int64()).cast(c.type) if pa.types.is_timestamp(c.type) else pa.array(values, c.type)
                  for c, values in zip(self.table.columns, columns)]
        self.writer.write_table(pa.Table.from_arrays(arrays, schema=self.table.schema))

    def upload(self, s3, bucket: str) -> str:
        self.writer.close()
        s3.upload_file(str(self.path), bucket, self.s3_key)
        self.path.unlink()
        return self.s3_key


def _remove_stale(s3, bucket: str, prefix: str, keep: set[str]) -> None:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        stale = [{"Key": o["Key"]} for o in page.get("Contents", []) if o["Key"] not in keep]
        if stale:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": stale})
