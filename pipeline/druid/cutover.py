"""The stream side of a history backfill: a supervisor that adds only the facts after the export's cutover.

The history export is as of a replication slot's consistent point C
(pipeline/backfill/consistent.py): it holds exactly the transactions whose
commit record starts before C. The CDC reader's facts carry their
transaction's commit LSN (`_commit_lsn`, the start of its commit record), so
the supervisor keeps a fact when `_commit_lsn >= C` (a transaction whose commit
record starts exactly at C is not in the export's snapshot, and Postgres
decodes it). History rows + these facts = every change once.

The cutover lives in the running supervisor spec, where it acts: a
transformSpec filter, and its record in the spec's top-level context
(`cdc_olap.cutover`: LSN and export), beside apply's own marker. `apply`
re-adds both to whatever the spec file says while the running supervisor has
a cutover (`kept`), so editing a spec never silently drops the filter (which
would count the history twice on the next re-read).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from pipeline.cdc.facts import COMMIT_LSN, OP
from pipeline.cdc.pgoutput import format_lsn
from pipeline.druid.client import DruidError
from pipeline.kafka.changelog import first_records, partition_starts

KEY = "cdc_olap.cutover"
SNAPSHOT_OP = "r"


@dataclass(frozen=True)
class Cutover:
    lsn: int  # the export's consistent point: the stream keeps facts with _commit_lsn >= lsn
    export: str  # where the history came from, s3://bucket/prefix/

    @property
    def lsn_text(self) -> str:
        return format_lsn(self.lsn)

    @property
    def expression(self) -> str:
        return f"{COMMIT_LSN} >= {self.lsn}"


def of(running: dict | None) -> Cutover | None:
    """The cutover a running supervisor spec holds (None: it reads every fact)."""
    held = ((running or {}).get("context") or {}).get(KEY)
    if not isinstance(held, dict) or not isinstance(held.get("lsn"), int):
        return None
    return Cutover(held["lsn"], str(held.get("export", "?")))


def applied(spec: dict, cut: Cutover) -> dict:
    """`spec` (a rendered supervisor spec) keeping only the facts after the cutover, and saying so."""
    out = copy.deepcopy(spec)
    transform = out["spec"]["dataSchema"].setdefault("transformSpec", {})
    own = {"type": "expression", "expression": cut.expression}
    existing = transform.get("filter")
    transform["filter"] = own if existing is None else {"type": "and", "fields": [existing, own]}
    out["context"] = {**(out.get("context") or {}), KEY: {"lsn": cut.lsn, "lsn_text": cut.lsn_text,
                                                          "export": cut.export}}
    return out


def kept(running: dict | None, desired: dict) -> dict:
    """What `apply` submits: the spec file's rendering, with the running supervisor's cutover if it has one."""
    cut = of(running)
    return desired if cut is None else applied(desired, cut)


def check_topic(bootstrap: str, topic: str, cut: Cutover) -> None:
    """The facts topic must still hold every fact after the cutover, and no snapshot of a newer reader.

    Per partition (facts are in commit order within one): where retention has deleted the first
    records, the first one left must be from before the cutover, or facts after it may be gone. A
    partition starting with snapshot rows (op r) as of the cutover or later means the reader's slot is
    younger than the export: its snapshot repeats the history (and transactions between the two
    points are in neither)."""
    starts = partition_starts(bootstrap, topic)
    if not starts:
        raise DruidError(f"topic {topic} does not exist: start the CDC reader (it writes the facts) first")
    firsts = first_records(bootstrap, topic)
    lost, late_snapshot = [], []
    for partition, start in sorted(starts.items()):
        first = firsts.get(partition)
        value = first.value if first is not None and isinstance(first.value, dict) else {}
        commit_lsn = value.get(COMMIT_LSN)
        if start > 0 and (first is None or commit_lsn is None or commit_lsn >= cut.lsn):
            lost.append(f"{partition} (from offset {start})")
        if value.get(OP) == SNAPSHOT_OP and commit_lsn is not None and commit_lsn >= cut.lsn:
            late_snapshot.append(f"{partition} (snapshot as of {format_lsn(commit_lsn)})")
    if lost:
        raise DruidError(
            f"{topic}: retention has deleted records that may be after the cutover (LSN {cut.lsn_text}) in "
            f"partition(s) {', '.join(lost)}: the stream side would miss them. Export again (a newer cutover) and "
            "run the backfill from that export")
    if late_snapshot:
        raise DruidError(
            f"{topic} starts with the CDC reader's snapshot taken after the export's cutover (LSN {cut.lsn_text}) "
            f"in partition(s) {', '.join(late_snapshot)}: its rows would count the history again. Export again "
            "now (with this reader running) and run the backfill from that export")
