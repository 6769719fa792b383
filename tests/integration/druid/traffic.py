"""The Druid tests' load: a seeded fintech database streamed by the CDC reader into applied Druid specs, and
payments with their changes written continuously from a thread, in small transactions."""

from __future__ import annotations

import random
import threading
import time
from datetime import datetime, timedelta, timezone

import psycopg

from pipeline.druid import apply_all
from pipeline.sor import schema
from pipeline.workload import seed as seeding

BOUNDARY_PAUSE_S = 2.0  # Writer(window_s=...): no insert starts this close before a window boundary


def start_fintech(pg, cdc_reader, druid, *, customers: int = 60, merchants: int = 12, seed: int = 3):
    """Schema and reference data in `pg`, an exactly-once reader streaming it; `druid` reads its topics."""
    schema.apply(pg)
    with psycopg.connect(pg.dsn()) as conn:
        seeding.seed(conn, customers=customers, merchants=merchants, seed=seed)
    reader = cdc_reader(pg, delivery="exactly-once").start(timeout_s=180)
    druid.with_topic_prefix(reader.prefix)
    return reader


def start_pipeline(pg, cdc_reader, druid):
    """start_fintech, then every spec applied for its facts.
    Returns (pg, reader, accounts as (id, currency), merchant ids)."""
    reader = start_fintech(pg, cdc_reader, druid)
    applied = apply_all(druid.config, skip_missing_topics=True)
    assert druid.name("transactions") in applied, applied
    return pg, reader, *reference(pg)


def reference(pg) -> tuple[list[tuple[int, str]], list[int]]:
    """What payments are made with: accounts as (id, currency), merchant ids."""
    with psycopg.connect(pg.dsn()) as conn:
        accounts = conn.execute("SELECT account_id, currency FROM accounts ORDER BY account_id").fetchall()
        merchants = [m for (m,) in conn.execute("SELECT merchant_id FROM merchants ORDER BY merchant_id")]
    return accounts, merchants


def every_kind_of_change(pg, accounts: list[tuple[int, str]], merchants: list[int], days_back: tuple[int, ...]) -> None:
    """Payments created `days_back` days ago (five rounds), then every kind of change a payment goes through:
    pending -> settled / declined, settled -> reversed, another merchant (a dimension), another amount,
    deletes, and an update of the primary key."""
    now = datetime.now(timezone.utc)
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        ids = []
        for i, days in enumerate(days_back * 5):
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


class Writer:
    """Inserts payments created `days_back` days ago (one chosen per payment), settles some in the same
    transaction, and settles or declines the newest pending one in the next; counts its rounds.

    With `window_s`, no insert's transaction spans a multiple of `window_s` seconds of the clock: the
    windows job buckets a change by its commit time, which Postgres does not keep (track_commit_timestamp
    is off), so the truth buckets by `created_at` (now(), the transaction's start), and both must fall in
    one window. The writer pauses over each boundary and counts, in `straddled`, any insert whose
    transaction nevertheless ended in the next window (a stall longer than the pause)."""

    def __init__(self, pg, accounts: list[tuple[int, str]], merchants: list[int], days_back: tuple[int, ...],
                 seed: int = 11, window_s: int | None = None) -> None:
        self.pg, self.accounts, self.merchants, self.days_back = pg, accounts, merchants, days_back
        self.seed, self.window_s = seed, window_s
        self.stop = threading.Event()
        self.count = self.straddled = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _clear_of_boundary(self) -> float:
        """Sleeps over a window boundary less than BOUNDARY_PAUSE_S away; returns the window now."""
        if not self.window_s:
            return 0
        left = self.window_s - time.time() % self.window_s
        if left < BOUNDARY_PAUSE_S:
            time.sleep(left)
        return time.time() // self.window_s

    def _run(self) -> None:
        rng = random.Random(self.seed)
        with psycopg.connect(self.pg.dsn(), autocommit=True) as conn:
            while not self.stop.is_set():
                account, currency = rng.choice(self.accounts)
                days = rng.choice(self.days_back)
                window = self._clear_of_boundary()
                with conn.transaction():
                    tx = conn.execute(
                        "INSERT INTO transactions (account_id, merchant_id, amount, currency, direction, channel, "
                        "country, created_at) VALUES (%s, %s, %s, %s, 'debit', 'transfer', 'DE', now() - %s) "
                        "RETURNING transaction_id",
                        (account, rng.choice(self.merchants), f"{rng.randint(1, 99999) / 100:.2f}", currency,
                         timedelta(days=days))).fetchone()[0]
                    if rng.random() < 0.3:
                        conn.execute("UPDATE transactions SET status = 'settled' WHERE transaction_id = %s", (tx,))
                if self.window_s and time.time() // self.window_s != window:
                    self.straddled += 1
                conn.execute("UPDATE transactions SET status = %s WHERE transaction_id = (SELECT max(transaction_id) "
                             "FROM transactions WHERE status = 'pending')", (rng.choice(("settled", "declined")),))
                self.count += 1
                time.sleep(0.005)

    def __enter__(self) -> "Writer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(30)
