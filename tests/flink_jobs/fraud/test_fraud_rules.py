"""The real rules file is valid, covers the six patterns, and each kind of mistake is named precisely."""

import copy
from decimal import Decimal

import pytest
import yaml

from pipeline.config import load_config
from flink_jobs.fraud import rules
from flink_jobs.fraud.patterns import PATTERNS
from flink_jobs.fraud.rules import RulesError


@pytest.fixture(scope="module")
def rules_path(tmp_path_factory):
    return load_config(env={"CDC_OLAP_STACK_RUN_DIR": str(tmp_path_factory.mktemp("run"))}).rules_file


@pytest.fixture()
def document(rules_path):
    return yaml.safe_load(rules_path.read_text())


def _rule(document, rule_id):
    return next(r for r in document["rules"] if r["id"] == rule_id)


def _rejected(document, match):
    with pytest.raises(RulesError, match=match):
        rules.parse(document, "fraud_rules.yaml")


def test_the_real_file_enables_all_six_patterns(rules_path):
    loaded = rules.load(rules_path)
    assert sorted(r.pattern for r in loaded) == sorted(PATTERNS)
    assert all(r.enabled for r in loaded)
    card = next(r for r in loaded if r.id == "card_testing")
    assert card.params == {"window": 600, "min_probes": 5, "probe_max_amount": Decimal("2.00"),
                           "large_min_amount": Decimal("500.00"), "channels": ("ecommerce",)}


def test_thresholds_reach_the_sql_exactly(rules_path):
    sql = {r.id: PATTERNS[r.pattern].build(r) for r in rules.load(rules_path)}
    assert "PATTERN (P{5,} B) WITHIN INTERVAL '10' MINUTE" in sql["card_testing"]
    assert "CAST('2.00' AS DECIMAL(18, 2))" in sql["card_testing"]
    assert "PATTERN (T{14}) WITHIN INTERVAL '30' SECOND" in sql["velocity_spike"]
    assert "event_time - INTERVAL '90' DAY" in sql["dormant_reactivation"]
    assert "mcc IN ('7995', '6051', '4829')" in sql["mcc_anomaly"]


def test_a_disabled_rule_is_loaded_but_not_run(document, tmp_path):
    _rule(document, "mcc_anomaly")["enabled"] = False
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(document))
    assert "mcc_anomaly" not in [r.id for r in rules.enabled(path)]
    assert len(rules.load(path)) == 6


@pytest.mark.parametrize("rule_id, change, match", [
    ("card_testing", {"params.min_probes": "five"},
     r"rule 'card_testing' field 'params.min_probes': must be a whole number >= 2, got 'five'"),
    ("card_testing", {"params.large_min_amount": "1.50"},
     r"rule 'card_testing' field 'params.large_min_amount': must be above probe_max_amount \(2.00\)"),
    ("velocity_spike", {"params.window": "30"},
     r"rule 'velocity_spike' field 'params.window': must be a duration like 45s, 10m, 1h or 90d, got '30'"),
    ("velocity_spike", {"params.min_count": 1}, r"rule 'velocity_spike' field 'params.min_count': must be >= 2"),
    ("impossible_travel", {"params.channels": ["teleport"]},
     r"rule 'impossible_travel' field 'params.channels': 'teleport' is not one of card_present"),
    ("new_device_large_transfer", {"params.min_amount": "2000.001"},
     r"rule 'new_device_large_transfer' field 'params.min_amount': has more than two decimal places"),
    ("mcc_anomaly", {"params.mccs": ["79x5"]}, r"rule 'mcc_anomaly' field 'params.mccs': '79x5' does not match"),
    ("dormant_reactivation", {"params.min_amount": -5},
     r"rule 'dormant_reactivation' field 'params.min_amount': must be a positive amount"),
    ("dormant_reactivation", {"severity": "urgent"},
     r"rule 'dormant_reactivation' field 'severity': must be one of low, medium, high, critical, got 'urgent'"),
    ("card_testing", {"enabled": "yes please"}, r"rule 'card_testing' field 'enabled': must be true or false"),
    ("card_testing", {"pattern": "card_tester"},
     r"rule 'card_testing' field 'pattern': unknown pattern 'card_tester'; known: card_testing"),
    ("card_testing", {"threshold": 3}, r"rule 'card_testing' field 'threshold': unknown field"),
    ("card_testing", {"params.max_probes": 3},
     r"rule 'card_testing' field 'params.max_probes': unknown parameter for pattern card_testing"),
])
def test_a_bad_value_is_rejected_naming_rule_and_field(document, rule_id, change, match):
    rule = _rule(document, rule_id)
    for dotted, value in change.items():
        target, key = (rule["params"], dotted[len("params."):]) if dotted.startswith("params.") else (rule, dotted)
        target[key] = value
    _rejected(document, match)


def test_a_missing_parameter_is_named(document):
    del _rule(document, "impossible_travel")["params"]["window"]
    _rejected(document, r"rule 'impossible_travel' field 'params.window': is required by pattern impossible_travel")


def test_a_missing_field_is_named(document):
    del _rule(document, "velocity_spike")["severity"]
    _rejected(document, r"rule 'velocity_spike' field 'severity': is required")


def test_a_duplicate_id_is_named(document):
    document["rules"].append(copy.deepcopy(_rule(document, "mcc_anomaly")))
    _rejected(document, r"rule 'mcc_anomaly' field 'id': the id is used twice \(rule #7\)")


def test_a_rule_without_id_is_named_by_position(document):
    del document["rules"][2]["id"]
    _rejected(document, r"rule #3 field 'id': is required")


def test_file_level_problems(tmp_path, document):
    _rejected({**document, "version": 2}, r"field 'version' must be one of \[1\], got 2")
    _rejected({"version": 1, "rules": []}, r"field 'rules' must be a non-empty list")
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nrules: [\n")
    with pytest.raises(RulesError, match=r"broken.yaml: not valid YAML"):
        rules.load(broken)
    with pytest.raises(RulesError, match=r"rules file not found"):
        rules.load(tmp_path / "absent.yaml")
