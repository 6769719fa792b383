"""The six fraud patterns: the parameters each takes and the Flink SQL it becomes.

A rule in the rules file names a pattern and fills in its parameters; this
module turns that into one SELECT producing the alert columns (model.py).
Everything is plain SQL over insert-only, event-time views (views.py):
MATCH_RECOGNIZE for ordered sequences (card testing, velocity, travel),
an interval join for "login then transfer", OVER windows for "first time",
event-time temporal joins for what an account or merchant looked like at the
moment of a payment. No Python UDFs: nothing here needs one.

Amount thresholds are per currency: a payment (or debit) is compared with
the threshold of its own currency and never with another's
(`sql.amount_test`); a rule does not look at amounts in currencies it does
not list. Alerts that show an amount show its currency beside it, and the
velocity burst is counted per account and currency so its total is an amount.

Every alert_id is the rule id plus the id of the event that completed the
pattern, so a replay after a restart produces the same id and the
dispatcher can drop it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

from flink_jobs import sql
from flink_jobs.fraud.model import Rule
from flink_jobs.fraud.params import Choices, Duration, Integer, Kind, Money

CHANNELS = ("card_present", "ecommerce", "transfer", "atm")


@dataclass(frozen=True)
class Pattern:
    name: str
    summary: str
    params: dict[str, Kind]
    build: Callable[[Rule], str]
    # Cross-field checks: (field, problem) for each violation.
    check: Callable[[dict], list[tuple[str, str]]] = field(default=lambda params: [])


def _alert(rule: Rule, identity: str, account: str, event_time: str, evidence: dict[str, str]) -> str:
    pairs = ", ".join(f"KEY {sql.string(k)} VALUE {v}" for k, v in evidence.items())
    return (f"CONCAT({sql.string(rule.id + ':')}, CAST({identity} AS STRING)) AS `alert_id`, "
            f"{sql.string(rule.id)} AS `rule_id`, {sql.string(rule.pattern)} AS `pattern`, "
            f"{sql.string(rule.severity)} AS `severity`, {account} AS `account_id`, "
            f"CAST({event_time} AS TIMESTAMP_LTZ(3)) AS `event_time`, CURRENT_TIMESTAMP AS `detected_at`, "
            f"JSON_OBJECT({pairs}) AS `evidence`")


def _text(expr: str) -> str:
    """Amounts and times go into evidence as text: exact decimals, UTC timestamps."""
    return f"CAST({expr} AS STRING)"


def card_testing(rule: Rule) -> str:
    p = rule.params
    channels = sql.string_list(p["channels"])
    return f"""
SELECT {_alert(rule, "tx_id", "account_id", "event_time", {
        "card_id": "card_id", "probes": "probes", "first_probe_tx": "first_tx", "large_tx": "tx_id",
        "large_amount": _text("amount"), "currency": "currency", "first_probe_at": _text("first_time")})}
FROM payments MATCH_RECOGNIZE (
  PARTITION BY card_id ORDER BY event_time
  MEASURES FIRST(P.tx_id) AS first_tx, COUNT(P.tx_id) AS probes, FIRST(P.event_time) AS first_time,
           B.tx_id AS tx_id, B.account_id AS account_id, B.amount AS amount, B.currency AS currency,
           B.event_time AS event_time
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (P{{{p["min_probes"]},}} B) WITHIN {sql.interval(p["window"])}
  DEFINE P AS {sql.amount_test("P.amount", "P.currency", "<=", p["probe_max_amount"])} AND P.channel IN ({channels}),
         B AS {sql.amount_test("B.amount", "B.currency", ">=", p["large_min_amount"])} AND B.channel IN ({channels})
)"""


def velocity_spike(rule: Rule) -> str:
    p = rule.params
    return f"""
SELECT {_alert(rule, "tx_id", "account_id", "event_time", {
        "payments": "payments", "first_tx": "first_tx", "last_tx": "tx_id", "total_amount": _text("total"),
        "currency": "currency", "first_at": _text("first_time")})}
FROM payments MATCH_RECOGNIZE (
  PARTITION BY account_id, currency ORDER BY event_time
  MEASURES FIRST(T.tx_id) AS first_tx, LAST(T.tx_id) AS tx_id, COUNT(T.tx_id) AS payments,
           SUM(T.amount) AS total, FIRST(T.event_time) AS first_time, LAST(T.event_time) AS event_time
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (T{{{p["min_count"]}}}) WITHIN {sql.interval(p["window"])}
  DEFINE T AS T.amount > 0
)"""


def impossible_travel(rule: Rule) -> str:
    p = rule.params
    channels = sql.string_list(p["channels"])
    return f"""
SELECT {_alert(rule, "tx_id", "account_id", "event_time", {
        "from_tx": "from_tx", "from_country": "from_country", "from_at": _text("from_time"),
        "to_tx": "tx_id", "to_country": "to_country"})}
