"""The stream side of the cutover: the filter, its record in the supervisor context, and apply keeping it."""

from __future__ import annotations

import json

import pytest

from pipeline.config import PROJECT_ROOT, load_config
from pipeline.druid import apply, cutover, inputs, specs
from pipeline.druid.client import DruidError
from pipeline.kafka.changelog import Record

pytestmark = pytest.mark.unit
CUT = cutover.Cutover(54_710_960, "s3://b/h/")


@pytest.fixture(scope="module")
def transactions():
    loaded = specs.by_name(specs.load(PROJECT_ROOT / "druid_specs", inputs.known()), "transactions")
    return loaded, inputs.placeholders(load_config(env={}))


def test_the_filter_keeps_facts_committed_from_the_cutover_on(transactions):
    spec, values = transactions
    cut = cutover.applied(spec.render(values, "t_"), CUT)
    assert cut["spec"]["dataSchema"]["transformSpec"]["filter"] == {
        "type": "expression", "expression": "_commit_lsn >= 54710960"}
    assert cut["context"][cutover.KEY] == {"lsn": 54_710_960, "lsn_text": "0/342D2B0", "export": "s3://b/h/"}
    assert cutover.of(cut) == CUT and cutover.of(spec.render(values)) is None and cutover.of(None) is None
    # the rest of the spec is the file's
    plain = spec.render(values, "t_")
    assert cut["spec"]["dataSchema"]["transformSpec"]["transforms"] == plain["spec"]["dataSchema"][
        "transformSpec"]["transforms"]
    assert cut["spec"]["ioConfig"] == plain["spec"]["ioConfig"]


def test_an_existing_filter_is_kept_beside_it(transactions):
    spec, values = transactions
    rendered = spec.render(values)
    own = {"type": "selector", "dimension": "currency", "value": "USD"}
    rendered["spec"]["dataSchema"]["transformSpec"]["filter"] = own
    assert cutover.applied(rendered, CUT)["spec"]["dataSchema"]["transformSpec"]["filter"] == {
        "type": "and", "fields": [own, {"type": "expression", "expression": "_commit_lsn >= 54710960"}]}


def test_the_cut_over_spec_passes_the_spec_checks(transactions, tmp_path):
    spec, _ = transactions
    specs.validate(spec.path, cutover.applied(spec.template, CUT), inputs.known())


class _Druid:
    def __init__(self, running: dict | None) -> None:
        self.running = running

    def supervisor_spec(self, sid: str) -> dict | None:
        return self.running


def test_apply_keeps_the_cutover_of_the_running_supervisor(transactions):
    spec, values = transactions
    submitted = apply.with_marker(cutover.applied(spec.render(values, "t_"), CUT))  # what the backfill submits
    (change,) = apply.plan(_Druid(submitted), [spec], values, "t_")
    assert change.action == "unchanged", change.diff
    # The file changes: the update keeps the filter and the cutover record.
    edited = json.loads(json.dumps(spec.template))
    edited["spec"]["tuningConfig"]["maxRowsInMemory"] = 100_000
    edited_spec = specs.validate(spec.path, edited, inputs.known())
    (change,) = apply.plan(_Druid(submitted), [edited_spec], values, "t_")
    assert change.action == "update" and "maxRowsInMemory" in change.diff and "_commit_lsn" not in change.diff
    marked = apply.with_marker(change.desired)
    assert cutover.of(marked) == CUT
    assert marked["spec"]["dataSchema"]["transformSpec"]["filter"]["expression"] == "_commit_lsn >= 54710960"


def test_without_a_cutover_apply_submits_the_file_as_it_is(transactions):
    spec, values = transactions
    (change,) = apply.plan(_Druid(None), [spec], values, "t_")
    assert change.action == "create" and change.desired == spec.render(values, "t_")


def _topic(monkeypatch, starts: dict[int, int], firsts: dict[int, dict]) -> None:
    monkeypatch.setattr(cutover, "partition_starts", lambda bootstrap, topic: starts)
    monkeypatch.setattr(cutover, "first_records",
                        lambda bootstrap, topic: {p: Record(p, starts[p], 0, None, v) for p, v in firsts.items()})


def test_a_topic_holding_every_fact_after_the_cutover_passes(monkeypatch):
    before = {"_op": "c", "_commit_lsn": CUT.lsn - 1}
    _topic(monkeypatch, {0: 0, 1: 500, 2: 0}, {0: {"_op": "r", "_commit_lsn": 100}, 1: before})
    cutover.check_topic("k", "p.facts.transactions", CUT)


@pytest.mark.parametrize("first", [{"_op": "u", "_commit_lsn": CUT.lsn}, None])
def test_retention_that_may_have_reached_the_cutover_is_refused(monkeypatch, first):
    _topic(monkeypatch, {0: 0, 1: 500}, {1: first} if first else {})
    with pytest.raises(DruidError, match=r"retention has deleted records that may be after the cutover \(LSN "
                                         r"0/342D2B0\) in partition\(s\) 1 \(from offset 500\).*Export again"):
        cutover.check_topic("k", "p.facts.transactions", CUT)


def test_a_reader_snapshot_newer_than_the_export_is_refused(monkeypatch):
    _topic(monkeypatch, {0: 0}, {0: {"_op": "r", "_commit_lsn": CUT.lsn + 800}})
    with pytest.raises(DruidError, match="snapshot taken after the export's cutover.*would count the history again"):
        cutover.check_topic("k", "p.facts.transactions", CUT)
