"""What each topic a Druid spec may read carries: the contract a spec is checked against.

A spec names its topic with placeholders (`${cdc.topic_prefix}.facts.transactions`),
never a literal name, so the same file serves the local stack and a real
cluster. Each topic template maps to the columns its records have, taken
from the code that writes them:

- `<prefix>.facts.<table>`: the CDC reader's signed facts (docs/cdc.md,
  "Signed facts for Druid"): the row's columns as the change event carries
  them, `<money>_cents` as exact integers, and `_sign`, `_op`, `_lsn`,
  `_commit_lsn`, `_commit_ms`. The column names are the history export's
  (pipeline/backfill/tables.py), whose JSON files are rows in this same
  format, so the batch backfill and the stream fill a datasource with the
  same columns and the same dataSchema.
- the Flink result topics: the sinks' columns (flink_jobs). The windows and
  health jobs write to a topic of their SQL's version
  (`analytics.tx_windows.v<version>`), so `${flink.windows_topic}` is the
  topic the current SQL writes: a new version means a new topic, which
  `apply` re-reads from the start instead of adding to the old results.

A spec that names a column its input lacks is refused before anything is
applied, with the file and the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from flink_jobs import windows
from flink_jobs.fraud.model import ALERT_COLUMNS
from flink_jobs.health import job as health
from flink_jobs.health.job import COLUMNS as HEALTH_COLUMNS
from flink_jobs.windows import COLUMNS as WINDOWS_COLUMNS
from pipeline.backfill.tables import TABLES as EXPORT_TABLES
from pipeline.config import Config

# Added by the reader to every signed fact (pipeline/cdc/facts.py).
FACT_META = ("_sign", "_op", "_lsn", "_commit_lsn", "_commit_ms")
CENTS_SUFFIX = "_cents"


@dataclass(frozen=True)
class Input:
    topic: str  # template, with placeholders
    columns: frozenset[str]
    written_by: str
    table: str | None = None  # signed facts: the table, whose history export can backfill the datasource


PLACEHOLDERS = ("kafka.bootstrap", "cdc.topic_prefix", "flink.windows_topic", "flink.alerts_topic",
                "flink.health_topic")


def placeholders(config: Config) -> dict[str, str]:
    """The names a spec may use as ${name}, and their values in this configuration."""
    values = {
        "kafka.bootstrap": config.kafka.bootstrap,
        "cdc.topic_prefix": config.cdc.topic_prefix,
        # The jobs that sum write to a topic of their SQL's version: the one the current SQL writes.
        "flink.windows_topic": windows.build(config).topics.sink,
        "flink.alerts_topic": config.flink.alerts_topic,
        "flink.health_topic": health.build(config).topics.sink,
    }
    assert set(values) == set(PLACEHOLDERS)
    return values


def _fact_columns(table) -> frozenset[str]:
    names = {c.name for c in table.columns}
    # A money column travels both as the decimal string and as exact cents.
    names |= {n[: -len(CENTS_SUFFIX)] for n in names if n.endswith(CENTS_SUFFIX)}
    return frozenset(names | set(FACT_META))


def known() -> dict[str, Input]:
    """Topic template -> its input contract."""
    found = {f"${{cdc.topic_prefix}}.facts.{t.name}": Input(f"${{cdc.topic_prefix}}.facts.{t.name}", _fact_columns(t),
                                                            "the CDC reader (signed facts)", t.name)
             for t in EXPORT_TABLES}
    for template, columns, job in (("${flink.windows_topic}", WINDOWS_COLUMNS, "the Flink windows job"),
                                   ("${flink.health_topic}", HEALTH_COLUMNS, "the Flink health job"),
                                   ("${flink.alerts_topic}", ALERT_COLUMNS, "the Flink fraud job")):
        found[template] = Input(template, frozenset(name for name, _ in columns), job)
    return found
