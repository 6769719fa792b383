"""The history is a pure function of (spec, universe, end): checked here without a database."""

import itertools
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from pipeline.workload.history import DISPUTE_COLUMNS, TRANSACTION_COLUMNS, History, HistorySpec, Lifetime, months_before
from pipeline.workload.model import Account, Merchant

END = datetime(2026, 3, 1, tzinfo=timezone.utc)
ACCOUNTS = [Account(i, i, "EUR", "DE", (10 * i,), dormant=(i % 10 == 0)) for i in range(1, 61)]
LIFETIMES = {a.account_id: Lifetime(END - timedelta(days=30 * (a.account_id % 7) + 200),
                                    END - timedelta(days=150 if a.dormant else 1), Decimal("500.00"))
             for a in ACCOUNTS}
MERCHANTS = {"DE": [Merchant(1, "5411", "DE")], "online": [Merchant(2, "5999", "DE")], "high_risk": []}


def _generate(seed: int, months: int = 3) -> tuple[History, list]:
    history = History(HistorySpec(months, 80, seed), ACCOUNTS, LIFETIMES, MERCHANTS, END)
    counters: dict[str, itertools.count] = {}
    ids = lambda table, n: [next(counters.setdefault(table, itertools.count(1))) for _ in range(n)]  # noqa: E731
    return history, list(history.generate(ids))


def test_same_seed_same_history_other_seed_other_history():
    _, first = _generate(3)
    _, again = _generate(3)
    _, other = _generate(4)
    assert first == again
    assert first != other


def test_days_span_the_requested_months_and_end_before_end():
    history, days = _generate(5, months=3)
    assert history.start == months_before(END, 3) == datetime(2025, 12, 1, tzinfo=timezone.utc)
    assert [d.day for d in days] == [history.start + timedelta(days=n) for n in range(len(days))]
    created = [t[TRANSACTION_COLUMNS.index("created_at")] for d in days for t in d.transactions]
    assert min(created).date() == history.start.date() and max(created).date() == (END - timedelta(days=1)).date()
    updated = [t[TRANSACTION_COLUMNS.index("updated_at")] for d in days for t in d.transactions]
    assert max(updated) < END


def test_accounts_are_active_only_inside_their_lifetime():
    _, days = _generate(6)
    account, created = TRANSACTION_COLUMNS.index("account_id"), TRANSACTION_COLUMNS.index("created_at")
    for day in days:
        for t in day.transactions:
            life = LIFETIMES[t[account]]
            assert life.opened_at < t[created]
            if t[account] % 10 == 0:  # dormant: nothing after its last activity
                assert t[created] < life.last_activity_at


def test_disputes_arrive_within_90_days_of_their_charge():
    history, days = _generate(7, months=6)
    created = {t[0]: t[TRANSACTION_COLUMNS.index("created_at")] for d in days for t in d.transactions}
    disputes = [d for day in days for d in day.disputes]
    assert disputes
    for dispute in disputes:
        opened = dispute[DISPUTE_COLUMNS.index("opened_at")]
        assert timedelta(0) < opened - created[dispute[0]] <= timedelta(days=90) and opened < END


def test_ledger_is_in_time_order_and_balances_never_go_below_zero_from_spending():
    history, days = _generate(8)
    entries = [e for d in days for e in d.ledger_entries]
    assert [e[0] for e in entries] == sorted(e[0] for e in entries)
    assert [e[5] for e in entries] == sorted(e[5] for e in entries)
    running = {a: life.balance for a, life in LIFETIMES.items()}
    for _, account, _, amount, balance_after, _ in entries:
        running[account] += amount
        assert balance_after == running[account]
    assert running == {a: history.balance.get(a, running[a]) for a in running}
