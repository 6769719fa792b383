"""The real rules file is valid, covers the six patterns, and each kind of mistake is named precisely."""

import copy
from decimal import Decimal

import pytest
import yaml

from pipeline.config import load_config
from pipeline.money import CURRENCIES
from flink_jobs import sql as sql_literals
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
    every = ("USD", "EUR", "GBP", "CHF", "JPY")
    assert card.params == {"window": 600, "min_probes": 5,
                           "probe_max_amount": {c: Decimal("2.00") for c in every},
                           "large_min_amount": {c: Decimal("500.00") for c in every}, "channels": ("ecommerce",)}


def test_every_amount_of_the_real_file_names_its_currency(rules_path):
    amounts = [v for r in rules.load(rules_path) for v in r.params.values() if isinstance(v, dict)]
    assert len(amounts) == 5
    assert all(set(a) == set(CURRENCIES) and all(isinstance(x, Decimal) for x in a.values()) for a in amounts)


def test_thresholds_reach_the_sql_exactly(rules_path):
    sql = {r.id: PATTERNS[r.pattern].build(r) for r in rules.load(rules_path)}
    assert "PATTERN (P{5,} B) WITHIN INTERVAL '10' MINUTE" in sql["card_testing"]
    assert "P.currency = 'USD' AND P.amount <= CAST('2.00' AS DECIMAL(18, 2))" in sql["card_testing"]
    assert "B.currency = 'JPY' AND B.amount >= CAST('500.00' AS DECIMAL(18, 2))" in sql["card_testing"]
    assert "currency = 'EUR' AND amount >= CAST('2000.00' AS DECIMAL(18, 2))" in sql["new_device_large_transfer"]
    assert "currency = 'GBP' AND debit >= CAST('250.00' AS DECIMAL(18, 2))" in sql["dormant_reactivation"]
    assert "PARTITION BY account_id, currency" in sql["velocity_spike"]
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
    ("card_testing", {"params.large_min_amount": {"USD": "500.00", "EUR": "1.50", "GBP": "500.00", "CHF": "500.00",
                                                  "JPY": "500.00"}},
     r"rule 'card_testing' field 'params.large_min_amount': must be above probe_max_amount in EUR \(2.00\), got 1.50"),
    ("card_testing", {"params.large_min_amount": {"USD": "500.00"}},
     r"rule 'card_testing' field 'params.large_min_amount': must list the same currencies as probe_max_amount "
     r"\(CHF, EUR, GBP, JPY, USD\), got USD"),
    ("velocity_spike", {"params.window": "30"},
     r"rule 'velocity_spike' field 'params.window': must be a duration like 45s, 10m, 1h or 90d, got '30'"),
    ("velocity_spike", {"params.min_count": 1}, r"rule 'velocity_spike' field 'params.min_count': must be >= 2"),
    ("impossible_travel", {"params.channels": ["teleport"]},
     r"rule 'impossible_travel' field 'params.channels': 'teleport' is not one of card_present"),
    ("new_device_large_transfer", {"params.min_amount": {"USD": "2000.001"}},
     r"rule 'new_device_large_transfer' field 'params.min_amount': the USD amount has more than two decimal places"),
    ("mcc_anomaly", {"params.mccs": ["79x5"]}, r"rule 'mcc_anomaly' field 'params.mccs': '79x5' does not match"),
    ("dormant_reactivation", {"params.min_amount": {"EUR": -5}},
     r"rule 'dormant_reactivation' field 'params.min_amount': the EUR amount must be a positive amount, got -5"),
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



def _load_text(tmp_path, text):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return rules.load(path)


def _with_min_amount(rules_path, tmp_path, value):
    """The real file with the mcc_anomaly rule's min_amount written as `value` (YAML source text)."""
    text = rules_path.read_text()
    old = '\n      min_amount: {USD: "500.00", EUR: "500.00", GBP: "500.00", CHF: "500.00", JPY: "500.00"}'
    assert text.count(old) == 1
    return _load_text(tmp_path, text.replace(old, f"\n      min_amount: {value}"))


