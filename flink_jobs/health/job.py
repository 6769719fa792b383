"""The health job: per account, every 5 minutes, a score over the trailing 24 hours.

A HOP window (size 24 h, slide 5 min) over the account's events gives one row
per account every 5 minutes while the account had activity in the last 24
hours; that row is also how a change shows: at most one slide (plus the
watermark delay) after the event that caused it. Windows are by commit time,
like every job here, so a replay gives the same rows.

The account side (transactions and balance changes) and the owner side
(logins, which belong to a customer, not an account) are windowed apart and
joined per window: a window join needs no state beyond the open windows. A
transaction learns its account's owner through an event-time temporal join,
as the fraud job does. Accounts with no transaction or balance change in the
trailing day are not scored (their owner's logins alone do not make a row).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Config
from flink_jobs import sources, sql
from flink_jobs.fraud.views import BACKDATED_S
from flink_jobs.health import weights as weights_file
from flink_jobs.health.weights import Penalty
from flink_jobs.job import JobSpec, Topics, group_id
from flink_jobs.sinks import kafka_sink_ddl

NAME = "health"
SLIDE_S = 300
SIZE_S = 24 * 3600
EVENT_TABLES = ("transactions", "accounts", "logins")
VERSIONED_TABLES = ("accounts",)

COLUMNS = (
    ("window_start", "TIMESTAMP_LTZ(3)"),
    ("window_end", "TIMESTAMP_LTZ(3)"),  # the score's time: it covers the 24 h before this
    ("account_id", "BIGINT"),
    ("customer_id", "BIGINT"),
    ("score", "DOUBLE"),  # 0..100, one decimal
    ("payments", "BIGINT"),
    ("amount_cents", "BIGINT"),  # of the payments made
    ("declines", "BIGINT"),
    ("decline_ratio_pct", "DOUBLE"),
    ("reversals", "BIGINT"),
    ("balance_change_cents", "BIGINT"),  # net; negative when money left
    ("logins", "BIGINT"),
    ("failed_logins", "BIGINT"),
)

# The value each penalty of the weights file applies to, over the joined window row.
_VALUES = {
    "declines": "declines",
    "decline_ratio_pct": "decline_ratio_pct",
    "reversals": "reversals",
    "failed_logins": "failed_logins",
    "logins": "logins",
    "payments": "payments",
    "balance_drop": "-balance_change_cents / 100.0",
}
_HOP = f"{sql.interval(SLIDE_S)}, {sql.interval(SIZE_S)}"


def default_topics(config: Config) -> Topics:
    return Topics({t: sources.topic(config, t) for t in EVENT_TABLES}, config.flink.health_topic)


def _became(status: str) -> str:
    """1 when the change makes the transaction `status` (inserted so, or updated to it), else 0."""
    return (f"CASE WHEN `after`.`status` = '{status}' AND (op = 'c' OR `before`.`status` IS DISTINCT FROM "
            f"'{status}') THEN 1 ELSE 0 END")


def _views() -> list[str]:
    is_payment = f"op = 'c' AND `after`.`created_at` >= event_time - {sql.interval(BACKDATED_S)}"
    return [
        f"""CREATE TEMPORARY VIEW tx_changes AS
SELECT `after`.`account_id` AS account_id, CASE WHEN {is_payment} THEN 1 ELSE 0 END AS payment,
       CASE WHEN {is_payment} THEN CAST(`after`.`amount` * 100 AS BIGINT) ELSE 0 END AS amount_cents,
       {_became('declined')} AS declined, {_became('reversed')} AS reversed, event_time
FROM transactions_cdc WHERE op IN ('c', 'u')""",
        f"""CREATE TEMPORARY VIEW account_events AS
SELECT t.account_id, a.customer_id, t.payment, t.amount_cents, t.declined, t.reversed,
       CAST(0 AS BIGINT) AS balance_change_cents, t.event_time
FROM tx_changes AS t JOIN accounts_changelog FOR SYSTEM_TIME AS OF t.event_time AS a
  ON t.account_id = a.account_id
