"""The health job's generated SQL: one score expression for both kinds of row, inputs in one order."""

import pytest

from flink_jobs.health import job, views
from flink_jobs.health.score import score_sql
from flink_jobs.health.weights import INPUTS, MONEY_INPUTS, MoneyPenalty, Penalty, Rate
from pipeline.money import CURRENCIES

PENALTIES = {name: MoneyPenalty(cap=10.0, rates={c: Rate(1.0, 0) for c in CURRENCIES}) if name in MONEY_INPUTS
             else Penalty(weight=1.0, cap=10.0) for name in INPUTS}


def test_the_insert_scores_every_row_with_one_expression():
    insert = job.insert_sql(PENALTIES)
    assert insert.count(score_sql(PENALTIES)) == 1
    assert insert.count("LEAST(") == len(INPUTS)  # not a second copy of the formula anywhere
    assert "FROM health_inputs" in insert


def test_both_kinds_of_row_sum_the_same_inputs():
    views_sql = dict(zip(("account_windows", "login_windows", "scheduled", "owner_events", "with_logins",
                          "changes", "union"), job.input_views()))
    assert job.sums(job.ACCOUNT_INPUTS) in views_sql["account_windows"]
    assert "HOP(TABLE account_events" in views_sql["account_windows"]
    assert job.sums(job.LOGIN_INPUTS) in views_sql["login_windows"]
    assert "HOP(TABLE customer_logins" in views_sql["login_windows"]
    assert "LEFT JOIN login_windows" in views_sql["scheduled"]
    assert job.sums(job.LOGIN_INPUTS, " OVER c") in views_sql["with_logins"]
    assert "PARTITION BY customer_id" in views_sql["with_logins"]
    assert job.sums(job.ACCOUNT_INPUTS, " OVER w") in views_sql["changes"]
    assert "PARTITION BY account_id, currency" in views_sql["changes"]
    assert "GROUP BY window_start, window_end, account_id, currency" in views_sql["account_windows"]
    for over in ("with_logins", "changes"):
        assert "RANGE BETWEEN INTERVAL '1' DAY PRECEDING AND CURRENT ROW" in views_sql[over]
    assert "'schedule' AS `trigger`" in views_sql["scheduled"] and "'change' AS `trigger`" in views_sql["changes"]
    assert "UNION ALL" in views_sql["union"]


def test_an_event_row_lists_every_column_in_order_with_zero_for_the_rest():
    row = views._row("a", "c", "cur", "t", reversed="1")
    assert row.startswith("a AS account_id, c AS customer_id, cur AS currency, CAST(0 AS BIGINT) AS payment")
    assert "CAST(1 AS BIGINT) AS reversed, CAST(0 AS BIGINT) AS balance_change_cents, t AS event_time" in row
    with pytest.raises(ValueError, match="not an account event column: login"):
        views._row("a", "c", "cur", "t", login="1")


def test_every_view_filters_rows_by_op():
    """The CDC reader's watermark records (op "m") must never become account events."""
    reads = [s for s in views.statements() if "_cdc" in s]
    assert reads and all("op = " in s or "op IN " in s for s in reads)


def test_the_balance_penalty_takes_the_rows_own_currency_in_exact_cents():
    penalties = {**PENALTIES, "balance_drop": MoneyPenalty(cap=20.0, rates={
        "USD": Rate(0.002, 500000), "JPY": Rate(0.00001, 75000000)})}
    text = score_sql(penalties)
    assert ("LEAST(CAST(20.0 AS DOUBLE), CASE currency "
            "WHEN 'USD' THEN CAST(0.002 AS DOUBLE) * GREATEST(CAST(0 AS DOUBLE), "
            "CAST(-balance_change_cents - 500000 AS DOUBLE) / 100) "
            "WHEN 'JPY' THEN CAST(1e-05 AS DOUBLE) * GREATEST(CAST(0 AS DOUBLE), "
            "CAST(-balance_change_cents - 75000000 AS DOUBLE) / 100) ELSE CAST(0 AS DOUBLE) END)") in text


def test_every_row_says_the_currency_of_its_amounts():
    assert ("currency", "STRING") in job.COLUMNS
    assert "currency" in job.insert_sql(PENALTIES).split("FROM")[0]
