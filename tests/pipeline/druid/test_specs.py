"""The spec files in druid_specs/ are valid, and each kind of mistake is refused naming the file and the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from pipeline.config import PROJECT_ROOT, load_config
from pipeline.druid import apply, inputs, specs
from pipeline.druid.specs import SpecError

pytestmark = pytest.mark.unit
SPECS = PROJECT_ROOT / "druid_specs"


@pytest.fixture(scope="module")
def real() -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in SPECS.glob("*.json")}


def test_every_real_spec_is_valid_and_renders():
    loaded = specs.load(SPECS, inputs.known())
    assert {s.name for s in loaded} >= {"transactions", "tx_windows", "account_health", "fraud_alerts"}
    values = inputs.placeholders(load_config(env={}))
    for spec in loaded:
        rendered = spec.render(values, prefix="t_")
        assert "${" not in json.dumps(rendered), spec.name
        assert rendered["spec"]["dataSchema"]["dataSource"] == f"t_{spec.name}"
        assert rendered["spec"]["ioConfig"]["consumerProperties"]["isolation.level"] == "read_committed"


def test_transactions_sums_signed_cents_as_integers(real):
    metrics = {m["name"]: m for m in real["transactions"]["spec"]["dataSchema"]["metricsSpec"]}
    assert metrics["amount_cents"]["type"] == "longSum" and metrics["tx_count"] == {
        "type": "longSum", "name": "tx_count", "fieldName": "_sign"}
    transforms = real["transactions"]["spec"]["dataSchema"]["transformSpec"]["transforms"]
    assert {"type": "expression", "name": "signed_amount_cents", "expression": "amount_cents * _sign"} in transforms


def _refused(tmp_path: Path, name: str, doc, *expected: str) -> str:
    path = tmp_path / f"{name}.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(SpecError) as err:
        specs.load(tmp_path, inputs.known())
    message = str(err.value)
    assert str(path) in message, message
    for part in expected:
        assert part in message, message
    return message


def _with(doc: dict, dotted: str, value) -> dict:
    doc = copy.deepcopy(doc)
    node = doc
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return doc


def test_bad_json_names_line_and_column(tmp_path, real):
    text = json.dumps(real["tx_windows"], indent=2).replace('"dimension",', '"dimension"', 1)
    _refused(tmp_path, "tx_windows", text, "not valid JSON", "tx_windows.json:")


@pytest.mark.parametrize("name, dotted, value, expected", [
    ("transactions", "spec.dataSchema.dimensionsSpec.dimensions.4", "colour",
     ("spec.dataSchema.dimensionsSpec.dimensions[4]", "unknown column colour")),
    ("transactions", "spec.dataSchema.transformSpec.transforms.0.expression", "amount_cent * _sign",
     ("transforms[0].expression", "unknown column amount_cent")),
    ("transactions", "spec.dataSchema.metricsSpec.1.type", "doubleSum",
     ("spec.dataSchema.metricsSpec[1].type", "amount_cents is money", "never doubleSum")),
    ("tx_windows", "spec.dataSchema.metricsSpec.0.type", "longSumm",
     ("spec.dataSchema.metricsSpec[0].type", "unknown metric type 'longSumm'")),
    ("tx_windows", "spec.ioConfig.topic", "${flink.windows_topic}.v2", ("spec.ioConfig.topic", "unknown topic")),
    ("transactions", "spec.ioConfig.lateMessageRejectionPeriod", "P1D",
     ("spec.ioConfig.lateMessageRejectionPeriod", "drops late records")),
], ids=["unknown-column", "unknown-column-in-transform", "money-as-float", "unknown-metric-type", "unknown-topic",
        "drops-late-records"])
def test_a_mistake_names_the_file_and_field(tmp_path, real, name, dotted, value, expected):
    _refused(tmp_path, name, _with(real[name], dotted, value), *expected)


def test_unknown_placeholder(tmp_path, real):
    doc = copy.deepcopy(real["tx_windows"])
    doc["spec"]["ioConfig"]["consumerProperties"]["bootstrap.servers"] = "${kafka.brokers}"
    _refused(tmp_path, "tx_windows", doc, "spec.ioConfig.consumerProperties.bootstrap.servers",
             "unknown placeholder ${kafka.brokers}")


def test_reading_uncommitted_records(tmp_path, real):
    doc = copy.deepcopy(real["tx_windows"])
    del doc["spec"]["ioConfig"]["consumerProperties"]["isolation.level"]
    _refused(tmp_path, "tx_windows", doc, "isolation.level", "read_committed")


def test_datasource_must_match_the_file(tmp_path, real):
    _refused(tmp_path, "tx_window", real["tx_windows"], "spec.dataSchema.dataSource", "must equal the file name")


def test_one_bad_file_stops_the_whole_load(tmp_path, real):
    """Nothing is applied when any file is wrong: load returns all or raises."""
    (tmp_path / "account_health.json").write_text(json.dumps(real["account_health"]))
    _refused(tmp_path, "tx_windows", _with(real["tx_windows"], "type", "kinesis"), "type", "must be \"kafka\"")


def test_the_applied_marker_makes_a_second_plan_a_no_op(real):
    """What `apply` submits carries its own canonical text; a spec that renders to it is unchanged."""
    spec = specs.validate(SPECS / "tx_windows.json", real["tx_windows"], inputs.known())
    rendered = spec.render(inputs.placeholders(load_config(env={})))
    marked = apply.with_marker(rendered)
    assert marked["context"][apply.APPLIED_KEY] == apply.canonical(rendered)
    assert "context" not in rendered  # the marker is added to a copy


def test_every_real_policy_names_a_datasource_and_keeps_finance_forever():
    from pipeline.druid import policies

    names = {s.name for s in specs.load(SPECS, inputs.known())}
    found = {p.name: p for p in policies.load(SPECS / "policies", names)}
    assert set(found) == names
    for finance in ("transactions", "transactions_daily", "ledger", "disputes"):
        assert [r["type"] for r in found[finance].retention] == ["loadForever"]
    for policy in found.values():
        # Compaction stays behind the streaming tasks: it waits 6 h, and takes the default locks (see
        # docs/druid.md, "Late data, segments and retention", for why not concurrent ones).
        assert policy.compaction["skipOffsetFromLatest"] == "PT6H" and "taskContext" not in policy.compaction


@pytest.mark.parametrize("doc, expected", [
    ({"retention": [{"type": "keepForever"}]}, "retention[0].type: unknown rule type 'keepForever'"),
    ({"retention": [{"type": "loadByPeriod", "period": "13 months"}]}, "retention[0].period: '13 months' is not"),
    ({"compaction": {"skipOffsetFromLatest": "P1D", "maxRowsPerSegmen": 5}}, "unknown key maxRowsPerSegmen"),
    ({"retain": []}, "a policy has"),
])
def test_a_policy_mistake_names_the_file_and_field(tmp_path, doc, expected):
    from pipeline.druid import policies

    (tmp_path / "transactions.json").write_text(json.dumps(doc))
    with pytest.raises(SpecError) as err:
        policies.load(tmp_path, {"transactions"})
    assert str(tmp_path / "transactions.json") in str(err.value) and expected in str(err.value), err.value


def test_a_policy_for_an_unknown_datasource(tmp_path):
    from pipeline.druid import policies

    (tmp_path / "transaction.json").write_text("{}")
    with pytest.raises(SpecError, match="no datasource 'transaction'"):
        policies.load(tmp_path, {"transactions"})
