"""Postgres -> CDC reader (signed facts, exactly-once) -> Druid `transactions`: totals equal Postgres to the cent.

Compared per day x currency x merchant x status, counts and cents, after
every kind of change a payment goes through: inserts on several days,
pending -> settled / declined, settled -> reversed, an update that moves a
payment to another merchant (a dimension) and one that changes its amount,
deletes, and an update of the primary key. Then under a steady stream of
writes, the reader is killed -9 and restarted, and the Druid indexer is
killed -9 mid-task and restarted: the totals are still exact (a change
counted twice or lost would show as a difference in one slice).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from totals import assert_equal
from traffic import Writer, every_kind_of_change, start_pipeline

pytestmark = pytest.mark.integration

DAYS_BACK = (0, 1, 6, 40)  # payments created today, yesterday, last week, and 40 days ago (late changes)


@pytest.fixture(scope="module")
def pipeline(fresh_database, cdc_reader, druid):
    return start_pipeline(fresh_database, cdc_reader, druid)


def test_every_kind_of_change_is_exact(pipeline, druid):
    pg, reader, accounts, merchants = pipeline
    every_kind_of_change(pg, accounts, merchants, DAYS_BACK)
    assert_equal(druid, pg)


def test_exact_after_the_reader_and_the_druid_indexer_are_killed(pipeline, druid, test_stack):
    pg, reader, accounts, merchants = pipeline
    with Writer(pg, accounts, merchants, DAYS_BACK) as writer:
        reader.wait_for(lambda h: h["transactions"] >= 20, 60, "streaming writes")
        reader.kill9()
        time.sleep(1)
        reader.start(timeout_s=120)
        reader.wait_for(lambda h: h["transactions"] >= 20, 60, "streaming after its restart")
        indexer = next(r for r in test_stack.supervisor.status() if r.name == "druid-indexer")
        os.kill(indexer.pid, signal.SIGKILL)
        time.sleep(2)
        test_stack.supervisor.up(only={"druid-indexer"})
        time.sleep(3)
    assert writer.count > 50, writer.count
    reader.fence()
    assert_equal(druid, pg, timeout_s=300)
