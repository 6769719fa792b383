"""Exactly-once end to end: the CDC reader is killed (-9) three times under the live workload, and the
health and fraud jobs still count every change once: their results equal Postgres.

The chain: the fintech schema seeded with 2,000 customers (no back history), a CDC reader in
exactly-once mode with watermark records every 50 ms, the health and fraud jobs (this process's
mini-cluster, read_committed) on its topics, then about 60 s of the labelled workload (2 writers,
~25 payments/s, 3 % of operations start a fraud scenario), during which the reader is killed three
times and restarted each time once events flowed again. After the load a fence, then small
transactions (logical messages) keep the reader's watermark records coming until the jobs' results
are complete, so the watermark passes the last change.

What is compared, and why it is exact:
- CDC topics: every change once, by (table, key, lsn, op), read_committed; accounts and transactions
  folded from their topics equal Postgres.
- Recovery happened: each restart found the reader's Kafka checkpoint, and Postgres resent
  transactions Kafka already held, which the reader skipped (`skipped_transactions`). An
  at-least-once reader sends exactly these again, and the health job would count them twice.
- Health: everything happens within 24 hours, so each account's newest `change` row sums all the
  account's live changes: payments, their amount in cents, declines, reversals and the balance change
  in cents equal Postgres exactly, in the row's currency (the account's: the job keys money by
  account and currency, and the workload pays in the account's currency), and the number of
  change rows equals the account's changes (2 per payment, 1 more per reversal, 1 per ledger
  entry: the balance updates). The owner's
  logins count up to the row's commit time, which Postgres does not record (track_commit_timestamp
  is off): logins whose `created_at` is within 2 s before the row's time may or may not be in it,
  so the logins are checked to lie between the certain and the possible count.
- Fraud, against `ground_truth.fraud_labels` (bench fraud's `score`, 15 min tolerance): every
  labelled scenario is alerted. Card testing, new device + transfer and high-risk MCC alerts are
  exactly one per label, with the id of the label's completing transaction; dormant reactivation
  exactly one per labelled account. Velocity and impossible travel also fire, legitimately, on
  ordinary traffic around a scenario (a card-testing burst plus a few ordinary payments within
  30 s; a home-country payment after a trip within the hour), so their alert ids are compared with
  the rules evaluated over Postgres' own payments (`_velocity_alerts`, `_travel_alerts`, in
  `created_at` order, which for one account is commit order: one writer owns it). Velocity counts
  payments, which is what a resend inflates.

The same run with the reader at `delivery = "at-least-once"` fails: the topics hold changes twice
and about 1 account in 15 has health sums off (the fraud checks stayed green there: a resend must
land on a scenario, and in time for the job's watermark, to change an alert). The seed is fixed, so
the scenarios are the same each run (21 labels, every pattern); 2,000 customers (the workload's
default) keep ordinary traffic per account as sparse as in `bench fraud`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from kafka import KafkaConsumer, TopicPartition

from flink_jobs.fraud import job as fraud
from flink_jobs.fraud import rules as fraud_rules
from flink_jobs.health import job as health
from flink_jobs.job import Topics
from pipeline.bench.fraud import score
from pipeline.config import PROJECT_ROOT
from pipeline.kafka.changelog import fold, read_all
from pipeline.sor import schema
from pipeline.workload import seed as seeding

CUSTOMERS, MERCHANTS, SEED = 2000, 300, 7
LOAD_S, TPS, FRAUD_RATE = 60, 25, 0.03  # the load outlasts the kills by 30 s, for slow restarts on a busy machine
KILLS_AT_S = (10, 20, 30)  # into the load; each also waits for events to flow since the last start
LOGIN_COMMIT_LAG = timedelta(seconds=2)  # a login committed at most this long after its created_at
RESULTS_TIMEOUT_S = 300
# Rules alerted once per label, by the label's last transaction (the large charge, the transfer, the payment).
ONE_PER_LABEL = ("card_testing", "new_device_large_transfer", "mcc_anomaly")
TABLES = ("customers", "accounts", "cards", "merchants", "transactions", "ledger_entries", "logins", "disputes")


@dataclass
class Chain:
    prefix: str
    bootstrap: str
    pg: object
    base: dict  # ids and balances before the load: what the reader's snapshot holds
    rules: dict  # pattern -> the enabled rule the fraud job ran
    log: str  # the reader's log
    skipped: list[int]  # skipped_transactions of each restarted reader
    workload: str  # the workload's summary line
    health_rows: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)


# ---- Postgres: the state before the load, and the answers after it ----

def _before_load(pg) -> dict:
    with psycopg.connect(pg.dsn()) as conn:
        tx, login, entry = conn.execute("""SELECT (SELECT COALESCE(MAX(transaction_id), 0) FROM transactions),
                                                  (SELECT COALESCE(MAX(login_id), 0) FROM logins),
                                                  (SELECT COALESCE(MAX(entry_id), 0) FROM ledger_entries)""").fetchone()
        balances = dict(conn.execute("SELECT account_id, balance FROM accounts"))
    return {"tx": tx, "login": login, "entry": entry, "balances": balances}


def _cents(value: Decimal) -> int:
    cents = value * 100
    assert cents == cents.to_integral_value(), value
    return int(cents)


def _expected_health(pg, base: dict) -> dict[int, dict]:
    """Per account with a live change: its sums over the load, and how many change rows it makes."""
    with psycopg.connect(pg.dsn()) as conn:
        owners = {a: (c, cur) for a, c, cur in conn.execute("SELECT account_id, customer_id, currency FROM accounts")}
        balances = dict(conn.execute("SELECT account_id, balance FROM accounts"))
        expected: dict[int, dict] = defaultdict(lambda: {"payments": 0, "amount_cents": 0, "declines": 0,
                                                         "reversals": 0, "balance_change_cents": 0, "rows": 0})
        for account, payments, amount, declines, reversals, pending in conn.execute("""
                SELECT account_id, COUNT(*), SUM(amount), COUNT(*) FILTER (WHERE status = 'declined'),
                       COUNT(*) FILTER (WHERE status = 'reversed'), COUNT(*) FILTER (WHERE status = 'pending')
                FROM transactions WHERE transaction_id > %s GROUP BY account_id""", (base["tx"],)):
            assert pending == 0, f"account {account}: the workload left {pending} payments pending"
            e = expected[account]
            e.update(payments=payments, amount_cents=_cents(amount), declines=declines, reversals=reversals)
            e["rows"] += 2 * payments + reversals  # the insert, its settlement, the reversal's update
        for account, entries, amount in conn.execute("""
                SELECT account_id, COUNT(*), SUM(amount) FROM ledger_entries WHERE entry_id > %s
                GROUP BY account_id""", (base["entry"],)):
            e = expected[account]
            e["balance_change_cents"] = _cents(balances[account] - base["balances"][account])
            assert e["balance_change_cents"] == _cents(amount), f"account {account}: balance != ledger"
            e["rows"] += entries  # one balance update per ledger entry
        logins = defaultdict(list)
        for customer, success, created_at in conn.execute(
                "SELECT customer_id, success, created_at FROM logins WHERE login_id > %s", (base["login"],)):
            logins[customer].append((created_at, success))
        foreign = conn.execute("""SELECT COUNT(*) FROM transactions t JOIN accounts a USING (account_id)
                                  WHERE t.transaction_id > %s AND t.currency <> a.currency""", (base["tx"],)).fetchone()[0]
        assert foreign == 0, "the health job keys money by currency: expected one currency per account"
    for account, e in expected.items():
        e["customer_id"], e["currency"] = owners[account]
        e["logins_of_owner"] = logins.get(e["customer_id"], [])
    return dict(expected)


@dataclass(frozen=True)
class Payment:
    tx_id: int
    account_id: int
    currency: str
    amount: Decimal
    channel: str
    country: str
    created_at: datetime


def _payments(pg, base: dict) -> dict[int, list[Payment]]:
    """The live payments per account, in created_at order (commit order: one writer owns an account)."""
    per: dict[int, list[Payment]] = defaultdict(list)
    with psycopg.connect(pg.dsn()) as conn:
        for row in conn.execute("""SELECT transaction_id, account_id, currency, amount, channel, country, created_at
                                   FROM transactions WHERE transaction_id > %s
                                   ORDER BY created_at, transaction_id""", (base["tx"],)):
            per[row[1]].append(Payment(*row))
    return per


def _velocity_alerts(payments: list[Payment], min_count: int, window_s: int) -> list[int]:
    """MATCH_RECOGNIZE (T{n}) WITHIN window, AFTER MATCH SKIP PAST LAST ROW, on one account: the
    completing payment of each match, the first n payments in a row within the window."""
    found, start = [], 0
    for j, p in enumerate(payments):
        first = j - min_count + 1
        if first >= start and (p.created_at - payments[first].created_at).total_seconds() < window_s:
            found.append(p.tx_id)
            start = j + 1
    return found


def _travel_alerts(payments: list[Payment], channels: tuple[str, ...], window_s: int) -> list[int]:
    """PATTERN (A X*? B) WITHIN window, SKIP PAST LAST ROW, on one account: B is the first payment in
    the channels whose country differs from some open A (any earlier payment in the channels since
    the last match, within the window)."""
    found, starts = [], []
    for p in payments:
        if p.channel not in channels:
            continue
        starts = [a for a in starts if (p.created_at - a.created_at).total_seconds() < window_s]
        if any(a.country != p.country for a in starts):
            found.append(p.tx_id)
            starts = []
        else:
            starts.append(p)
    return found


def _labels(pg) -> list[dict]:
    with psycopg.connect(pg.dsn()) as conn:
        return [{"scenario": s, "account_id": a, "transaction_ids": t, "injected_at": at}
                for s, a, t, at in conn.execute(
                    "SELECT scenario, account_id, transaction_ids, injected_at FROM ground_truth.fraud_labels")]


# ---- Kafka ----

def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class _Tail:
    """Every committed record of one topic from its beginning, read a poll at a time."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level="read_committed",
                                      enable_auto_commit=False)
        parts = [TopicPartition(topic, p) for p in sorted(self.consumer.partitions_for_topic(topic) or ())]
        assert parts, f"topic {topic} does not exist"
        self.consumer.assign(parts)
        self.consumer.seek_to_beginning(*parts)
        self.values: list[dict] = []

    def poll(self) -> None:
        for batch in self.consumer.poll(timeout_ms=300).values():
            self.values.extend(json.loads(m.value) for m in batch)

    def close(self) -> None:
        self.consumer.close()


