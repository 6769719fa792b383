"""Checks made before anything starts, so failures are named instead of discovered in a log."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from pipeline.stack.errors import StackError
from pipeline.stack.health import port_in_use

MIN_JAVA = 17
MIN_FREE_DISK_GIB = 2.0


def java_version(java: str = "java") -> int:
    path = shutil.which(java)
    if not path:
        raise StackError(
            f"Java {MIN_JAVA}+ is needed for Kafka, Druid and Flink but `{java}` is not on PATH; "
            "install it (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME/PATH"
        )
    out = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if not match:
        raise StackError(f"could not read the Java version from `{path} -version`: {out.strip()[:200]}")
    major = int(match.group(1))
    if major == 1:  # "1.8.0_x" style
        major = int(match.group(2) or 0)
    if major < MIN_JAVA:
        raise StackError(
            f"{path} is Java {major}; Kafka 4, Druid and Flink 2 need Java {MIN_JAVA} or newer. "
            "Install openjdk-17 and put it first on PATH"
        )
    return major


def free_disk(path: Path, min_gib: float = MIN_FREE_DISK_GIB) -> float:
    path.mkdir(parents=True, exist_ok=True)
    free_gib = shutil.disk_usage(path).free / 2**30
    if free_gib < min_gib:
        raise StackError(
            f"only {free_gib:.1f} GiB free on the disk holding {path}; the stack needs at least "
            f"{min_gib:.0f} GiB. Free space (e.g. `cdc-olap down --purge` on old stacks) or set "
            "[stack] run_dir / cache_dir to a larger disk"
        )
    return free_gib


def port_free(service: str, host: str, port: int) -> None:
    if port_in_use(host, port):
        owner = _port_owner(port)
        raise StackError(
            f"port {port} needed by {service} is already in use{owner}. Stop that process, or run this "
            "stack on other ports with CDC_OLAP_STACK_PORT_OFFSET=<n> (or [stack] port_offset)"
        )


def _port_owner(port: int) -> str:
    ss = shutil.which("ss")
    if not ss:
        return ""
    try:
        out = subprocess.run([ss, "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    match = re.search(r'users:\(\("([^"]+)",pid=(\d+)', out)
    return f" by {match.group(1)} (pid {match.group(2)})" if match else ""
