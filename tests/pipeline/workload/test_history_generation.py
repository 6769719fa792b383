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
    # A year: most accounts open inside it (200-380 days before the end) and the dormant ones go quiet
    # inside it (150 days before the end), so both bounds are crossed.
    history, days = _generate(6, months=12)
    account, created = TRANSACTION_COLUMNS.index("account_id"), TRANSACTION_COLUMNS.index("created_at")
    rows = [t for day in days for t in day.transactions]
    opened_inside = {a for a, life in LIFETIMES.items() if life.opened_at > history.start}
    assert len(opened_inside) > 30 and opened_inside <= {t[account] for t in rows}
    before_opening = [t for t in rows if t[created] <= LIFETIMES[t[account]].opened_at]
    dormant = [t for t in rows if t[account] % 10 == 0]
    after_dormancy = [t for t in dormant if t[created] >= LIFETIMES[t[account]].last_activity_at]
    assert (before_opening, after_dormancy) == ([], [])
    # Both kinds of account had history to check: dormant ones before they went quiet, the others throughout.
    assert len(dormant) > 100 and len(rows) - len(dormant) > 1000
    assert {t[account] for t in rows} == {a.account_id for a in ACCOUNTS}


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
    assert len(entries) > 1000
    assert [e[0] for e in entries] == sorted(e[0] for e in entries)
    assert [e[5] for e in entries] == sorted(e[5] for e in entries)
    running = {a: life.balance for a, life in LIFETIMES.items()}
    wrong_running = []
    for _, account, _, amount, balance_after, _ in entries:
        running[account] += amount
        if balance_after != running[account]:
            wrong_running.append((account, balance_after, running[account]))
    assert wrong_running == []
    assert running == history.balance
    # A settled debit (the first entry of a debit transaction; a second one is its reversal) never overdraws:
    # the generator declines it instead, which happens on some accounts.
    direction, status = TRANSACTION_COLUMNS.index("direction"), TRANSACTION_COLUMNS.index("status")
    transactions = {t[0]: t for d in days for t in d.transactions}
    seen: set[int] = set()
    overdrawn, spent = [], 0
    for entry_id, account, tx_id, amount, balance_after, _ in entries:
        first = tx_id not in seen
        seen.add(tx_id)
        if first and transactions[tx_id][direction] == "debit":
            spent += 1
            if amount >= 0 or balance_after < 0:
                overdrawn.append(entry_id)
    assert overdrawn == [] and spent > 500
    assert any(t[status] == "declined" for t in transactions.values())