class _Ticker:
    """Empty transactions (a logical message each) every `every_s`: the reader sends watermark records
    after them, so the jobs' watermark passes the last change of the load."""

    def __init__(self, pg, every_s: float = 0.2) -> None:
        self.pg, self.every_s = pg, every_s
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with psycopg.connect(self.pg.dsn(), autocommit=True) as conn:
            while not self.stop.wait(self.every_s):
                conn.execute("SELECT pg_logical_emit_message(true, 'cdc-olap.test-tick', '')")

    def __enter__(self) -> "_Ticker":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(10)


def _health_complete(rows: list[dict], expected: dict[int, dict]) -> bool:
    counts = Counter(r["account_id"] for r in rows if r["trigger"] == "change")
    return all(counts[a] >= e["rows"] for a, e in expected.items())


def _alerts_complete(alerts: list[dict], wanted_ids: set[str]) -> bool:
    return wanted_ids <= {a["alert_id"] for a in alerts}


# ---- the run ----

def _workload(reader, log_path) -> subprocess.Popen:
    """`cdc-olap workload` in the reader's environment (same database), as its own process group."""
    args = [sys.executable, "-m", "pipeline", "workload", "--tps", str(TPS), "--duration", str(LOAD_S),
            "--seed", str(SEED), "--fraud-rate", str(FRAUD_RATE), "--customers", str(CUSTOMERS), "--flat"]
    with open(log_path, "ab") as log:
        return subprocess.Popen(args, env=reader.env, stdout=log, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT,
                                start_new_session=True)


