"""The CDC reader as a stack service: `up` starts it after Postgres and Kafka, `status` shows its lag."""

from __future__ import annotations

import sys

import requests

from pipeline.config import Config
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service, Unhealthy


def health(config: Config) -> str:
    try:
        state = requests.get(f"http://127.0.0.1:{config.cdc.metrics_port}/health", timeout=3).json()
    except (requests.RequestException, ValueError) as exc:
        raise Unhealthy(f"metrics endpoint not answering: {exc.__class__.__name__}") from None
    if state["phase"] not in ("streaming", "snapshot"):
        raise Unhealthy(f"{state['phase']} {state.get('error', '')}".strip())
    return (f"{state['phase']}, {state['events']} events, lag {state['lag_bytes']} B / "
            f"{state['lag_seconds']:.2f} s, confirmed {state['confirmed_lsn']}")


def service(config: Config, layout: Layout) -> Service:
    from pipeline.sor import schema

    return Service(
        name="cdc",
        port=config.cdc.metrics_port,
        argv=[sys.executable, "-m", "pipeline", "cdc"],
        env={"CDC_OLAP_STACK_RUN_DIR": str(layout.run_dir)},
        health=lambda: health(config),
        requires=("postgres", "kafka"),
        # The tables must exist before the reader picks what to capture.
        prepare=lambda: schema.apply(config.postgres),
        start_timeout_s=120,
        stop_timeout_s=20,
    )
