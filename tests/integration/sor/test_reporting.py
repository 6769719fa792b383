"""The legacy reporting refresh on a hand-made dataset whose totals are known to the cent."""

import datetime as dt
from decimal import Decimal

import psycopg

from pipeline.sor import reporting, schema

D1, D2 = dt.date(2026, 3, 1), dt.date(2026, 3, 2)


def _load(conn):
    conn.execute("INSERT INTO customers (customer_id, full_name, email, country) VALUES (1, 'A', 'a@example.com', 'US')")
    conn.execute("""INSERT INTO accounts (account_id, customer_id, currency, home_timezone) VALUES
                    (1, 1, 'USD', 'America/New_York'), (2, 1, 'EUR', 'Europe/Berlin')""")
    conn.execute("INSERT INTO cards (card_id, account_id, card_token, pan_last4) VALUES (1, 1, 'tok1', '4242'), (2, 2, 'tok2', '1111')")
    conn.execute("INSERT INTO merchants (merchant_id, name, mcc, country) VALUES (1, 'Shop', '5411', 'US')")
    rows = [  # id, account, card, amount, currency, direction, status, created_at (UTC)
        (1, 1, 1, "10.10", "USD", "debit", "settled", "2026-03-01 00:00:00"),
        (2, 1, 1, "20.20", "USD", "debit", "settled", "2026-03-01 23:59:59.999999"),  # still day 1
        (3, 1, 1, "5.05", "USD", "debit", "declined", "2026-03-01 12:00:00"),
        (4, 1, 1, "99.99", "USD", "debit", "reversed", "2026-03-01 13:00:00"),       # excluded from volume
        (5, 1, 1, "7.00", "USD", "debit", "pending", "2026-03-01 14:00:00"),         # ignored
        (6, 2, 2, "0.01", "EUR", "debit", "settled", "2026-03-02 00:00:00"),         # day 2
        (7, 2, 2, "1000.00", "EUR", "credit", "settled", "2026-03-02 08:00:00"),
    ]
    for tx_id, account, card, amount, currency, direction, status, created in rows:
        conn.execute(
            "INSERT INTO transactions (transaction_id, account_id, card_id, merchant_id, amount, currency, direction,"
            " channel, country, status, created_at) VALUES (%s, %s, %s, 1, %s, %s, %s, 'ecommerce', 'US', %s, %s)",
            (tx_id, account, card, Decimal(amount), currency, direction, status, f"{created}+00"))
    conn.execute("INSERT INTO disputes (transaction_id, reason, amount) VALUES (2, 'fraud', 20.20)")


def test_refresh_produces_the_legacy_totals(fresh_database):
    schema.apply(fresh_database)
    with psycopg.connect(fresh_database.dsn()) as conn:
        _load(conn)
        conn.commit()
    first = reporting.refresh(fresh_database)
    assert set(first) == set(reporting.VIEWS)
    with psycopg.connect(fresh_database.dsn()) as conn:
        currency = conn.execute("SELECT day, currency, settled_count, debit_total, credit_total, declined_count,"
                                " reversed_count FROM reporting.daily_currency_totals ORDER BY day, currency").fetchall()
        assert currency == [
            (D1, "USD", 2, Decimal("30.30"), Decimal("0"), 1, 1),
            (D2, "EUR", 2, Decimal("0.01"), Decimal("1000.00"), 0, 0),
        ]
        merchant = conn.execute("SELECT day, currency, settled_count, settled_total, disputes_opened"
                                " FROM reporting.daily_merchant_summary ORDER BY day").fetchall()
        assert merchant == [(D1, "USD", 2, Decimal("30.30"), 1), (D2, "EUR", 2, Decimal("1000.01"), 0)]

        # A late settlement lands in its own (old) day on the next refresh, which runs CONCURRENTLY.
        conn.execute("UPDATE transactions SET status = 'settled' WHERE transaction_id = 5")
        conn.commit()
    reporting.refresh(fresh_database)
    with psycopg.connect(fresh_database.dsn()) as conn:
        account = conn.execute("SELECT settled_count, debit_total FROM reporting.daily_account_summary"
                               " WHERE day = %s AND account_id = 1", (D1,)).fetchone()
    assert account == (3, Decimal("37.30"))