def _wanted_alert_ids(rules: dict, payments: dict[int, list[Payment]], labels: list[dict]) -> set[str]:
    """What the alerts must at least hold before they are compared (more may come in the grace period)."""
    wanted = {f"{rules[lab['scenario']].id}:{lab['transaction_ids'][-1]}" for lab in labels
              if lab["scenario"] in ONE_PER_LABEL}
    return wanted | set(_oracle_alert_ids(rules, payments))


def _oracle_alert_ids(rules: dict, payments: dict[int, list[Payment]]) -> dict[str, int]:
    """alert id -> account, for the velocity and travel rules evaluated over Postgres' payments."""
    velocity, travel = rules["velocity_spike"], rules["impossible_travel"]
    ids = {}
    for account, mine in payments.items():
        for currency in {p.currency for p in mine}:  # the rule counts per account and currency
            in_currency = [p for p in mine if p.currency == currency]
            for tx in _velocity_alerts(in_currency, velocity.params["min_count"], velocity.params["window"]):
                ids[f"{velocity.id}:{tx}"] = account
        for tx in _travel_alerts(mine, travel.params["channels"], travel.params["window"]):
            ids[f"{travel.id}:{tx}"] = account
    return ids


@pytest.fixture(scope="module")
def chain(fresh_database, cdc_reader, flink_jobs, tmp_path_factory) -> Chain:
    pg = fresh_database
    config = flink_jobs.config
    schema.apply(pg)
    with psycopg.connect(pg.dsn()) as conn:
        seeding.seed(conn, customers=CUSTOMERS, merchants=MERCHANTS, seed=SEED)
    base = _before_load(pg)

    reader = cdc_reader(pg, delivery="exactly-once", watermark_interval_ms=50).start(timeout_s=180)
    prefix = reader.prefix
    sources = {t: f"{prefix}.public.{t}" for t in ("transactions", "accounts", "logins", "merchants")}
    health_topics = Topics({t: sources[t] for t in health.EVENT_TABLES}, f"{prefix}.account_health")
    fraud_topics = Topics(sources, f"{prefix}.fraud_alerts")
    # Started before the load, so their start-up overlaps it. Every partition of their sources gets the
    # reader's watermark records while transactions flow; a long idle timeout keeps a partition whose first
    # fetch comes late (a loaded machine) from being passed over and its rows dropped as late.
    flink_jobs.start(health.build(config, health_topics), idle_timeout_ms=60_000)
    flink_jobs.start(fraud.build(config, fraud_topics), idle_timeout_ms=60_000)

    work_dir = tmp_path_factory.mktemp("eos-chain")
    workload = _workload(reader, work_dir / "workload.log")
    started, skipped = time.monotonic(), []
    try:
        for kill_at in KILLS_AT_S:
            reader.wait_for(lambda h: h["transactions"] >= 50, 120, "streaming the load")
            while time.monotonic() - started < kill_at and workload.poll() is None:
                time.sleep(0.1)
            assert workload.poll() is None, "the load ended before the reader was killed"
            reader.kill9()
            reader.start(timeout_s=120)
            # Postgres resends what the slot had not confirmed (they come first); the reader skips what
            # Kafka already has, and goes on with new transactions.
            skipped.append(reader.wait_for(lambda h: h["transactions"] >= 50, 120, "streaming after the restart")
                           ["skipped_transactions"])
        assert workload.wait(LOAD_S + 120) == 0, (work_dir / "workload.log").read_text()[-3000:]
    finally:
        if workload.poll() is None:
            os.killpg(workload.pid, signal.SIGKILL)
            workload.wait(30)
    reader.fence()

    labels = _labels(pg)
    expected = _expected_health(pg, base)
    rules = {r.pattern: r for r in fraud_rules.enabled(config.rules_file)}
    wanted = _wanted_alert_ids(rules, _payments(pg, base), labels)
    health_tail, alerts_tail = _Tail(reader.bootstrap, health_topics.sink), _Tail(reader.bootstrap, fraud_topics.sink)
    try:
        with _Ticker(pg):
            deadline = time.monotonic() + RESULTS_TIMEOUT_S
            while time.monotonic() < deadline and not (_health_complete(health_tail.values, expected)
                                                       and _alerts_complete(alerts_tail.values, wanted)):
                health_tail.poll()
                alerts_tail.poll()
            # A row counted twice would come with the others; give it a few checkpoints to show.
            grace = time.monotonic() + 5
            while time.monotonic() < grace:
                health_tail.poll()
                alerts_tail.poll()
    finally:
        health_tail.close()
        alerts_tail.close()
    summary = (work_dir / "workload.log").read_text().strip().splitlines()
    print(f"load: {summary[-1] if summary else '-'}; skipped after each restart: {skipped}; accounts changed: "
          f"{len(expected)}; health rows: {len(health_tail.values)}; labels: {len(labels)}; alerts: "
          f"{len(alerts_tail.values)} ({len({a['alert_id'] for a in alerts_tail.values})} ids); results after "
          f"{time.monotonic() - started:.0f} s from the load's start")
    return Chain(prefix, reader.bootstrap, pg, base, rules, reader.log_path.read_text(), skipped,
                 summary[-1] if summary else "", health_tail.values, alerts_tail.values)


