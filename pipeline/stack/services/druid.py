"""Apache Druid assembled from Maven Central: ZooKeeper, coordinator-as-overlord, broker,
historical and an indexer (tasks as threads), with heaps sized for a 2-core machine.

Metadata lives in Derby, served by the coordinator: Maven Central serves
postgresql-metadata-storage only up to 29.0.0, which no longer links against
Druid 33's core. Deep storage is local disk (S3 by configuration). The broker's
health check is a real Druid SQL `SELECT 1`.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Config, DruidConfig
from pipeline.stack import health as probe
from pipeline.stack import templates
from pipeline.stack.install import maven
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service, Unhealthy

# Extension -> version (None: the core's version). Maven Central has druid-s3-extensions only up
# to 29.0.0 and druid-multi-stage-query only up to 27.0.0; S3's 29.0.0 links against the 33 core,
# MSQ's does not, so SQL-based ingestion (INSERT/REPLACE) is not available in the local stack.
EXTENSIONS: dict[str, str | None] = {
    "druid-kafka-indexing-service": None,
    "druid-datasketches": None,
    "druid-s3-extensions": "29.0.0",
}

# Task slots of the indexer: every supervisor needs one for its reading task and one more while the
# previous task publishes (druid_specs/: 7 datasources, one task each), plus two for kill and batch tasks.
WORKER_CAPACITY = 16

JVM_COMMON = (
    "-server", "-XX:+UseSerialGC", "-XX:+ExitOnOutOfMemoryError", "-Duser.timezone=UTC", "-Dfile.encoding=UTF-8",
    "-Djava.util.logging.manager=org.apache.logging.log4j.jul.LogManager",
    "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED", "--add-exports=java.base/jdk.internal.misc=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED", "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=jdk.management/com.sun.management.internal=ALL-UNNAMED",
)


@dataclass(frozen=True)
class _Process:
    role: str  # Druid's server type
    heap: str
    direct: str  # processing buffers x (threads + merge buffers + 1) must fit


_PROCESSES = (
    _Process("coordinator", "256m", "64m"),
    _Process("broker", "384m", "192m"),
    _Process("historical", "384m", "256m"),
    _Process("indexer", "1g", "192m"),
)


def home(config: Config, layout: Layout) -> Path:
    return layout.cache_dir / f"druid-{config.druid.version}"


def install(config: Config, layout: Layout) -> None:
    druid_home = home(config, layout)
    maven.copy_dependencies(layout.infra / "maven" / "druid" / "pom.xml", druid_home / "lib", layout.cache_dir,
                            {"druid.version": config.druid.version})
    for name, version in EXTENSIONS.items():
        maven.copy_dependencies(layout.infra / "maven" / "druid-extension" / "pom.xml",
                                druid_home / "extensions" / name, layout.cache_dir,
                                {"ext.artifact": name, "ext.version": version or config.druid.version})


def sql(druid: DruidConfig, query: str, timeout: float = 10.0) -> list[dict]:
    payload = probe.http(f"{druid.broker}/druid/v2/sql/", method="POST", body={"query": query}, timeout=timeout)
    return json.loads(payload)


def health(druid: DruidConfig) -> str:
    rows = sql(druid, "SELECT 1 AS ok", timeout=probe.TIMEOUT_S)
    if rows != [{"ok": 1}]:
        raise Unhealthy(f"Druid SQL SELECT 1 returned {rows!r}")
    return "SQL SELECT 1 ok"


def _status_health(url: str) -> str:
    if probe.http(f"{url}/status/health").strip() != b"true":
        raise Unhealthy(f"{url}/status/health is not true")
    return "status/health true"


def _zk_health(port: int) -> str:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=probe.TIMEOUT_S) as sock:
            sock.sendall(b"ruok")
            reply = sock.recv(16)
    except OSError as exc:
        raise Unhealthy(f"ZooKeeper on {port}: {exc}") from None
    if reply != b"imok":
        raise Unhealthy(f"ZooKeeper on {port} answered {reply!r} to ruok")
    return "imok"


def services(config: Config, layout: Layout) -> list[Service]:
    druid = config.druid
    druid_home = home(config, layout)
    conf = layout.conf / "druid"
    var_dir = layout.data / "druid"
    tmp_dir = var_dir / "tmp"
    source = layout.infra / "druid"
    ports = {"coordinator": druid.coordinator_port, "broker": druid.broker_port,
             "historical": druid.historical_port, "indexer": druid.indexer_port}
    common_values = {
        "extensions_dir": druid_home / "extensions", "extensions": json.dumps(list(EXTENSIONS)),
        "zookeeper_port": druid.zookeeper_port, "metadata_port": druid.metadata_port, "var_dir": var_dir,
    }

    def write_common() -> None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        templates.write(source / "_common" / "common.runtime.properties",
                        conf / "_common" / "common.runtime.properties", common_values)
        templates.write(source / "_common" / "log4j2.xml", conf / "_common" / "log4j2.xml", {})

    zk_cfg = conf / "zookeeper" / "zoo.cfg"

    def prepare_zookeeper() -> None:
        # Druid keeps nothing durable in ZooKeeper; stale ephemeral nodes from a killed run
        # make services flap for ~15 s, so every start begins with an empty ZooKeeper.
        shutil.rmtree(var_dir / "zk", ignore_errors=True)
        write_common()
        templates.write(source / "zookeeper" / "zoo.cfg", zk_cfg, {"var_dir": var_dir, "port": druid.zookeeper_port})
    made = [Service(
        name="zookeeper",
        port=druid.zookeeper_port,
        argv=["java", "-Xms32m", "-Xmx128m", "-XX:+UseSerialGC", f"-Djava.io.tmpdir={tmp_dir}",
              "-Dzookeeper.jmx.log4j.disable=true",
              f"-Dlog4j.configurationFile={conf / '_common' / 'log4j2.xml'}",
              "-cp", f"{druid_home / 'lib'}/*", "org.apache.zookeeper.server.quorum.QuorumPeerMain", str(zk_cfg)],
        health=lambda: _zk_health(druid.zookeeper_port),
        prepare=prepare_zookeeper,
        start_timeout_s=60,
    )]
    for proc in _PROCESSES:
        port = ports[proc.role]
        values = {"port": port, "var_dir": var_dir, "worker_capacity": WORKER_CAPACITY}

        def prepare(role=proc.role, values=values) -> None:
            write_common()
            templates.write(source / role / "runtime.properties", conf / role / "runtime.properties", values)

        url = f"http://127.0.0.1:{port}"
        health_check = (lambda: health(druid)) if proc.role == "broker" else (lambda url=url: _status_health(url))
        made.append(Service(
            name=f"druid-{proc.role}",
            port=port,
            argv=["java", "-Xms64m", f"-Xmx{proc.heap}", f"-XX:MaxDirectMemorySize={proc.direct}",
                  f"-Djava.io.tmpdir={tmp_dir}", *JVM_COMMON,
                  "-cp", f"{conf / '_common'}:{conf / proc.role}:{druid_home / 'lib'}/*",
                  "org.apache.druid.cli.Main", "server", proc.role],
            health=health_check,
            cwd=var_dir,  # Derby, run by the coordinator, writes derby.log into its working dir
            extra_ports=(druid.metadata_port,) if proc.role == "coordinator" else (),
            requires=("zookeeper",),
            prepare=prepare,
            start_timeout_s=240,
            stop_timeout_s=45,
        ))
    return made
