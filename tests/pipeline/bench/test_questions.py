"""The query benchmark's questions and its pure helpers: every placeholder filled, answers compared exactly."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone
from decimal import Decimal

import duckdb
import pytest

from pipeline.bench.queries import _values, fingerprint, timed
from pipeline.bench.questions import QUESTIONS, render

pytestmark = pytest.mark.unit
VALUES = _values(datetime(2025, 10, 2, tzinfo=timezone.utc), datetime(2026, 12, 2, tzinfo=timezone.utc))


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: q.name)
def test_every_placeholder_is_filled(question):
    for sql in (question.druid, question.postgres, question.duckdb, question.reporting):
        if sql is not None:
            rendered = render(sql, VALUES)
            assert not re.search(r"\{\w+\}", rendered), rendered


def test_the_day_asked_is_the_last_whole_day_of_the_history():
    assert VALUES["day"] == "2026-12-01 00:00:00" and VALUES["day_end"] == "2026-12-02 00:00:00"
    assert VALUES["month_ago"] == "2026-11-02 00:00:00" and VALUES["as_of"] == "2026-12-02 00:00:00"


def test_the_fingerprint_counts_rows_and_totals_the_last_column_exactly():
    assert fingerprint([("EUR", 10), ("USD", Decimal("1234.00"))]) == (2, 1244)
    assert fingerprint([]) == (0, 0)
    # One cent apart is a different answer.
    assert fingerprint([("EUR", Decimal("100"))]) != fingerprint([("EUR", Decimal("101"))])


def test_duckdb_answers_each_question_over_parquet_shaped_tables():
    """The DuckDB dialect of every question runs (the export's column names and types)."""
    db = duckdb.connect()
    db.execute("SET TimeZone = 'UTC'")
    db.execute("""CREATE TABLE transactions AS SELECT 1 AS merchant_id, 'EUR' AS currency, 'DE' AS country,
                  'settled' AS status, 1234::BIGINT AS amount_cents, TIMESTAMPTZ '2026-12-01 10:00:00+00' AS created_at""")
    db.execute("""CREATE TABLE disputes AS SELECT 'fraud' AS reason, 'open' AS status, 500::BIGINT AS amount_cents,
                  TIMESTAMPTZ '2026-10-01 00:00:00+00' AS opened_at""")
    got = {q.name: fingerprint(db.execute(render(q.duckdb, VALUES)).fetchall()) for q in QUESTIONS}
    assert got == {"minute_volume": (1, 1), "top_merchants_day": (1, 1234), "declines_by_country": (0, 0),
                   "daily_totals_currency": (1, 1234), "dispute_ageing": (1, 500)}
    assert db.execute(render(QUESTIONS[-1].duckdb, VALUES)).fetchall()[0][0] == "61-90"


def test_timed_runs_every_client_at_least_once_and_concurrently():
    running, peak, lock = [0], [0], threading.Lock()

    def ask(_sql):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        threading.Event().wait(0.05)
        with lock:
            running[0] -= 1
        return []

    latencies = timed(lambda: ask, "SELECT 1", clients=4, seconds=0.0)
    assert len(latencies) == 4 and peak[0] == 4
    assert all(lat >= 0.05 for lat in latencies)


def test_timed_raises_a_clients_error():
    def ask(_sql):
        raise ValueError("no such table")

    with pytest.raises(ValueError, match="no such table"):
        timed(lambda: ask, "SELECT 1", clients=2, seconds=0.0)