# ---- the checks ----

def test_every_restart_recovered_from_the_kafka_checkpoint(chain):
    """The kills happened mid-load and each restart resumed from what Kafka held: the checkpoint was
    found, and Postgres resent transactions already in Kafka, which were skipped."""
    found = [line for line in chain.log.splitlines() if "cdc.kafka_checkpoint" in line]
    assert len(found) == 1 + len(KILLS_AT_S), found
    assert "found=False" in found[0] and all("found=True" in line for line in found[1:]), found
    assert sum(chain.skipped) > 0, f"no restart was sent a transaction Kafka already held: {chain.skipped}"
    assert "payments in" in chain.workload, chain.workload


def test_cdc_topics_hold_each_change_once(chain):
    for table in TABLES:
        records = list(read_all(chain.bootstrap, f"{chain.prefix}.public.{table}", timeout_s=120))
        changes = Counter((json.dumps(r.key, sort_keys=True), r.value["source"]["lsn"], r.value["op"])
                          for r in records if r.value is not None and r.value["op"] != "m")
        twice = [change for change, n in changes.items() if n > 1]
        assert not twice, f"{table}: {len(twice)} changes in the topic more than once, e.g. {twice[:3]}"
        if table in ("accounts", "transactions"):
            key = {"accounts": "account_id", "transactions": "transaction_id"}[table]
            column = {"accounts": "balance", "transactions": "status"}[table]
            folded = {json.loads(k)[key]: row[column] for k, row in fold(iter(records)).items()}
            with psycopg.connect(chain.pg.dsn()) as conn:
                rows = {k: str(v) for k, v in conn.execute(f"SELECT {key}, {column} FROM {table}")}
            assert folded == rows, f"{table} folded from its topic differs from Postgres"


