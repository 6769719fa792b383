"""A scripted stream reaches Kafka as the reader would write it, and a group's committed progress over
it reads back exactly: what `bench flink` relies on to watch a job from outside."""

import uuid
from datetime import datetime, timezone

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from pipeline.kafka import changelog
from pipeline.kafka.admin import ensure_topics
from pipeline.kafka.progress import GroupProgress
from pipeline.cdc.scripted import ChangeScript, iso

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_scripted_changes_and_the_groups_committed_offsets(test_stack):
    bootstrap = test_stack.need("kafka").kafka.bootstrap
    prefix = f"t.{uuid.uuid4().hex[:8]}"
    topics = {"transactions": f"{prefix}.public.transactions", "logins": f"{prefix}.public.logins"}
    ensure_topics(bootstrap, list(topics.values()), 3)
    script = ChangeScript(bootstrap, topics, 3, resendable=False)
    for i in range(300):
        row = {"transaction_id": i, "account_id": i % 7, "amount": "1.00", "status": "pending", "created_at": iso(T0)}
        script.insert("transactions", row, T0)
    script.insert("logins", {"login_id": 1, "customer_id": 1, "created_at": iso(T0)}, T0)
    script.close()
    assert not script.sent  # not resendable: nothing kept

    records = list(changelog.read_all(bootstrap, topics["transactions"]))
    assert len(records) == 300 and {r.value["op"] for r in records} == {"c"}
    by_account = {}
    for r in records:  # the reader's rule: one account, one partition
        by_account.setdefault(r.value["after"]["account_id"], set()).add(r.partition)
    assert all(len(p) == 1 for p in by_account.values())

    group = f"g-{prefix}"
    progress = GroupProgress(bootstrap, group, [topics["transactions"]])
    try:
        assert progress.committed() == 0
        ends = changelog.partition_ends(bootstrap, topics["transactions"])
        consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        consumer.commit({TopicPartition(topics["transactions"], p): OffsetAndMetadata(end // 2, "", -1)
                         for p, end in ends.items()})
        consumer.commit({TopicPartition(topics["logins"], 0): OffsetAndMetadata(1, "", -1)})  # not asked for
        consumer.close()
        assert progress.committed() == sum(end // 2 for end in ends.values())
    finally:
        progress.close()
