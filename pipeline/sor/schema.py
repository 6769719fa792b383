"""Apply the system of record's schema (pipeline/sor/schema.sql) idempotently."""

from __future__ import annotations

from pathlib import Path

from pipeline.config import PostgresConfig
from pipeline.sor.ddl import apply_file

SCHEMA_FILE = Path(__file__).with_name("schema.sql")


def apply(pg: PostgresConfig) -> None:
    apply_file(pg, SCHEMA_FILE)
