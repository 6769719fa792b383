"""`cdc-olap druid reset <datasource>`: drop what a datasource holds and read its topic again from the start.

Druid only appends, so re-reading a topic into a datasource that still holds
rows would count every change twice. A reset therefore empties the
datasource before it reads again, in this order:

1. suspend the supervisor and wait until its tasks have finished (a task
   publishing after step 2 would bring rows back): `drain`;
2. mark every segment unused (no longer served) and submit a kill task that
   removes them from deep storage: `drop_segments`;
3. forget the stored Kafka offsets, and resume: the new tasks read the topic
   from its earliest offset (every spec here sets useEarliestOffset).

The topic must still hold its first record: once retention has deleted the
beginning, a re-read would silently miss that history. Then the reset is
refused unless `accept_loss` is given (the history export and backfill is the
way to rebuild those days). The history backfill (pipeline/druid/backfill.py)
empties a datasource with the same two steps.
"""

from __future__ import annotations

import time
import uuid
from typing import Callable

from pipeline import log
from pipeline.druid import cutover
from pipeline.druid.client import Druid, DruidError
from pipeline.kafka.changelog import partition_starts

_log = log.get("druid")
ALL_TIME = "1000-01-01/3000-01-01"


def drain(druid: Druid, datasource: str, timeout_s: float, say: Callable[[str], None]) -> None:
    """Suspend the supervisor and wait until none of its tasks runs or waits (none can publish any more)."""
    say(f"suspending {datasource} and waiting for its tasks to finish")
    if not (druid.supervisor_spec(datasource) or {}).get("suspended"):
        druid.suspend(datasource)
    deadline = time.monotonic() + timeout_s
    while druid.tasks(datasource, "running") or druid.tasks(datasource, "pending"):
        if time.monotonic() > deadline:
            raise DruidError(f"{datasource}: tasks still running after {timeout_s:.0f} s; the supervisor stays "
                             f"suspended (resume it with the overlord API, or run the command again)")
        time.sleep(1)


def drop_segments(druid: Druid, datasource: str, say: Callable[[str], None],
                  patience_s: float = 600) -> str:
    """Every segment stops being served at once, and a kill task deletes them from deep storage; returns its id.
    Right after `drain` the overlord may still be busy with the finished tasks' locks: the kill task's
    submission waits for it up to `patience_s`."""
    say(f"dropping every segment of {datasource}")
    druid.mark_unused(datasource)
    return druid.submit_task({"type": "kill", "id": f"cdc_olap_kill_{datasource}_{uuid.uuid4().hex[:8]}",
                              "dataSource": datasource, "interval": ALL_TIME}, patience_s)


def reset(druid: Druid, datasource: str, topic: str, bootstrap: str, *, accept_loss: bool = False,
          timeout_s: float = 600, say: Callable[[str], None] = print) -> None:
    running = druid.supervisor_spec(datasource)
    if running is None:
        raise DruidError(f"no supervisor for {datasource}: run `cdc-olap druid apply` first")
    held = cutover.of(running)
    if held is not None:
        raise DruidError(
            f"{datasource} holds a history backfill ({held.export}, as of LSN {held.lsn_text}) and its supervisor "
            f"reads only the facts after that: a reset would keep the filter and lose the history. Rebuild it with "
            f"`cdc-olap druid backfill` from a new `history export --format json` (it empties the datasource too)")
    trimmed = {p: o for p, o in partition_starts(bootstrap, topic).items() if o > 0}
    if trimmed and not accept_loss:
        raise DruidError(
            f"{topic} no longer holds its first records (retention removed offsets below {trimmed} by partition): "
            f"a re-read would miss that history. Rebuild it with the history backfill, or pass --accept-loss")
    drain(druid, datasource, timeout_s, say)
    drop_segments(druid, datasource, say, timeout_s)
    druid.reset_offsets(datasource)
    druid.resume(datasource)
    _log.info("druid.reset", datasource=datasource, topic=topic)
    say(f"{datasource} is reading {topic} again from its earliest offsets")