@pytest.mark.parametrize("value, problem", [
    ('"500.00"', r"must say its currency, like \{USD: \"500.00\", EUR: \"450.00\"\}"),
    ("500", "must say its currency"),
    ("{}", "must list at least one currency"),
    ('{usd: "500.00"}', r"unknown currency 'usd'; the system holds USD, EUR, GBP, JPY, CHF"),
    ('{XYZ: "500.00"}', r"unknown currency 'XYZ'"),
    ("{USD: 1e30}", r"the USD amount must be at most 9999999999999999.99 \(NUMERIC\(18, 2\)\), got '1e30'"),
    ("{USD: 1.0e+30}", r"the USD amount must be at most 9999999999999999.99"),
    ("{USD: 10000000000000000}", r"the USD amount must be at most 9999999999999999.99"),
    ("{USD: .nan}", r"the USD amount must be a finite amount, got nan"),
    ('{USD: "NaN"}', r"the USD amount must be a finite amount, got 'NaN'"),
    ("{USD: .inf}", r"the USD amount must be a finite amount, got inf"),
    ('{USD: "-Infinity"}', r"the USD amount must be a finite amount"),
    ('{USD: "lots"}', r"the USD amount must be an amount like \"500.00\", got 'lots'"),
    ("{USD: [500]}", r"the USD amount must be an amount like"),
])
def test_bad_amounts_in_a_file_name_the_rule_and_field(rules_path, tmp_path, value, problem):
    with pytest.raises(RulesError, match=r"rules.yaml: rule 'mcc_anomaly' field 'params.min_amount': " + problem):
        _with_min_amount(rules_path, tmp_path, value)


def test_a_rule_may_name_only_some_currencies_and_applies_to_those(rules_path, tmp_path):
    loaded = _with_min_amount(rules_path, tmp_path, '{USD: "500.00", EUR: "450.50"}')
    rule = next(r for r in loaded if r.id == "mcc_anomaly")
    assert rule.params["min_amount"] == {"USD": Decimal("500.00"), "EUR": Decimal("450.50")}
    where = PATTERNS["mcc_anomaly"].build(rule)
    assert ("(currency = 'EUR' AND amount >= CAST('450.50' AS DECIMAL(18, 2)) OR "
            "currency = 'USD' AND amount >= CAST('500.00' AS DECIMAL(18, 2)))") in where
    assert "'GBP'" not in where


@pytest.mark.parametrize("field, value, problem", [
    ("min_probes", "1e30", "must be a whole number >= 2, got '1e30'"),
    ("min_probes", "1000000000000000000000000000000", "must be <= 10000, got 1000000000000000000000000000000"),
    ("min_probes", ".nan", "must be a whole number >= 2, got nan"),
    ("window", ".inf", "must be a duration like 45s, 10m, 1h or 90d, got inf"),
    ("window", "99999999999999999999d", "must be between 1s and 400d, got '99999999999999999999d'"),
])
def test_out_of_range_and_non_finite_numbers_name_the_rule_and_field(rules_path, tmp_path, field, value, problem):
    text = rules_path.read_text()
    old = {"min_probes": "min_probes: 5 ", "window": "window: 10m "}[field]
    assert text.count(old) == 1
    with pytest.raises(RulesError) as caught:
        _load_text(tmp_path, text.replace(old, f"{field}: {value} "))
    assert str(caught.value) == f"{tmp_path / 'rules.yaml'}: rule 'card_testing' field 'params.{field}': {problem}"


def test_thresholds_are_tested_against_the_rows_own_currency():
    text = sql_literals.amount_test("amount", "currency", ">=", {"USD": Decimal("500"), "CHF": Decimal("0.5")})
    assert text == ("(currency = 'CHF' AND amount >= CAST('0.50' AS DECIMAL(18, 2)) OR "
                    "currency = 'USD' AND amount >= CAST('500.00' AS DECIMAL(18, 2)))")
