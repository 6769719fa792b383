"""The CDC topics as Flink tables.

Each topic is declared twice over the same Kafka records, and a job picks
the reading it needs:

- `<table>_changelog`: a versioned view (each key's newest row in event time)
  over the same envelope, for event-time temporal joins: the table as it
  stood at each commit.
- `<table>_cdc`, format `json` over the whole envelope: one append-only row
  per change with `op`, `before`, `after` and the source position. Jobs use it
  where they need to see the change itself rather than the table: signed
  deltas for the windows (Flink 2.2 SQL cannot turn a changelog back into
  rows with a sign; TO_CHANGELOG arrives in 2.3), and insert-only event
  streams for the fraud patterns (MATCH_RECOGNIZE, OVER and interval joins
  accept only append-only input).

Both carry `event_time`: the source commit timestamp (`source.ts_ms`), with
a watermark of bounded out-of-orderness ([flink] out_of_orderness_ms). The
CDC reader's watermark records (op "m", pipeline/cdc/watermarks.py) move each
partition's watermark on while the database is busy; the idle timeout
([flink] idle_timeout_ms) lets it move on when a partition has no record at all.
"""

from __future__ import annotations

from pipeline.config import Config
from flink_jobs.environment import kafka_table_options

# The columns of each captured table that the jobs read, with their Flink types. Postgres NUMERIC
# arrives as a decimal string and timestamptz as ISO-8601 UTC ('Z'); the json formats parse both.
COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "transactions": (
        ("transaction_id", "BIGINT"), ("account_id", "BIGINT"), ("card_id", "BIGINT"), ("merchant_id", "BIGINT"),
        ("amount", "DECIMAL(18, 2)"), ("currency", "STRING"), ("direction", "STRING"), ("channel", "STRING"),
        ("country", "STRING"), ("status", "STRING"), ("created_at", "TIMESTAMP_LTZ(3)"),
    ),
    "logins": (
        ("login_id", "BIGINT"), ("customer_id", "BIGINT"), ("device_id", "STRING"), ("ip", "STRING"),
        ("country", "STRING"), ("success", "BOOLEAN"), ("created_at", "TIMESTAMP_LTZ(3)"),
    ),
    "accounts": (
        ("account_id", "BIGINT"), ("customer_id", "BIGINT"), ("currency", "STRING"), ("status", "STRING"),
        ("balance", "DECIMAL(18, 2)"), ("last_activity_at", "TIMESTAMP_LTZ(3)"),
    ),
    "merchants": (("merchant_id", "BIGINT"), ("mcc", "STRING"), ("country", "STRING")),
}
# A source table's name is the captured table's name and how it is read.
EVENTS_SUFFIX, CHANGELOG_SUFFIX, VERSIONS_SUFFIX = "_cdc", "_changelog", "_versions_cdc"
KEYS = {"transactions": "transaction_id", "logins": "login_id", "accounts": "account_id", "merchants": "merchant_id"}
# A record (a watermark record above all) moves its partition's watermark at once, not at the next
# periodic tick (pipeline.auto-watermark-interval).
_WATERMARKS = {"scan.watermark.emit.strategy": "on-event"}
_JSON = {"json.timestamp-format.standard": "ISO-8601", "json.fail-on-missing-field": "false",
         "json.ignore-parse-errors": "false", **_WATERMARKS}


def topic(config: Config, table: str) -> str:
    return f"{config.cdc.topic_prefix}.public.{table}"


def _watermark(config: Config) -> str:
    return f"WATERMARK FOR `event_time` AS `event_time` - INTERVAL '{config.flink.out_of_orderness_ms / 1000:.3f}' SECOND"


def _row(table: str) -> str:
    return "ROW<" + ", ".join(f"`{name}` {kind}" for name, kind in COLUMNS[table]) + ">"


def events_ddl(config: Config, table: str, group_id: str, topic_name: str | None = None, *,
               name: str | None = None, extra: dict[str, str] | None = None) -> str:
    """`<table>_cdc`: the raw envelope, one append-only row per change (and per watermark record).
    A record that is not valid JSON fails the job (json.ignore-parse-errors stays false): a malformed
    change is never skipped silently."""
    return f"""
CREATE TEMPORARY TABLE `{name or table + EVENTS_SUFFIX}` (
  `before` {_row(table)},
  `after` {_row(table)},
  `op` STRING,
  `source` ROW<`ts_ms` BIGINT, `lsn` BIGINT>,
  `event_time` AS TO_TIMESTAMP_LTZ(`source`.`ts_ms`, 3),
  {_watermark(config)}
) WITH ({kafka_table_options(config, topic_name or topic(config, table), 'json', group_id=group_id,
                             extra={**_JSON, **(extra or {})})})"""


def changelog_ddl(config: Config, table: str, group_id: str, topic_name: str | None = None) -> list[str]:
    """`<table>_changelog`: the table as it stood at each commit, a versioned view for event-time
    temporal joins (`FOR SYSTEM_TIME AS OF`).

    Built from the raw envelope (format `json`, the same reading as `<table>_cdc`) by keeping each
    key's newest row in event time, which Flink recognises as a versioned view (primary key = the
    PARTITION BY key, version time = event_time). Not Flink's `debezium-json`: that format knows no
    watermark record (op "m") or truncate, so it could only read these topics by ignoring parse
    errors, which would also hide a genuinely malformed change. Here a malformed record fails the
    job, and watermark records move this side's watermark like any other source's, so a join does
    not wait for the versioned side's idle timeout. A deleted row's last version stays (accounts
    and merchants are closed by status, never deleted, in this system).
    """
    source = f"{table}{VERSIONS_SUFFIX}"
    key = KEYS[table]
    columns = ", ".join(f"`{name}`" for name, _ in COLUMNS[table])
    return [
        events_ddl(config, table, group_id, topic_name, name=source,
                   extra={"scan.watermark.idle-timeout": f"{config.flink.versioned_idle_timeout_ms} ms"}),
        f"""
CREATE TEMPORARY VIEW `{table}{CHANGELOG_SUFFIX}` AS
SELECT {columns}, `event_time` FROM (
  SELECT {after_fields(table)}, `event_time`,
         ROW_NUMBER() OVER (PARTITION BY `after`.`{key}` ORDER BY `event_time` DESC) AS `version_rank`
  FROM `{source}` WHERE `op` IN ('c', 'u', 'r')
) WHERE `version_rank` = 1""",
    ]


def captured_table(source: str) -> str:
    """The captured table a source table reads: `accounts_cdc` and `accounts_changelog` both read accounts."""
    for suffix in (VERSIONS_SUFFIX, EVENTS_SUFFIX, CHANGELOG_SUFFIX):
        if source.endswith(suffix):
            return source[: -len(suffix)]
    raise ValueError(f"{source!r} is not a CDC source table (<table>{EVENTS_SUFFIX} or <table>{CHANGELOG_SUFFIX})")


def after_fields(table: str, rename: dict[str, str] | None = None) -> str:
    """`after`'s columns as a SELECT list (renamed where asked), for views over `<table>_cdc`."""
    rename = rename or {}
    return ", ".join(f"`after`.`{name}` AS `{rename.get(name, name)}`" for name, _ in COLUMNS[table])
