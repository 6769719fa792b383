"""The health job: per account, a score over the trailing 24 hours, on every change and every 5 minutes.

Both kinds of row sum the same two streams (views.py: `account_events`, one
row per payment, decline, reversal and balance change of an account, and
`customer_logins`, one per login of a customer) with the same aggregates, and
go through the same scoring SELECT, so they share inputs and formula and
differ only in the 24 hours they cover:

- `schedule`: a HOP window (size 24 h, slide 5 min) per account, window-joined
  with the owner's login HOP window, written when the watermark passes its
  end: one row every 5 minutes while the account had a change in the last day.
- `change`: one row per account event (a login is not one), as soon as the
  watermark passes it: an OVER window per customer over account events and
  logins together gives each account event its owner's logins of the 24 hours
  up to and including it, then an OVER window per account sums the account's own.

Both are by commit time, like every job here, so a replay gives the same rows.
Money is summed per account and currency (`amount_cents`, `balance_change_cents`
and the score's balance penalty are all in the row's `currency`). An account
has one currency (accounts.currency) and the workload writes its
transactions in it, so in practice an account has one row per time; the
schema does not enforce the second part, so currency is in the key: a
transaction in another currency would give the account a second row,
never a sum of two currencies' cents.

One INSERT (the two parts joined with UNION ALL): one exactly-once sink.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Config
from flink_jobs import sources, sql
from flink_jobs.health import views
from flink_jobs.health import weights as weights_file
from flink_jobs.health.score import score_sql
from flink_jobs.health.weights import MoneyPenalty, Penalty
from flink_jobs.job import JobSpec, Topics, group_id, with_versioned_sink
from flink_jobs.sinks import kafka_sink_ddl

NAME = "health"
SLIDE_S = 300
SIZE_S = 24 * 3600
EVENT_TABLES = ("transactions", "accounts", "logins")
VERSIONED_TABLES = ("accounts",)

COLUMNS = (
    ("window_start", "TIMESTAMP_LTZ(3)"),
    ("window_end", "TIMESTAMP_LTZ(3)"),  # the score's time: it covers the 24 h before this
    ("trigger", "STRING"),  # 'change': the event at window_end; 'schedule': the 5-minute row
    ("account_id", "BIGINT"),
    ("customer_id", "BIGINT"),
    ("currency", "STRING"),  # of the amounts in the row (the account's)
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
# The summed inputs: (output column, column summed). Account inputs are summed over account_events,
# login inputs over customer_logins (views.py); both kinds of row use these same aggregates.
ACCOUNT_INPUTS = (
    ("payments", "payment"),
    ("amount_cents", "amount_cents"),
    ("declines", "declined"),
    ("reversals", "reversed"),
    ("balance_change_cents", "balance_change_cents"),
)
LOGIN_INPUTS = (
    ("logins", "login"),
    ("failed_logins", "failed_login"),
)
INPUTS = ACCOUNT_INPUTS + LOGIN_INPUTS


def default_topics(config: Config) -> Topics:
    return Topics({t: sources.topic(config, t) for t in EVENT_TABLES}, config.flink.health_topic)


def sums(inputs: tuple[tuple[str, str], ...], over: str = "") -> str:
    """The inputs as SUMs, as a group aggregate or (`over` = " OVER w") per row."""
    return ", ".join(f"SUM({column}){over} AS {name}" for name, column in inputs)


def _names(inputs: tuple[tuple[str, str], ...], prefix: str = "") -> str:
    return ", ".join(f"{prefix}{name}" for name, _ in inputs)


def input_views() -> list[str]:
    """The schedule rows' sums, the change rows' sums, then both as one stream (health_inputs)."""
    size = sql.interval(SIZE_S)
    hop = f"{sql.interval(SLIDE_S)}, {size}"
    trailing = f"ORDER BY event_time RANGE BETWEEN {size} PRECEDING AND CURRENT ROW"
    events = ", ".join(views.EVENT_COLUMNS)
    zeros = ", ".join(f"CAST(0 AS BIGINT) AS {c}" for c in views.EVENT_COLUMNS)
    no_logins = ", ".join(f"CAST(0 AS BIGINT) AS {c}" for c in views.LOGIN_COLUMNS)
    columns = f"window_start, window_end, `trigger`, account_id, customer_id, currency, {_names(INPUTS)}"
    return [
        # schedule: per account and per owner, HOP windows, window-joined (accounts without an event in
        # the window make no row; an owner without logins in it gets 0).
        f"""CREATE TEMPORARY VIEW account_windows AS
