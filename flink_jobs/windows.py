"""The windows job: 5-minute tumbling windows of transactions per account and per merchant, per currency.

Every change to a transaction becomes signed rows at its commit time: an
insert adds its row (+1), a delete takes its old row away (-1), an update
does both (-1 for `before`, +1 for `after`). A window's figures are the sums
of the signed rows committed in it, so they are the net change to the
transaction book in those five minutes: an update moves no count and only
the difference in amount, a decline adds one to `declined_count` in the
window where it was decided. Summed over any range of windows they equal
the same sums over Postgres, to the cent (amounts are integer cents). This
is what Druid, which only appends, needs: it adds rows and never replaces.

Every row is one currency's: the key is (window, entity, currency), so a
merchant paid in USD and EUR gets two rows and cents of different currencies
are never added (there is no FX table to convert them; pipeline/money.py).
An update that changed a transaction's currency takes its old amount out of
the old currency's row and adds the new one to the new currency's. The
counts, distinct counts and velocity of a row are those of its currency's
transactions; an entity's counts over all currencies are the sums of its rows
(the distinct counts excepted).

Each change counts exactly once, on time, late, resent or across a restart:

- Identity. A signed row is (transaction id, LSN, sign): the LSN is the
  change's own WAL position, an update's two rows share it and differ in
  sign, and a key-changing update (a delete and an insert at one LSN)
  differs in transaction id. A resend by the CDC reader is a byte-for-byte
  copy of its event, so it has the same identity.
- Deduplication first. Before anything decides whether a row is on time, a
  keep-first deduplication on the identity (ROW_NUMBER over processing time:
  append-only, and `event_time` stays the event-time attribute) drops every
  later copy: a resend in time for its window, one after its window was
  written, and the resend of a late change alike.
- One path per row. The copy left is either on time (ahead of the watermark,
  so its window has not fired: the window operator's watermark never runs
  ahead of the one the filter saw) and summed by a plain TUMBLE per entity,
  or late and written as its own `late = true` row for its window, which
  Druid adds there. Nothing is dropped and nothing groups by identity again.
- Restarts. The deduplication state, the open windows and the Kafka offsets
  are one checkpoint and the sink commits with it: records read again after
  a restore meet the memory they met before, and what was written after the
  last checkpoint was never committed.
- Memory. An identity is kept `[flink] windows_dedupe_ttl_h` hours of wall
  clock after its first copy (`table.exec.state.ttl`: in this job only the
  deduplication expires state by TTL; the window and OVER aggregates clean up
  by event time). A copy arriving later than that, time the job was stopped
  included, counts again. The reader resends only its unacknowledged tail,
  as soon as it runs again, so the TTL has to outlast a reader outage.
- One deduplication. The payload crosses it as one ROW (`delta`), so the four
  outputs read the same columns and the planner builds one operator with one
  state for all of them; with flat columns it prunes per output and builds four.
- `velocity` compares the payments made in the window with the average of
  the previous hour's twelve windows (`trailing_avg_tx`).
- Snapshot rows (op "r") are skipped: the history reaches Druid through the
  batch backfill (cdc-olap history export), not through these windows.
"""

from __future__ import annotations

from pipeline.config import Config
from flink_jobs import sources
from flink_jobs.job import JobSpec, Topics, group_id, with_versioned_sink
from flink_jobs.sinks import kafka_sink_ddl

NAME = "windows"
WINDOW_S = 300
TRAILING_WINDOWS = 12  # one hour of 5-minute windows
DIMENSIONS = {"account": "account_id", "merchant": "merchant_id"}

COLUMNS = (
    ("window_start", "TIMESTAMP_LTZ(3)"),
    ("window_end", "TIMESTAMP_LTZ(3)"),
    ("dimension", "STRING"),  # account | merchant
    ("entity_id", "BIGINT"),
    ("currency", "STRING"),  # ISO code: every amount of the row is in it
    ("tx_count", "BIGINT"),  # net: inserts - deletes
    ("amount_cents", "BIGINT"),  # net change of the amounts, in cents of `currency`
    ("avg_amount_cents", "BIGINT"),  # amount_cents / tx_count, rounded; null when tx_count <= 0
    ("declined_count", "BIGINT"),  # net: transactions that became declined - stopped being declined
    ("new_tx_count", "BIGINT"),  # payments made (inserted) in the window
    ("distinct_cards", "BIGINT"),  # among the payments made in the window
    ("distinct_merchants", "BIGINT"),
    ("trailing_avg_tx", "DOUBLE"),  # payments per window over the previous hour
    ("velocity", "DOUBLE"),  # new_tx_count / trailing_avg_tx; null without history
    ("late", "BOOLEAN"),  # a single late change, not a whole window
)

_WINDOW = f"INTERVAL '{WINDOW_S // 60}' MINUTE"
_WINDOW_MS = WINDOW_S * 1000
# What a signed row carries through the deduplication: name -> (type, expression over `{side}`).
_PAYLOAD = {
    "op": ("STRING", "op"),
    "account_id": ("BIGINT", "`{side}`.`account_id`"),
    "merchant_id": ("BIGINT", "`{side}`.`merchant_id`"),
    "card_id": ("BIGINT", "`{side}`.`card_id`"),
    "amount_cents": ("BIGINT", "CAST(`{side}`.`amount` * 100 AS BIGINT)"),
    "currency": ("STRING", "`{side}`.`currency`"),
    "status": ("STRING", "`{side}`.`status`"),
    "ts_ms": ("BIGINT", "`source`.`ts_ms`"),
}


def default_topics(config: Config) -> Topics:
    return Topics({"transactions": sources.topic(config, "transactions")}, config.flink.windows_topic)


def _ops(*ops: str) -> str:
    return ", ".join(f"'{op}'" for op in ops)


