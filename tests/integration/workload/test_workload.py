"""The workload against a real Postgres: constraints and balances hold under concurrent writers,
and every ground-truth label describes exactly the fraud pattern that was injected."""

from collections import Counter
from decimal import Decimal

import psycopg
import pytest

from pipeline.workload import reference as ref
from pipeline.workload.generator import WorkloadSpec, run
from pipeline.workload.scenarios import BUILDERS


@pytest.fixture(scope="module")
def workload_run(fresh_database):
    # One run of concurrent writers, many checks over its result.
    spec = WorkloadSpec(tps=2000, duration_s=8, seed=11, writers=4, fraud_rate=0.02, customers=600,
                        merchants=120, daily_shape=False)
    stats = run(fresh_database, spec)
    with psycopg.connect(fresh_database.dsn()) as conn:
        yield stats, conn


def test_workload_made_traffic_and_every_scenario(workload_run):
    stats, conn = workload_run
    assert stats.payments > 1000 and stats.logins > 100 and stats.settled > 0 and stats.declined > 0
    assert set(stats.scenarios) == set(BUILDERS), stats.scenarios


def test_balances_equal_the_sum_of_ledger_entries_to_the_cent(workload_run):
    _, conn = workload_run
    mismatches = conn.execute("""
        SELECT a.account_id, a.balance, COALESCE(SUM(l.amount), 0)
        FROM accounts a LEFT JOIN ledger_entries l USING (account_id)
        GROUP BY a.account_id, a.balance HAVING a.balance <> COALESCE(SUM(l.amount), 0)""").fetchall()
    assert mismatches == []


def test_ledger_matches_each_transactions_status(workload_run):
    _, conn = workload_run
    counts = dict(conn.execute("""
        SELECT status || ':' || n, COUNT(*) FROM (
            SELECT t.status, COUNT(l.entry_id) AS n FROM transactions t
            LEFT JOIN ledger_entries l USING (transaction_id) GROUP BY t.transaction_id, t.status) x
        GROUP BY 1""").fetchall())
    # settled: one entry; reversed: the entry and its reversal; declined: none; nothing left pending.
    assert set(counts) <= {"settled:1", "reversed:2", "declined:0"}, counts
    balance_after_ok = conn.execute("""
        SELECT bool_and(balance_after = running) FROM (
            SELECT balance_after, SUM(amount) OVER (PARTITION BY account_id ORDER BY entry_id) AS running
            FROM ledger_entries) x""").fetchone()[0]
    assert balance_after_ok


def test_labels_describe_the_injected_patterns(workload_run):
    stats, conn = workload_run
    labels = conn.execute("SELECT scenario, account_id, transaction_ids, login_id, detail FROM ground_truth.fraud_labels").fetchall()
    assert Counter(l[0] for l in labels) == stats.scenarios
    for scenario, account_id, tx_ids, login_id, detail in labels:
        rows = conn.execute("""
            SELECT t.account_id, t.amount, t.card_id, t.country, t.channel, m.mcc
            FROM transactions t LEFT JOIN merchants m USING (merchant_id)
            WHERE t.transaction_id = ANY(%s) ORDER BY t.transaction_id""", (tx_ids,)).fetchall()
        assert len(rows) == len(tx_ids) and all(r[0] == account_id for r in rows), scenario
        amounts = [r[1] for r in rows]
        if scenario == "card_testing":
            assert all(a <= Decimal("2.00") for a in amounts[:-1]) and len(amounts) >= 7
            assert amounts[-1] >= Decimal("600") and len({r[2] for r in rows}) == 1
        elif scenario == "velocity_spike":
            assert len(rows) >= 15
        elif scenario == "impossible_travel":
            assert tuple(r[3] for r in rows) in ref.FAR_APART
        elif scenario == "new_device_large_transfer":
            device, = conn.execute("SELECT device_id FROM logins WHERE login_id = %s", (login_id,)).fetchone()
            earlier = conn.execute("SELECT COUNT(*) FROM logins WHERE device_id = %s AND login_id < %s",
                                   (device, login_id)).fetchone()[0]
            assert earlier == 0 and rows[0][4] == "transfer" and amounts[0] >= Decimal("2500")
        elif scenario == "mcc_anomaly":
            assert rows[0][5] in ref.HIGH_RISK_MCCS and amounts[0] >= Decimal("800")
        elif scenario == "dormant_reactivation":
            previous = conn.execute("""
                SELECT MAX(created_at) FROM transactions
                WHERE account_id = %s AND transaction_id < %s""", (account_id, min(tx_ids))).fetchone()[0]
            first = conn.execute("SELECT created_at FROM transactions WHERE transaction_id = %s", (min(tx_ids),)).fetchone()[0]
            assert (first - previous).days >= 90