UNION ALL
SELECT `after`.`account_id`, `after`.`customer_id`, 0, CAST(0 AS BIGINT), 0, 0,
       CAST((`after`.`balance` - `before`.`balance`) * 100 AS BIGINT), event_time
FROM accounts_cdc WHERE op = 'u'""",
        f"""CREATE TEMPORARY VIEW account_windows AS
SELECT window_start, window_end, account_id, MAX(customer_id) AS customer_id,
       CAST(SUM(payment) AS BIGINT) AS payments, SUM(amount_cents) AS amount_cents,
       CAST(SUM(declined) AS BIGINT) AS declines, CAST(SUM(reversed) AS BIGINT) AS reversals,
       SUM(balance_change_cents) AS balance_change_cents
FROM TABLE(HOP(TABLE account_events, DESCRIPTOR(event_time), {_HOP}))
GROUP BY window_start, window_end, account_id""",
        f"""CREATE TEMPORARY VIEW login_windows AS
SELECT window_start, window_end, `after`.`customer_id` AS customer_id, COUNT(*) AS logins,
       CAST(SUM(CASE WHEN `after`.`success` THEN 0 ELSE 1 END) AS BIGINT) AS failed_logins
FROM TABLE(HOP(TABLE logins_cdc, DESCRIPTOR(event_time), {_HOP}))
WHERE op = 'c'
GROUP BY window_start, window_end, `after`.`customer_id`""",
        """CREATE TEMPORARY VIEW health_inputs AS
SELECT a.window_start, a.window_end, a.account_id, a.customer_id, a.payments, a.amount_cents, a.declines,
       CASE WHEN a.payments > 0 THEN 100.0 * a.declines / a.payments ELSE 0.0 END AS decline_ratio_pct,
       a.reversals, a.balance_change_cents,
       COALESCE(l.logins, 0) AS logins, COALESCE(l.failed_logins, 0) AS failed_logins
FROM account_windows AS a LEFT JOIN login_windows AS l
  ON a.window_start = l.window_start AND a.window_end = l.window_end AND a.customer_id = l.customer_id""",
    ]


def _number(value: float) -> str:
    return f"CAST({value!r} AS DOUBLE)"


def _penalty(name: str, penalty: Penalty) -> str:
    value = f"CAST({_VALUES[name]} AS DOUBLE)"
    return (f"LEAST({_number(penalty.cap)}, {_number(penalty.weight)} * "
            f"GREATEST(CAST(0 AS DOUBLE), {value} - {_number(penalty.free)}))")


def score_sql(penalties: dict[str, Penalty]) -> str:
    """The score as SQL over health_inputs' columns: the formula of docs/flink.md with these weights."""
    total = "\n      + ".join(_penalty(name, p) for name, p in penalties.items())
    return f"ROUND(GREATEST(CAST(0 AS DOUBLE), 100 - (\n        {total})), 1)"


def build(config: Config, topics: Topics | None = None, penalties: dict[str, Penalty] | None = None,
          weights_path: Path | None = None) -> JobSpec:
    """The job for these weights (default: [flink] health_file, validated here)."""
    topics = topics or default_topics(config)
    penalties = penalties if penalties is not None else weights_file.load(weights_path or config.health_file)
    group = group_id(NAME)
    ddl = [sources.events_ddl(config, t, group, topics.sources[t]) for t in EVENT_TABLES]
    ddl += [sources.changelog_ddl(config, t, group, topics.sources[t]) for t in VERSIONED_TABLES]
    ddl += _views()
    ddl.append(kafka_sink_ddl(config, "account_health", topics.sink, COLUMNS, job=NAME,
                              delivery="exactly-once", key_field="account_id"))
    insert = f"""INSERT INTO account_health
SELECT window_start, window_end, account_id, customer_id, {score_sql(penalties)},
       payments, amount_cents, declines, CAST(decline_ratio_pct AS DOUBLE), reversals, balance_change_cents,
       logins, failed_logins
FROM health_inputs"""
    return JobSpec(NAME, ddl, insert, topics, {"slide_s": SLIDE_S, "size_s": SIZE_S})
