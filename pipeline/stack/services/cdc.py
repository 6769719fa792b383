"""The CDC reader as a stack service: `up` starts it after Postgres and Kafka, `status` shows its lag."""

from __future__ import annotations

import sys

import psycopg
import requests

from pipeline.config import Config, ConfigError, child_env
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service, Unhealthy


def _slot_lag(config: Config) -> str:
    """What the slot holds back, straight from Postgres: visible even when the reader is down."""
    try:
        with psycopg.connect(config.postgres.dsn(), connect_timeout=3) as conn:
            row = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint, wal_status "
                               "FROM pg_replication_slots WHERE slot_name = %s", (config.cdc.slot,)).fetchone()
    except (psycopg.Error, ConfigError) as exc:
        return f"slot unknown ({exc.__class__.__name__})"
    if row is None:
        return f"slot {config.cdc.slot} does not exist yet"
    return f"slot {config.cdc.slot} holds {row[0]} B of WAL ({row[1]})"


def _last_failure(config: Config) -> str:
    """Why the reader stopped, as it recorded before exiting (a refused record: exit 3)."""
    from pipeline.cdc.state import ReaderState

    state = ReaderState.load(ReaderState.path_for(config.run_dir / config.cdc.state_dir, config.postgres.database,
                                                  config.cdc.slot))
    return f"; stopped (exit {state.failure['exit_code']}): {state.failure['error']}" if state.failure else ""


def health(config: Config) -> str:
    try:
        state = requests.get(f"http://127.0.0.1:{config.cdc.metrics_port}/health", timeout=3).json()
    except (requests.RequestException, ValueError) as exc:
        raise Unhealthy(f"metrics endpoint not answering ({exc.__class__.__name__}); {_slot_lag(config)}"
                        f"{_last_failure(config)}") from None
    if state["phase"] not in ("streaming", "snapshot"):
        raise Unhealthy(f"{state['phase']} {state.get('error', '')}".strip())
    extra = "".join(f", {state[k]} {k.replace('_', ' ')}" for k in ("rejected", "dead_letters", "rewinds")
                    if state.get(k))
    return (f"{state['phase']}, {state['delivery']}, {state['events']} events, lag {state['lag_bytes']} B / "
            f"{state['lag_seconds']:.2f} s, confirmed {state['confirmed_lsn']}{extra}")


def service(config: Config, layout: Layout) -> Service:
    from pipeline.sor import schema

    return Service(
        name="cdc",
        port=config.cdc.metrics_port,
        argv=[sys.executable, "-m", "pipeline", "cdc"],
        env=child_env(config),
        health=lambda: health(config),
        requires=("postgres", "kafka"),
        # The tables must exist before the reader picks what to capture.
        prepare=lambda: schema.apply(config.postgres),
        start_timeout_s=120,
        stop_timeout_s=20,
    )
