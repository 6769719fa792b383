"""The real health weights file loads and reaches the SQL; each kind of mistake names the field."""

import copy

import pytest
import yaml

from flink_jobs.health import score
from flink_jobs.health import weights
from pipeline.config import load_config
from pipeline.money import CURRENCIES

REAL = load_config(env={"CDC_OLAP_STACK_RUN_DIR": "/nonexistent-run-dir"}).health_file


def _document():
    return yaml.safe_load(REAL.read_text())


def test_the_real_file_has_every_penalty():
    penalties = weights.load(REAL)
    assert set(penalties) == set(weights.INPUTS) == set(score.VALUES)
    assert penalties["declines"] == weights.Penalty(weight=5.0, cap=25.0, free=0.0)
    assert penalties["balance_drop"] == weights.MoneyPenalty(
        cap=20.0, rates={c: weights.Rate(0.002, 500000) for c in CURRENCIES})


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
    (lambda d: d["penalties"]["declines"].update(weight=1e30),
     "field 'penalties.declines.weight': must be at most 100, got 1e+30"),
    (lambda d: d["penalties"]["declines"].update(cap=float("nan")),
     "field 'penalties.declines.cap': must be a finite number, got nan"),
    (lambda d: d["penalties"]["logins"].update(free=float("inf")),
     "field 'penalties.logins.free': must be a finite number, got inf"),
    (lambda d: d["penalties"]["logins"].update(free="1e30"), "field 'penalties.logins.free': must be a number, got '1e30'"),
    (lambda d: d["penalties"]["balance_drop"].update(weight=0.002),
     "field 'penalties.balance_drop.weight': unknown field; valid fields are cap, currencies"),
    (lambda d: d["penalties"]["balance_drop"].update(currencies={"USD": {"weight": 0.002, "free": "5000.00"}}),
     "field 'penalties.balance_drop.currencies.EUR': is required"),
    (lambda d: d["penalties"]["balance_drop"]["currencies"].update(XYZ={"weight": 1, "free": "1.00"}),
     "field 'penalties.balance_drop.currencies': unknown currency 'XYZ'; the system holds USD, EUR, GBP, JPY, CHF"),
    (lambda d: d["penalties"]["balance_drop"].update(currencies=5000),
     "field 'penalties.balance_drop.currencies': must map every currency (USD, EUR, GBP, JPY, CHF)"),
    (lambda d: d["penalties"]["balance_drop"]["currencies"]["GBP"].update(free="1e30"),
     "field 'penalties.balance_drop.currencies.GBP.free': must be at most 9999999999999999.99"),
    (lambda d: d["penalties"]["balance_drop"]["currencies"]["GBP"].update(free=float("nan")),
     "field 'penalties.balance_drop.currencies.GBP.free': must be a finite amount, got nan"),
    (lambda d: d["penalties"]["balance_drop"]["currencies"]["JPY"].update(weight=float("inf")),
     "field 'penalties.balance_drop.currencies.JPY.weight': must be a finite number, got inf"),
    (lambda d: d["penalties"]["balance_drop"]["currencies"]["CHF"].pop("free"),
     "field 'penalties.balance_drop.currencies.CHF.free': is required"),
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


@pytest.mark.parametrize("text, message", [
    ("weight: 1.0e+30", "field 'penalties.declines.weight': must be at most 100, got 1e+30"),
    ("weight: .nan", "field 'penalties.declines.weight': must be a finite number, got nan"),
    ("weight: .inf", "field 'penalties.declines.weight': must be a finite number, got inf"),
    ("weight: 1e30", "field 'penalties.declines.weight': must be a number, got '1e30'"),
])
def test_a_bad_number_in_the_file_itself_is_named(tmp_path, text, message):
    source = REAL.read_text()
    assert source.count("weight: 5\n") == 1
    path = tmp_path / "health.yaml"
    path.write_text(source.replace("weight: 5\n", text + "\n"))
    with pytest.raises(weights.WeightsError) as caught:
        weights.load(path)
    assert str(caught.value) == f"{path}: {message}"
