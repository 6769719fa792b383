"""The live workload's traffic as the change events the CDC reader would publish, computed, not written.

What reads the CDC topics (the Flink jobs) is measured on millions of
changes; producing them through Postgres and the reader would measure those
instead (docs/cdc.md has their figures). So this computes the changes the
live writers (generator.py) cause: the seeded universe (seed.draw), payments
and logins drawn by traffic.py in the same shares, each payment inserted
`pending` and settled or declined SETTLE_LAG operations later, a settlement
updating the transaction and the account's balance and last activity (a
decline only the transaction), some settled payments reversed in the same
commit. A stream starts, as the reader does on its first run, with a snapshot
(op "r") of the accounts and merchants.

Left out, because no job reads them: ledger entries, disputes, customers and
cards; and the injected fraud scenarios (the traffic is the ordinary kind).
A pure function of its arguments: the same call gives the same changes.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Iterator

from pipeline.cdc.scripted import iso
from pipeline.workload import seed as seeding
from pipeline.workload.generator import SETTLE_LAG, group_merchants
from pipeline.workload.model import Account, Merchant, Payment
from pipeline.workload.traffic import LOGIN_SHARE, REVERSAL_SHARE, draw_login, draw_payment, ledger_amount

CENT = Decimal("0.01")
DORMANT_AFTER = timedelta(days=90)  # as load_universe decides it


@dataclass(frozen=True)
class Change:
    table: str
    op: str  # "r" (snapshot), "c", "u"
    before: dict | None
    after: dict | None
    at: datetime  # commit time


class _Book:
    """The rows the stream has changed so far, so each update carries the whole old row as `before`."""

    def __init__(self, universe: seeding.Reference) -> None:
        self.accounts = {a[0]: {"account_id": a[0], "customer_id": a[1], "currency": a[2], "status": "active",
                                "balance": str(Decimal(a[4]).quantize(CENT)), "home_timezone": a[3],
                                "opened_at": iso(a[5]), "last_activity_at": iso(a[6])}
                         for a in universe.accounts}

    def move(self, account_id: int, amount: Decimal, at: datetime, stamp: str) -> Change:
        before = self.accounts[account_id]
        after = {**before, "balance": str(Decimal(before["balance"]) + amount), "last_activity_at": stamp}
        self.accounts[account_id] = after
        return Change("accounts", "u", before, after, at)


def _accounts(universe: seeding.Reference, now: datetime) -> list[Account]:
    countries = {c[0]: c[3] for c in universe.customers}
    cards: dict[int, list[int]] = {}
    for card_id, account_id, *_ in universe.cards:
        cards.setdefault(account_id, []).append(card_id)
    return [Account(a[0], a[1], a[2], countries[a[1]], tuple(cards[a[0]]), a[6] < now - DORMANT_AFTER)
            for a in universe.accounts if cards.get(a[0])]


def stream(*, start: datetime, changes_per_s: float, customers: int = 2000, merchants: int = 300,
           seed: int = 1) -> Iterator[Change]:
    """Endless: the snapshot at `start`, then traffic whose commit times advance by 1 / `changes_per_s`
    per change, every change of one operation at the same commit time. The caller stops reading."""
    universe = seeding.draw(customers=customers, merchants=merchants, seed=seed, now=start)
    book = _Book(universe)
    for account in book.accounts.values():
        yield Change("accounts", "r", None, account, start)
    for i, (name, mcc, country, created_at) in enumerate(universe.merchants, start=1):
        yield Change("merchants", "r", None, {"merchant_id": i, "name": name, "mcc": mcc, "country": country,
                                               "created_at": iso(created_at)}, start)
    emitted = len(book.accounts) + len(universe.merchants)
    rng = random.Random(f"{seed}-changes")
    active = [a for a in _accounts(universe, start) if not a.dormant]
    pools = group_merchants(Merchant(i, m[1], m[2]) for i, m in enumerate(universe.merchants, start=1))
    pending: deque[tuple[dict, Payment]] = deque()
    next_tx = next_login = 1
    while True:
        at = start + timedelta(seconds=emitted / changes_per_s)
        stamp = iso(at)
        made: list[Change] = []
        if rng.random() < LOGIN_SHARE:
            login = draw_login(rng, rng.choice(active))
            made.append(Change("logins", "c", None, {
                "login_id": next_login, "customer_id": login.customer_id, "device_id": login.device_id,
                "ip": login.ip, "country": login.country, "success": login.success, "created_at": stamp}, at))
            next_login += 1
        else:
            p = draw_payment(rng, rng.choice(active), pools)
            row = {"transaction_id": next_tx, "account_id": p.account_id, "card_id": p.card_id,
                   "merchant_id": p.merchant_id, "amount": str(p.amount), "currency": p.currency,
                   "direction": p.direction, "channel": p.channel, "country": p.country, "status": "pending",
                   "created_at": stamp, "updated_at": stamp}
            made.append(Change("transactions", "c", None, row, at))
            pending.append((row, p))
            next_tx += 1
        if len(pending) > SETTLE_LAG:
            made += _settle(rng, book, *pending.popleft(), at, stamp)
        yield from made
        emitted += len(made)


def _settle(rng: random.Random, book: _Book, row: dict, p: Payment, at: datetime, stamp: str) -> list[Change]:
    """A pending payment decided: declined (the transaction only), or settled with its balance move,
    and now and then reversed in the same commit."""
    if p.outcome != "settled":
        return [Change("transactions", "u", row, {**row, "status": p.outcome, "updated_at": stamp}, at)]
    settled = {**row, "status": "settled", "updated_at": stamp}
    made = [Change("transactions", "u", row, settled, at), book.move(p.account_id, ledger_amount(p), at, stamp)]
    if rng.random() < REVERSAL_SHARE:
        made += [Change("transactions", "u", settled, {**settled, "status": "reversed"}, at),
                 book.move(p.account_id, ledger_amount(p, reversal=True), at, stamp)]
    return made
