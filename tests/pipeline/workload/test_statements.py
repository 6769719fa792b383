"""A writer step's parts compose into one statement (one message, one commit)."""

import pytest

from pipeline.workload.statements import step


def test_a_step_is_one_statement_with_its_parts_as_ctes():
    sql = step("payment", "post")
    assert sql.startswith("WITH new AS (INSERT INTO transactions") and sql.count("INSERT INTO") == 2
    assert "moved AS (UPDATE accounts" in sql and sql.endswith("FROM moved")
    assert step("login", None).startswith("INSERT INTO logins")
    assert step(None, "status").startswith("UPDATE transactions")
    assert step("login", "status").startswith("WITH new AS (INSERT INTO logins")


def test_unknown_parts_are_refused():
    with pytest.raises(ValueError):
        step(None, None)
    with pytest.raises(ValueError):
        step("payment", "refund")
