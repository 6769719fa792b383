"""The legacy reporting layer (reporting.sql) and its refresh job, as the old nightly ETL ran it."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from pipeline import log
from pipeline.config import PostgresConfig
from pipeline.sor.ddl import apply_file

REPORTING_FILE = Path(__file__).with_name("reporting.sql")
VIEWS = ("reporting.daily_currency_totals", "reporting.daily_account_summary", "reporting.daily_merchant_summary")
_log = log.get("reporting")


def apply(pg: PostgresConfig) -> None:
    apply_file(pg, REPORTING_FILE)


def refresh(pg: PostgresConfig) -> dict[str, float]:
    """Refresh every view; CONCURRENTLY once populated, so reports can read during the refresh."""
    apply(pg)
    seconds = {}
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        for view in VIEWS:
            schema, name = view.split(".")
            populated = conn.execute(
                "SELECT ispopulated FROM pg_matviews WHERE schemaname = %s AND matviewname = %s", (schema, name)
            ).fetchone()[0]
            started = time.monotonic()
            conn.execute(f"REFRESH MATERIALIZED VIEW {'CONCURRENTLY ' if populated else ''}{view}")
            seconds[view] = round(time.monotonic() - started, 3)
            _log.info("reporting.refreshed", view=view, seconds=seconds[view])
    return seconds