def _signed(side: str, sign: int, ops: str) -> str:
    """One side of each change: its identity, its payload as one ROW, commit time and arrival (processing) time."""
    values = ", ".join(expression.format(side=side) for _, expression in _PAYLOAD.values())
    kinds = ", ".join(f"`{name}` {kind}" for name, (kind, _) in _PAYLOAD.items())
    return f"""SELECT `{side}`.`transaction_id` AS tx_id, `source`.`lsn` AS lsn, {sign} AS sign,
       CAST(ROW({values}) AS ROW<{kinds}>) AS delta, event_time, PROCTIME() AS arrived
FROM transactions_cdc WHERE op IN ({ops})"""


def _views() -> list[str]:
    return [
        f"CREATE TEMPORARY VIEW tx_deltas AS\n{_signed('after', 1, _ops('c', 'u'))}\nUNION ALL\n"
        f"{_signed('before', -1, _ops('u', 'd'))}",
        # The first copy of each identity, unpacked: the reader's resends stop here, on time or late.
        f"""CREATE TEMPORARY VIEW tx_once AS
SELECT sign, {", ".join(f"delta.`{name}` AS `{name}`" for name in _PAYLOAD)}, event_time FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY tx_id, lsn, sign ORDER BY arrived) AS copy FROM tx_deltas)
WHERE copy = 1""",
        "CREATE TEMPORARY VIEW tx_on_time AS SELECT * FROM tx_once "
        "WHERE CURRENT_WATERMARK(event_time) IS NULL OR event_time > CURRENT_WATERMARK(event_time)",
        "CREATE TEMPORARY VIEW tx_late AS SELECT * FROM tx_once WHERE event_time <= CURRENT_WATERMARK(event_time)",
    ]


def _window_rows(dimension: str, column: str) -> str:
    """The window's sums per entity and currency, then velocity against the previous hour (on-time rows)."""
    sums = f"""SELECT window_start, window_end, window_time, '{dimension}' AS dimension, {column} AS entity_id, currency,
         CAST(SUM(sign) AS BIGINT) AS tx_count, SUM(sign * amount_cents) AS amount_cents,
         CAST(SUM(CASE WHEN status = 'declined' THEN sign ELSE 0 END) AS BIGINT) AS declined_count,
         CAST(SUM(CASE WHEN op = 'c' THEN 1 ELSE 0 END) AS BIGINT) AS new_tx_count,
         COUNT(DISTINCT CASE WHEN op = 'c' THEN card_id END) AS distinct_cards,
         COUNT(DISTINCT CASE WHEN op = 'c' THEN merchant_id END) AS distinct_merchants
  FROM TABLE(TUMBLE(TABLE tx_on_time, DESCRIPTOR(event_time), {_WINDOW}))
  WHERE {column} IS NOT NULL
  GROUP BY window_start, window_end, window_time, {column}, currency"""
    trailing = f"""SELECT *, CAST(SUM(new_tx_count) OVER (PARTITION BY entity_id, currency ORDER BY window_time
                     RANGE BETWEEN INTERVAL '{TRAILING_WINDOWS * WINDOW_S // 60}' MINUTE PRECEDING AND CURRENT ROW)
                     - new_tx_count AS DOUBLE) / {TRAILING_WINDOWS} AS trailing_avg_tx
  FROM ({sums})"""
    return f"""SELECT window_start, window_end, dimension, entity_id, currency, tx_count, amount_cents,
       CASE WHEN tx_count > 0 THEN CAST(ROUND(CAST(amount_cents AS DECIMAL(20, 2)) / tx_count, 0) AS BIGINT) END,
       declined_count, new_tx_count, distinct_cards, distinct_merchants, trailing_avg_tx,
       CASE WHEN trailing_avg_tx > 0 THEN new_tx_count / trailing_avg_tx END, FALSE
FROM ({trailing})"""


def _late_rows(dimension: str, column: str) -> str:
    start = f"ts_ms - MOD(ts_ms, {_WINDOW_MS})"
    return f"""SELECT TO_TIMESTAMP_LTZ({start}, 3), TO_TIMESTAMP_LTZ({start} + {_WINDOW_MS}, 3), '{dimension}',
       {column}, currency, CAST(sign AS BIGINT), sign * amount_cents, CAST(NULL AS BIGINT),
       CAST(CASE WHEN status = 'declined' THEN sign ELSE 0 END AS BIGINT),
       CAST(CASE WHEN op = 'c' THEN 1 ELSE 0 END AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS BIGINT),
       CAST(NULL AS DOUBLE), CAST(NULL AS DOUBLE), TRUE
FROM tx_late WHERE {column} IS NOT NULL"""


def build(config: Config, topics: Topics | None = None) -> JobSpec:
    """The job; on the configured topics (topics=None) its results go to a topic of its version."""
    versioned, topics = topics is None and config.flink.versioned_results, topics or default_topics(config)
    ddl = [sources.events_ddl(config, "transactions", group_id(NAME), topics.sources["transactions"]),
           *_views(),
           kafka_sink_ddl(config, "tx_windows", topics.sink, COLUMNS, job=NAME, delivery="exactly-once")]
    parts = [_window_rows(d, c) for d, c in DIMENSIONS.items()] + [_late_rows(d, c) for d, c in DIMENSIONS.items()]
    insert = "INSERT INTO tx_windows\n" + "\nUNION ALL\n".join(parts)
    ttl_h = config.flink.windows_dedupe_ttl_h
    spec = JobSpec(NAME, ddl, insert, topics, {"window_s": WINDOW_S, "dedupe_ttl_h": ttl_h},
                   settings={"table.exec.state.ttl": f"{ttl_h} h"})
    return with_versioned_sink(spec) if versioned else spec
