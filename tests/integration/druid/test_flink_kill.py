"""kill -9 the Flink windows job while a window's results wait in its open Kafka transaction: Druid's
`tx_windows` still equal Postgres per window x dimension x currency, counts and cents, and no window
is in Druid twice.

The chain is the production one: Postgres -> CDC reader (exactly-once) -> the windows job as
`cdc-olap flink run windows` in a process of its own (checkpoints every second) -> its result topic ->
the `tx_windows` supervisor applied from druid_specs/tx_windows.json. Under a steady stream of
payments, the test waits for the next window boundary; as soon as the closing window's rows show in
the result topic uncommitted (read_uncommitted), it kills the job -9, most likely before the
checkpoint that would commit them, and starts it again. The job restores its last checkpoint, in
which the window was still open, reads the changes after it again and emits the window again: the
killed run's transaction must be aborted, not added. (When the checkpoint completed first, the
restart commits that transaction and must not emit the window again.) Druid reads read_committed, so
either way it must hold each window once; a transaction the restart left open would hold Druid back
until the broker's transaction timeout (15 min), and the comparison would time out.

Windows are 5 minutes of commit time, so the test waits for a boundary: up to 5 minutes.
"""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from flink_jobs import windows
from flink_jobs.windows import WINDOW_S
from pipeline.cdc.scripted import read_topic
from pipeline.druid import apply_all
from pipeline.kafka.admin import ensure_topics
from totals import assert_windows_equal
from traffic import Writer, reference, start_fintech

pytestmark = pytest.mark.integration

LEAD_S = 10  # the window the kill hits has had payments and checkpoints for at least this long
CHECKPOINTS_AFTER_RESTORE = 10  # the restarted job is past re-reading what the killed one read (1 s each)


@pytest.fixture(scope="module")
def fintech(fresh_database, cdc_reader, druid):
    """The reader streaming a seeded database, `tx_windows` applied on the windows job's result topic.
    Returns (pg, reader, the job's topics)."""
    reader = start_fintech(fresh_database, cdc_reader, druid)
    topics = windows.build(druid.config).topics  # the versioned result topic the spec reads
    ensure_topics(druid.config.kafka.bootstrap, [topics.sink], druid.config.cdc.partitions)
    assert druid.name("tx_windows") in apply_all(druid.config, only={"tx_windows"})
    return fresh_database, reader, topics


def _wait(condition, timeout_s: float, what: str, log: Path):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s; job log:\n{log.read_text()[-3000:]}")


def _starts(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if "flink.job_started" in line] if log.exists() else []


def _newest_checkpoint(directory: Path) -> int:
    return max((int(p.parent.name[4:]) for p in directory.glob("*/*/*/chk-*/_metadata")), default=0)


def _await_window_written(bootstrap: str, topic: str, window_start: datetime, timeout_s: float) -> None:
    """Returns as soon as the window's first on-time row is in the topic, committed or not (a late row
    for it, a single change that came after the watermark, may come any time)."""
    wanted = f"{window_start:%Y-%m-%dT%H:%M}"

    def written(rows: list[dict]) -> bool:
        return any(r["window_start"].startswith(wanted) and not r["late"] for r in rows)

    assert written(read_topic(bootstrap, topic, written, timeout_s, "read_uncommitted")), \
        f"no row of window {wanted} in {topic} within {timeout_s:.0f} s"


def _copies(druid, until: datetime) -> list[int]:
    """How many on-time rows Druid holds for each (window, dimension, entity, currency): one per window."""
    rows = druid.client.sql(
        f'SELECT SUM(result_rows) AS copies FROM "{druid.name("tx_windows")}" '
        f"WHERE late = 'false' AND __time < TIMESTAMP '{until:%Y-%m-%d %H:%M:%S}' "
        f"GROUP BY __time, dimension, entity_id, currency")
    return [r["copies"] for r in rows]


def test_a_window_in_flight_when_the_job_is_killed_reaches_druid_once(fintech, flink_jobs, druid, tmp_path):
    pg, reader, topics = fintech
    bootstrap = druid.config.kafka.bootstrap
    with psycopg.connect(pg.dsn()) as conn:
        after_tx = conn.execute("SELECT COALESCE(MAX(transaction_id), 0) FROM transactions").fetchone()[0]
    accounts, merchants = reference(pg)
    checkpoints, log = tmp_path / "checkpoints", tmp_path / "windows.log"
    job = flink_jobs.spawn("windows", topics, checkpoints, log)
    try:
        _wait(lambda: _newest_checkpoint(checkpoints), 180, "a first checkpoint", log)
        with Writer(pg, accounts, merchants, (0,), window_s=WINDOW_S) as writer:
            now = time.time()
            boundary = datetime.fromtimestamp((now + LEAD_S) // WINDOW_S * WINDOW_S + WINDOW_S, timezone.utc)
            _await_window_written(bootstrap, topics.sink, boundary - timedelta(seconds=WINDOW_S),
                                  boundary.timestamp() - now + 120)
            os.killpg(job.pid, signal.SIGKILL)
            job.wait(30)
            job = flink_jobs.spawn("windows", topics, checkpoints, log)
            restored = _wait(lambda: len(_starts(log)) == 2 and re.search(r"/chk-(\d+)", _starts(log)[1]),
                             180, "the job restarted from its checkpoint", log)
        assert writer.straddled == 0, f"{writer.straddled} inserts committed in the window after their created_at"
        reader.fence()
        _wait(lambda: _newest_checkpoint(checkpoints) >= int(restored[1]) + CHECKPOINTS_AFTER_RESTORE, 180,
              f"{CHECKPOINTS_AFTER_RESTORE} checkpoints after the restore", log)
        assert_windows_equal(druid, pg, after_tx, boundary, timeout_s=120)
        copies = _copies(druid, boundary)
        assert copies and max(copies) == 1, f"a window is in Druid {max(copies, default=0)} times"
    finally:
        os.killpg(job.pid, signal.SIGKILL)
        job.wait(30)
