"""A job's version (which checkpoints it restores) follows its SQL and state, not operational settings."""

import pytest

from flink_jobs import runner
from flink_jobs.fraud import job as fraud_job
from pipeline.config import load_config

JOBS = ("windows", "fraud", "health")
# Settings an operator changes without changing what a job computes or keeps: addresses, timeouts,
# watermark pacing, checkpointing, parallelism, buffers, memory.
HARMLESS = {
    "CDC_OLAP_KAFKA_MANAGED": "false", "CDC_OLAP_KAFKA_BOOTSTRAP_SERVERS": "b-1.msk:9098,b-2.msk:9098",
    "CDC_OLAP_FLINK_IDLE_TIMEOUT_MS": "9000", "CDC_OLAP_FLINK_VERSIONED_IDLE_TIMEOUT_MS": "4000",
    "CDC_OLAP_FLINK_OUT_OF_ORDERNESS_MS": "250", "CDC_OLAP_FLINK_BUFFER_TIMEOUT_MS": "100",
    "CDC_OLAP_FLINK_CHECKPOINT_INTERVAL_MS": "60000", "CDC_OLAP_FLINK_FRAUD_CHECKPOINT_INTERVAL_MS": "1000",
    "CDC_OLAP_FLINK_PARALLELISM": "4", "CDC_OLAP_FLINK_LOCAL_HEAP": "2g",
    "CDC_OLAP_FLINK_CHECKPOINT_DIR": "s3://elsewhere/checkpoints", "CDC_OLAP_STACK_PORT_OFFSET": "700",
}


def _config(tmp_path, **env):
    return load_config(env={"CDC_OLAP_STACK_RUN_DIR": str(tmp_path / "run"), **env})


@pytest.mark.parametrize("job", JOBS)
def test_harmless_settings_keep_the_version(tmp_path, job):
    before = runner.build(_config(tmp_path), job)
    after = runner.build(_config(tmp_path, **HARMLESS), job)
    assert "b-1.msk:9098" in "\n".join(after.ddl)  # the change did reach the SQL
    assert before.ddl != after.ddl and before.version == after.version


@pytest.mark.parametrize("job, change", [
    ("windows", {"CDC_OLAP_FLINK_WINDOWS_TOPIC": "analytics.tx_windows_v2"}),
    ("fraud", {"CDC_OLAP_FLINK_ALERTS_DELIVERY": "exactly-once"}),
    ("health", {"CDC_OLAP_CDC_TOPIC_PREFIX": "other"}),
])
def test_what_the_job_reads_writes_or_guarantees_changes_the_version(tmp_path, job, change):
    assert runner.build(_config(tmp_path), job).version != runner.build(_config(tmp_path, **change), job).version


def test_a_rule_threshold_changes_the_fraud_jobs_version(tmp_path):
    config = _config(tmp_path)
    text = config.rules_file.read_text()
    assert "min_count: 14" in text
    changed = tmp_path / "rules.yaml"
    changed.write_text(text.replace("min_count: 14", "min_count: 15"))
    same = tmp_path / "same.yaml"
    same.write_text(text)
    assert fraud_job.build(config, rules_path=same).version == fraud_job.build(config).version
    assert fraud_job.build(config, rules_path=changed).version != fraud_job.build(config).version


def test_a_sql_edit_changes_the_version(tmp_path):
    spec = runner.build(_config(tmp_path), "windows")
    edited = type(spec)(spec.name, spec.ddl, spec.insert.replace("UNION ALL", "UNION", 1), spec.topics)
    assert edited.version != spec.version


@pytest.mark.parametrize("job", ("windows", "health"))
def test_summing_jobs_write_to_a_topic_of_their_version(tmp_path, job):
    """A new SQL version replays every result: into a topic of its own, never on top of the old ones."""
    import dataclasses

    from flink_jobs.job import with_versioned_sink

    spec = runner.build(_config(tmp_path), job)
    base = {"windows": "analytics.tx_windows", "health": "analytics.account_health"}[job]
    assert spec.topics.sink.startswith(base + ".v") and f"'{spec.topics.sink}'" in "\n".join(spec.ddl)
    assert runner.build(_config(tmp_path, **HARMLESS), job).topics.sink == spec.topics.sink
    plain = runner.build(_config(tmp_path, CDC_OLAP_FLINK_VERSIONED_RESULTS="false"), job)
    assert plain.topics.sink == base
    changed = with_versioned_sink(dataclasses.replace(plain, insert=plain.insert + "\n-- a new version of the SQL"))
    assert changed.topics.sink.startswith(base + ".v") and changed.topics.sink != spec.topics.sink
    assert f"'{changed.topics.sink}'" in "\n".join(changed.ddl) and f"'{base}'" not in "\n".join(changed.ddl)
