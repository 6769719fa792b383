"""The datasource specs in `druid_specs/`: read, checked, and rendered for one configuration.

A spec file is a Druid Kafka supervisor spec as Druid documents it, one file
per datasource, named `<datasource>.json`, with `${name}` placeholders where
a value depends on the deployment (the Kafka bootstrap, the topic names:
pipeline/druid/inputs.py lists them). Every file is checked before anything
is applied, and a mistake names the file and the field:

- the JSON itself (line and column), the supervisor type, the datasource
  name against the file name;
- the topic: a known input (its columns are the contract) whose placeholders
  all resolve;
- every column the spec reads (timestamp, dimensions, metric fields,
  transform expressions, filters) against the input's columns and the
  transforms' outputs;
- money: a metric or dimension whose name ends in `_cents` is an integer
  (`longSum`/`longMin`/`longMax`, or a `long` dimension), never a float;
- exactness: Kafka is read `read_committed` (the CDC reader's and the Flink
  sinks' transactions), and no `lateMessageRejectionPeriod` /
  `earlyMessageRejectionPeriod`, which would drop a late correction (a
  dispute 90 days on) without a trace.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.druid.inputs import PLACEHOLDERS, Input

_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")
INTEGER_METRICS = {"longSum", "longMin", "longMax", "longFirst", "longLast", "count"}
METRIC_TYPES = INTEGER_METRICS | {"doubleSum", "doubleMin", "doubleMax", "doubleLast", "doubleFirst", "floatSum",
                                  "stringFirst", "stringLast", "HLLSketchBuild", "thetaSketch", "filtered"}
DIMENSION_TYPES = {"string", "long", "double", "float", "json"}
DROPPING_LATE = ("lateMessageRejectionPeriod", "earlyMessageRejectionPeriod", "lateMessageRejectionStartDateTime")
# Identifiers in a Druid expression that are not columns.
_EXPR_WORDS = {"null", "true", "false"}


class SpecError(ValueError):
    """A spec file is wrong; the message names the file and the field."""


@dataclass(frozen=True)
class DatasourceSpec:
    name: str
    path: Path
    template: dict  # as in the file, placeholders unresolved
    input: Input

    def datasource(self, prefix: str = "") -> str:
        """Its name in Druid (also its supervisor's id): [druid] datasource_prefix + the file's name."""
        return prefix + self.name

    def render(self, values: dict[str, str], prefix: str = "") -> dict:
        """The supervisor spec for one deployment: placeholders replaced, the datasource prefixed."""
        rendered = render_placeholders(copy.deepcopy(self.template), values, self.path, "")
        rendered["spec"]["dataSchema"]["dataSource"] = self.datasource(prefix)
        return rendered

    def topic(self, values: dict[str, str]) -> str:
        return self.render(values)["spec"]["ioConfig"]["topic"]


def _fail(path: Path, field: str, message: str) -> SpecError:
    return SpecError(f"{path}: {field}: {message}" if field else f"{path}: {message}")


def render_placeholders(value: Any, values: dict[str, str], path: Path, field: str) -> Any:
    """`value` (a string, or a JSON tree of them) with every ${name} replaced; an unknown name is a SpecError."""
    if isinstance(value, str):
        def sub(m: re.Match) -> str:
            if m.group(1) not in values:
                raise _fail(path, field, f"unknown placeholder ${{{m.group(1)}}}; known: "
                                         + ", ".join(f"${{{k}}}" for k in sorted(values)))
            return values[m.group(1)]
        return _PLACEHOLDER.sub(sub, value)
    if isinstance(value, dict):
        return {k: render_placeholders(v, values, path, f"{field}.{k}" if field else k) for k, v in value.items()}
    if isinstance(value, list):
        return [render_placeholders(v, values, path, f"{field}[{i}]") for i, v in enumerate(value)]
    return value


def _get(doc: dict, dotted: str, path: Path, kind: type | tuple = dict) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise _fail(path, dotted, "missing")
        node = node[part]
    if not isinstance(node, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise _fail(path, dotted, f"must be a JSON {'object' if names == 'dict' else names}, not {type(node).__name__}")
    return node


def _expression_columns(expression: str) -> set[str]:
    """Column names an expression reads: identifiers not followed by '(' and outside quotes."""
    unquoted = re.sub(r"'(?:[^'\\]|\\.)*'", "''", expression)
    quoted = set(re.findall(r'"([^"]+)"', unquoted))
    unquoted = re.sub(r'"[^"]*"', " ", unquoted)
    words = {m.group(1) for m in re.finditer(r"\b([A-Za-z_][A-Za-z0-9_]*)\b(?!\s*\()", unquoted)}
    return quoted | {w for w in words if w.lower() not in _EXPR_WORDS}


def _filter_columns(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key in ("dimension", "column"):
            if isinstance(node.get(key), str):
                found.add(node[key])
        if node.get("type") == "expression" and isinstance(node.get("expression"), str):
            found |= _expression_columns(node["expression"])
        for key in ("field", "fields", "filter"):
            if key in node:
                found |= _filter_columns(node[key])
    elif isinstance(node, list):
        for item in node:
            found |= _filter_columns(item)
    return found


def _check_columns(path: Path, field: str, used: set[str], available: set[str], source: str) -> None:
    unknown = sorted(used - available)
    if unknown:
        raise _fail(path, field, f"unknown column {', '.join(unknown)}: {source} has "
                                 + ", ".join(sorted(available)))


def _check_metric(path: Path, field: str, metric: Any, available: set[str], source: str) -> str:
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
        raise _fail(path, field, "a metric is an object with a name")
    kind = metric.get("type")
    if kind not in METRIC_TYPES:
        raise _fail(path, f"{field}.type", f"unknown metric type {kind!r}; use one of {', '.join(sorted(METRIC_TYPES))}")
    if kind == "filtered":
        _check_columns(path, f"{field}.filter", _filter_columns(metric.get("filter")), available, source)
        inner = _check_metric(path, f"{field}.aggregator", metric.get("aggregator"), available, source)
        if inner != metric["name"]:
            raise _fail(path, f"{field}.name", f"must equal its aggregator's name {inner!r}")
        return inner
    name = metric["name"]
    if name.endswith("_cents") and kind not in INTEGER_METRICS:
        raise _fail(path, f"{field}.type", f"{name} is money in cents: an integer metric (longSum), never {kind}")
    if kind != "count":
        if not isinstance(metric.get("fieldName"), str):
            raise _fail(path, f"{field}.fieldName", "missing")
        _check_columns(path, f"{field}.fieldName", {metric["fieldName"]}, available, source)
    return name


def validate(path: Path, doc: Any, inputs: dict[str, Input]) -> DatasourceSpec:
    """One spec checked against its input; returns it ready to render."""
    if not isinstance(doc, dict):
        raise _fail(path, "", "a spec is a JSON object (a Druid supervisor spec)")
    render_placeholders(doc, {name: name for name in PLACEHOLDERS}, path, "")  # every placeholder is a known one
    if doc.get("type") != "kafka":
        raise _fail(path, "type", f"must be \"kafka\" (a Kafka supervisor), not {doc.get('type')!r}")
    schema = _get(doc, "spec.dataSchema", path)
    name = _get(doc, "spec.dataSchema.dataSource", path, str)
    if name != path.stem:
        raise _fail(path, "spec.dataSchema.dataSource", f"{name!r} must equal the file name ({path.stem!r})")
    io = _get(doc, "spec.ioConfig", path)
    topic = _get(doc, "spec.ioConfig.topic", path, str)
    if topic not in inputs:
        raise _fail(path, "spec.ioConfig.topic", f"unknown topic {topic!r}; a spec reads one of "
                                                 + ", ".join(sorted(inputs)))
    source = inputs[topic]
    described = f"{topic} (written by {source.written_by})"
    if _get(doc, "spec.ioConfig.inputFormat.type", path, str) != "json":
        raise _fail(path, "spec.ioConfig.inputFormat.type", "must be \"json\": every input topic holds JSON records")
    props = _get(doc, "spec.ioConfig.consumerProperties", path)
    if props.get("isolation.level") != "read_committed":
        raise _fail(path, "spec.ioConfig.consumerProperties.isolation.level",
                    "must be \"read_committed\": the writers use Kafka transactions, and reading uncommitted "
                    "records would count aborted ones")
    if "bootstrap.servers" not in props:
        raise _fail(path, "spec.ioConfig.consumerProperties.bootstrap.servers", "missing (use ${kafka.bootstrap})")
    for key in DROPPING_LATE:
        if key in io:
            raise _fail(path, f"spec.ioConfig.{key}", "drops late records silently (a correction days later would "
                                                      "never count); remove it")

    available = set(source.columns)
    transforms = schema.get("transformSpec", {}).get("transforms", [])
    if not isinstance(transforms, list):
        raise _fail(path, "spec.dataSchema.transformSpec.transforms", "must be a list")
    for i, t in enumerate(transforms):
        field = f"spec.dataSchema.transformSpec.transforms[{i}]"
        if not isinstance(t, dict) or t.get("type") != "expression" or not isinstance(t.get("name"), str):
            raise _fail(path, field, "a transform is {\"type\": \"expression\", \"name\": ..., \"expression\": ...}")
        _check_columns(path, f"{field}.expression", _expression_columns(_get(t, "expression", path, str)),
                       available, described)
        available.add(t["name"])
    row_filter = schema.get("transformSpec", {}).get("filter")
    if row_filter is not None:
        _check_columns(path, "spec.dataSchema.transformSpec.filter", _filter_columns(row_filter), available, described)

    ts_column = _get(doc, "spec.dataSchema.timestampSpec.column", path, str)
    _check_columns(path, "spec.dataSchema.timestampSpec.column", {ts_column}, available, described)
    dimensions = _get(doc, "spec.dataSchema.dimensionsSpec.dimensions", path, list)
    for i, d in enumerate(dimensions):
        field = f"spec.dataSchema.dimensionsSpec.dimensions[{i}]"
        dim_name, dim_type = (d, "string") if isinstance(d, str) else (d.get("name"), d.get("type", "string")) \
            if isinstance(d, dict) else (None, None)
        if not isinstance(dim_name, str):
            raise _fail(path, field, "a dimension is a column name or {\"name\": ..., \"type\": ...}")
        if dim_type not in DIMENSION_TYPES:
            raise _fail(path, f"{field}.type", f"unknown dimension type {dim_type!r}; use one of "
                                               + ", ".join(sorted(DIMENSION_TYPES)))
        if dim_name.endswith("_cents") and dim_type != "long":
            raise _fail(path, f"{field}.type", f"{dim_name} is money in cents: a long dimension, never {dim_type}")
        _check_columns(path, field, {dim_name}, available, described)
    metrics = schema.get("metricsSpec", [])
    if not isinstance(metrics, list):
        raise _fail(path, "spec.dataSchema.metricsSpec", "must be a list")
    names = [_check_metric(path, f"spec.dataSchema.metricsSpec[{i}]", m, available, described)
             for i, m in enumerate(metrics)]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise _fail(path, "spec.dataSchema.metricsSpec", f"metric named twice: {', '.join(twice)}")
    _get(doc, "spec.dataSchema.granularitySpec.segmentGranularity", path, str)
    return DatasourceSpec(name, path, doc, source)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}") from None


def load(directory: Path, inputs: dict[str, Input]) -> list[DatasourceSpec]:
    """Every spec in the directory, all checked (the first mistake stops the load: nothing is applied)."""
    if not directory.is_dir():
        raise SpecError(f"{directory}: no such directory of Druid specs ([druid] specs_dir)")
    specs = [validate(path, read_json(path), inputs) for path in sorted(directory.glob("*.json"))]
    if not specs:
        raise SpecError(f"{directory}: no *.json spec files")
    return specs


def by_name(specs: list[DatasourceSpec], name: str) -> DatasourceSpec:
    for spec in specs:
        if spec.name == name:
            return spec
    raise SpecError(f"no spec for datasource {name!r}; known: {', '.join(s.name for s in specs)}")
