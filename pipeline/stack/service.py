"""The contract between the supervisor and each service module.

A service module only describes: how to prepare its files once, the command
that runs it in the foreground, how to tell it is healthy, and what to do once
it is (create databases, topics, admin users). The supervisor owns processes,
pid files, logs, ordering and timeouts, so every service gets them the same way.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


class Unhealthy(Exception):
    """Raised by a health check; the message says what was observed."""


@dataclass
class Service:
    name: str
    port: int | None
    argv: list[str]
    health: Callable[[], str]  # returns a short detail when healthy, raises Unhealthy otherwise
    requires: tuple[str, ...] = ()
    # Added to the inherited environment; a callable is evaluated at spawn, for values (secrets) that
    # exist only once `up` has prepared the stack, so building a stack for `status` never needs them.
    env: dict[str, str] | Callable[[], dict[str, str]] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None  # OS user to run as (PostgreSQL refuses root)
    prepare: Callable[[], None] | None = None  # idempotent one-time setup before the first start
    bootstrap: Callable[[], None] | None = None  # idempotent setup once healthy (roles, topics, admin)
    start_timeout_s: float | None = None
    stop_timeout_s: float = 30.0
    stop_signal: int = signal.SIGTERM
    # Ports it listens on besides `port`, checked for conflicts before start.
    extra_ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class External:
    """A stage the stack does not run (managed = false) but still health-checks for `status`."""

    name: str
    endpoint: str
    health: Callable[[], str]
    # True for a stage that runs inside our own processes (Flink local execution), not elsewhere.
    local: bool = False
