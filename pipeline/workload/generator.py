"""`cdc-olap workload`: concurrent writers producing fintech traffic with injected, labelled fraud.

Each writer is a process that owns the accounts whose id falls in its partition, so writers never
contend for the same balance row and each writer's stream of operations is a
pure function of (seed, writer index): the same seed on the same seeded
database performs the same operations. Payments arrive `pending` and are
settled or declined a few operations later (so CDC sees inserts followed by
updates); some settled ones are reversed, some disputed later.

For throughput a step costs one message and one commit: ids are reserved from
the sequences in blocks (no `RETURNING` to wait for), the whole step is one
statement (statements.py), and the steps already due share one pipeline round
trip (`batch`), each still its own transaction.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable

import psycopg
from psycopg.types.json import Jsonb

from pipeline import log
from pipeline.config import PostgresConfig
from pipeline.sor import schema
from pipeline.workload import reference as ref
from pipeline.workload import seed as seeding
from pipeline.workload import statements
from pipeline.workload.ids import IdBlock
from pipeline.workload.model import Account, Login, Merchant, Payment, Scenario
from pipeline.workload.scenarios import BUILDERS
from pipeline.workload.traffic import (DISPUTE_REASONS, DISPUTE_SHARE, LOGIN_SHARE, REVERSAL_SHARE, draw_login,
                                       draw_payment, ledger_amount)

_log = log.get("workload")
SETTLE_LAG = 4  # payments stay pending for this many of the writer's operations


@dataclass(frozen=True)
class WorkloadSpec:
    tps: float = 200.0  # target payments per second, all writers together, before the daily shape
    duration_s: float = 60.0
    seed: int = 1
    writers: int = 2  # processes; on 2 cores more writers only contend with Postgres
    fraud_rate: float = 0.002  # chance that an operation is the start of an injected scenario
    customers: int = 2000
    merchants: int = 300
    daily_shape: bool = True
    batch: int = 64  # most steps sent per pipeline round trip (only steps already due are sent)


@dataclass
class WorkloadStats:
    payments: int = 0
    settled: int = 0
    declined: int = 0
    reversed: int = 0
    disputes: int = 0
    logins: int = 0
    scenarios: Counter = field(default_factory=Counter)
    elapsed_s: float = 0.0

    def add(self, other: "WorkloadStats") -> None:
        for name in ("payments", "settled", "declined", "reversed", "disputes", "logins"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.scenarios.update(other.scenarios)

    @property
    def payments_per_s(self) -> float:
        return self.payments / self.elapsed_s if self.elapsed_s else 0.0


def load_universe(conn: psycopg.Connection) -> tuple[list[Account], dict[str, list[Merchant]]]:
    cards: dict[int, list[int]] = {}
    for card_id, account_id in conn.execute("SELECT card_id, account_id FROM cards WHERE status = 'active' ORDER BY card_id"):
        cards.setdefault(account_id, []).append(card_id)
    accounts = [
        Account(a, c, cur, country, tuple(cards.get(a, ())), dormant)
        for a, c, cur, country, dormant in conn.execute("""
            SELECT a.account_id, a.customer_id, a.currency, cu.country,
                   a.last_activity_at < now() - interval '90 days'
            FROM accounts a JOIN customers cu USING (customer_id)
            WHERE a.status = 'active' ORDER BY a.account_id""")
        if cards.get(a)
    ]
    return accounts, group_merchants(
        Merchant(*row) for row in conn.execute("SELECT merchant_id, mcc, country FROM merchants ORDER BY merchant_id"))


def group_merchants(merchants: Iterable[Merchant]) -> dict[str, list[Merchant]]:
    """The pools payments draw from: per country, "online" (every everyday merchant) and "high_risk"."""
    grouped: dict[str, list[Merchant]] = {"online": [], "high_risk": []}
    for merchant in merchants:
        if merchant.mcc in ref.HIGH_RISK_MCCS:
            grouped["high_risk"].append(merchant)
        else:
            grouped.setdefault(merchant.country, []).append(merchant)
            grouped["online"].append(merchant)
    return grouped


class Writer:
    def __init__(self, index: int, spec: WorkloadSpec, pg: PostgresConfig, accounts: list[Account],
                 merchants: dict[str, list[Merchant]]) -> None:
        self.index = index
        self.spec = spec
        self.pg = pg
        self.rng = random.Random(f"{spec.seed}-writer-{index}")
        self.active = [a for a in accounts if not a.dormant]
        self.dormant = [a for a in accounts if a.dormant]
        self.merchants = merchants
        self.pending: deque[tuple[int, Payment]] = deque()
        self.settled: deque[tuple[int, Payment]] = deque(maxlen=500)
        self.stats = WorkloadStats()
        self.error: BaseException | None = None
        self.tx_ids = IdBlock("transactions", "transaction_id")
        self.login_ids = IdBlock("logins", "login_id")

    # ---- choosing what happens next (pure: depends only on the rng) ----

    def _payment(self) -> Payment:
        return draw_payment(self.rng, self.rng.choice(self.active), self.merchants)

    def _login(self) -> Login:
        return draw_login(self.rng, self.rng.choice(self.active))

    def _scenario(self) -> Scenario | None:
        name = self.rng.choice(sorted(BUILDERS))
        pool = self.dormant if name == "dormant_reactivation" else self.active
        if not pool:
            return None
        account = pool.pop(self.rng.randrange(len(pool))) if name == "dormant_reactivation" else self.rng.choice(pool)
        scenario = BUILDERS[name](self.rng, account, self.merchants)
        if name == "dormant_reactivation":
            self.active.append(account)
        return scenario

    # ---- doing it ----

    def run(self, deadline: float, rate: float) -> None:
        try:
            # Autocommit with explicit transaction blocks: a commit inside a pipeline then does not wait.
            with psycopg.connect(self.pg.dsn(), autocommit=True) as conn:
                # A load generator's commits need not wait for fsync; CDC sees them all the same.
                conn.execute("SET synchronous_commit = off")
                started = time.monotonic()
                interval = 1.0 / rate if rate > 0 else 0.0
                next_at = started
                while (now := time.monotonic()) < deadline:
                    if next_at > now:
                        time.sleep(next_at - now)
                        continue
                    with conn.pipeline():
                        for _ in range(max(1, self.spec.batch)):
                            self._step(conn)
                            next_at += interval * self._shape()
                            if next_at > now:
                                break
                with conn.pipeline():
                    while self.pending:
                        self._settle(conn, *self.pending.popleft())
                self.stats.elapsed_s = time.monotonic() - started
        except BaseException as exc:  # noqa: BLE001 - reported by the coordinator
            self.error = exc

    def _shape(self) -> float:
        if not self.spec.daily_shape:
            return 1.0
        return 1.0 / ref.DAILY_SHAPE[datetime.now(timezone.utc).hour]

    def _step(self, conn: psycopg.Connection) -> None:
        roll = self.rng.random()
        if roll < self.spec.fraud_rate:
            scenario = self._scenario()
            if scenario:
                self._inject(conn, scenario)
                return
        # One commit per step: the new row and the settlement of an older one travel together.
        if roll < LOGIN_SHARE:
            new, params = "login", self._login_params(conn, self._login())
            self.stats.logins += 1
        else:
            payment = self._payment()
            new, params = "payment", self._payment_params(conn, payment)
            self.pending.append((params["n_id"], payment))
            self.stats.payments += 1
        settle, reversal = None, None
        if len(self.pending) > SETTLE_LAG:
            settle, settle_params, reversal = self._settlement(*self.pending.popleft())
            params.update(settle_params)
        self._execute(conn, new, settle, params, reversal)
        if self.settled and self.rng.random() < DISPUTE_SHARE:
            self._dispute(conn)

    def _payment_params(self, conn: psycopg.Connection, p: Payment) -> dict:
        return {"n_id": self.tx_ids.next(conn), "n_account": p.account_id, "n_card": p.card_id,
                "n_merchant": p.merchant_id, "n_amount": p.amount, "n_currency": p.currency,
                "n_direction": p.direction, "n_channel": p.channel, "n_country": p.country}

    def _login_params(self, conn: psycopg.Connection, login: Login) -> dict:
        return {"n_id": self.login_ids.next(conn), "n_customer": login.customer_id, "n_device": login.device_id,
                "n_ip": login.ip, "n_country": login.country, "n_success": login.success}

    def _settlement(self, tx_id: int, p: Payment) -> tuple[str, dict, dict | None]:
        """How a pending payment ends: the settle part of a step, and the reversal's parameters if it is reversed."""
        if p.outcome != "settled":
            self.stats.declined += 1
            return "status", {"s_status": p.outcome, "s_tx": tx_id}, None
        self.stats.settled += 1
        params = {"s_status": "settled", "s_tx": tx_id, "s_account": p.account_id, "s_amount": ledger_amount(p)}
        if self.rng.random() < REVERSAL_SHARE:
            self.stats.reversed += 1
            return "post", params, {**params, "s_status": "reversed", "s_amount": ledger_amount(p, reversal=True)}
        if p.direction == "debit" and p.card_id:
            self.settled.append((tx_id, p))
        return "post", params, None

    def _execute(self, conn: psycopg.Connection, new: str | None, settle: str | None, params: dict,
                 reversal: dict | None) -> None:
        if reversal is None:
            conn.execute(statements.step(new, settle), params)
            return
        with conn.transaction():
            conn.execute(statements.step(new, settle), params)
            conn.execute(statements.step(None, "post"), reversal)

    def _settle(self, conn: psycopg.Connection, tx_id: int, p: Payment) -> None:
        settle, params, reversal = self._settlement(tx_id, p)
        self._execute(conn, None, settle, params, reversal)

    def _dispute(self, conn: psycopg.Connection) -> None:
        tx_id, p = self.settled[self.rng.randrange(len(self.settled))]
        reason = self.rng.choice(DISPUTE_REASONS)
        conn.execute("INSERT INTO disputes (transaction_id, reason, amount) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                     (tx_id, reason, p.amount))
        self.stats.disputes += 1

    def _inject(self, conn: psycopg.Connection, scenario: Scenario) -> None:
        tx_ids, login_id = [], None
        for step in scenario.steps:
            if isinstance(step, Login):
                params = self._login_params(conn, step)
                login_id = params["n_id"]
                self._execute(conn, "login", None, params, None)
            else:
                params = self._payment_params(conn, step)
                self._execute(conn, "payment", None, params, None)
                self._settle(conn, params["n_id"], step)
                tx_ids.append(params["n_id"])
                self.stats.payments += 1
        conn.execute(
            "INSERT INTO ground_truth.fraud_labels (scenario, account_id, transaction_ids, login_id, detail)"
            " VALUES (%s, %s, %s, %s, %s)",
            (scenario.name, scenario.account.account_id, tx_ids, login_id, Jsonb(scenario.detail)))
        self.stats.scenarios[scenario.name] += 1


def _run_writer(writer: Writer, deadline: float, rate: float, results) -> None:
    writer.run(deadline, rate)
    results.put((writer.stats, repr(writer.error) if writer.error else None))


def prepare(pg: PostgresConfig, spec: WorkloadSpec) -> None:
    schema.apply(pg)
    with psycopg.connect(pg.dsn()) as conn:
        seeding.seed(conn, customers=spec.customers, merchants=spec.merchants, seed=spec.seed)


def run(pg: PostgresConfig, spec: WorkloadSpec) -> WorkloadStats:
    prepare(pg, spec)
    with psycopg.connect(pg.dsn()) as conn:
        accounts, merchants = load_universe(conn)
    writers = [Writer(i, spec, pg, [a for a in accounts if a.account_id % spec.writers == i], merchants)
               for i in range(spec.writers)]
    # Writers are processes, not threads: in threads the GIL, not Postgres, capped the rate.
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    deadline = time.monotonic() + spec.duration_s
    processes = [context.Process(target=_run_writer, args=(w, deadline, spec.tps / spec.writers, results),
                                 name=f"writer-{w.index}", daemon=True) for w in writers]
    started = time.monotonic()
    for proc in processes:
        proc.start()
    _log.info("workload.writing", writers=spec.writers, tps=spec.tps, seed=spec.seed, accounts=len(accounts))
    total = WorkloadStats()
    errors = []
    for _ in processes:
        stats, error = results.get()
        total.add(stats)
        if error:
            errors.append(error)
    for proc in processes:
        proc.join()
    total.elapsed_s = time.monotonic() - started
    if errors:
        raise RuntimeError(f"workload writer failed: {errors[0]}")
    _log.info("workload.done", payments=total.payments, per_s=round(total.payments_per_s), logins=total.logins,
              disputes=total.disputes, reversed=total.reversed, scenarios=dict(total.scenarios))
    return total
