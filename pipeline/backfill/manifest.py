"""`<prefix>/_manifest.json`: what one history export wrote, the contract between the export and its readers.

The export writes it last, so a manifest means a complete export. It lists
every file with its table, period and row count (the Druid backfill builds
one ingestion task per period from it and checks each task's row count
against it), and, for the JSON format, the cutover: the WAL position the
export is as of (`cutover_lsn`, the consistent point of the export's
temporary replication slot). Every transaction whose commit record starts
before it is in the files; every other one is in the CDC stream.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from pipeline.backfill.errors import BackfillError
from pipeline.cdc.pgoutput import format_lsn

NAME = "_manifest.json"
FORMATS = ("parquet", "json")


@dataclass(frozen=True)
class ExportedFile:
    table: str
    period: str  # the UTC month (YYYY-MM) or day (YYYY-MM-DD) of the table's time column
    key: str  # the S3 key
    rows: int


@dataclass
class Manifest:
    format: str  # parquet | json
    partition: str  # month | day
    until: str  # ISO time. parquet: the cut-off (time column < until); json: the snapshot's time, for reference
    rows: dict[str, int] = field(default_factory=dict)
    files: list[ExportedFile] = field(default_factory=list)
    cutover_lsn: int | None = None  # json: the consistent point the export is as of
    exported_ms: int | None = None  # json: the rows' _commit_ms

    def to_json(self) -> bytes:
        doc = asdict(self)
        if self.cutover_lsn is not None:
            doc["cutover_lsn_text"] = format_lsn(self.cutover_lsn)
        doc["money"] = "integer minor units (*_cents = amount * 100), with currency"
        doc["times"] = "UTC microseconds" if self.format == "parquet" else "ISO-8601 UTC strings"
        return json.dumps(doc, indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> "Manifest":
        try:
            doc = json.loads(data)
            return cls(doc.get("format", "parquet"), doc["partition"], doc["until"], doc.get("rows", {}),
                       [ExportedFile(**f) for f in doc.get("files", [])], doc.get("cutover_lsn"),
                       doc.get("exported_ms"))
        except (ValueError, KeyError, TypeError) as exc:
            raise BackfillError(f"{where} is not an export manifest ({exc.__class__.__name__}: {exc}): export "
                                "again with `cdc-olap history export`") from None

    def periods(self, table: str) -> dict[str, list[ExportedFile]]:
        """period -> its files, oldest period first."""
        found: dict[str, list[ExportedFile]] = {}
        for f in sorted(self.files, key=lambda f: (f.period, f.key)):
            if f.table == table:
                found.setdefault(f.period, []).append(f)
        return found


def url(bucket: str, prefix: str) -> str:
    return f"s3://{bucket}/{prefix}/{NAME}"


def write(s3, bucket: str, prefix: str, manifest: Manifest) -> None:
    s3.put_object(Bucket=bucket, Key=f"{prefix}/{NAME}", Body=manifest.to_json())


def read(s3, bucket: str, prefix: str) -> Manifest:
    prefix = prefix.strip("/")
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{prefix}/{NAME}")["Body"].read()
    except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
        raise BackfillError(f"no export at s3://{bucket}/{prefix}/ ({NAME} is missing; the export writes it last): "
                            f"run `cdc-olap history export --format json --bucket {bucket} --prefix {prefix}`") \
            from None
    return Manifest.from_json(body, url(bucket, prefix))
