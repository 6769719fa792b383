"""The real health weights file loads and reaches the SQL; each kind of mistake names the field."""

import copy

import pytest
import yaml

from flink_jobs.health import score
from flink_jobs.health import weights
from pipeline.config import load_config

REAL = load_config(env={"CDC_OLAP_STACK_RUN_DIR": "/nonexistent-run-dir"}).health_file


def _document():
    return yaml.safe_load(REAL.read_text())


def test_the_real_file_has_every_penalty():
    penalties = weights.load(REAL)
    assert set(penalties) == set(weights.INPUTS) == set(score.VALUES)
    assert penalties["declines"] == weights.Penalty(weight=5.0, cap=25.0, free=0.0)
    assert penalties["balance_drop"].free == 5000.0


def test_weights_reach_the_score_sql():
    text = score.score_sql(weights.load(REAL))
    assert "LEAST(CAST(25.0 AS DOUBLE), CAST(5.0 AS DOUBLE) * GREATEST(CAST(0 AS DOUBLE), " \
           "CAST(declines AS DOUBLE) - CAST(0.0 AS DOUBLE)))" in text
    assert "CAST(0.002 AS DOUBLE)" in text


def _mutated(change):
    document = copy.deepcopy(_document())
    change(document)
    return document


@pytest.mark.parametrize("change, message", [
    (lambda d: d["penalties"].pop("failed_logins"), "field 'penalties.failed_logins': is required"),
    (lambda d: d["penalties"]["declines"].pop("cap"), "field 'penalties.declines.cap': is required"),
    (lambda d: d["penalties"].update(lockouts={"weight": 1, "cap": 2}),
     "field 'penalties.lockouts': unknown penalty"),
    (lambda d: d["penalties"]["logins"].update(maximum=3), "field 'penalties.logins.maximum': unknown field"),
    (lambda d: d["penalties"]["reversals"].update(weight="ten"),
     "field 'penalties.reversals.weight': must be a number, got 'ten'"),
    (lambda d: d["penalties"]["reversals"].update(weight=True),
     "field 'penalties.reversals.weight': must be a number, got True"),
    (lambda d: d["penalties"]["payments"].update(free=-1), "field 'penalties.payments.free': must be 0 or more"),
    (lambda d: d["penalties"].update(declines=5), "field 'penalties.declines': must be a mapping"),
    (lambda d: d.update(version=2), "field 'version' must be one of [1], got 2"),
    (lambda d: d.update(weights={}), "unknown top-level field 'weights'"),
])
def test_mistakes_name_the_field(change, message):
    with pytest.raises(weights.WeightsError) as caught:
        weights.parse(_mutated(change), "health.yaml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("health.yaml: ")


def test_a_missing_file_is_reported(tmp_path):
    with pytest.raises(weights.WeightsError, match="health weights file not found"):
        weights.load(tmp_path / "nope.yaml")
