"""Kafka result tables: JSON values, ISO-8601 UTC times, a chosen delivery guarantee.

Exactly-once sinks write inside Kafka transactions committed at each
checkpoint: after a crash the job restarts from its last checkpoint and the
uncommitted tail is aborted, so read_committed consumers (Druid's Kafka
ingestion, our tests) never see a row twice. The transactional id prefix is
derived from the job and topic, stable across restarts, so a restarted job
fences and aborts what its previous run left open.
"""

from __future__ import annotations

from pipeline.config import Config

# Kafka's broker caps transactions at transaction.max.timeout.ms (15 min, infra/local/kafka).
TRANSACTION_TIMEOUT_MS = 900_000


def kafka_sink_ddl(config: Config, name: str, topic: str, columns: tuple[tuple[str, str], ...], *, job: str,
                   delivery: str, key_field: str | None = None) -> str:
    options = {
        "connector": "kafka",
        "topic": topic,
        "properties.bootstrap.servers": config.kafka.bootstrap,
        "value.format": "json",
        "value.json.timestamp-format.standard": "ISO-8601",
        "sink.delivery-guarantee": delivery,
    }
    if key_field:
        # Keyed by account (or entity), so one key's rows stay in order in one partition.
        options.update({"key.format": "json", "key.fields": key_field, "value.fields-include": "ALL"})
    if delivery == "exactly-once":
        options.update({"sink.transactional-id-prefix": f"cdc-olap-{job}-{topic}",
                        "properties.transaction.timeout.ms": str(TRANSACTION_TIMEOUT_MS)})
    body = ",\n  ".join(f"`{column}` {kind}" for column, kind in columns)
    with_clause = ", ".join(f"'{k}' = '{v}'" for k, v in options.items())
    return f"CREATE TEMPORARY TABLE `{name}` (\n  {body}\n) WITH ({with_clause})"
