"""How far a consumer group has read some topics: its committed offsets, summed.

A reader that commits what it has processed (the Flink Kafka source commits
its position when a checkpoint completes) can be watched from outside this
way, whatever runs it: a local mini-cluster or a remote cluster alike.
"""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.errors import KafkaError


class GroupProgress:
    """One admin connection, asked again and again (a benchmark polls it twice a second)."""

    def __init__(self, bootstrap: str, group: str, topics: list[str]) -> None:
        self.group = group
        self.topics = set(topics)
        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="cdc-olap-progress")
        self._last = 0

    def committed(self) -> int:
        """Records of `topics` the group has committed as read (0 for partitions it has not committed).

        A retriable error (on a fresh broker the group coordinator is not there until the offsets
        topic exists) answers with the last figure known."""
        try:
            offsets = self._admin.list_group_offsets({self.group: None}).get(self.group, {})
        except KafkaError as exc:
            if not exc.retriable:
                raise
            return self._last
        self._last = sum(max(meta.offset, 0) for tp, meta in offsets.items() if tp.topic in self.topics)
        return self._last

    def close(self) -> None:
        self._admin.close()
