"""The health job's generated SQL: one score expression for both kinds of row, inputs in one order."""

import pytest

from flink_jobs.health import job, views
from flink_jobs.health.score import score_sql
from flink_jobs.health.weights import INPUTS, Penalty

PENALTIES = {name: Penalty(weight=1.0, cap=10.0) for name in INPUTS}


def test_the_insert_scores_every_row_with_one_expression():
    insert = job.insert_sql(PENALTIES)
    assert insert.count(score_sql(PENALTIES)) == 1
    assert insert.count("LEAST(") == len(INPUTS)  # not a second copy of the formula anywhere
    assert "FROM health_inputs" in insert


def test_both_kinds_of_row_sum_the_same_inputs():
    scheduled, changes, union = job.input_views()
    assert job.sums() in scheduled and "HOP(TABLE account_events" in scheduled
    assert job.sums(" OVER w") in changes and "FROM account_events" in changes
    assert "RANGE BETWEEN INTERVAL '1' DAY PRECEDING AND CURRENT ROW" in changes
    assert "'schedule' AS `trigger`" in scheduled and "'change' AS `trigger`" in changes
    assert "UNION ALL" in union


def test_the_sink_columns_are_the_scored_inputs():
    names = [name for name, _ in job.COLUMNS]
    assert set(names) >= {name for name, _ in job.INPUTS} | {"trigger", "score", "decline_ratio_pct"}
    assert {column for _, column in job.INPUTS} == set(views.EVENT_COLUMNS)


def test_an_event_row_lists_every_column_in_order_with_zero_for_the_rest():
    row = views._row("a", "c", "t", login="1")
    assert row.startswith("a AS account_id, c AS customer_id, CAST(0 AS BIGINT) AS payment")
    assert "CAST(1 AS BIGINT) AS login, CAST(0 AS BIGINT) AS failed_login, t AS event_time" in row
    with pytest.raises(ValueError, match="not an account event column: logins"):
        views._row("a", "c", "t", logins="1")


def test_every_view_filters_rows_by_op():
    """The CDC reader's watermark records (op "m") must never become account events."""
    reads = [s for s in views.statements() if "_cdc" in s]
    assert reads and all("op = " in s or "op IN " in s for s in reads)
