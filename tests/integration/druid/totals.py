"""Druid against Postgres, counts and cents: `transactions` per day x currency x merchant x status, its
rollup `transactions_daily` per day x currency x status x country, `tx_windows` per window x dimension x
currency.

Shared by the Druid tests (imported as a sibling module): a change counted
twice or lost shows as a difference in one slice.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from flink_jobs.windows import DIMENSIONS, WINDOW_S

class DayTotals:
    """Counts and cents of the payments per day x `columns`, as Postgres and as a Druid datasource hold them."""

    def __init__(self, *columns: str) -> None:
        self.columns = columns
        group = ", ".join(str(i) for i in range(1, len(columns) + 2))
        listed = ", ".join(columns)
        self.postgres_sql = f"""
SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, {listed},
       COUNT(*) AS n, SUM(amount * 100)::bigint AS cents
FROM transactions GROUP BY {group}"""
        self._druid_sql = f"""
SELECT TIME_FORMAT(__time, 'yyyy-MM-dd') AS "day", {listed}, SUM(tx_count) AS n, SUM(amount_cents) AS cents
FROM "{{table}}" GROUP BY {group} HAVING SUM(tx_count) <> 0 OR SUM(amount_cents) <> 0"""

    def druid_sql(self, table: str) -> str:
        return self._druid_sql.format(table=table)

    def as_map(self, rows) -> dict[tuple, tuple[int, int]]:
        return {(r["day"], *(r[c] for c in self.columns)): (int(r["n"]), int(r["cents"])) for r in rows}

    def postgres(self, pg) -> dict[tuple, tuple[int, int]]:
        with psycopg.connect(pg.dsn()) as conn:
            return self.as_map(conn.cursor(row_factory=psycopg.rows.dict_row).execute(self.postgres_sql).fetchall())


TRANSACTIONS = DayTotals("currency", "merchant_id", "status")  # `transactions`
DAILY = DayTotals("currency", "status", "country")  # `transactions_daily`: the same facts rolled up, no ids


def diff(want: dict, got: dict) -> list:
    return [(k, want.get(k), got.get(k)) for k in sorted(set(want) | set(got), key=str) if want.get(k) != got.get(k)]


def assert_equal(druid, pg, timeout_s: float = 180) -> None:
    """Wait until Druid's totals, in `transactions` and in its daily rollup, equal Postgres's (now); fail with
    the slices that differ."""
    for name, totals in (("transactions", TRANSACTIONS), ("transactions_daily", DAILY)):
        _converge(druid, totals.postgres(pg), totals.druid_sql(druid.name(name)), totals.as_map, name, timeout_s)


def _converge(druid, want: dict, query: str, as_map, what: str, timeout_s: float) -> None:
    """Wait until `as_map(rows of query)` equals `want`; fail with the slices that differ."""
    try:
        druid.wait_for(query, lambda rows: as_map(rows) == want, timeout_s, what=f"Druid {what} equal to Postgres")
    except AssertionError:
        got = as_map(druid.client.sql(query))
        raise AssertionError(f"{what}: {len(diff(want, got))} slices differ (slice, postgres, druid): "
                             f"{diff(want, got)[:10]}") from None


# `tx_windows`, per window x dimension x currency. A window's rows sum the signed changes committed in it;
# with only inserts and status changes (Writer), that is the payments inserted in it: one each, their
# amount, under their account and again under their merchant.
WindowSlice = tuple[str, str, str]  # window start (UTC, minutes), dimension, currency

PG_WINDOWS = f"""
SELECT to_char(date_bin('{WINDOW_S} seconds', created_at, TIMESTAMPTZ 'epoch') AT TIME ZONE 'UTC',
               'YYYY-MM-DD HH24:MI') AS "window", currency, COUNT(*) AS n, SUM(amount * 100)::bigint AS cents
FROM transactions WHERE transaction_id > %(after)s AND created_at < %(until)s GROUP BY 1, 2"""


def druid_windows(table: str, until: datetime) -> str:
    return f"""
SELECT TIME_FORMAT(__time, 'yyyy-MM-dd HH:mm') AS "window", dimension, currency,
       SUM(tx_count) AS n, SUM(amount_cents) AS cents
FROM "{table}" WHERE __time < TIMESTAMP '{until:%Y-%m-%d %H:%M:%S}'
GROUP BY 1, 2, 3 HAVING SUM(tx_count) <> 0 OR SUM(amount_cents) <> 0"""


def windows_map(rows) -> dict[WindowSlice, tuple[int, int]]:
    return {(r["window"], r["dimension"], r["currency"]): (int(r["n"]), int(r["cents"])) for r in rows}


def postgres_windows(pg, after_tx: int, until: datetime) -> dict[WindowSlice, tuple[int, int]]:
    """The windows before `until` of the payments after `after_tx` (those before it reach the job as
    snapshot rows, which it skips), once per dimension."""
    with psycopg.connect(pg.dsn()) as conn:
        cur = conn.cursor(row_factory=psycopg.rows.dict_row)
        rows = cur.execute(PG_WINDOWS, {"after": after_tx, "until": until}).fetchall()
    return windows_map([{**r, "dimension": d} for r in rows for d in DIMENSIONS])


def assert_windows_equal(druid, pg, after_tx: int, until: datetime, timeout_s: float = 180) -> None:
    """Wait until Druid's `tx_windows` before `until` equal Postgres's; fail with the slices that differ."""
    _converge(druid, postgres_windows(pg, after_tx, until), druid_windows(druid.name("tx_windows"), until),
              windows_map, "tx_windows", timeout_s)
