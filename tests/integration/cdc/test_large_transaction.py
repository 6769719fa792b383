"""A transaction of 1M rows streams through with bounded memory: the reader never holds the
transaction, the producer's bounded buffer pushes back on reading WAL instead."""

import time

import psycopg

from pipeline.kafka.changelog import end_offsets

ROWS = 1_000_000
RSS_LIMIT_MB = 300  # measured 65 MB; holding the transaction would need well over 1 GB


def test_million_row_transaction_bounded_memory(fresh_database, cdc_reader):
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE bulk (id bigint PRIMARY KEY, account_id int, amount numeric(12,2), memo text)")
    reader = cdc_reader(fresh_database, max_buffered_messages=50_000).start()
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute("INSERT INTO bulk SELECT g, g %% 1000, g / 100.0, 'payment ' || g FROM generate_series(1, %s) g",
                     (ROWS,))
    started = time.monotonic()
    health = reader.fence(timeout_s=600)
    seconds = time.monotonic() - started
    # One Postgres transaction is one Kafka transaction: its commit marker takes one offset per partition.
    assert ROWS <= end_offsets(reader.bootstrap, f"{reader.prefix}.public.bulk") <= ROWS + 3
    peak = reader.peak_rss_mb()
    print(f"1M-row transaction: {ROWS / seconds:,.0f} rows/s after commit, reader peak RSS {peak:.0f} MB")
    assert peak < RSS_LIMIT_MB, f"reader peak RSS {peak:.0f} MB"
    assert health["events"] == ROWS