def _explain(chain, accounts: list[int], changes: dict[int, list[dict]]) -> str:
    """What the topics hold for these accounts: each change (topic, op, lsn, commit time, balance or
    status, before and after) next to the health job's change rows, so a mismatch names its cause."""
    lines = []
    wanted = set(accounts)
    for table in ("accounts", "transactions"):
        for r in read_all(chain.bootstrap, f"{chain.prefix}.public.{table}", timeout_s=60):
            v = r.value
            if v is None or v["op"] == "m":
                continue
            row = v["after"] or v["before"]
            if row.get("account_id") in wanted:
                field = "balance" if table == "accounts" else "status"
                lines.append(f"  {row['account_id']} {table} p{r.partition}@{r.offset} op={v['op']} "
                             f"lsn={v['source']['lsn']} ts={v['source']['ts_ms']} "
                             f"{field}: {(v['before'] or {}).get(field)} -> {(v['after'] or {}).get(field)}")
    for account in accounts:
        for row in changes.get(account, []):
            lines.append(f"  {account} health {row['window_end']} balance_change={row['balance_change_cents']} "
                         f"payments={row['payments']}")
    return "\n".join(sorted(lines))


def test_health_sums_equal_postgres_to_the_cent(chain):
    expected = _expected_health(chain.pg, chain.base)
    changes: dict[int, list[dict]] = defaultdict(list)
    for row in chain.health_rows:
        if row["trigger"] == "change":
            changes[row["account_id"]].append(row)
    assert len(expected) > 300, f"only {len(expected)} accounts changed"
    assert set(changes) == set(expected), (sorted(set(changes) - set(expected))[:10],
                                           sorted(set(expected) - set(changes))[:10])
    fields = ("customer_id", "currency", "payments", "amount_cents", "declines", "reversals", "balance_change_cents")
    wrong, uncertain_logins = [], 0
    for account, e in sorted(expected.items()):
        rows = changes[account]
        # By time, not by text: the sink writes 12:00:56.710 as "12:00:56.71Z", which sorts after "…56.715Z".
        newest_end = max(_parse_time(row["window_end"]) for row in rows)
        newest = [row for row in rows if _parse_time(row["window_end"]) == newest_end]
        got = {f: newest[0][f] for f in (*fields, "logins", "failed_logins", "decline_ratio_pct")}
        if any({f: r[f] for f in got} != got for r in newest):
            wrong.append((account, "rows at one commit time differ", newest))
            continue
        want = {f: e[f] for f in fields}
        if {f: got[f] for f in fields} != want or len(rows) != e["rows"]:
            wrong.append((account, {"rows": len(rows), **got}, {"rows": e["rows"], **want}))
            continue
        ratio = 100.0 * e["declines"] / e["payments"] if e["payments"] else 0.0
        assert got["decline_ratio_pct"] == pytest.approx(ratio), account
        # The owner's logins up to the row's commit time: certainly those created LOGIN_COMMIT_LAG before
        # it, possibly those created up to it (commit times are in milliseconds).
        end = newest_end
        certain = [ok for at, ok in e["logins_of_owner"] if at <= end - LOGIN_COMMIT_LAG]
        possible = [ok for at, ok in e["logins_of_owner"] if at < end + timedelta(milliseconds=1)]
        uncertain_logins += len(certain) != len(possible)
        if not (len(certain) <= got["logins"] <= len(possible)
                and certain.count(False) <= got["failed_logins"] <= possible.count(False)):
            wrong.append((account, "logins", got["logins"], got["failed_logins"], len(certain), len(possible)))
    assert not wrong, (f"{len(wrong)} of {len(expected)} accounts differ from Postgres, e.g. {wrong[:5]}\n"
                       + _explain(chain, [w[0] for w in wrong[:3]], changes))
    assert uncertain_logins < len(expected) / 20, uncertain_logins