SELECT window_start, window_end, account_id, currency, MAX(customer_id) AS customer_id, {sums(ACCOUNT_INPUTS)}
FROM TABLE(HOP(TABLE account_events, DESCRIPTOR(event_time), {hop}))
GROUP BY window_start, window_end, account_id, currency""",
        f"""CREATE TEMPORARY VIEW login_windows AS
SELECT window_start, window_end, customer_id, {sums(LOGIN_INPUTS)}
FROM TABLE(HOP(TABLE customer_logins, DESCRIPTOR(event_time), {hop}))
GROUP BY window_start, window_end, customer_id""",
        f"""CREATE TEMPORARY VIEW scheduled_sums AS
SELECT a.window_start, a.window_end, 'schedule' AS `trigger`, a.account_id, a.customer_id, a.currency,
       {_names(ACCOUNT_INPUTS, 'a.')},
       {', '.join(f'COALESCE(l.{name}, 0) AS {name}' for name, _ in LOGIN_INPUTS)}
FROM account_windows AS a LEFT JOIN login_windows AS l
  ON a.window_start = l.window_start AND a.window_end = l.window_end AND a.customer_id = l.customer_id""",
        # change: the owner's logins of the 24 h up to each account event (an OVER per customer over the
        # account events and the logins together), then the account's own sums (an OVER per account).
        f"""CREATE TEMPORARY VIEW owner_events AS
SELECT account_id, customer_id, currency, {events}, {no_logins}, event_time FROM account_events
UNION ALL
SELECT CAST(NULL AS BIGINT) AS account_id, customer_id, CAST(NULL AS STRING) AS currency, {zeros},
       {', '.join(views.LOGIN_COLUMNS)}, event_time
FROM customer_logins""",
        f"""CREATE TEMPORARY VIEW account_events_with_logins AS
SELECT * FROM (
  SELECT account_id, customer_id, currency, {events}, {sums(LOGIN_INPUTS, ' OVER c')}, event_time
  FROM owner_events
  WINDOW c AS (PARTITION BY customer_id {trailing}))
WHERE account_id IS NOT NULL""",
        f"""CREATE TEMPORARY VIEW change_sums AS
SELECT CAST(event_time - {size} AS TIMESTAMP_LTZ(3)) AS window_start,
       CAST(event_time AS TIMESTAMP_LTZ(3)) AS window_end, 'change' AS `trigger`, account_id, customer_id, currency,
       {sums(ACCOUNT_INPUTS, ' OVER w')}, {_names(LOGIN_INPUTS)}
FROM account_events_with_logins
WINDOW w AS (PARTITION BY account_id, currency {trailing})""",
        f"""CREATE TEMPORARY VIEW health_inputs AS
SELECT *, CAST(CASE WHEN payments > 0 THEN 100.0 * declines / payments ELSE 0.0 END AS DOUBLE) AS decline_ratio_pct
FROM (SELECT {columns} FROM scheduled_sums
      UNION ALL
      SELECT {columns} FROM change_sums)""",
    ]


def insert_sql(penalties: dict[str, Penalty | MoneyPenalty]) -> str:
    """The job's one INSERT: every row, scheduled or change, scored by the same expression."""
    columns = ", ".join(f"`{name}`" if name != "score" else f"{score_sql(penalties)} AS score"
                        for name, _ in COLUMNS)
    return f"INSERT INTO account_health\nSELECT {columns}\nFROM health_inputs"


def build(config: Config, topics: Topics | None = None, penalties: dict[str, Penalty | MoneyPenalty] | None = None,
          weights_path: Path | None = None) -> JobSpec:
    """The job for these weights (default: [flink] health_file, validated here); on the configured topics
    (topics=None) its results go to a topic of its version (flink_jobs/job.with_versioned_sink)."""
    versioned, topics = topics is None and config.flink.versioned_results, topics or default_topics(config)
    penalties = penalties if penalties is not None else weights_file.load(weights_path or config.health_file)
    group = group_id(NAME)
    ddl = [sources.events_ddl(config, t, group, topics.sources[t]) for t in EVENT_TABLES]
    ddl += [stmt for t in VERSIONED_TABLES for stmt in sources.changelog_ddl(config, t, group, topics.sources[t])]
    ddl += views.statements() + input_views()
    ddl.append(kafka_sink_ddl(config, "account_health", topics.sink, COLUMNS, job=NAME,
                              delivery="exactly-once", key_field="account_id"))
    spec = JobSpec(NAME, ddl, insert_sql(penalties), topics, {"slide_s": SLIDE_S, "size_s": SIZE_S})
    return with_versioned_sink(spec) if versioned else spec
