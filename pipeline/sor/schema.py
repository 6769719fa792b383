"""Apply the system of record's schema (pipeline/sor/schema.sql) idempotently."""

from __future__ import annotations

from pathlib import Path

import psycopg

from pipeline.config import PostgresConfig

SCHEMA_FILE = Path(__file__).with_name("schema.sql")
TABLES = ("customers", "accounts", "cards", "merchants", "transactions", "ledger_entries", "logins", "disputes")


def apply(pg: PostgresConfig) -> None:
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        # One advisory lock: concurrent `up`s or test workers must not race on CREATE IF NOT EXISTS.
        conn.execute("SELECT pg_advisory_lock(727001)")
        try:
            conn.execute(SCHEMA_FILE.read_text())
        finally:
            conn.execute("SELECT pg_advisory_unlock(727001)")
