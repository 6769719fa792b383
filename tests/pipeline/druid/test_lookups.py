"""The lookup files in druid_specs/lookups/ are valid, and a mistake names the file and the field."""

from __future__ import annotations

import json

import pytest

from pipeline.config import PROJECT_ROOT, load_config
from pipeline.druid import inputs, lookups
from pipeline.druid.specs import SpecError, render_placeholders

pytestmark = pytest.mark.unit
DIRECTORY = PROJECT_ROOT / "druid_specs" / "lookups"


def test_every_real_lookup_reads_a_compacted_reference_topic():
    config = load_config(env={})
    found = {s.name: s for s in lookups.load(DIRECTORY)}
    assert {"merchant_name", "merchant_mcc", "customer_country", "customer_segment", "account_currency"} <= set(found)
    values = inputs.placeholders(config)
    for spec in found.values():
        topic = render_placeholders(spec.topic, values, spec.path, "topic")
        table = topic.rsplit(".", 1)[-1]
        assert table in config.cdc.compacted_tables, f"{spec.path}: {table} is not compacted: rows would expire"


@pytest.mark.parametrize("name, doc, expected", [
    ("merchant_name", '{"topic": "x", "key": "merchant_id"', "not valid JSON"),
    ("merchant_name", {"topic": "x", "key": "merchant_id", "value": "name", "ttl": 5}, "and nothing else"),
    ("merchant_name", {"topic": "x", "key": "", "value": "name"}, "key: must be a non-empty string"),
    ("Merchant-Name", {"topic": "x", "key": "merchant_id", "value": "name"}, "lowercase letters"),
])
def test_a_lookup_mistake(tmp_path, name, doc, expected):
    path = tmp_path / f"{name}.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    with pytest.raises(SpecError) as err:
        lookups.load(tmp_path)
    assert str(path) in str(err.value) and expected in str(err.value), err.value
