"""Apache Kafka 4 in KRaft mode: one node acting as broker and controller, jars from Maven Central."""

from __future__ import annotations

import base64
import subprocess
import uuid
from pathlib import Path

from pipeline.config import Config, KafkaConfig
from pipeline.stack import templates
from pipeline.stack.errors import StackError
from pipeline.stack.install import maven
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service, Unhealthy


def libs_dir(config: Config, layout: Layout) -> Path:
    return layout.cache_dir / f"kafka-{config.kafka.version}" / "libs"


def install(config: Config, layout: Layout) -> None:
    maven.copy_dependencies(layout.infra / "maven" / "kafka" / "pom.xml", libs_dir(config, layout),
                            layout.cache_dir, {"kafka.version": config.kafka.version})


def health(kafka: KafkaConfig) -> str:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    # log_level 0: while the broker is still starting, librdkafka would print a line per refused connect.
    admin = AdminClient({"bootstrap.servers": kafka.bootstrap, "socket.timeout.ms": 3000, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=3)
    except KafkaException as exc:
        raise Unhealthy(f"no metadata from {kafka.bootstrap}: {exc.args[0]}") from None
    if not metadata.brokers:
        raise Unhealthy(f"{kafka.bootstrap} answered without brokers")
    return f"{len(metadata.brokers)} broker(s), {len(metadata.topics)} topic(s)"


def _java_argv(config: Config, layout: Layout, main: str, *args: str) -> list[str]:
    return [
        "java", "-Xms128m", f"-Xmx{config.kafka.heap}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={layout.infra / 'kafka' / 'log4j2.xml'}",
        "-cp", f"{libs_dir(config, layout)}/*", main, *args,
    ]


def service(config: Config, layout: Layout) -> Service:
    kafka = config.kafka
    properties = layout.conf / "kafka" / "server.properties"
    log_dirs = layout.data / "kafka"

    def prepare() -> None:
        templates.write(layout.infra / "kafka" / "server.properties", properties, {
            "port": kafka.port, "controller_port": kafka.controller_port, "log_dirs": log_dirs,
        })
        if (log_dirs / "meta.properties").exists():
            return
        # Kafka's own id format (base64 of a UUID); one starting with "-" would be read as an option.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        result = subprocess.run(
            _java_argv(config, layout, "kafka.tools.StorageTool", "format", "--standalone",
                       "-t", cluster_id, "-c", str(properties)),
            capture_output=True, text=True, timeout=120,
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage in {log_dirs} failed:\n{(result.stdout + result.stderr)[-2000:]}")

    return Service(
        name="kafka",
        port=kafka.port,
        extra_ports=(kafka.controller_port,),
        argv=_java_argv(config, layout, "kafka.Kafka", str(properties)),
        health=lambda: health(kafka),
        prepare=prepare,
        start_timeout_s=120,
        stop_timeout_s=60,
    )
