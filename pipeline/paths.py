"""Where a run keeps its files (logs, data) and where downloads are cached: one object, so no module
invents its own paths.

Below the local stack: a Flink job or the CDC reader on a real cluster still
writes its logs under a run dir and finds the connector jars in the cache, but
never starts or stops a service. The stack's own needs (templates, purge, data
dirs another OS user can reach) are in pipeline/stack/layout.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Self

from pipeline.config import Config


@dataclass(frozen=True)
class RunPaths:
    run_dir: Path  # per stack: logs, pids, data, generated config
    cache_dir: Path  # shared by every stack on the machine: downloads, venvs

    @classmethod
    def from_config(cls, config: Config) -> Self:
        return cls(run_dir=config.run_dir, cache_dir=config.cache_dir)

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    @property
    def pids(self) -> Path:
        return self.run_dir / "pids"

    @property
    def data(self) -> Path:
        return self.run_dir / "data"

    @property
    def conf(self) -> Path:
        return self.run_dir / "conf"

    def log_file(self, service: str) -> Path:
        return self.logs / f"{service}.log"

    def pid_file(self, service: str) -> Path:
        return self.pids / f"{service}.pid"

    def flink_jars_dir(self, connector_version: str) -> Path:
        """The Flink Kafka connector's jars: `cdc-olap install` puts them here, every job ships them."""
        return self.cache_dir / "flink-jars" / f"kafka-{connector_version}"

    def flink_jars(self, connector_version: str) -> list[Path]:
        return sorted(self.flink_jars_dir(connector_version).glob("*.jar"))
