"""Run an idempotent SQL file (CREATE ... IF NOT EXISTS) against the system of record."""

from __future__ import annotations

import zlib
from pathlib import Path

import psycopg

from pipeline.config import PostgresConfig


def apply_file(pg: PostgresConfig, path: Path) -> None:
    # An advisory lock per file: concurrent `up`s or test workers must not race on CREATE IF NOT EXISTS.
    lock = zlib.crc32(path.name.encode())
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (lock,))
        try:
            conn.execute(path.read_text())
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (lock,))