def test_fraud_alerts_equal_the_labels_and_the_rules_over_postgres(chain):
    by_id = {a["alert_id"]: a for a in chain.alerts}
    labels = _labels(chain.pg)
    assert len(labels) >= 12 and len({lab["scenario"] for lab in labels}) == 6, Counter(
        lab["scenario"] for lab in labels)

    # Every labelled scenario was alerted (recall 1 per rule).
    scored = score([{"pattern": a["pattern"], "account_id": a["account_id"], "event_time": _parse_time(a["event_time"])}
                    for a in by_id.values()], labels)
    assert all(p["recall"] in (1.0, None) for p in scored["per_rule"].values()), scored

    # One alert per label, completed by the label's own transaction.
    for pattern in ONE_PER_LABEL:
        rule = chain.rules[pattern]
        want = {f"{rule.id}:{lab['transaction_ids'][-1]}" for lab in labels if lab["scenario"] == pattern}
        got = {i for i, a in by_id.items() if a["pattern"] == pattern}
        assert got == want, (pattern, sorted(got - want), sorted(want - got))
    dormant = Counter(a["account_id"] for a in by_id.values() if a["pattern"] == "dormant_reactivation")
    assert dormant == Counter(lab["account_id"] for lab in labels if lab["scenario"] == "dormant_reactivation")

    # Velocity and travel: exactly what the rules give over Postgres' payments.
    oracle = _oracle_alert_ids(chain.rules, _payments(chain.pg, chain.base))
    for pattern in ("velocity_spike", "impossible_travel"):
        rule = chain.rules[pattern]
        want = {i for i in oracle if i.startswith(rule.id + ":")}
        got = {i for i, a in by_id.items() if a["pattern"] == pattern}
        assert got == want, (pattern, sorted(got - want), sorted(want - got))
        assert all(by_id[i]["account_id"] == oracle[i] for i in got)

