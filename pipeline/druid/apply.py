"""`cdc-olap druid diff | apply`: make Druid's supervisors what the spec files say, idempotently.

Druid answers a supervisor's spec with every default filled in, so comparing
it with the file would always differ. Instead each applied spec carries, in
its `context`, the canonical JSON of what was applied (`cdc_olap.applied`):
the next `diff` compares the file, rendered for this configuration, with
exactly that, and shows a unified diff of the two. A supervisor that was
not applied by this tool shows as a replacement. A supervisor holding a
history backfill's cutover keeps it: the file is rendered with its filter
and context added (pipeline/druid/cutover.py).

Nothing half-applied: every file is read and checked, every topic it reads
must exist, and only then is anything submitted; if a submission fails, the
supervisors this run already changed get their previous spec back (or are
terminated if they are new), and the error says what was rolled back.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Callable

from pipeline import log
from pipeline.druid import cutover
from pipeline.druid.client import Druid, DruidError
from pipeline.druid.reset import drain, drop_segments
from pipeline.druid.specs import DatasourceSpec, SpecError

_log = log.get("druid")
APPLIED_KEY = "cdc_olap.applied"


@dataclass
class Change:
    name: str
    action: str  # create | update | replace (not applied by us) | reindex (new topic) | unchanged
    diff: str
    desired: dict
    previous: dict | None  # the running spec, as Druid returned it

    @property
    def pending(self) -> bool:
        return self.action != "unchanged"


def canonical(spec: dict) -> str:
    return json.dumps(spec, sort_keys=True, indent=1)


def with_marker(spec: dict) -> dict:
    """The spec as submitted: the canonical text of itself in its context, for the next diff."""
    marked = json.loads(json.dumps(spec))
    marked["context"] = {**(marked.get("context") or {}), APPLIED_KEY: canonical(spec)}
    return marked


def _applied(running: dict | None) -> str | None:
    if not running:
        return None
    return (running.get("context") or {}).get(APPLIED_KEY)


def plan(druid: Druid, specs: list[DatasourceSpec], values: dict[str, str], prefix: str = "") -> list[Change]:
    changes = []
    for spec in specs:
        running = druid.supervisor_spec(spec.datasource(prefix))
        # A backfilled datasource keeps its cutover whatever the file says (pipeline/druid/cutover.py).
        desired = cutover.kept(running, spec.render(values, prefix))
        applied = _applied(running)
        text = canonical(desired)
        if running is None:
            action, old = "create", ""
        elif applied is None:
            action, old = "replace", canonical(running)
        else:
            action, old = ("unchanged" if applied == text else "update"), applied
        if running is not None and _topic(running) != desired["spec"]["ioConfig"]["topic"]:
            # Adding a new topic's rows to the old topic's would count every result twice (a new
            # version of a Flink job writes all of them again, to a topic of its own): start over.
            action = "reindex"
        name = spec.datasource(prefix)
        diff = "" if action == "unchanged" else "".join(difflib.unified_diff(
            old.splitlines(keepends=True), text.splitlines(keepends=True),
            f"{name} (running)", f"{name} ({spec.path.name})", n=2))
        changes.append(Change(name, action, diff, desired, running))
    return changes


def _topic(running: dict) -> str | None:
    return ((running.get("spec") or running).get("ioConfig") or {}).get("topic")


def check_topics(specs: list[DatasourceSpec], values: dict[str, str], existing: set[str]) -> None:
    missing = [f"{s.path}: spec.ioConfig.topic: topic {s.topic(values)!r} does not exist (it is written by "
               f"{s.input.written_by}: start that first)" for s in specs if s.topic(values) not in existing]
    if missing:
        raise SpecError("\n".join(missing))


def apply(druid: Druid, changes: list[Change], on_applied: Callable[[Change], None] = lambda c: None) -> list[Change]:
    """Submit the pending changes; on a failure, restore those already made and raise."""
    done: list[Change] = []
    for change in changes:
        if not change.pending:
            continue
        try:
            if change.action == "reindex":
                _reindex(druid, change.name, with_marker(change.desired))
            else:
                druid.submit(with_marker(change.desired))
        except DruidError as exc:
            undone = _roll_back(druid, done)
            raise DruidError(f"applying {change.name} failed: {exc}; rolled back: {', '.join(undone) or 'nothing'}") \
                from None
        _log.info("druid.applied", datasource=change.name, action=change.action)
        done.append(change)
        on_applied(change)
    return done


def _reindex(druid: Druid, name: str, submitted: dict) -> None:
    """The datasource emptied, then filled again from the start of the topic `submitted` reads."""
    _log.info("druid.reindex", datasource=name, topic=_topic(submitted))
    def say(line: str) -> None:
        _log.info("druid.reindex_step", datasource=name, step=line)

    drain(druid, name, 600, say)
    drop_segments(druid, name, say)
    druid.reset_offsets(name)
    druid.submit(submitted)


def _roll_back(druid: Druid, done: list[Change]) -> list[str]:
    undone = []
    for change in reversed(done):
        try:
            if change.previous is None:
                druid.terminate(change.name)
            elif change.action == "reindex":  # back to the old topic, read again from its start
                _reindex(druid, change.name, change.previous)
            else:
                druid.submit(change.previous)
            undone.append(change.name)
        except DruidError as exc:
            _log.error("druid.rollback_failed", datasource=change.name, error=str(exc))
    return undone
