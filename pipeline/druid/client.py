"""Druid's HTTP APIs, as much of them as the serving layer uses, with timeouts and clear errors.

Three services answer: the overlord (supervisors, tasks), the coordinator
(segments, retention rules) and the broker (SQL). In the local stack the
coordinator is also the overlord; a cluster gives each its URL ([druid]
overlord_url, coordinator_url, broker_url). SQL goes through pydruid's
DB-API, Druid's own Python client; the REST calls through requests.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote, urlparse

import requests
from pydruid.db import connect

from pipeline.config import DruidConfig


class DruidError(RuntimeError):
    """A Druid API call failed; the message names the call and Druid's answer."""


@dataclass
class Druid:
    config: DruidConfig

    @property
    def timeout(self) -> float:
        return self.config.timeout_s

    def _call(self, method: str, url: str, body: Any = None, ok_missing: bool = False) -> Any:
        try:
            reply = requests.request(method, url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise DruidError(f"{method} {url}: {exc.__class__.__name__}: {exc}") from None
        if ok_missing and reply.status_code == 404:
            return None
        if reply.status_code >= 300:
            raise DruidError(f"{method} {url}: HTTP {reply.status_code}: {reply.text[:500]}")
        if not reply.content:
            return None
        try:
            return reply.json()
        except ValueError:
            return reply.text

    # ---- supervisors (overlord) ----

    def _supervisor_url(self, sid: str = "", action: str = "") -> str:
        url = f"{self.config.overlord}/druid/indexer/v1/supervisor"
        if sid:
            url += f"/{quote(sid, safe='')}"
        return url + (f"/{action}" if action else "")

    def supervisors(self) -> list[str]:
        return self._call("GET", self._supervisor_url()) or []

    def supervisor_spec(self, sid: str) -> dict | None:
        """The running spec (None: no such supervisor, or it was terminated)."""
        return self._call("GET", self._supervisor_url(sid), ok_missing=True)

    def supervisor_stats(self, sid: str) -> dict | None:
        """Per task group and task: row counters and moving averages (rows/s over 1, 5, 15 minutes)."""
        return self._call("GET", self._supervisor_url(sid, "stats"), ok_missing=True)

    def supervisor_status(self, sid: str) -> dict | None:
        return self._call("GET", self._supervisor_url(sid, "status"), ok_missing=True)

    def submit(self, spec: dict) -> None:
        """Create or replace a supervisor: Druid hands its running tasks over to the new spec."""
        self._call("POST", self._supervisor_url(), spec)

    def suspend(self, sid: str, patience_s: float = 300.0) -> None:
        self._set_suspended(sid, True, patience_s)

    def resume(self, sid: str, patience_s: float = 300.0) -> None:
        self._set_suspended(sid, False, patience_s)

    def _set_suspended(self, sid: str, suspended: bool, patience_s: float) -> None:
        """Suspend or resume, patiently: an overlord still deleting a finished task's locks from its
        metadata store answers nothing for a while (Derby locally: ~100 s after a drained task that
        wrote many intervals), and may carry out a request whose reply the client gave up on. After a
        timeout the supervisor's state is read back before asking again."""
        action, deadline = ("suspend" if suspended else "resume"), time.monotonic() + patience_s
        while True:
            try:
                self._call("POST", self._supervisor_url(sid, action))
                return
            except DruidError as exc:
                if "Timeout" not in str(exc) or time.monotonic() > deadline:
                    raise
            while time.monotonic() < deadline:
                try:
                    if bool((self.supervisor_spec(sid) or {}).get("suspended")) == suspended:
                        return
                    break  # it answers, and the state is not there yet: ask again
                except DruidError as exc:
                    if "Timeout" not in str(exc):
                        raise
            if time.monotonic() > deadline:
                raise DruidError(f"{action} {sid}: the overlord at {self.config.overlord} did not answer within "
                                 f"{patience_s:.0f} s; check `cdc-olap druid status` and run the command again")

    def terminate(self, sid: str) -> None:
        self._call("POST", self._supervisor_url(sid, "terminate"))

    def reset_offsets(self, sid: str) -> None:
        """Forget the stored Kafka offsets: the next tasks start where the spec says (earliest here)."""
        self._call("POST", self._supervisor_url(sid, "reset"))

    def tasks(self, datasource: str, state: str = "running") -> list[dict]:
        """The datasource's tasks in a state (running, pending, waiting, complete)."""
        return self._call("GET", f"{self.config.overlord}/druid/indexer/v1/tasks?state={state}&datasource="
                                 f"{quote(datasource)}") or []

    def shutdown_task(self, task_id: str) -> None:
        """Stop a task at once, without publishing what it holds."""
        self._call("POST", f"{self.config.overlord}/druid/indexer/v1/task/{quote(task_id, safe='')}/shutdown",
                   ok_missing=True)

    def submit_task(self, task: dict, patience_s: float = 90.0) -> str:
        """Submit a task; returns its id. A task that names its own `id` is submitted again after a timeout,
        for up to `patience_s`: an overlord still writing a finished task's locks to its metadata store
        (Derby locally: ~150 ms a lock, one lock per day a stream task wrote) answers nothing until done,
        and may accept the task after the client gave up. Druid's "already exists" then means that an
        earlier attempt got through."""
        url, deadline = f"{self.config.overlord}/druid/indexer/v1/task", time.monotonic() + patience_s
        while True:
            try:
                return self._call("POST", url, task)["task"]
            except DruidError as exc:
                if "id" in task and "already exists" in str(exc):
                    return task["id"]
                if "id" not in task or "Timeout" not in str(exc) or time.monotonic() > deadline:
                    raise

    def task_status(self, task_id: str) -> dict | None:
        """{"statusCode": RUNNING | SUCCESS | FAILED, "errorMsg": ..., ...}; None: Druid knows no such task."""
        reply = self._call("GET", f"{self.config.overlord}/druid/indexer/v1/task/{quote(task_id, safe='')}/status",
                           ok_missing=True)
        return (reply or {}).get("status")

    def task_reports(self, task_id: str) -> dict | None:
        """A finished task's reports (row counts, errors); None when it has none."""
        return self._call("GET", f"{self.config.overlord}/druid/indexer/v1/task/{quote(task_id, safe='')}/reports",
                          ok_missing=True)

    # ---- segments and rules (coordinator) ----

    def mark_unused(self, datasource: str) -> None:
        """Every segment of the datasource stops being served (kept in deep storage until killed)."""
        self._call("DELETE", f"{self.config.coordinator}/druid/coordinator/v1/datasources/{quote(datasource)}",
                   ok_missing=True)

    def set_rules(self, datasource: str, rules: list[dict]) -> None:
        self._call("POST", f"{self.config.coordinator}/druid/coordinator/v1/rules/{quote(datasource)}", rules)

    def rules(self, datasource: str) -> list[dict]:
        return self._call("GET", f"{self.config.coordinator}/druid/coordinator/v1/rules/{quote(datasource)}") or []

    def compaction_config(self, datasource: str) -> dict | None:
        return self._call("GET", f"{self.config.coordinator}/druid/coordinator/v1/config/compaction/"
                                 f"{quote(datasource)}", ok_missing=True)

    def set_compaction(self, config: dict) -> None:
        self._call("POST", f"{self.config.coordinator}/druid/coordinator/v1/config/compaction", config)

    def delete_compaction(self, datasource: str) -> None:
        self._call("DELETE", f"{self.config.coordinator}/druid/coordinator/v1/config/compaction/{quote(datasource)}",
                   ok_missing=True)

    def served_datasources(self) -> list[str]:
        return self._call("GET", f"{self.config.coordinator}/druid/coordinator/v1/datasources") or []

    # ---- lookups (coordinator) ----

    def set_lookup(self, tier: str, name: str, mapping: dict[str, str]) -> None:
        """Create or replace a `map` lookup; the coordinator hands it to every node of the tier."""
        base = f"{self.config.coordinator}/druid/coordinator/v1/lookups/config"
        if self._call("GET", base, ok_missing=True) is None:
            self._call("POST", base, {})  # the lookup config is empty until initialised once
        # Versions must grow: nanoseconds, zero-padded, compare as text in time order.
        self._call("POST", f"{base}/{quote(tier)}/{quote(name)}",
                   {"version": f"{time.time_ns():020d}", "lookupExtractorFactory": {"type": "map", "map": mapping}})

    def delete_lookup(self, tier: str, name: str) -> None:
        self._call("DELETE", f"{self.config.coordinator}/druid/coordinator/v1/lookups/config/{quote(tier)}/"
                             f"{quote(name)}", ok_missing=True)

    # ---- SQL (broker) ----

    def wait_for(self, query: str, done: Callable[[list[dict]], bool], timeout_s: float, what: str,
                 poll_s: float = 0.5, context: dict | None = None) -> list[dict]:
        """Run `query` until `done(rows)`; the rows. A failing query counts as not yet: a datasource is
        unknown to the broker until its first rows are served. TimeoutError with the last answer."""
        deadline, rows = time.monotonic() + timeout_s, None
        while True:
            try:
                rows = self.sql(query, context=context)
                if rows and done(rows):
                    return rows
            except DruidError as exc:
                rows = [{"error": str(exc)[:200]}]
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what}: not there after {timeout_s:.0f} s; last answer: {rows}")
            time.sleep(poll_s)

    def sql(self, query: str, parameters: dict | None = None, context: dict | None = None) -> list[dict]:
        """Rows as dicts, through pydruid's DB-API (Druid SQL over HTTP); `context` adds query context keys."""
        broker = urlparse(self.config.broker)
        try:
            # Druid's query timeout (ms) bounds the query on the server; pydruid has no client-side one.
            conn = connect(host=broker.hostname, port=broker.port or (443 if broker.scheme == "https" else 80),
                           path="/druid/v2/sql/", scheme=broker.scheme or "http",
                           context={"timeout": int(self.timeout * 1000), **(context or {})})
            cursor = conn.cursor()
            cursor.execute(query, parameters or {})
            columns = [d[0] for d in cursor.description or ()]
            return [dict(zip(columns, row)) for row in cursor.fetchall()]
        except Exception as exc:  # pydruid raises its own and requests' errors
            raise DruidError(f"Druid SQL at {self.config.broker}: {exc}\n  query: {' '.join(query.split())[:300]}") \
                from None
