"""Topic administration with kafka-python: the project's Kafka client outside the CDC hot path."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError


def ensure_topics(bootstrap: str, names: list[str], partitions: int, *, replication: int = 1,
                  configs: dict[str, str] | None = None, timeout_s: float = 15.0) -> list[str]:
    """Create missing topics; existing ones are left as they are. Returns the names created."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cdc-olap-admin",
                             request_timeout_ms=int(timeout_s * 1000))
    try:
        existing = set(admin.list_topics())
        wanted = [NewTopic(n, partitions, replication, topic_configs=configs or {}) for n in names
                  if n not in existing]
        if wanted:
            try:
                admin.create_topics(wanted, timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:
                pass  # another process created them meanwhile
        return [t.name for t in wanted]
    finally:
        admin.close()
