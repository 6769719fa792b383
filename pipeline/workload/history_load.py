"""`cdc-olap history`: load the back history (history.py) into the system of record with COPY.

One transaction, holding locks that keep writers out, so the load is all or
nothing and no live step interleaves with it: the history's ledger entries must
come before any live entry of the same account, or the running balances would
disagree with the entry order. Hence it refuses when a history is already there
(ground_truth.history_loads) or when live traffic has already been written.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone

import psycopg
from psycopg.types.json import Jsonb
from tqdm import tqdm

from pipeline import log
from pipeline.config import PostgresConfig
from pipeline.workload import generator
from pipeline.workload.history import History, HistorySpec, Lifetime
from pipeline.workload.ids import reserve

_log = log.get("history")
_ID_COLUMNS = {"transactions": "transaction_id", "ledger_entries": "entry_id"}


class HistoryPresent(Exception):
    """The database already has a history or live traffic; the message says which and what to do."""


@dataclass(frozen=True)
class LoadResult:
    rows: dict[str, int]
    seconds: float
    starts_at: datetime
    ends_at: datetime

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())

    @property
    def rows_per_s(self) -> float:
        return self.total_rows / self.seconds if self.seconds else 0.0


def load(pg: PostgresConfig, spec: HistorySpec, *, customers: int, progress: bool = True,
         end: datetime | None = None) -> LoadResult:
    """Seed if needed, then load `spec.months` of history ending at `end` (default: today 00:00 UTC)."""
    generator.prepare(pg, generator.WorkloadSpec(seed=spec.seed, customers=customers))
    end = end or datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    with psycopg.connect(pg.dsn()) as conn, conn.transaction():
        conn.execute("LOCK TABLE accounts, transactions, ledger_entries, logins, disputes IN SHARE ROW EXCLUSIVE MODE")
        _refuse_if_present(conn)
        accounts, merchants = generator.load_universe(conn)
        history = History(spec, accounts, _lifetimes(conn), merchants, end)
        started = time.monotonic()
        rows: Counter = Counter()
        days = tqdm(history.generate(lambda table, n: reserve(conn, table, _ID_COLUMNS[table], n)),
                    total=history.days, unit="day", desc="history", disable=not progress)
        for batch in days:
            for table, columns, table_rows in batch.tables():
                if table_rows:
                    with conn.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in table_rows:
                            copy.write_row(row)
                    rows[table] += len(table_rows)
            days.set_postfix(rows=sum(rows.values()), refresh=False)
        _update_accounts(conn, history)
        result = LoadResult(dict(rows), time.monotonic() - started, history.start, end)
        conn.execute(
            "INSERT INTO ground_truth.history_loads (seed, months, payments_per_day, starts_at, ends_at, row_counts,"
            " seconds) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (spec.seed, spec.months, spec.payments_per_day, result.starts_at, end, Jsonb(result.rows),
             round(result.seconds, 3)))
    _log.info("history.loaded", seed=spec.seed, months=spec.months, payments_per_day=spec.payments_per_day,
              rows=result.total_rows, seconds=round(result.seconds, 1), rows_per_s=round(result.rows_per_s),
              **result.rows)
    return result


def load_if_absent(pg: PostgresConfig, spec: HistorySpec, *, customers: int) -> LoadResult | None:
    """For the demo: load a history on first start, carry on quietly when there is one (or live traffic)."""
    try:
        return load(pg, spec, customers=customers, progress=False)
    except HistoryPresent as exc:
        _log.info("history.skipped", reason=str(exc))
        return None


def _refuse_if_present(conn: psycopg.Connection) -> None:
    loaded = conn.execute("SELECT seed, months, starts_at, ends_at FROM ground_truth.history_loads"
                          " ORDER BY load_id LIMIT 1").fetchone()
    if loaded:
        raise HistoryPresent(
            f"a history is already loaded (seed {loaded[0]}, {loaded[1]} months, {loaded[2]:%Y-%m-%d} to "
            f"{loaded[3]:%Y-%m-%d}); start from an empty database to load another (e.g. `cdc-olap down --purge`)")
    # The seed writes one opening deposit per account, at its opened_at; anything else is live traffic.
    live = conn.execute("""
        SELECT EXISTS (SELECT 1 FROM logins)
            OR EXISTS (SELECT 1 FROM transactions t JOIN accounts a USING (account_id)
                       WHERE t.created_at <> a.opened_at OR t.channel <> 'transfer')""").fetchone()[0]
    if live:
        raise HistoryPresent(
            "live traffic is already in this database; a history must be loaded before any live traffic "
            "(ledger entries of an account must be in time order); start from an empty database")


def _lifetimes(conn: psycopg.Connection) -> dict[int, Lifetime]:
    return {account_id: Lifetime(opened, last, balance) for account_id, opened, last, balance in conn.execute(
        "SELECT account_id, opened_at, last_activity_at, balance FROM accounts")}


def _update_accounts(conn: psycopg.Connection, history: History) -> None:
    """Balances become opening + history; last activity becomes the last history entry's time."""
    conn.execute("CREATE TEMP TABLE history_accounts (account_id bigint, balance numeric(18,2),"
                 " last_activity_at timestamptz) ON COMMIT DROP")
    with conn.cursor().copy("COPY history_accounts FROM STDIN") as copy:
        for account_id, at in history.last_activity.items():
            copy.write_row((account_id, history.balance[account_id], at))
    conn.execute("UPDATE accounts a SET balance = h.balance, last_activity_at = h.last_activity_at"
                 " FROM history_accounts h WHERE a.account_id = h.account_id")
