"""`cdc-olap druid status`: per datasource, is it filling, how far behind, how much it holds.

Lag is the supervisor's (Kafka records not yet read, over all partitions).
Freshness is what a user feels: for datasources fed by the CDC reader's
signed facts, now minus the newest source commit time ingested (`commit_ms`,
a longMax metric), which is the Postgres-commit-to-queryable delay while
changes flow; for the Flink-fed ones, now minus the newest `__time` (their
results' own time: a window's start, a score's time, an alert's event).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from pipeline.druid.client import Druid, DruidError
from pipeline.druid.specs import DatasourceSpec


@dataclass
class DatasourceStatus:
    name: str
    state: str  # the supervisor's (RUNNING, SUSPENDED, UNHEALTHY_TASKS, ...) or "absent"
    detail: str
    lag: int | None
    rows: int | None  # stored rows (after rollup)
    newest: str | None  # newest __time, ISO
    freshness_s: float | None

    @property
    def healthy(self) -> bool:
        return self.state == "RUNNING"

    @property
    def failing(self) -> bool:
        """Unhealthy, as opposed to not applied yet ("absent") or deliberately suspended."""
        return self.state not in ("RUNNING", "absent", "SUSPENDED", "PENDING")

    def as_dict(self) -> dict:
        return asdict(self)


def _iso(ms: float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


def _measures(druid: Druid, spec: DatasourceSpec, name: str) -> tuple[int | None, str | None, float | None]:
    metrics = {m.get("name") for m in spec.template["spec"]["dataSchema"].get("metricsSpec", [])}
    commit = ', MAX("commit_ms") AS commit_ms' if "commit_ms" in metrics else ""
    try:
        rows = druid.sql(f'SELECT COUNT(*) AS "rows", MAX(__time) AS newest{commit} FROM "{name}"')
    except DruidError as exc:
        if "not found" in str(exc).lower():
            return 0, None, None  # nothing published or read yet: Druid does not know the table
        raise
    row = rows[0] if rows else {}
    newest = row.get("newest")
    if commit and row.get("commit_ms"):
        fresh = time.time() - row["commit_ms"] / 1000
    elif newest:
        fresh = time.time() - datetime.fromisoformat(str(newest).replace("Z", "+00:00")).timestamp()
    else:
        fresh = None
    return row.get("rows"), (str(newest) if newest else None), fresh


def status(druid: Druid, specs: list[DatasourceSpec], prefix: str = "") -> list[DatasourceStatus]:
    found = []
    for spec in specs:
        name = spec.datasource(prefix)
        report = druid.supervisor_status(name)
        payload = (report or {}).get("payload") or {}
        if not report:
            state, detail = "absent", "no supervisor: run `cdc-olap druid apply`"
        else:
            state = payload.get("state", "?")
            errors = payload.get("recentErrors") or []
            detail = payload.get("detailedState", "")
            if errors:
                detail += f"; last error: {str(errors[-1].get('exceptionMessage', errors[-1]))[:120]}"
            detail += f"; tasks {len(payload.get('activeTasks') or [])} reading, " \
                      f"{len(payload.get('publishingTasks') or [])} publishing"
        rows, newest, fresh = _measures(druid, spec, name)
        found.append(DatasourceStatus(name, state, detail, payload.get("aggregateLag"), rows, newest,
                                      round(fresh, 3) if fresh is not None else None))
    return found
