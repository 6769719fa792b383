"""Reference data for the workload: customers, accounts, cards, merchants, loaded with COPY.

Deterministic for a seed. A few accounts are dormant (no activity for months),
so the dormant-reactivation scenario has something to wake up.

Everything is dated so a back history (history.py) can fill the past without
contradicting it: merchants exist for years, a customer exists a day before
their first account opens, a card is issued when its account opens, and the
opening deposit is the account's first ledger entry (at `opened_at`). History
activity then happens only after `opened_at`, and for a dormant account only
before its `last_activity_at`.

`draw` is the pure part (also what the Flink benchmark's computed change
stream starts from); `seed` writes its rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import psycopg

from pipeline.workload import reference as ref

DORMANT_SHARE = 0.03
MERCHANT_AGE_DAYS = 2000  # every merchant predates the oldest account (opened at most 1,300 days ago)


@dataclass(frozen=True)
class Reference:
    """The rows, in COPY column order; ids are the ones a fresh database's identities give."""

    merchants: list[tuple]  # (name, mcc, country, created_at); merchant_id = position + 1
    customers: list[list]  # [customer_id, full_name, email, country, risk_tier, created_at]
    accounts: list[tuple]  # (account_id, customer_id, currency, home_timezone, balance, opened_at, last_activity_at)
    cards: list[tuple]  # (card_id, account_id, card_token, pan_last4, issued_at)


def draw(*, customers: int, merchants: int, seed: int, now: datetime) -> Reference:
    rng = random.Random(f"seed-{seed}")
    merchant_rows = []
    for i in range(merchants):
        high_risk = i % 25 == 0
        mcc = rng.choice(ref.HIGH_RISK_MCCS if high_risk else ref.EVERYDAY_MCCS)
        country = rng.choice(list(ref.COUNTRIES)) if i % 7 == 0 else rng.choice(ref.HOME_COUNTRIES)
        merchant_rows.append((f"Merchant {i:05d}", mcc, country, now - timedelta(days=MERCHANT_AGE_DAYS + i)))
    customer_rows = []
    for c in range(1, customers + 1):
        tier = rng.choices(("low", "medium", "high"), (0.85, 0.12, 0.03))[0]
        customer_rows.append([c, f"Customer {c:06d}", f"customer{c}@example.com", rng.choice(ref.HOME_COUNTRIES),
                              tier, now])
    account_rows, card_rows = [], []
    account_id = card_id = 0
    for c in range(1, customers + 1):
        country = None
        for _ in range(rng.choice((1, 1, 1, 2))):
            account_id += 1
            country = country or rng.choice(ref.HOME_COUNTRIES)
            tz, currency, _ = ref.COUNTRIES[country]
            dormant = rng.random() < DORMANT_SHARE
            last = now - timedelta(days=rng.randint(120, 400)) if dormant else now - timedelta(hours=rng.randint(1, 72))
            opened = last - timedelta(days=rng.randint(30, 900))
            account_rows.append((account_id, c, currency, tz, rng.randint(200, 20000), opened, last))
            customer_rows[c - 1][5] = min(customer_rows[c - 1][5], opened - timedelta(days=1))
            for _ in range(rng.choice((1, 1, 2))):
                card_id += 1
                card_rows.append((card_id, account_id, f"tok_{rng.getrandbits(64):016x}", f"{rng.randint(0, 9999):04d}",
                                  opened))
    return Reference(merchant_rows, customer_rows, account_rows, card_rows)


def seed(conn: psycopg.Connection, *, customers: int, merchants: int, seed: int) -> None:
    """Insert reference data unless customers already exist (idempotent per database)."""
    if conn.execute("SELECT EXISTS (SELECT 1 FROM customers)").fetchone()[0]:
        return
    rows = draw(customers=customers, merchants=merchants, seed=seed, now=datetime.now(timezone.utc))
    with conn.transaction():
        with conn.cursor().copy("COPY merchants (name, mcc, country, created_at) FROM STDIN") as copy:
            for row in rows.merchants:
                copy.write_row(row)
        with conn.cursor().copy(
            "COPY customers (customer_id, full_name, email, country, risk_tier, created_at) FROM STDIN"
        ) as copy:
            for row in rows.customers:
                copy.write_row(row)
        with conn.cursor().copy(
            "COPY accounts (account_id, customer_id, currency, home_timezone, balance, opened_at, last_activity_at) FROM STDIN"
        ) as copy:
            for row in rows.accounts:
                copy.write_row(row)
        with conn.cursor().copy("COPY cards (card_id, account_id, card_token, pan_last4, issued_at) FROM STDIN") as copy:
            for row in rows.cards:
                copy.write_row(row)
        # Opening balances are ledger-backed too, so balance = sum(ledger) holds from the start.
        conn.execute("""
            WITH opening AS (
                INSERT INTO transactions (account_id, amount, currency, direction, channel, country, status,
                                          created_at, updated_at)
                SELECT a.account_id, a.balance, a.currency, 'credit', 'transfer', c.country, 'settled',
                       a.opened_at, a.opened_at
                FROM accounts a JOIN customers c USING (customer_id)
                RETURNING transaction_id, account_id, amount, created_at)
            INSERT INTO ledger_entries (account_id, transaction_id, amount, balance_after, created_at)
            SELECT account_id, transaction_id, amount, amount, created_at FROM opening""")
        for table, column in (("customers", "customer_id"), ("accounts", "account_id"), ("cards", "card_id")):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT max({column}) FROM {table}))")
