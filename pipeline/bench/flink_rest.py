"""What a running Flink job's sources have read so far, live, from Flink's REST API.

Flink counts the records each source operator reads (`numRecordsIn`, summed
over its subtasks by the REST API), the moment it reads them. The other
outside view, the consumer group's committed offsets, moves only when a
checkpoint completes: in a minute's run of the windows job they stood still
for 8 s while a checkpoint waited behind a window's output, which put a
rate taken between two of them off by a third.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from flink_jobs.sources import captured_table
from pipeline.stack import health as probe
from pipeline.stack.service import Unhealthy

_SOURCE_METRIC = re.compile(r"^Source__(?P<table>.+)\[\d+\]\.numRecordsIn$")


def events_read(per_source: dict[str, int]) -> int:
    """CDC events read, each counted once: a topic two sources read (the fraud job reads `accounts` as
    events and as a changelog) counts as far as the slower of them has got."""
    per_table: dict[str, int] = {}
    for source, records in per_source.items():
        table = captured_table(source)
        per_table[table] = min(records, per_table.get(table, records))
    return sum(per_table.values())


class SourceRecords:
    def __init__(self, rest_url: str) -> None:
        self.url = rest_url.rstrip("/")
        self._job: str | None = None
        self._metrics: dict[str, str] = {}  # source vertex id -> its numRecordsIn metric
        self._last: dict[str, int] = {}

    def _get(self, path: str):
        return json.loads(probe.http(f"{self.url}{path}"))

    def per_source(self) -> dict[str, int]:
        """Source table name (`accounts_changelog`) -> records read; {} until the job runs and reports, the
        last answer while the API does not answer."""
        try:
            if self._job is None:
                running = [j["jid"] for j in self._get("/jobs/overview")["jobs"] if j["state"] == "RUNNING"]
                if not running:
                    return {}
                self._job = running[0]
            found = {}
            for vertex in self._get(f"/jobs/{self._job}")["vertices"]:
                if not vertex["name"].startswith("Source: "):
                    continue
                vid = vertex["id"]
                if vid not in self._metrics:
                    names = [m["id"] for m in self._get(f"/jobs/{self._job}/vertices/{vid}/subtasks/metrics")]
                    matching = [n for n in names if _SOURCE_METRIC.match(n)]
                    if not matching:
                        continue  # the task has not registered its metrics yet
                    self._metrics[vid] = matching[0]
                metric = self._metrics[vid]
                values = self._get(f"/jobs/{self._job}/vertices/{vid}/subtasks/metrics?get={quote(metric, safe='')}")
                found[_SOURCE_METRIC.match(metric)["table"]] = int(values[0]["sum"]) if values else 0
            self._last = found
        except Unhealthy:
            pass  # not listening yet (the JVM is starting), or busy
        return self._last
