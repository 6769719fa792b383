"""A stack of a benchmark's own: its run dir and port offset, purged first.

So neither the demo's data nor anything an earlier run left (topics, checkpoints,
pages, consumer group offsets) mixes into the figures. Offsets in use: tests
1000 (a test's own Kafka 1500), bench fraud 2500, bench druid 2700, bench flink 3200,
bench queries 3600.
"""

from __future__ import annotations

from pipeline.config import Config, load_config
from pipeline.stack import secrets, stack


def _env(base_env: dict[str, str], run_dir: str, port_offset: int, overrides: dict[str, str] | None) -> dict[str, str]:
    """CDC_OLAP_BENCH_RUN_DIR moves the run dir."""
    return {**base_env, "CDC_OLAP_STACK_RUN_DIR": base_env.get("CDC_OLAP_BENCH_RUN_DIR", run_dir),
            "CDC_OLAP_STACK_PORT_OFFSET": str(port_offset), **(overrides or {})}


def fresh(base_env: dict[str, str], run_dir: str, port_offset: int,
          overrides: dict[str, str] | None = None) -> Config:
    """The bench stack's config after stopping and deleting whatever its run dir held, with fresh secrets."""
    env = _env(base_env, run_dir, port_offset, overrides)
    previous = stack.build(load_config(env=env))
    previous.down()
    previous.layout.purge()
    return secrets.ensure(load_config(env=env))


def kept(base_env: dict[str, str], run_dir: str, port_offset: int,
         overrides: dict[str, str] | None = None) -> Config:
    """The config of a bench stack an earlier run kept (its data and secrets as they are)."""
    return secrets.ensure(load_config(env=_env(base_env, run_dir, port_offset, overrides)))
