"""Topic administration with kafka-python: the project's Kafka client outside the CDC hot path."""

from __future__ import annotations

from dataclasses import dataclass, field

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic
from kafka.errors import TopicAlreadyExistsError

from pipeline import log

_log = log.get("kafka.admin")


@dataclass(frozen=True)
class TopicSpec:
    """A topic as the project wants it: partitions, replication and topic-level configs
    (cleanup.policy, retention.ms, min.insync.replicas, ...)."""

    name: str
    partitions: int
    replication: int = 1
    configs: dict[str, str] = field(default_factory=dict)


def ensure_topics(bootstrap: str, names: list[str], partitions: int, *, replication: int = 1,
                  configs: dict[str, str] | None = None, timeout_s: float = 15.0) -> list[str]:
    """Create missing topics; existing ones are left as they are. Returns the names created."""
    return ensure(bootstrap, [TopicSpec(n, partitions, replication, dict(configs or {})) for n in names],
                  timeout_s=timeout_s)


def ensure(bootstrap: str, specs: list[TopicSpec], *, timeout_s: float = 15.0) -> list[str]:
    """Create the missing topics as specified. Existing topics are not altered (changing a live
    topic's cleanup policy or retention is an operator's decision), but a config that differs from
    the spec is logged as drift, naming the topic, the key and both values."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cdc-olap-admin",
                             request_timeout_ms=int(timeout_s * 1000))
    try:
        existing = set(admin.list_topics())
        wanted = [NewTopic(s.name, s.partitions, s.replication, topic_configs=dict(s.configs)) for s in specs
                  if s.name not in existing]
        if wanted:
            try:
                admin.create_topics(wanted, timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:
                pass  # another process created them meanwhile
        present = [s for s in specs if s.name in existing and s.configs]
        if present:
            _report_drift(admin, present)
        return [t.name for t in wanted]
    finally:
        admin.close()


def existing_topics(bootstrap: str, timeout_s: float = 15.0) -> set[str]:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cdc-olap-admin",
                             request_timeout_ms=int(timeout_s * 1000))
    try:
        return set(admin.list_topics())
    finally:
        admin.close()


def topic_configs(bootstrap: str, names: list[str], timeout_s: float = 15.0) -> dict[str, dict[str, str]]:
    """topic -> its current configs (every key the broker reports)."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cdc-olap-admin",
                             request_timeout_ms=int(timeout_s * 1000))
    try:
        return _describe(admin, names)
    finally:
        admin.close()


def _describe(admin: KafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    # kafka-python 3 answers {"topic": {name: {key: {"value": ..., ...}}}}
    described = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
    return {name: {key: entry["value"] for key, entry in entries.items()}
            for name, entries in described.get("topic", {}).items()}


def _report_drift(admin: KafkaAdminClient, specs: list[TopicSpec]) -> None:
    actual = _describe(admin, [s.name for s in specs])
    for spec in specs:
        for key, value in spec.configs.items():
            have = actual.get(spec.name, {}).get(key)
            if have is not None and have != value:
                _log.warning("kafka.topic_config_drift", topic=spec.name, key=key, wanted=value, actual=have,
                             fix=f"kafka-configs.sh --alter --entity-type topics --entity-name {spec.name} "
                                 f"--add-config {key}={value}")
