"""Redis: Celery's broker and result store for Superset Alerts & Reports, and Superset's cache."""

from __future__ import annotations

import shutil

from pipeline.config import Config
from pipeline.stack import health as probe
from pipeline.stack.errors import StackError
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service


def health(config: Config) -> str:
    return probe.redis_ping(config.redis.host, config.redis.port)


def service(config: Config, layout: Layout) -> Service:
    redis = config.redis
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError("redis-server not found; run `cdc-olap install` (installs Debian's redis-server)")
    data_dir = layout.data / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        binary, "--port", str(redis.port), "--bind", "127.0.0.1", "--dir", str(data_dir),
        "--daemonize", "no", "--protected-mode", "yes", "--save", "", "--appendonly", "no",
        "--maxmemory", "256mb", "--maxmemory-policy", "noeviction", "--logfile", "",
    ]
    return Service(
        name="redis",
        port=redis.port,
        argv=argv,
        health=lambda: health(config),
        start_timeout_s=30,
    )
