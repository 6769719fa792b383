"""`cdc-olap workload`: concurrent writers producing fintech traffic with injected, labelled fraud.

Each writer is a process that owns the accounts whose id falls in its partition, so writers never
contend for the same balance row and each writer's stream of operations is a
pure function of (seed, writer index): the same seed on the same seeded
database performs the same operations. Payments arrive `pending` and are
settled or declined a few operations later (so CDC sees inserts followed by
updates); some settled ones are reversed, some disputed later.
"""

from __future__ import annotations

import multiprocessing
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

import psycopg
from psycopg.types.json import Jsonb

from pipeline import log
from pipeline.config import PostgresConfig
from pipeline.sor import schema
from pipeline.workload import reference as ref
from pipeline.workload import seed as seeding
from pipeline.workload.model import Account, Login, Merchant, Payment, Scenario
from pipeline.workload.scenarios import BUILDERS

_log = log.get("workload")
SETTLE_LAG = 4  # payments stay pending for this many of the writer's operations
REVERSAL_SHARE = 0.01
DISPUTE_SHARE = 0.003
LOGIN_SHARE = 0.12


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
    merchants: dict[str, list[Merchant]] = {"online": [], "high_risk": []}
    for m_id, mcc, country in conn.execute("SELECT merchant_id, mcc, country FROM merchants ORDER BY merchant_id"):
        merchant = Merchant(m_id, mcc, country)
        if mcc in ref.HIGH_RISK_MCCS:
            merchants["high_risk"].append(merchant)
        else:
            merchants.setdefault(country, []).append(merchant)
            merchants["online"].append(merchant)
    return accounts, merchants


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

    # ---- choosing what happens next (pure: depends only on the rng) ----

    def _payment(self) -> Payment:
        rng, account = self.rng, self.rng.choice(self.active)
        channel = rng.choices(("card_present", "ecommerce", "transfer", "atm"), (0.55, 0.3, 0.1, 0.05))[0]
        card = rng.choice(account.card_ids) if channel in ("card_present", "ecommerce", "atm") else None
        local = self.merchants.get(account.country) or self.merchants["online"]
        merchant = rng.choice(local if channel == "card_present" else self.merchants["online"]).merchant_id
        amount = Decimal(f"{min(rng.lognormvariate(3.3, 1.0), 5000):.2f}") + Decimal("0.01")
        direction = "credit" if channel == "transfer" and rng.random() < 0.4 else "debit"
        outcome = "declined" if rng.random() < 0.04 else "settled"
        return Payment(account.account_id, card, merchant if channel != "transfer" else None, amount,
                       account.currency, channel, account.country, direction, outcome)

    def _login(self) -> Login:
        account = self.rng.choice(self.active)
        _, _, prefix = ref.COUNTRIES[account.country]
        return Login(account.customer_id, f"dev-{account.customer_id}-{self.rng.randint(0, 1)}",
                     f"{prefix}.{self.rng.randint(1, 254)}.{self.rng.randint(1, 254)}", account.country,
                     self.rng.random() > 0.03)

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
            with psycopg.connect(self.pg.dsn()) as conn:
                # A load generator's commits need not wait for fsync; CDC sees them all the same.
                conn.execute("SET synchronous_commit = off")
                conn.commit()
                started = time.monotonic()
                interval = 1.0 / rate if rate > 0 else 0.0
                next_at = started
                while time.monotonic() < deadline:
                    self._step(conn)
                    next_at += interval * self._shape()
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
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
            self._insert_login(conn, self._login())
            self.stats.logins += 1
        else:
            payment = self._payment()
            self.pending.append((self._insert_payment(conn, payment), payment))
            self.stats.payments += 1
        if len(self.pending) > SETTLE_LAG:
            self._settle(conn, *self.pending.popleft())
        else:
            conn.commit()
        if self.settled and self.rng.random() < DISPUTE_SHARE:
            self._dispute(conn)

    def _insert_payment(self, conn: psycopg.Connection, p: Payment) -> int:
        return conn.execute(
            "INSERT INTO transactions (account_id, card_id, merchant_id, amount, currency, direction, channel, country)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING transaction_id",
            (p.account_id, p.card_id, p.merchant_id, p.amount, p.currency, p.direction, p.channel, p.country),
        ).fetchone()[0]

    def _insert_login(self, conn: psycopg.Connection, login: Login) -> int:
        return conn.execute(
            "INSERT INTO logins (customer_id, device_id, ip, country, success) VALUES (%s, %s, %s, %s, %s)"
            " RETURNING login_id", (login.customer_id, login.device_id, login.ip, login.country, login.success),
        ).fetchone()[0]

    def _post(self, conn: psycopg.Connection, tx_id: int, account_id: int, amount: Decimal) -> None:
        """Move a balance and record the ledger entry, in the caller's transaction."""
        balance = conn.execute(
            "UPDATE accounts SET balance = balance + %s, last_activity_at = now() WHERE account_id = %s RETURNING balance",
            (amount, account_id)).fetchone()[0]
        conn.execute("INSERT INTO ledger_entries (account_id, transaction_id, amount, balance_after) VALUES (%s, %s, %s, %s)",
                     (account_id, tx_id, amount, balance))

    def _settle(self, conn: psycopg.Connection, tx_id: int, p: Payment) -> None:
        conn.execute("UPDATE transactions SET status = %s, updated_at = now() WHERE transaction_id = %s",
                     (p.outcome, tx_id))
        if p.outcome == "settled":
            self._post(conn, tx_id, p.account_id, p.amount if p.direction == "credit" else -p.amount)
            self.stats.settled += 1
            if self.rng.random() < REVERSAL_SHARE:
                conn.execute("UPDATE transactions SET status = 'reversed', updated_at = now() WHERE transaction_id = %s",
                             (tx_id,))
                self._post(conn, tx_id, p.account_id, -p.amount if p.direction == "credit" else p.amount)
                self.stats.reversed += 1
            elif p.direction == "debit" and p.card_id:
                self.settled.append((tx_id, p))
        else:
            self.stats.declined += 1
        conn.commit()

    def _dispute(self, conn: psycopg.Connection) -> None:
        tx_id, p = self.settled[self.rng.randrange(len(self.settled))]
        reason = self.rng.choice(("fraud", "not_received", "duplicate", "other"))
        conn.execute("INSERT INTO disputes (transaction_id, reason, amount) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                     (tx_id, reason, p.amount))
        conn.commit()
        self.stats.disputes += 1

    def _inject(self, conn: psycopg.Connection, scenario: Scenario) -> None:
        tx_ids, login_id = [], None
        for step in scenario.steps:
            if isinstance(step, Login):
                login_id = self._insert_login(conn, step)
                conn.commit()
            else:
                tx_id = self._insert_payment(conn, step)
                conn.commit()
                self._settle(conn, tx_id, step)
                tx_ids.append(tx_id)
                self.stats.payments += 1
        conn.execute(
            "INSERT INTO ground_truth.fraud_labels (scenario, account_id, transaction_ids, login_id, detail)"
            " VALUES (%s, %s, %s, %s, %s)",
            (scenario.name, scenario.account.account_id, tx_ids, login_id, Jsonb(scenario.detail)))
        conn.commit()
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
