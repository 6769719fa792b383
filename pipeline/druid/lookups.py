"""Reference attributes as Druid lookups, kept current from the CDC reader's compacted topics.

A chart shows a merchant's name and category, a customer's country and
segment, an account's currency; the facts carry only ids. Druid lookups map
an id to such an attribute at query time (`LOOKUP(CAST(merchant_id AS
VARCHAR), 'merchant_name')`), so an update to a merchant shows at once in
every row, old ones included: "current and correct after an update".

Each lookup is a file in `druid_specs/lookups/<name>.json`:
`{"topic": "${cdc.topic_prefix}.public.merchants", "key": "merchant_id", "value": "name"}`.
The reference tables' topics are compacted (docs/cdc.md), so reading one
from its beginning gives every current row. The sync folds each topic
(pipeline/kafka/changelog.Folder), and pushes a lookup to the coordinator as
a `map` lookup (Druid core: no extension, which matters here because the
cached-global lookup extensions are not on Maven Central for Druid 33) when
its map changed. `--follow` keeps reading and pushes changes every few
seconds; the coordinator hands a new version to the brokers and historicals
within `druid.manager.lookups.period` (5 s in the local stack).

A map lookup lives in the coordinator's config and in each node's memory:
right for reference tables of up to a few hundred thousand rows. Millions of
customers would want the kafka-extraction-namespace or JDBC lookup
extensions of a Druid whose version has them.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline import log
from pipeline.druid.client import Druid
from pipeline.druid.specs import SpecError, read_json, render_placeholders
from pipeline.kafka.changelog import Folder, partition_ends, read_range

_log = log.get("druid.lookups")
TIER = "__default"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_FIELDS = ("topic", "key", "value")


@dataclass(frozen=True)
class LookupSpec:
    name: str
    path: Path
    topic: str  # template
    key: str
    value: str

    def lookup_name(self, prefix: str = "") -> str:
        return prefix + self.name


def load(directory: Path) -> list[LookupSpec]:
    """Every lookup file, checked (a mistake names the file and the field)."""
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json")):
        doc = read_json(path)
        if not _NAME.match(path.stem):
            raise SpecError(f"{path}: a lookup's file name is its name: lowercase letters, digits and _")
        if not isinstance(doc, dict) or set(doc) != set(_FIELDS):
            raise SpecError(f"{path}: a lookup is {{\"topic\": ..., \"key\": ..., \"value\": ...}} and nothing else")
        for name in _FIELDS:
            if not isinstance(doc[name], str) or not doc[name]:
                raise SpecError(f"{path}: {name}: must be a non-empty string")
        found.append(LookupSpec(path.stem, path, doc["topic"], doc["key"], doc["value"]))
    return found


@dataclass
class _Source:
    topic: str
    folder: Folder = field(default_factory=Folder)
    offsets: dict[int, int] = field(default_factory=dict)


class LookupSync:
    """Folds each lookup's topic and pushes the lookups whose maps changed."""

    def __init__(self, druid: Druid, specs: list[LookupSpec], values: dict[str, str], bootstrap: str,
                 prefix: str = "") -> None:
        self.druid, self.specs, self.bootstrap, self.prefix = druid, specs, bootstrap, prefix
        self.topics = {s.name: render_placeholders(s.topic, values, s.path, "topic") for s in specs}
        self.sources = {t: _Source(t) for t in set(self.topics.values())}
        self.pushed: dict[str, dict[str, str]] = {}

    def _read(self, source: _Source) -> bool:
        ends = partition_ends(self.bootstrap, source.topic)
        if not ends:
            raise SpecError(f"lookup topic {source.topic} does not exist (the CDC reader creates it)")
        changed = False
        for record in read_range(self.bootstrap, source.topic, source.offsets, ends):
            changed |= source.folder.apply(record)
        source.offsets = ends
        return changed

    def _map(self, spec: LookupSpec, rows: dict[str, dict]) -> dict[str, str]:
        mapped = {}
        for row in rows.values():
            if spec.key not in row or spec.value not in row:
                missing = spec.key if spec.key not in row else spec.value
                raise SpecError(f"{spec.path}: {'key' if missing == spec.key else 'value'}: the rows of "
                                f"{self.topics[spec.name]} have no column {missing!r}; they have "
                                + ", ".join(sorted(row)))
            if row[spec.key] is not None and row[spec.value] is not None:
                mapped[str(row[spec.key])] = str(row[spec.value])
        return mapped

    def once(self) -> dict[str, int]:
        """Read what is new; push each lookup whose map changed. Returns name -> entries pushed."""
        changed_topics = {t for t, source in self.sources.items() if self._read(source)}
        pushed = {}
        for spec in self.specs:
            name = spec.lookup_name(self.prefix)
            if self.topics[spec.name] not in changed_topics and name in self.pushed:
                continue
            mapped = self._map(spec, self.sources[self.topics[spec.name]].folder.state())
            if self.pushed.get(name) == mapped:
                continue
            self.druid.set_lookup(TIER, name, mapped)
            self.pushed[name] = mapped
            pushed[name] = len(mapped)
            _log.info("druid.lookup_pushed", lookup=name, entries=len(mapped))
        return pushed

    def follow(self, interval_s: float = 2.0, stop: Callable[[], bool] = lambda: False) -> None:
        while not stop():
            self.once()
            time.sleep(interval_s)
