"""The back history: months of past traffic for the seeded accounts, generated day by day.

A pure function of (spec, the seeded universe, the end instant): no database
access, so the same seed gives the same rows, and the loader (history_load.py)
only decides where they go. Payments are drawn exactly like the live writers'
(traffic.py); on top of that the past has what a live minute does not show:
a weekly and daily rhythm, monthly salaries that keep balances from draining,
declines for insufficient funds, reversals days later and disputes up to 90
days after the charge.

Each day is swept in time order, so ledger entries get increasing ids in the
order they happened and `balance_after` is the running balance. An account is
active only after its opening deposit (`opened_at`); a dormant account (last
activity more than 90 days before `end`) only until its `last_activity_at`, so
the live dormant-reactivation scenario still finds it quiet.
"""

from __future__ import annotations

import heapq
import itertools
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Callable, Iterator

from pipeline.workload import reference as ref
from pipeline.workload.model import Account, Merchant, Payment
from pipeline.workload.traffic import (DISPUTE_REASONS, DISPUTE_SHARE, LOGIN_SHARE, REVERSAL_SHARE, draw_login,
                                       draw_payment, ledger_amount)

DAY = timedelta(days=1)
SETTLE_SECONDS = (2.0, 90.0)  # a payment stays pending this long
REVERSAL_DELAY = (timedelta(hours=1), timedelta(days=10))
DISPUTE_DELAY = (timedelta(days=1), timedelta(days=90))  # disputes arrive up to 90 days after the charge
RESOLUTION_DELAY = (timedelta(days=10), timedelta(days=45))
MEAN_PAYMENT = Decimal("45")  # about the mean of draw_payment's amounts, to size salaries
SALARY_MARGIN = (1.0, 1.5)  # salary / expected monthly spending

TRANSACTION_COLUMNS = ("transaction_id", "account_id", "card_id", "merchant_id", "amount", "currency", "direction",
                       "channel", "country", "status", "created_at", "updated_at")
LEDGER_COLUMNS = ("entry_id", "account_id", "transaction_id", "amount", "balance_after", "created_at")
LOGIN_COLUMNS = ("customer_id", "device_id", "ip", "country", "success", "created_at")
DISPUTE_COLUMNS = ("transaction_id", "reason", "amount", "status", "opened_at", "resolved_at")

# (table, how many) -> that many increasing primary keys of the table.
IdSource = Callable[[str, int], list[int]]


@dataclass(frozen=True)
class HistorySpec:
    months: int = 14
    payments_per_day: int = 300  # on an average weekday, before the weekly shape
    seed: int = 1


@dataclass(frozen=True)
class Lifetime:
    """What the seed says about an account's past: when it opened, when it was last active, what it holds."""

    opened_at: datetime
    last_activity_at: datetime
    balance: Decimal


@dataclass
class DayBatch:
    """One day's rows, in each table's column order (ids of transactions and ledger entries filled in)."""

    day: datetime
    transactions: list[tuple] = field(default_factory=list)
    ledger_entries: list[tuple] = field(default_factory=list)
    logins: list[tuple] = field(default_factory=list)
    disputes: list[tuple] = field(default_factory=list)

    def tables(self) -> list[tuple[str, tuple[str, ...], list[tuple]]]:
        return [("transactions", TRANSACTION_COLUMNS, self.transactions),
                ("ledger_entries", LEDGER_COLUMNS, self.ledger_entries),
                ("logins", LOGIN_COLUMNS, self.logins),
                ("disputes", DISPUTE_COLUMNS, self.disputes)]


