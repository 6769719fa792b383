"""Start services in dependency order, wait on real health checks, stop exactly what was started.

Each service gets a thread that waits for its dependencies to be healthy,
then prepares, spawns and health-checks it, so independent services (Kafka,
ZooKeeper, Redis, ...) start side by side and `up` takes as long as the
slowest chain, not the sum.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pipeline import log, procs
from pipeline.stack import process
from pipeline.stack.errors import StackError
from pipeline.stack.layout import Layout
from pipeline.stack.preflight import port_free
from pipeline.stack.service import External, Service, Unhealthy

_log = log.get("stack")
POLL_S = 0.5


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # "up", "down", "unhealthy", "external-up/-down", "embedded-up/-down"
    pid: int | None
    port: int | None
    rss_mib: float | None
    detail: str


class Supervisor:
    def __init__(self, layout: Layout, services: list[Service], externals: list[External] = (),
                 default_timeout_s: float = 240.0) -> None:
        self.layout = layout
        self.services = {s.name: s for s in services}
        self.externals = list(externals)
        self.default_timeout_s = default_timeout_s
        self._check_graph()

    def _check_graph(self) -> None:
        external_names = {e.name for e in self.externals}
        for service in self.services.values():
            for dep in service.requires:
                if dep not in self.services and dep not in external_names:
                    raise StackError(f"service {service.name} requires unknown service {dep}")

    def order(self) -> list[str]:
        """Dependency order (stable), used for `up` and reversed for `down`."""
        done: list[str] = []
        visiting: set[str] = set()

        def visit(name: str) -> None:
            if name in done or name not in self.services:
                return
            if name in visiting:
                raise StackError(f"dependency cycle through {name}")
            visiting.add(name)
            for dep in self.services[name].requires:
                visit(dep)
            visiting.discard(name)
            done.append(name)

        for name in self.services:
            visit(name)
        return done

    # ---- up -------------------------------------------------------------------------------

    def closure(self, names: set[str]) -> list[str]:
        """`names` plus everything they require, in start order."""
        unknown = names - set(self.services)
        if unknown:
            raise StackError(f"unknown service(s) {', '.join(sorted(unknown))}; known: {', '.join(self.order())}")
        wanted: set[str] = set()
        todo = list(names)
        while todo:
            name = todo.pop()
            if name in wanted or name not in self.services:
                continue
            wanted.add(name)
            todo.extend(self.services[name].requires)
        return [n for n in self.order() if n in wanted]

    def up(self, only: set[str] | None = None) -> dict[str, float]:
        """Start everything (or `only` these and their dependencies) not already running.

        Returns seconds-to-healthy per service, counted from the start of `up`.
        """
        self.layout.ensure()
        for ext in self.externals:
            if ext.local:
                continue
            try:
                ext.health()
            except Unhealthy as exc:
                raise StackError(f"external {ext.name} at {ext.endpoint} is not healthy: {exc}") from None
        names = self.closure(only) if only else self.order()
        ready = {name: threading.Event() for name in names}
        failed: dict[str, BaseException] = {}
        timings: dict[str, float] = {}
        started_at = time.monotonic()

        def run(name: str) -> None:
            service = self.services[name]
            try:
                for dep in service.requires:
                    if dep in ready:
                        while not ready[dep].wait(POLL_S):
                            if failed:
                                return
                        if dep in failed:
                            return
                if failed:
                    return
                self._start_one(service)
                timings[name] = round(time.monotonic() - started_at, 1)
                ready[name].set()
            except BaseException as exc:  # noqa: BLE001 - reported below, per service
                failed[name] = exc
                ready[name].set()

        with ThreadPoolExecutor(max_workers=max(1, len(self.services))) as pool:
            list(pool.map(run, names))
        if failed:
            name, exc = next(iter(failed.items()))
            if isinstance(exc, StackError):
                raise exc
            raise StackError(f"{name}: {type(exc).__name__}: {exc}") from exc
        return timings

    def _start_one(self, service: Service) -> None:
        pid = process.running_pid(self.layout, service.name)
        if pid is not None:
            try:
                service.health()
                _log.info("service.already_running", service=service.name, pid=pid)
                return
            except Unhealthy:
                _log.info("service.waiting", service=service.name, pid=pid, why="running but not yet healthy")
        else:
            host = "127.0.0.1"
            for port in (service.port, *service.extra_ports):
                if port:
                    port_free(service.name, host, port)
            if service.prepare:
                service.prepare()
            pid = process.spawn(self.layout, service)
            _log.info("service.started", service=service.name, pid=pid, port=service.port,
                      log=str(self.layout.log_file(service.name)))
        self._wait_healthy(service, pid)
        if service.bootstrap:
            service.bootstrap()
        _log.info("service.healthy", service=service.name, pid=pid)

    def _wait_healthy(self, service: Service, pid: int) -> None:
        timeout = service.start_timeout_s or self.default_timeout_s
        deadline = time.monotonic() + timeout
        last = "no health check answered yet"
        while time.monotonic() < deadline:
            if not procs.is_alive(pid):
                raise StackError(self._died_message(service, pid))
            try:
                service.health()
                return
            except Unhealthy as exc:
                last = str(exc)
            time.sleep(POLL_S)
        raise StackError(
            f"{service.name} (pid {pid}) did not become healthy within {timeout:.0f}s; last check: {last}\n"
            f"--- last lines of {self.layout.log_file(service.name)} ---\n"
            f"{process.log_tail(self.layout, service.name)}"
        )

    def _died_message(self, service: Service, pid: int) -> str:
        return (
            f"{service.name} (pid {pid}) died while starting.\n"
            f"--- last lines of {self.layout.log_file(service.name)} ---\n"
            f"{process.log_tail(self.layout, service.name)}"
        )

    # ---- down / status --------------------------------------------------------------------

    def down(self) -> list[str]:
        stopped = []
        for name in reversed(self.order()):
            if process.stop(self.layout, name, self.services[name].stop_timeout_s, self.services[name].stop_signal):
                _log.info("service.stopped", service=name)
                stopped.append(name)
        return stopped

    def status(self) -> list[ServiceStatus]:
        rows = []
        for name in self.order():
            service = self.services[name]
            pid = process.running_pid(self.layout, name)
            if pid is None:
                rows.append(ServiceStatus(name, "down", None, service.port, None, "not running"))
                continue
            try:
                detail, state = service.health(), "up"
            except Unhealthy as exc:
                detail, state = str(exc), "unhealthy"
            rows.append(ServiceStatus(name, state, pid, service.port, round(procs.rss_kib(pid) / 1024, 1), detail))
        for ext in self.externals:
            kind = "embedded" if ext.local else "external"
            try:
                detail, state = ext.health(), f"{kind}-up"
            except Unhealthy as exc:
                detail, state = str(exc), f"{kind}-down"
            rows.append(ServiceStatus(ext.name, state, None, None, None, f"{ext.endpoint}: {detail}"))
        return rows
