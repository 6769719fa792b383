"""The system of record refuses money that is not a finite number (Postgres numeric would store NaN)."""

import psycopg
import pytest

from pipeline.sor import schema

NOT_NUMBERS = ("NaN", "Infinity", "-Infinity")


def _refused(conn, statement, value):
    with pytest.raises((psycopg.errors.CheckViolation, psycopg.errors.NumericValueOutOfRange)):
        with conn.transaction():
            conn.execute(statement, (value,))


def test_money_columns_refuse_nan_and_infinity_and_the_schema_stays_idempotent(fresh_database):
    schema.apply(fresh_database)
    schema.apply(fresh_database)  # the checks are added once, by name
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        names = {r[0] for r in conn.execute("SELECT conname FROM pg_constraint WHERE conname LIKE '%\\_finite'")}
        assert names == {"accounts_balance_finite", "transactions_amount_finite", "ledger_entries_amount_finite",
                         "ledger_entries_balance_after_finite", "disputes_amount_finite"}
        conn.execute("INSERT INTO customers (customer_id, full_name, email, country) VALUES (1, 'A', 'a@x', 'US')")
        conn.execute("INSERT INTO accounts (account_id, customer_id, currency, home_timezone) "
                     "VALUES (1, 1, 'USD', 'UTC')")
        conn.execute("INSERT INTO transactions (transaction_id, account_id, amount, currency, direction, channel, "
                     "country) VALUES (1, 1, 5.00, 'USD', 'debit', 'transfer', 'US')")
        for value in NOT_NUMBERS:
            _refused(conn, "UPDATE accounts SET balance = %s::numeric WHERE account_id = 1", value)
            _refused(conn, "INSERT INTO transactions (account_id, amount, currency, direction, channel, country) "
                           "VALUES (1, %s::numeric, 'USD', 'debit', 'transfer', 'US')", value)
            _refused(conn, "INSERT INTO ledger_entries (account_id, transaction_id, amount, balance_after) "
                           "VALUES (1, 1, %s::numeric, 0)", value)
            _refused(conn, "INSERT INTO ledger_entries (account_id, transaction_id, amount, balance_after) "
                           "VALUES (1, 1, 1, %s::numeric)", value)
            _refused(conn, "INSERT INTO disputes (transaction_id, reason, amount) VALUES (1, 'fraud', %s::numeric)",
                     value)
        # NaN specifically reaches the CHECK (numeric(18,2) refuses the infinities itself).
        with pytest.raises(psycopg.errors.CheckViolation, match="transactions_amount_finite"):
            conn.execute("UPDATE transactions SET amount = 'NaN' WHERE transaction_id = 1")
