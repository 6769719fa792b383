"""The back history in a real Postgres: loaded with COPY, consistent with the seed, and still consistent after
the live writers have run on top of it."""

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from pipeline.workload.generator import WorkloadSpec, run
from pipeline.workload.history import HistorySpec, months_before
from pipeline.workload.history_load import HistoryPresent, load

SPEC = HistorySpec(months=2, payments_per_day=150, seed=21)


@pytest.fixture(scope="module")
def history(fresh_database):
    result = load(fresh_database, SPEC, customers=300, progress=False)
    # The live writers afterwards: their entries must continue each account's history.
    stats = run(fresh_database, WorkloadSpec(tps=400, duration_s=3, seed=21, writers=2, fraud_rate=0.02,
                                             customers=300, daily_shape=False))
    with psycopg.connect(fresh_database.dsn()) as conn:
        yield result, stats, conn


def test_history_rows_were_loaded_and_the_rate_measured(history):
    result, stats, _ = history
    assert result.rows["transactions"] > 2 * 30 * 150 * 0.8 and result.rows["ledger_entries"] > 0
    assert result.rows["logins"] > 0 and result.rows["disputes"] > 0 and result.rows_per_s > 0
    assert stats.payments > 0


def test_history_spans_the_requested_months_and_stays_in_the_past(history):
    result, _, conn = history
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    assert result.ends_at == today and result.starts_at == months_before(today, SPEC.months)
    first, last = conn.execute("""
        SELECT min(t.created_at), max(t.created_at) FROM transactions t JOIN accounts a USING (account_id)
        WHERE t.created_at <> a.opened_at AND t.created_at < %s""", (today,)).fetchone()
    assert first.date() == result.starts_at.date() and last.date() == (today - timedelta(days=1)).date()


def test_every_balance_is_the_sum_of_its_ledger_and_running_balances_are_right(history):
    _, _, conn = history
    mismatches = conn.execute("""
        SELECT a.account_id FROM accounts a LEFT JOIN ledger_entries l USING (account_id)
        GROUP BY a.account_id, a.balance HAVING a.balance <> COALESCE(SUM(l.amount), 0)""").fetchall()
    assert mismatches == []
    running_ok, in_time_order = conn.execute("""
        SELECT bool_and(balance_after = running), bool_and(in_order) FROM (
            SELECT balance_after, SUM(amount) OVER w AS running,
                   created_at >= lag(created_at, 1, '-infinity') OVER w AS in_order
            FROM ledger_entries WINDOW w AS (PARTITION BY account_id ORDER BY entry_id)) x""").fetchone()
    assert running_ok and in_time_order


def test_statuses_currencies_and_ledger_agree(history):
    _, _, conn = history
    statuses = dict(conn.execute("SELECT status, count(*) FROM transactions GROUP BY 1").fetchall())
    assert {"settled", "declined", "reversed"} <= set(statuses) and "pending" not in statuses
    assert conn.execute("SELECT count(DISTINCT currency) FROM transactions").fetchone()[0] >= 3
    wrong = conn.execute("""
        SELECT t.status, count(l.entry_id) FROM transactions t LEFT JOIN ledger_entries l USING (transaction_id)
        GROUP BY t.transaction_id, t.status
        HAVING count(l.entry_id) <> CASE t.status WHEN 'settled' THEN 1 WHEN 'reversed' THEN 2 ELSE 0 END""").fetchall()
    assert wrong == []


def test_history_respects_each_accounts_lifetime_and_the_seeds_dates(history):
    _, _, conn = history
    before_opening, after_dormancy, card_too_early = conn.execute("""
        SELECT count(*) FILTER (WHERE t.created_at < a.opened_at),
               count(*) FILTER (WHERE a.last_activity_at < now() - interval '90 days' AND t.created_at > a.last_activity_at),
               count(*) FILTER (WHERE t.created_at < c.issued_at)
        FROM transactions t JOIN accounts a USING (account_id) LEFT JOIN cards c USING (card_id)""").fetchone()
    assert (before_opening, after_dormancy, card_too_early) == (0, 0, 0)
    assert conn.execute("""SELECT count(*) FROM logins l JOIN customers c USING (customer_id)
                           WHERE l.created_at < c.created_at""").fetchone()[0] == 0


def test_disputes_arrive_within_90_days_after_their_transaction(history):
    _, _, conn = history
    checked, resolved, late = conn.execute("""
        SELECT count(*), count(d.resolved_at),
               count(*) FILTER (WHERE d.opened_at <= t.created_at OR d.opened_at > t.created_at + interval '90 days'
                                   OR d.resolved_at < d.opened_at)
        FROM disputes d JOIN transactions t USING (transaction_id)""").fetchone()
    assert late == 0
    assert checked > 0 and resolved > 0, "no (resolved) disputes: the bounds above were not checked"


def test_a_second_history_is_refused(history, fresh_database):
    with pytest.raises(HistoryPresent, match="already loaded"):
        load(fresh_database, SPEC, customers=300, progress=False)
