"""Driving a reader process from outside: start it, read its health, wait for a fence, stop or kill it.

Used by the benchmark and the tests (kill -9 included), so both exercise the
real `cdc-olap cdc` process exactly as the stack runs it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

import psycopg
import requests

from pipeline.cdc.reader import FENCE_PREFIX
from pipeline.config import PROJECT_ROOT, PostgresConfig
from pipeline.procs import peak_rss_mib


class ReaderProcess:
    """`name` is the slot, publication and topic prefix the reader was configured with (see reader_env)."""

    def __init__(self, env: dict[str, str], metrics_port: int, log_path: Path, pg: PostgresConfig,
                 name: str, bootstrap: str) -> None:
        self.env, self.metrics_port, self.log_path, self.pg = env, metrics_port, log_path, pg
        self.name, self.bootstrap = name, bootstrap
        self.proc: subprocess.Popen | None = None

    @property
    def slot(self) -> str:
        return self.name

    @property
    def prefix(self) -> str:
        return self.name

    def start(self, wait: bool = True, timeout_s: float = 90) -> "ReaderProcess":
        with open(self.log_path, "a") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "pipeline", "cdc"], env=self.env, stdout=log,
                                         stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        if wait:
            self.wait_for(lambda h: h["phase"] == "streaming", timeout_s, "streaming")
        return self

    def health(self) -> dict | None:
        try:
            return requests.get(f"http://127.0.0.1:{self.metrics_port}/health", timeout=2).json()
        except requests.RequestException:
            return None

    def wait_for(self, condition: Callable[[dict], bool], timeout_s: float, what: str, poll_s: float = 0.2) -> dict:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"reader exited with {self.proc.returncode} waiting for {what}:\n{self.log_tail()}")
            health = self.health()
            if health and condition(health):
                return health
            time.sleep(poll_s)
        raise TimeoutError(f"reader not {what} within {timeout_s}s; last health {self.health()}\n{self.log_tail()}")

    def fence(self, timeout_s: float = 120) -> dict:
        """Returns once everything committed before this call is acknowledged by Kafka."""
        token = uuid.uuid4().hex
        with psycopg.connect(self.pg.dsn(), autocommit=True) as conn:
            conn.execute("SELECT pg_logical_emit_message(true, %s, %s)", (FENCE_PREFIX, token))
        return self.wait_for(lambda h: h.get("fence") == token, timeout_s, f"past fence {token}", poll_s=0.05)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        return self.proc.wait(30)

    def run_to_exit(self, timeout_s: float = 60) -> tuple[int, str]:
        """Start, expecting it to stop by itself: (exit code, log)."""
        self.start(wait=False)
        code = self.proc.wait(timeout_s)
        return code, self.log_path.read_text()

    def peak_rss_mb(self) -> float:
        return peak_rss_mib(self.proc.pid)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def reader_env(base_env: dict[str, str], pg: PostgresConfig, name: str, state_dir: Path, metrics_port: int,
               port_offset: int, **settings) -> dict[str, str]:
    """Environment for a reader with its own slot, publication, topic prefix and state (named `name`)."""
    env = {**base_env, "CDC_OLAP_POSTGRES_DATABASE": pg.database, "CDC_OLAP_CDC_SLOT": name,
           "CDC_OLAP_CDC_PUBLICATION": name, "CDC_OLAP_CDC_TOPIC_PREFIX": name, "CDC_OLAP_CDC_STATE_DIR": str(state_dir),
           # the stack's port offset is added to configured ports: undo it to get exactly this port
           "CDC_OLAP_CDC_METRICS_PORT": str(metrics_port - port_offset)}
    env.update({f"CDC_OLAP_CDC_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