def months_before(end: datetime, months: int) -> datetime:
    """The same day of the month `months` earlier (clamped to the 28th so every month has it)."""
    total = end.year * 12 + end.month - 1 - months
    return end.replace(year=total // 12, month=total % 12 + 1, day=min(end.day, 28))


class History:
    def __init__(self, spec: HistorySpec, accounts: list[Account], lifetimes: dict[int, Lifetime],
                 merchants: dict[str, list[Merchant]], end: datetime) -> None:
        self.spec, self.merchants, self.end = spec, merchants, end
        self.start = months_before(end, spec.months)
        self.accounts = [a for a in accounts if a.account_id in lifetimes]
        self.lifetimes = lifetimes
        self.rng = random.Random(f"history-{spec.seed}")
        self.balance = {a.account_id: lifetimes[a.account_id].balance for a in self.accounts}
        self.last_activity: dict[int, datetime] = {}
        monthly_spend = spec.payments_per_day * Decimal("30.4") * MEAN_PAYMENT / max(1, len(self.accounts))
        self.salary = {a.account_id: (monthly_spend * Decimal(self.rng.uniform(*SALARY_MARGIN))).quantize(Decimal("0.01"))
                       + Decimal("0.01") for a in self.accounts}
        self._due: list[tuple[datetime, int, list, Payment]] = []  # reversals that post on a later day
        self._sequence = itertools.count()
        self._hours = tuple(range(24))
        self._hour_weights = tuple(itertools.accumulate(ref.DAILY_SHAPE))

    @property
    def days(self) -> int:
        return (self.end - self.start) // DAY

    def generate(self, ids: IdSource) -> Iterator[DayBatch]:
        for n in range(self.days):
            yield self._day(self.start + n * DAY, ids)

    # ---- one day ----

    def _day(self, start: datetime, ids: IdSource) -> DayBatch:
        rng, end = self.rng, start + DAY
        batch = DayBatch(start)
        eligible = [a for a in self.accounts if self._active(a, start, end)]
        if not eligible:
            return batch
        count = round(self.spec.payments_per_day * ref.WEEKLY_SHAPE[start.weekday()] * rng.uniform(0.9, 1.1))
        events = []  # (settles at, created at, payment)
        for _ in range(count):
            created = self._moment(start)
            payment = draw_payment(rng, rng.choice(eligible), self.merchants)
            events.append((min(created + timedelta(seconds=rng.uniform(*SETTLE_SECONDS)), end - timedelta(microseconds=1)),
                           created, payment))
        for account in eligible:
            if 1 + account.account_id % 28 == start.day:
                created = start + timedelta(hours=6, seconds=rng.uniform(0, 7200))
                events.append((created + timedelta(seconds=5), created, Payment(
                    account.account_id, None, None, self.salary[account.account_id], account.currency, "transfer",
                    account.country, "credit")))
        for _ in range(round(count * LOGIN_SHARE / (1 - LOGIN_SHARE))):
            login = draw_login(rng, rng.choice(eligible))
            batch.logins.append((login.customer_id, login.device_id, login.ip, login.country, login.success,
                                 self._moment(start)))
        events.sort(key=lambda e: e[0])

        transactions: list[list] = []  # id (filled below), then the other columns
        entries: list[list] = []  # account, transaction row, amount, balance after, time
        disputes: list[list] = []
        for settles_at, created, payment in events:
            self._post_due(settles_at, entries)
            transactions.append(self._settle(settles_at, created, payment, entries, disputes))
        self._post_due(end, entries)

        # Ids last: how many the day needs is known only now. Reversals of earlier days already have theirs.
        for row, tx_id in zip(transactions, ids("transactions", len(transactions))):
            row[0] = tx_id
        batch.transactions = [tuple(row) for row in transactions]
        batch.ledger_entries = [(entry_id, account, tx[0], amount, balance, at)
                                for entry_id, (account, tx, amount, balance, at)
                                in zip(ids("ledger_entries", len(entries)), entries)]
        batch.disputes = [(tx[0], *rest) for tx, *rest in disputes]
        return batch

    def _active(self, account: Account, start: datetime, end: datetime) -> bool:
        life = self.lifetimes[account.account_id]
        return life.opened_at < start and (not account.dormant or life.last_activity_at >= end)

    def _moment(self, day: datetime) -> datetime:
        hour = self.rng.choices(self._hours, cum_weights=self._hour_weights)[0]
        return day + timedelta(hours=hour, seconds=self.rng.random() * 3600)

    def _settle(self, at: datetime, created: datetime, p: Payment, entries: list, disputes: list) -> list:
        rng = self.rng
        status, updated = p.outcome, at
        if status == "settled" and p.direction == "debit" and self.balance[p.account_id] < p.amount:
            status = "declined"  # insufficient funds
        row = [None, p.account_id, p.card_id, p.merchant_id, p.amount, p.currency, p.direction, p.channel, p.country,
               status, created, updated]
        if status != "settled":
            return row
        self._post(row, p.account_id, ledger_amount(p), at, entries)
        if rng.random() < REVERSAL_SHARE:
            reversed_at = at + rng.uniform(0, 1) * (REVERSAL_DELAY[1] - REVERSAL_DELAY[0]) + REVERSAL_DELAY[0]
            if reversed_at < self.end:
                row[9], row[11] = "reversed", reversed_at
                heapq.heappush(self._due, (reversed_at, next(self._sequence), row, p))
        elif p.direction == "debit" and p.card_id and rng.random() < DISPUTE_SHARE:
            opened = created + rng.uniform(0, 1) * (DISPUTE_DELAY[1] - DISPUTE_DELAY[0]) + DISPUTE_DELAY[0]
            if opened < self.end:
                resolved = opened + rng.uniform(0, 1) * (RESOLUTION_DELAY[1] - RESOLUTION_DELAY[0]) + RESOLUTION_DELAY[0]
                outcome = rng.choice(("won", "lost")) if resolved < self.end else "open"
                disputes.append([row, rng.choice(DISPUTE_REASONS), p.amount, outcome, opened,
                                 resolved if outcome != "open" else None])
        return row

    def _post_due(self, until: datetime, entries: list) -> None:
        while self._due and self._due[0][0] <= until:
            at, _, row, p = heapq.heappop(self._due)
            self._post(row, p.account_id, ledger_amount(p, reversal=True), at, entries)

    def _post(self, row: list, account_id: int, amount: Decimal, at: datetime, entries: list) -> None:
        balance = self.balance[account_id] + amount
        self.balance[account_id] = balance
        self.last_activity[account_id] = at
        entries.append((account_id, row, amount, balance, at))
