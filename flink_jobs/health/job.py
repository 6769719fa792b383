"""The health job: per account, a score over the trailing 24 hours, on every change and every 5 minutes.

Both kinds of row sum the same stream (views.py: `account_events`, one row
per payment, decline, reversal, balance change and login of the owner) and go
through the same scoring SELECT, so they share inputs and formula and differ
only in the 24 hours they cover:

- `schedule`: a HOP window (size 24 h, slide 5 min) per account, written when
  the watermark passes its end: one row every 5 minutes while the account had
  an event in the last day.
- `change`: an OVER window per account (the 24 hours up to and including the
  event's commit time), one row per event as soon as the watermark passes it.

Both are by commit time, like every job here, so a replay gives the same rows.
One INSERT (the two parts joined with UNION ALL): one exactly-once sink.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.config import Config
from flink_jobs import sources, sql
from flink_jobs.health import views
from flink_jobs.health import weights as weights_file
from flink_jobs.health.score import score_sql
from flink_jobs.health.weights import Penalty
from flink_jobs.job import JobSpec, Topics
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
# The summed inputs, over account_events' columns: the same aggregates for both kinds of row.
INPUTS = (
    ("payments", "payment"),
    ("amount_cents", "amount_cents"),
    ("declines", "declined"),
    ("reversals", "reversed"),
    ("balance_change_cents", "balance_change_cents"),
    ("logins", "login"),
    ("failed_logins", "failed_login"),
)


def default_topics(config: Config) -> Topics:
    return Topics({t: sources.topic(config, t) for t in EVENT_TABLES}, config.flink.health_topic)


def sums(over: str = "") -> str:
    """The inputs as SUMs over account_events, as a group aggregate or (`over` = " OVER w") per row."""
    return ", ".join(f"SUM({column}){over} AS {name}" for name, column in INPUTS)


def input_views() -> list[str]:
    """Per account: the scheduled windows' sums and each event's trailing sums, then both as one stream."""
    size = sql.interval(SIZE_S)
    names = ", ".join(name for name, _ in INPUTS)
    return [
        f"""CREATE TEMPORARY VIEW scheduled_sums AS
SELECT window_start, window_end, 'schedule' AS `trigger`, account_id, MAX(customer_id) AS customer_id, {sums()}
FROM TABLE(HOP(TABLE account_events, DESCRIPTOR(event_time), {sql.interval(SLIDE_S)}, {size}))
GROUP BY window_start, window_end, account_id""",
        f"""CREATE TEMPORARY VIEW change_sums AS
SELECT CAST(event_time - {size} AS TIMESTAMP_LTZ(3)) AS window_start,
       CAST(event_time AS TIMESTAMP_LTZ(3)) AS window_end, 'change' AS `trigger`, account_id, customer_id,
       {sums(' OVER w')}
FROM account_events
WINDOW w AS (PARTITION BY account_id ORDER BY event_time RANGE BETWEEN {size} PRECEDING AND CURRENT ROW)""",
        f"""CREATE TEMPORARY VIEW health_inputs AS
SELECT *, CAST(CASE WHEN payments > 0 THEN 100.0 * declines / payments ELSE 0.0 END AS DOUBLE) AS decline_ratio_pct
FROM (SELECT window_start, window_end, `trigger`, account_id, customer_id, {names} FROM scheduled_sums
      UNION ALL
      SELECT window_start, window_end, `trigger`, account_id, customer_id, {names} FROM change_sums)""",
    ]


def insert_sql(penalties: dict[str, Penalty]) -> str:
    """The job's one INSERT: every row, scheduled or change, scored by the same expression."""
    columns = ", ".join(f"`{name}`" if name != "score" else f"{score_sql(penalties)} AS score"
                        for name, _ in COLUMNS)
    return f"INSERT INTO account_health\nSELECT {columns}\nFROM health_inputs"


def build(config: Config, topics: Topics | None = None, penalties: dict[str, Penalty] | None = None,
          weights_path: Path | None = None) -> JobSpec:
    """The job for these weights (default: [flink] health_file, validated here)."""
    topics = topics or default_topics(config)
    penalties = penalties if penalties is not None else weights_file.load(weights_path or config.health_file)
    group = f"cdc-olap-{NAME}"
    ddl = [sources.events_ddl(config, t, group, topics.sources[t]) for t in EVENT_TABLES]
    ddl += [sources.changelog_ddl(config, t, group, topics.sources[t]) for t in VERSIONED_TABLES]
    ddl += views.statements() + input_views()
    ddl.append(kafka_sink_ddl(config, "account_health", topics.sink, COLUMNS, job=NAME,
                              delivery="exactly-once", key_field="account_id"))
    return JobSpec(NAME, ddl, insert_sql(penalties), topics, {"slide_s": SLIDE_S, "size_s": SIZE_S})
