"""Reference attributes as Druid lookups: pushed from the compacted CDC topics, current after an update.

A merchant renamed and recategorised in Postgres shows under its new name in
Druid SQL once the reader has streamed the change and the sync has pushed it,
for the payments made before the change too: the facts carry the id only.
"""

from __future__ import annotations

import psycopg
import pytest

from pipeline.druid import apply_all, lookup_sync
from traffic import start_fintech

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def synced(fresh_database, cdc_reader, druid):
    pg = fresh_database
    reader = start_fintech(pg, cdc_reader, druid, customers=20, merchants=5, seed=5)
    sync = lookup_sync(druid.config)
    return pg, reader, sync


def _lookup(druid, name: str, key) -> str | None:
    return f"SELECT LOOKUP('{key}', '{druid.name(name)}') AS v"


def test_every_lookup_is_pushed_with_every_current_row(synced, druid):
    pg, reader, sync = synced
    pushed = sync.once()
    with psycopg.connect(pg.dsn()) as conn:
        merchants = dict(conn.execute("SELECT merchant_id, name FROM merchants"))
        accounts = dict(conn.execute("SELECT account_id, currency FROM accounts"))
    assert pushed[druid.name("merchant_name")] == len(merchants) == 5
    assert pushed[druid.name("account_currency")] == len(accounts)
    merchant, name = sorted(merchants.items())[0]
    druid.wait_for(_lookup(druid, "merchant_name", merchant), lambda rows: rows[0]["v"] == name, 60,
                   what="the merchant_name lookup")
    assert sync.once() == {}, "nothing changed: nothing is pushed again"


def test_an_update_shows_in_old_rows_too(synced, druid):
    pg, reader, sync = synced
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        merchant, account, currency = conn.execute(
            "SELECT m.merchant_id, a.account_id, a.currency FROM merchants m, accounts a "
            "ORDER BY 1, 2 LIMIT 1").fetchone()
        conn.execute("INSERT INTO transactions (account_id, merchant_id, amount, currency, direction, channel, "
                     "country) VALUES (%s, %s, 12.34, %s, 'debit', 'transfer', 'DE')", (account, merchant, currency))
        cents = conn.execute("SELECT SUM(amount * 100)::bigint FROM transactions WHERE merchant_id = %s",
                             (merchant,)).fetchone()[0]  # the seed's payments to it, if any, and this one
    assert druid.name("transactions") in apply_all(druid.config, skip_missing_topics=True, only={"transactions"})
    table = druid.name("transactions")
    query = (f"SELECT LOOKUP(CAST(merchant_id AS VARCHAR), '{druid.name('merchant_name')}') AS name, "
             f"SUM(amount_cents) AS cents FROM \"{table}\" WHERE merchant_id = {merchant} GROUP BY 1")
    druid.wait_for(query, lambda rows: len(rows) == 1 and rows[0]["cents"] == cents and rows[0]["name"], 120,
                   what="the payment under its merchant's name")
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute("UPDATE merchants SET name = 'Renamed Coffee Ltd', mcc = '5814' WHERE merchant_id = %s",
                     (merchant,))
    reader.fence()
    pushed = sync.once()
    assert set(pushed) == {druid.name("merchant_name"), druid.name("merchant_mcc")}, pushed
    druid.wait_for(query, lambda rows: rows == [{"name": "Renamed Coffee Ltd", "cents": cents}], 60,
                   what="the old payment under the new name")
