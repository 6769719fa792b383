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
import random
import signal
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from pipeline.druid import apply_all
from tests.integration.druid import fintech

pytestmark = pytest.mark.integration

DAYS_BACK = (0, 1, 6, 40)  # payments created today, yesterday, last week, and 40 days ago (late changes)
Slice = tuple[str, str, int | None, str]  # day, currency, merchant, status

PG_TOTALS = """
SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, currency, merchant_id, status,
       COUNT(*) AS n, SUM(amount * 100)::bigint AS cents
FROM transactions GROUP BY 1, 2, 3, 4"""


def _druid_totals(table: str) -> str:
    return f"""
SELECT TIME_FORMAT(__time, 'yyyy-MM-dd') AS "day", currency, merchant_id, status,
       SUM(tx_count) AS n, SUM(amount_cents) AS cents
FROM "{table}" GROUP BY 1, 2, 3, 4 HAVING SUM(tx_count) <> 0 OR SUM(amount_cents) <> 0"""


def _as_map(rows) -> dict[Slice, tuple[int, int]]:
    return {(r["day"], r["currency"], r["merchant_id"], r["status"]): (int(r["n"]), int(r["cents"])) for r in rows}


def _postgres(pg) -> dict[Slice, tuple[int, int]]:
    with psycopg.connect(pg.dsn()) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return _as_map(cur.execute(PG_TOTALS).fetchall())


def _diff(want: dict, got: dict) -> list:
    return [(k, want.get(k), got.get(k)) for k in sorted(set(want) | set(got), key=str) if want.get(k) != got.get(k)]


def _assert_equal(druid, pg, timeout_s: float = 180) -> None:
    want = _postgres(pg)
    table = druid.name("transactions")
    try:
        druid.wait_for(_druid_totals(table), lambda rows: _as_map(rows) == want, timeout_s,
                       what="Druid transactions equal to Postgres")
    except AssertionError:
        got = _as_map(druid.client.sql(_druid_totals(table)))
        raise AssertionError(f"{len(_diff(want, got))} slices differ (slice, postgres, druid): "
                             f"{_diff(want, got)[:10]}") from None


class _Writer:
    """Payments and their changes written continuously from a thread, in small transactions."""

    def __init__(self, pg, accounts: list[tuple[int, str]], merchants: list[int]) -> None:
        self.pg, self.accounts, self.merchants = pg, accounts, merchants
        self.stop = threading.Event()
        self.count = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        rng = random.Random(11)
        with psycopg.connect(self.pg.dsn(), autocommit=True) as conn:
            while not self.stop.is_set():
                account, currency = rng.choice(self.accounts)
                days = rng.choice(DAYS_BACK)
                with conn.transaction():
                    tx = conn.execute(
                        "INSERT INTO transactions (account_id, merchant_id, amount, currency, direction, channel, "
                        "country, created_at) VALUES (%s, %s, %s, %s, 'debit', 'transfer', 'DE', now() - %s) "
                        "RETURNING transaction_id",
                        (account, rng.choice(self.merchants), f"{rng.randint(1, 99999) / 100:.2f}", currency,
                         timedelta(days=days))).fetchone()[0]
                    if rng.random() < 0.3:
                        conn.execute("UPDATE transactions SET status = 'settled' WHERE transaction_id = %s", (tx,))
                conn.execute("UPDATE transactions SET status = %s WHERE transaction_id = (SELECT max(transaction_id) "
                             "FROM transactions WHERE status = 'pending')", (rng.choice(("settled", "declined")),))
                self.count += 1
                time.sleep(0.005)

    def __enter__(self) -> "_Writer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)


@pytest.fixture(scope="module")
def pipeline(fresh_database, cdc_reader, druid):
    pg = fresh_database
    reader = fintech.start(pg, cdc_reader, druid, customers=60, merchants=12, seed=3)
    applied = apply_all(druid.config, skip_missing_topics=True)
    assert druid.name("transactions") in applied, applied
    with psycopg.connect(pg.dsn()) as conn:
        accounts = conn.execute("SELECT account_id, currency FROM accounts ORDER BY account_id").fetchall()
        merchants = [m for (m,) in conn.execute("SELECT merchant_id FROM merchants ORDER BY merchant_id")]
    return pg, reader, accounts, merchants


def test_every_kind_of_change_is_exact(pipeline, druid):
    pg, reader, accounts, merchants = pipeline
    now = datetime.now(timezone.utc)
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        ids = []
        for i, days in enumerate(DAYS_BACK * 5):
            account, currency = accounts[i % len(accounts)]
            ids.append(conn.execute(
                "INSERT INTO transactions (account_id, merchant_id, amount, currency, direction, channel, country, "
                "created_at) VALUES (%s, %s, %s, %s, 'debit', 'transfer', 'FR', %s) RETURNING transaction_id",
                (account, merchants[i % len(merchants)], f"{10 + i}.{i:02d}", currency, now - timedelta(days=days)),
            ).fetchone()[0])
        settle, decline, reverse, move, reprice, delete, rekey = ids[0:4], ids[4:7], ids[0:2], ids[7:9], \
            ids[9:11], ids[11:13], ids[13]
        conn.execute("UPDATE transactions SET status = 'settled' WHERE transaction_id = ANY(%s)", (settle,))
        conn.execute("UPDATE transactions SET status = 'declined' WHERE transaction_id = ANY(%s)", (decline,))
        conn.execute("UPDATE transactions SET status = 'reversed' WHERE transaction_id = ANY(%s)", (reverse,))
        conn.execute("UPDATE transactions SET merchant_id = %s WHERE transaction_id = ANY(%s)", (merchants[-1], move))
        conn.execute("UPDATE transactions SET amount = amount + 0.07 WHERE transaction_id = ANY(%s)", (reprice,))
        conn.execute("DELETE FROM transactions WHERE transaction_id = ANY(%s)", (delete,))
        conn.execute("UPDATE transactions SET transaction_id = transaction_id + 1000000 WHERE transaction_id = %s",
                     (rekey,))
    _assert_equal(druid, pg)


def test_exact_after_the_reader_and_the_druid_indexer_are_killed(pipeline, druid, test_stack):
    pg, reader, accounts, merchants = pipeline
    with _Writer(pg, accounts, merchants) as writer:
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
    _assert_equal(druid, pg, timeout_s=300)


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
    _assert_equal(druid, pg)
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
