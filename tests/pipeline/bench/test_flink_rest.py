"""Events read by a job count each CDC event once, however many of its sources read the topic."""

import pytest

from pipeline.bench.flink_rest import events_read


def test_a_topic_read_twice_counts_as_far_as_the_slower_source():
    per_source = {"transactions_cdc": 500, "accounts_cdc": 300, "accounts_changelog": 280, "merchants_changelog": 20}
    assert events_read(per_source) == 500 + 280 + 20


def test_nothing_read_yet():
    assert events_read({}) == 0


def test_a_source_that_is_not_a_cdc_table_is_refused():
    with pytest.raises(ValueError, match="not a CDC source table"):
        events_read({"alerts": 3})
