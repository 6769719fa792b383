"""Druid `transactions` against Postgres, per day x currency x merchant x status: counts and cents.

Shared by the Druid tests (imported as a sibling module): a change counted
twice or lost shows as a difference in one slice.
"""

from __future__ import annotations

import psycopg

Slice = tuple[str, str, int | None, str]  # day, currency, merchant, status

PG_TOTALS = """
SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, currency, merchant_id, status,
       COUNT(*) AS n, SUM(amount * 100)::bigint AS cents
FROM transactions GROUP BY 1, 2, 3, 4"""


def druid_totals(table: str) -> str:
    return f"""
SELECT TIME_FORMAT(__time, 'yyyy-MM-dd') AS "day", currency, merchant_id, status,
       SUM(tx_count) AS n, SUM(amount_cents) AS cents
FROM "{table}" GROUP BY 1, 2, 3, 4 HAVING SUM(tx_count) <> 0 OR SUM(amount_cents) <> 0"""


def as_map(rows) -> dict[Slice, tuple[int, int]]:
    return {(r["day"], r["currency"], r["merchant_id"], r["status"]): (int(r["n"]), int(r["cents"])) for r in rows}


def postgres(pg) -> dict[Slice, tuple[int, int]]:
    with psycopg.connect(pg.dsn()) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        return as_map(cur.execute(PG_TOTALS).fetchall())


def diff(want: dict, got: dict) -> list:
    return [(k, want.get(k), got.get(k)) for k in sorted(set(want) | set(got), key=str) if want.get(k) != got.get(k)]


def assert_equal(druid, pg, timeout_s: float = 180) -> None:
    """Wait until Druid's totals equal Postgres's (now); fail with the slices that differ."""
    want = postgres(pg)
    table = druid.name("transactions")
    try:
        druid.wait_for(druid_totals(table), lambda rows: as_map(rows) == want, timeout_s,
                       what="Druid transactions equal to Postgres")
    except AssertionError:
        got = as_map(druid.client.sql(druid_totals(table)))
        raise AssertionError(f"{len(diff(want, got))} slices differ (slice, postgres, druid): "
                             f"{diff(want, got)[:10]}") from None
