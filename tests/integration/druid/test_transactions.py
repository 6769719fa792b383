"""Postgres -> CDC reader (signed facts, exactly-once) -> Druid `transactions`: totals equal Postgres to the cent.

Compared per day x currency x merchant x status, counts and cents, after
every kind of change a payment goes through: inserts on several days,
pending -> settled / declined, settled -> reversed, an update that moves a
payment to another merchant (a dimension) and one that changes its amount,
deletes, and an update of the primary key. Then under a steady stream of
writes, the reader is killed -9 and restarted, and the Druid indexer is
killed -9 mid-task and restarted: the totals are still exact (a change
counted twice or lost would show as a difference in one slice).
"""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from totals import assert_equal
from traffic import Writer, every_kind_of_change, start_pipeline

pytestmark = pytest.mark.integration

DAYS_BACK = (0, 1, 6, 40)  # payments created today, yesterday, last week, and 40 days ago (late changes)


@pytest.fixture(scope="module")
def pipeline(fresh_database, cdc_reader, druid):
    return start_pipeline(fresh_database, cdc_reader, druid)


def test_every_kind_of_change_is_exact(pipeline, druid):
    pg, reader, accounts, merchants = pipeline
    every_kind_of_change(pg, accounts, merchants, DAYS_BACK)
    assert_equal(druid, pg)


def test_exact_after_the_reader_and_the_druid_indexer_are_killed(pipeline, druid, test_stack):
    pg, reader, accounts, merchants = pipeline
    with Writer(pg, accounts, merchants, DAYS_BACK) as writer:
        reader.wait_for(lambda h: h["transactions"] >= 20, 60, "streaming writes")
        reader.kill9()
        time.sleep(1)
        reader.start(timeout_s=120)
        reader.wait_for(lambda h: h["transactions"] >= 20, 60, "streaming after its restart")
        indexer = next(r for r in test_stack.supervisor.status() if r.name == "druid-indexer")
        os.kill(indexer.pid, signal.SIGKILL)
        time.sleep(2)
        test_stack.supervisor.up(only={"druid-indexer"})
        time.sleep(3)
    assert writer.count > 50, writer.count
    reader.fence()
    assert_equal(druid, pg, timeout_s=300)


def test_a_dispute_90_days_late_lands_on_both_days(pipeline, druid):
    """A charge from 90 days ago is disputed today and lost (the payment reversed): the dispute counts on
    today's dispute day and, through its charge, on the charge's day; the charge's own day loses the
    settled payment to `reversed`."""
    pg, reader, accounts, merchants = pipeline
    account, currency = accounts[0]
    charged = datetime.now(timezone.utc) - timedelta(days=90)
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        tx = conn.execute(
            "INSERT INTO transactions (account_id, merchant_id, amount, currency, direction, channel, country, "
            "status, created_at) VALUES (%s, %s, 250.00, %s, 'debit', 'transfer', 'FR', 'settled', %s) "
            "RETURNING transaction_id", (account, merchants[0], currency, charged)).fetchone()[0]
        dispute = conn.execute("INSERT INTO disputes (transaction_id, reason, amount) VALUES (%s, 'fraud', 250.00) "
                               "RETURNING dispute_id", (tx,)).fetchone()[0]
        with conn.transaction():
            conn.execute("UPDATE disputes SET status = 'lost', resolved_at = now() WHERE dispute_id = %s", (dispute,))
            conn.execute("UPDATE transactions SET status = 'reversed' WHERE transaction_id = %s", (tx,))
    assert_equal(druid, pg)
    disputes, transactions = druid.name("disputes"), druid.name("transactions")
    by_dispute_day = (f'SELECT TIME_FORMAT(__time, \'yyyy-MM-dd\') AS "day", status, SUM(dispute_count) AS n, '
                      f'SUM(amount_cents) AS cents FROM "{disputes}" WHERE transaction_id = {tx} GROUP BY 1, 2 '
                      f'HAVING SUM(dispute_count) <> 0')
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    druid.wait_for(by_dispute_day, lambda rows: rows == [{"day": today, "status": "lost", "n": 1, "cents": 25_000}],
                   what="the dispute on its own day")
    by_charge_day = (f'SELECT TIME_FORMAT(c.charged, \'yyyy-MM-dd\') AS "day", SUM(d.amount_cents) AS cents '
                     f'FROM "{disputes}" d JOIN (SELECT transaction_id, MIN(__time) AS charged FROM "{transactions}" '
                     f'WHERE transaction_id = {tx} GROUP BY 1) c ON d.transaction_id = c.transaction_id GROUP BY 1')
    assert druid.client.sql(by_charge_day) == [{"day": charged.strftime("%Y-%m-%d"), "cents": 25_000}]
