"""`druid apply | diff | status` against the test stack's Druid, with the Flink-fed datasources.

The result topics get records shaped as the Flink sinks write them (JSON,
ISO-8601 UTC times), so what is checked is the spec files as they are:
apply creates the supervisors and a second apply changes nothing; the rows
reach Druid with signed window sums exact (a late correction included) and
an alert written twice counted once by its id; a changed file shows as a
diff; a submission Druid refuses rolls back what the same run changed.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time

import pytest
from kafka import KafkaProducer

from pipeline.druid import apply, apply_all, inputs, load_specs
from pipeline.druid.client import DruidError
from pipeline.druid.status import status
from pipeline.kafka.admin import ensure_topics

pytestmark = pytest.mark.integration
FLINK_FED = ("account_health", "fraud_alerts", "tx_windows")  # their topics are created here; the facts' are not

WINDOWS = [  # (window_start, dimension, entity, currency, tx_count, amount_cents, declined, late)
    ("2026-11-30T10:00:00Z", "merchant", 7, "EUR", 3, 12_345, 0, False),
    ("2026-11-30T10:00:00Z", "merchant", 7, "USD", 1, 999, 1, False),
    ("2026-11-30T10:05:00Z", "merchant", 7, "EUR", 2, 20_000, 0, False),
    # A late change for the first window: an update that lowered an amount and declined a payment.
    ("2026-11-30T10:00:00Z", "merchant", 7, "EUR", 0, -345, 1, True),
]


def _window(start, dimension, entity, currency, count, cents, declined, late) -> dict:
    return {"window_start": start, "window_end": start, "dimension": dimension, "entity_id": entity,
            "currency": currency, "tx_count": count, "amount_cents": cents, "avg_amount_cents": None,
            "declined_count": declined, "new_tx_count": max(count, 0), "distinct_cards": 1,
            "distinct_merchants": 1, "trailing_avg_tx": None, "velocity": None, "late": late}


def _alert(alert_id: str, detected: str) -> dict:
    return {"alert_id": alert_id, "rule_id": "velocity_spike", "pattern": "velocity", "severity": "high",
            "account_id": 42, "event_time": "2026-11-30T10:01:02.345Z", "detected_at": detected,
            "evidence": json.dumps({"transactions": [1, 2, 3]})}


def _topic(druid, job: str) -> str:
    """The result topic a Flink job writes (windows and health: of their SQL's version)."""
    return inputs.placeholders(druid.config)[f"flink.{job}_topic"]


@pytest.fixture(scope="module")
def applied(druid):
    config = druid.config
    ensure_topics(config.kafka.bootstrap, [_topic(druid, t) for t in ("windows", "alerts", "health")], 1)
    said: list[str] = []
    names = apply_all(config, said.append, skip_missing_topics=True)
    return names, said


def test_apply_creates_what_it_can_and_names_what_waits(applied, druid):
    names, said = applied
    supervisors = sorted(n for n in names if " " not in n)
    assert supervisors == sorted(druid.name(n) for n in FLINK_FED)
    # Then each one's retention rules and compaction config (druid_specs/policies/).
    assert sorted(n for n in names if " " in n) == sorted(f"{druid.name(n)} {what}" for n in FLINK_FED
                                                          for what in ("retention", "compaction"))
    waiting = sorted(line.split()[1] for line in said if "not applied yet" in line and ".facts." in line)
    assert waiting == ["disputes", "ledger", "transactions", "transactions_daily"], said


def test_a_second_apply_changes_nothing(applied, druid):
    assert apply_all(druid.config, skip_missing_topics=True) == []


def test_window_sums_reach_druid_exact(applied, druid):
    producer = KafkaProducer(bootstrap_servers=druid.config.kafka.bootstrap)
    for row in WINDOWS:
        producer.send(_topic(druid, "windows"), json.dumps(_window(*row)).encode())
    producer.flush()
    producer.close()
    table = druid.name("tx_windows")
    rows = druid.wait_for(
        f'SELECT TIME_FORMAT(__time, \'HH:mm\') AS w, currency, SUM(tx_count) AS n, SUM(amount_cents) AS cents, '
        f'SUM(declined_count) AS declined FROM "{table}" GROUP BY 1, 2 ORDER BY 1, 2',
        lambda rows: sum(r["n"] for r in rows) == 6, what="tx_windows")
    assert rows == [{"w": "10:00", "currency": "EUR", "n": 3, "cents": 12_000, "declined": 1},
                    {"w": "10:00", "currency": "USD", "n": 1, "cents": 999, "declined": 1},
                    {"w": "10:05", "currency": "EUR", "n": 2, "cents": 20_000, "declined": 0}]


def test_an_alert_written_twice_counts_once(applied, druid):
    producer = KafkaProducer(bootstrap_servers=druid.config.kafka.bootstrap)
    for alert in (_alert("velocity_spike:1", "2026-11-30T10:01:03Z"), _alert("velocity_spike:2", "2026-11-30T10:01:04Z"),
                  _alert("velocity_spike:1", "2026-11-30T10:09:00Z")):  # replayed after a restart
        producer.send(_topic(druid, "alerts"), json.dumps(alert).encode())
    producer.flush()
    producer.close()
    table = druid.name("fraud_alerts")
    rows = druid.wait_for(f'SELECT COUNT(DISTINCT alert_id) AS alerts, SUM(copies) AS copies, '
                          f'MIN(first_detected_ms) AS first_ms FROM "{table}"',
                          lambda rows: rows[0]["copies"] == 3, what="fraud_alerts")
    assert rows[0]["alerts"] == 2
    assert rows[0]["first_ms"] == 1796032863000  # 2026-11-30T10:01:03Z: the first detection is kept


def test_status_shows_each_supervisor_running_with_its_rows(applied, druid):
    specs = [s for s in load_specs(druid.config) if s.name in FLINK_FED]
    found = {s.name: s for s in status(druid.client, specs, druid.config.druid.datasource_prefix)}
    assert {n: s.state for n, s in found.items()} == {druid.name(n): "RUNNING" for n in
                                                     ("account_health", "fraud_alerts", "tx_windows")}
    windows = found[druid.name("tx_windows")]
    assert windows.rows and windows.rows >= 3 and windows.newest.startswith("2026-11-30T10:05")


def _specs_copy(druid, tmp_path):
    directory = tmp_path / "druid_specs"
    shutil.copytree(druid.config.druid_specs_dir, directory)
    return directory, dataclasses.replace(druid.config, druid=dataclasses.replace(druid.config.druid,
                                                                                  specs_dir=str(directory)))


def test_a_changed_file_shows_as_a_diff(applied, druid, tmp_path):
    directory, config = _specs_copy(druid, tmp_path)
    path = directory / "tx_windows.json"
    path.write_text(path.read_text().replace('"taskDuration": "PT1H"', '"taskDuration": "PT30M"'))
    changes = {c.name: c for c in apply.plan(druid.client, load_specs(config), inputs.placeholders(config),
                                             config.druid.datasource_prefix)
               if c.name in {druid.name(n) for n in FLINK_FED}}
    assert {n: c.action for n, c in changes.items()} == {druid.name("account_health"): "unchanged",
                                                         druid.name("fraud_alerts"): "unchanged",
                                                         druid.name("tx_windows"): "update"}
    diff = changes[druid.name("tx_windows")].diff
    changed = [line.replace(" ", "") for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in "+++---"]
    assert changed == ['-"taskDuration":"PT1H",', '+"taskDuration":"PT30M",'], diff


def test_a_refused_submission_rolls_back_the_run(applied, druid, tmp_path):
    directory, config = _specs_copy(druid, tmp_path)
    good = directory / "account_health.json"
    good.write_text(good.read_text().replace('"taskDuration": "PT1H"', '"taskDuration": "PT30M"'))
    bad = directory / "tx_windows.json"  # valid to our checks, refused by Druid
    bad.write_text(bad.read_text().replace('"taskDuration": "PT1H"', '"taskDuration": "one hour"'))
    with pytest.raises(DruidError) as err:
        apply_all(config, skip_missing_topics=True)
    assert "applying" in str(err.value) and "tx_windows" in str(err.value), err.value
    assert f"rolled back: {druid.name('account_health')}" in str(err.value), err.value
    # The original files again match what runs: nothing was left half-applied.
    after = apply.plan(druid.client, [s for s in load_specs(druid.config) if s.name in FLINK_FED],
                       inputs.placeholders(druid.config), druid.config.druid.datasource_prefix)
    assert all(not c.pending for c in after), [(c.name, c.action, c.diff[:300]) for c in after]


def test_a_new_job_version_is_read_again_from_its_own_topic_not_added(applied, druid):
    """The upgrade path: a new version of the windows job's SQL replays every result into a topic of its
    own (flink_jobs/job.with_versioned_sink); apply sees the topic change and re-reads the datasource
    from the new topic's start: the totals are the new run's, once, not old + new."""
    values = inputs.placeholders(druid.config)
    table = druid.name("tx_windows")
    totals = f'SELECT SUM(tx_count) AS n, SUM(amount_cents) AS cents FROM "{table}"'
    druid.wait_for(totals, lambda rows: rows[0]["n"] == 6, what="the first version's windows")
    replay = values["flink.windows_topic"] + "-next"  # as with_versioned_sink names a new version's topic
    ensure_topics(druid.config.kafka.bootstrap, [replay], 1)
    producer = KafkaProducer(bootstrap_servers=druid.config.kafka.bootstrap)
    for row in WINDOWS + [("2026-11-30T10:10:00Z", "merchant", 7, "EUR", 1, 500, 0, False)]:  # all, and one more
        producer.send(replay, json.dumps(_window(*row)).encode())
    producer.flush()
    producer.close()
    specs = [s for s in load_specs(druid.config) if s.name == "tx_windows"]
    changes = apply.plan(druid.client, specs, {**values, "flink.windows_topic": replay},
                         druid.config.druid.datasource_prefix)
    assert [c.action for c in changes] == ["reindex"], [(c.action, c.diff) for c in changes]
    assert [c.name for c in apply.apply(druid.client, changes)] == [table]
    rows = druid.wait_for(totals, lambda rows: rows[0]["n"] == 7, timeout_s=240, what="the new version's windows")
    time.sleep(5)  # nothing more comes: the old topic's rows are gone, not summed in later
    assert druid.client.sql(totals) == rows == [{"n": 7, "cents": 33_499}]  # 12,345 + 999 + 20,000 - 345 + 500