FROM payments MATCH_RECOGNIZE (
  PARTITION BY account_id ORDER BY event_time
  MEASURES A.tx_id AS from_tx, A.country AS from_country, A.event_time AS from_time,
           B.tx_id AS tx_id, B.country AS to_country, B.event_time AS event_time
  ONE ROW PER MATCH
  AFTER MATCH SKIP PAST LAST ROW
  PATTERN (A X*? B) WITHIN {sql.interval(p["window"])}
  DEFINE A AS A.channel IN ({channels}),
         B AS B.channel IN ({channels}) AND B.country <> A.country
)"""


def new_device_large_transfer(rule: Rule) -> str:
    p = rule.params
    return f"""
SELECT {_alert(rule, "t.tx_id", "t.account_id", "t.event_time", {
        "login_id": "l.login_id", "device_id": "l.device_id", "login_country": "l.country",
        "login_at": _text("l.event_time"), "transfer_tx": "t.tx_id", "amount": _text("t.amount"),
        "currency": "t.currency"})}
FROM (SELECT * FROM login_devices WHERE op = 'c' AND success AND device_seen = 1) l
JOIN (SELECT * FROM payments_with_account
      WHERE direction = 'debit' AND channel IN ({sql.string_list(p["channels"])})
        AND {sql.amount_test("amount", "currency", ">=", p["min_amount"])}) t
  ON t.customer_id = l.customer_id
 AND t.event_time BETWEEN l.event_time AND l.event_time + {sql.interval(p["window"])}"""


def mcc_anomaly(rule: Rule) -> str:
    p = rule.params
    return f"""
SELECT {_alert(rule, "tx_id", "account_id", "event_time", {
        "tx_id": "tx_id", "merchant_id": "merchant_id", "mcc": "mcc", "amount": _text("amount"),
        "currency": "currency"})}
FROM (
  SELECT *, COUNT(*) OVER (PARTITION BY account_id, mcc ORDER BY event_time
                           RANGE BETWEEN {sql.interval(p["lookback"])} PRECEDING AND CURRENT ROW) AS uses
  FROM payments_with_merchant WHERE mcc IN ({sql.string_list(p["mccs"])})
)
WHERE uses = 1 AND {sql.amount_test("amount", "currency", ">=", p["min_amount"])}"""


def dormant_reactivation(rule: Rule) -> str:
    """Read from the account's own change: the settlement that moves `last_activity_at` carries the
    old value in `before`, so the gap is exact even when the payment and its settlement commit in the
    same millisecond (a temporal join as of the payment would already see the new activity)."""
    p = rule.params
    return f"""
SELECT {_alert(rule, "CONCAT(CAST(account_id AS STRING), '@', CAST(lsn AS STRING))", "account_id", "event_time", {
        "debit": _text("debit"), "currency": "currency", "balance_after": _text("balance_after"),
        "last_activity_at": _text("last_active_before"),
        "dormant_days": "TIMESTAMPDIFF(DAY, CAST(last_active_before AS TIMESTAMP(3)), CAST(event_time AS TIMESTAMP(3)))"})}
FROM account_activity
WHERE {sql.amount_test("debit", "currency", ">=", p["min_amount"])}
  AND last_active_before <= event_time - {sql.interval(p["dormant_for"])}"""


def _card_testing_check(params: dict) -> list[tuple[str, str]]:
    probe: dict[str, Decimal] = params["probe_max_amount"]
    large: dict[str, Decimal] = params["large_min_amount"]
    if set(large) != set(probe):
        return [("large_min_amount", f"must list the same currencies as probe_max_amount "
                                     f"({', '.join(sorted(probe))}), got {', '.join(sorted(large))}")]
    return [("large_min_amount", f"must be above probe_max_amount in {code} ({probe[code]}), got {large[code]}")
            for code in sorted(large) if large[code] <= probe[code]]


PATTERNS: dict[str, Pattern] = {p.name: p for p in (
    Pattern("card_testing", "several tiny card-not-present charges on one card, then a large one",
            {"window": Duration(), "min_probes": Integer(2), "probe_max_amount": Money(),
             "large_min_amount": Money(), "channels": Choices(CHANNELS)},
            card_testing, _card_testing_check),
    Pattern("velocity_spike", "many payments on one account within a short window",
            {"window": Duration(), "min_count": Integer(2)}, velocity_spike),
    Pattern("impossible_travel", "payments in two countries closer in time than travel allows",
            {"window": Duration(), "channels": Choices(CHANNELS)}, impossible_travel),
    Pattern("new_device_large_transfer", "a login from a device never seen for the customer, then a large transfer",
            {"window": Duration(), "min_amount": Money(), "channels": Choices(CHANNELS)},
            new_device_large_transfer),
    Pattern("mcc_anomaly", "a large payment in a high-risk merchant category the account has not used lately",
            {"lookback": Duration(), "mccs": Choices(pattern=r"\d{4}"), "min_amount": Money()}, mcc_anomaly),
    Pattern("dormant_reactivation", "a debit that ends months of inactivity on an account",
            {"dormant_for": Duration(), "min_amount": Money()}, dormant_reactivation),
)}
