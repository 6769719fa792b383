"""Millions of payments of history for the query benchmark, generated inside Postgres.

The workload's history loader (pipeline/workload/history_load.py) writes
every payment with its ledger entries and balances from Python at ~19,000
rows/s: ten million payments would take it half an hour. The query
benchmark needs only the tables its questions read, `transactions` and
`disputes`, so they are generated here by `INSERT ... SELECT` over
`generate_series`, in time order (as an append-only table holds them), with
the shape the dashboards care about: skewed merchant popularity, a status
mix (settled, declined, reversed, pending), card and non-card channels, and
disputes opened up to 90 days after their charge. Accounts, cards and
merchants are picked from the seeded reference data, so the foreign keys hold
by construction and their triggers are skipped (as the bench stack's
superuser, `session_replication_role = replica`). Ledger entries are not
generated, so balances are not consistent with these payments: the
benchmark does not ask about them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from pipeline import log
from pipeline.config import PostgresConfig

_log = log.get("bench.queries")
CHUNK = 1_000_000  # payments per INSERT: progress in the log, and one transaction never holds all of them


@dataclass(frozen=True)
class Generated:
    payments: int
    disputes: int
    start: datetime
    end: datetime
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return (self.payments + self.disputes) / self.seconds if self.seconds else 0.0


_PAYMENTS = """
INSERT INTO transactions (account_id, card_id, merchant_id, amount, currency, direction, channel, country, status,
                          created_at, updated_at)
SELECT a.account_id,
       CASE WHEN s.channel IN ('card_present', 'ecommerce') THEN a.card_id END,
       m.merchant_id,
       round((1 + 400 * power(s.r_amount, 4))::numeric, 2),
       a.currency,
       CASE WHEN s.r_dir < 0.85 THEN 'debit' ELSE 'credit' END,
       s.channel,
       CASE WHEN s.channel = 'card_present' THEN m.country ELSE a.country END,
       CASE WHEN s.r_status < 0.90 THEN 'settled' WHEN s.r_status < 0.95 THEN 'declined'
            WHEN s.r_status < 0.97 THEN 'reversed' ELSE 'pending' END,
       s.at, s.at
FROM (
    SELECT g,
           %(start)s::timestamptz + (g - 1 + random()) * %(step)s::interval AS at,
           1 + floor(random() * %(accounts)s)::int AS account_n,
           1 + floor(power(random(), 2.5) * %(merchants)s)::int AS merchant_n,
           random() AS r_amount, random() AS r_dir, random() AS r_status,
           (ARRAY['card_present', 'card_present', 'card_present', 'card_present', 'ecommerce', 'ecommerce',
                  'ecommerce', 'transfer', 'transfer', 'atm'])[1 + floor(random() * 10)::int] AS channel
    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g
) s
JOIN bench_accounts a ON a.n = s.account_n
JOIN bench_merchants m ON m.n = s.merchant_n
ORDER BY s.g
"""

# Disputes contest settled debits, opened 1-90 days after the charge (never after the history's end).
_DISPUTES = """
INSERT INTO disputes (transaction_id, reason, amount, status, opened_at, resolved_at)
SELECT t.transaction_id,
       (ARRAY['fraud', 'not_received', 'duplicate', 'other'])[1 + floor(random() * 4)::int],
       t.amount,
       d.status,
       d.opened_at,
       CASE WHEN d.status <> 'open' THEN d.opened_at + interval '10 days' END
FROM transactions t
CROSS JOIN LATERAL (
    SELECT least(t.created_at + (1 + random() * 89) * interval '1 day', %(end)s::timestamptz - interval '1 second')
               AS opened_at,
           CASE WHEN random() < 0.6 THEN 'open' WHEN random() < 0.5 THEN 'won' ELSE 'lost' END AS status
) d
WHERE t.status = 'settled' AND t.direction = 'debit' AND t.created_at >= %(start)s AND t.created_at < %(end)s
  AND random() < %(rate)s AND NOT EXISTS (SELECT FROM disputes d0 WHERE d0.transaction_id = t.transaction_id)
ORDER BY d.opened_at
"""


def generate(pg: PostgresConfig, *, payments: int, start: datetime, end: datetime,
             dispute_rate: float = 0.002) -> Generated:
    """`payments` payments spread evenly from `start` to `end`, and their disputes, added to what the
    database holds (the benchmark's stack is purged before each run)."""
    started = time.monotonic()
    # As the superuser, of the bench stack's own server: the session skips the foreign keys' triggers
    # (session_replication_role), which hold by construction and would triple the load's time.
    with psycopg.connect(pg.dsn(superuser=True), autocommit=True) as conn:
        conn.execute("SET session_replication_role = replica")
        # Accounts with a card (so every channel has its card) and merchants, numbered for a random pick.
        conn.execute("""CREATE TEMP TABLE bench_accounts AS
            SELECT row_number() OVER (ORDER BY a.account_id) AS n, a.account_id, a.currency, cu.country, c.card_id
            FROM accounts a JOIN customers cu USING (customer_id)
            JOIN LATERAL (SELECT min(card_id) AS card_id FROM cards WHERE account_id = a.account_id) c
              ON c.card_id IS NOT NULL""")
        conn.execute("""CREATE TEMP TABLE bench_merchants AS
            SELECT row_number() OVER (ORDER BY merchant_id) AS n, merchant_id, country FROM merchants""")
        for table in ("bench_accounts", "bench_merchants"):  # looked up by n once per payment
            conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY (n)")
            conn.execute(f"ANALYZE {table}")
        accounts = conn.execute("SELECT count(*) FROM bench_accounts").fetchone()[0]
        merchants = conn.execute("SELECT count(*) FROM bench_merchants").fetchone()[0]
        if not accounts or not merchants:
            raise RuntimeError("no accounts with a card, or no merchants: seed the reference data first")
        step = (end - start) / payments
        for first in range(1, payments + 1, CHUNK):
            last = min(payments, first + CHUNK - 1)
            conn.execute(_PAYMENTS, {"start": start, "step": step, "accounts": accounts, "merchants": merchants,
                                     "first": first, "last": last})
            _log.info("bench.generated", payments=last, of=payments, seconds=round(time.monotonic() - started, 1))
        disputes = conn.execute(_DISPUTES, {"start": start, "end": end, "rate": dispute_rate}).rowcount
        conn.execute("ANALYZE transactions")
        conn.execute("ANALYZE disputes")
    return Generated(payments, disputes, start, end, time.monotonic() - started)


def history_span(months: int, end: datetime) -> tuple[datetime, datetime]:
    """`months` months (of 30.44 days) ending at `end`."""
    return end - timedelta(days=round(months * 30.44)), end
