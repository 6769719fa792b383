"""Start and stop OS processes by pid file, and nothing else.

Each service runs as the leader of its own process group, so `down` can stop a
service together with the children it forks (gunicorn workers, Celery pool,
Druid task threads live in one JVM) without touching anything the stack did
not start.
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from pathlib import Path

from pipeline.procs import is_alive, start_ticks
from pipeline.stack.layout import Layout
from pipeline.stack.service import Service


def read_pid(layout: Layout, name: str) -> int | None:
    path = layout.pid_file(name)
    try:
        return int(path.read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def running_pid(layout: Layout, name: str) -> int | None:
    """The pid of a service this stack started, if that process still runs."""
    pid = read_pid(layout, name)
    if pid is None or not is_alive(pid):
        return None
    # Guard against pid reuse: the pid file also records the process's start time.
    recorded = layout.pid_file(name).read_text().split()
    if len(recorded) < 2 or recorded[1] != start_ticks(pid):
        return None
    return pid


def spawn(layout: Layout, service: Service) -> int:
    log = layout.log_file(service.name)
    extra = service.env() if callable(service.env) else service.env
    env = {**os.environ, **extra, "CDC_OLAP_RUN_DIR": str(layout.run_dir)}
    kwargs: dict = {}
    if service.user:
        info = pwd.getpwnam(service.user)
        kwargs.update(user=info.pw_uid, group=info.pw_gid, extra_groups=[])
        env.update(HOME=info.pw_dir, USER=service.user)
    with open(log, "ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S%z')} starting: {' '.join(service.argv)}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            service.argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=service.cwd,
            env=env,
            start_new_session=True,
            **kwargs,
        )
    layout.pid_file(service.name).write_text(f"{proc.pid} {start_ticks(proc.pid)}\n")
    return proc.pid


def stop(layout: Layout, name: str, timeout_s: float, sig: int = signal.SIGTERM) -> bool:
    """Stop the process group the stack started for `name`. True if something was stopped."""
    pid = running_pid(layout, name)
    pid_file = layout.pid_file(name)
    if pid is None:
        pid_file.unlink(missing_ok=True)
        return False
    _signal_group(pid, sig)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_alive(pid):
            break
        _reap(pid)
        time.sleep(0.2)
    else:
        _signal_group(pid, signal.SIGKILL)
        time.sleep(0.5)
    # Children that outlived their leader (e.g. Celery pool) go with the group.
    _signal_group(pid, signal.SIGKILL)
    _reap(pid)
    pid_file.unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def log_tail(layout: Layout, name: str, lines: int = 25) -> str:
    path = layout.log_file(name)
    if not path.exists():
        return "(no log yet)"
    with open(path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - 64 * 1024))
        text = handle.read().decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])
