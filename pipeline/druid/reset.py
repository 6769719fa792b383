"""`cdc-olap druid reset <datasource>`: drop what a datasource holds and read its topic again from the start.

Druid only appends, so re-reading a topic into a datasource that still holds
rows would count every change twice. A reset therefore empties the
datasource before it reads again, in this order:

1. suspend the supervisor and wait until its tasks have finished (a task
   publishing after step 2 would bring rows back);
2. mark every segment unused (no longer served) and submit a kill task that
   removes them from deep storage;
3. forget the stored Kafka offsets, and resume: the new tasks read the topic
   from its earliest offset (every spec here sets useEarliestOffset).

The topic must still hold its first record: once retention has deleted the
beginning, a re-read would silently miss that history. Then the reset is
refused unless `accept_loss` is given (the history export and backfill is the
way to rebuild those days).
"""

from __future__ import annotations

import time
from typing import Callable

from kafka import KafkaConsumer, TopicPartition

from pipeline import log
from pipeline.druid.client import Druid, DruidError

_log = log.get("druid")
ALL_TIME = "1000-01-01/3000-01-01"


def topic_starts(bootstrap: str, topic: str) -> dict[int, int]:
    """partition -> earliest offset still held."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        return {tp.partition: off for tp, off in consumer.beginning_offsets(parts).items()}
    finally:
        consumer.close()


def check_history(bootstrap: str, topic: str, accept_loss: bool) -> None:
    """Refuse to re-read a topic that no longer holds its first records (unless told to accept it)."""
    trimmed = {p: o for p, o in topic_starts(bootstrap, topic).items() if o > 0}
    if trimmed and not accept_loss:
        raise DruidError(
            f"{topic} no longer holds its first records (retention removed offsets below {trimmed} by partition): "
            f"a re-read would miss that history. Rebuild it with the history backfill, or pass --accept-loss")


def quiesce(druid: Druid, datasource: str, timeout_s: float = 600) -> None:
    """Suspend the supervisor and wait until none of its tasks runs (none will publish later)."""
    druid.suspend(datasource)
    deadline = time.monotonic() + timeout_s
    while druid.tasks(datasource, "running") or druid.tasks(datasource, "pending"):
        if time.monotonic() > deadline:
            raise DruidError(f"{datasource}: tasks still running after {timeout_s:.0f} s; the supervisor stays "
                             f"suspended (resume it with the overlord API, or run the reset again)")
        time.sleep(1)


def drop_rows(druid: Druid, datasource: str) -> None:
    """Every segment unused (no longer served), then killed (deleted from deep storage)."""
    druid.mark_unused(datasource)
    druid.submit_task({"type": "kill", "dataSource": datasource, "interval": ALL_TIME})


def reset(druid: Druid, datasource: str, topic: str, bootstrap: str, *, accept_loss: bool = False,
          timeout_s: float = 600, say: Callable[[str], None] = print) -> None:
    if druid.supervisor_spec(datasource) is None:
        raise DruidError(f"no supervisor for {datasource}: run `cdc-olap druid apply` first")
    check_history(bootstrap, topic, accept_loss)
    say(f"suspending {datasource} and waiting for its tasks to finish")
    quiesce(druid, datasource, timeout_s)
    say(f"dropping every segment of {datasource}")
    drop_rows(druid, datasource)
    druid.reset_offsets(datasource)
    druid.resume(datasource)
    _log.info("druid.reset", datasource=datasource, topic=topic)
    say(f"{datasource} is reading {topic} again from its earliest offsets")
