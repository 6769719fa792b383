"""Debian packages (PostgreSQL, Redis), installed only when their binaries are missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pipeline import log
from pipeline.stack.errors import StackError

_log = log.get("install.apt")
_updated = False


def postgres_bin_dir(min_major: int = 15) -> Path | None:
    """The newest installed PostgreSQL server's bin dir (Debian layout), if any is >= min_major."""
    base = Path("/usr/lib/postgresql")
    versions = sorted((int(p.name) for p in base.glob("*") if p.name.isdigit()), reverse=True) if base.exists() else []
    for version in versions:
        candidate = base / str(version) / "bin"
        if version >= min_major and (candidate / "postgres").exists():
            return candidate
    return None


def ensure(packages: list[str]) -> None:
    """apt-get install the given packages; one `apt-get update` per process, only if needed."""
    global _updated
    if not packages:
        return
    if os.geteuid() != 0:
        raise StackError(
            f"missing Debian packages {' '.join(packages)}; install them with "
            f"`sudo apt-get install -y {' '.join(packages)}` and run again"
        )
    if not shutil.which("apt-get"):
        raise StackError(f"missing {' '.join(packages)} and no apt-get here; install them with your package manager")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if not _updated:
        _log.info("apt.update")
        _run(["apt-get", "update", "-q"], env)
        _updated = True
    _log.info("apt.install", packages=" ".join(packages))
    _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *packages], env)


def _run(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        raise StackError(f"`{' '.join(argv)}` failed ({result.returncode}):\n{result.stderr[-2000:]}")


def ensure_postgres_and_redis(need_postgres: bool, need_redis: bool) -> None:
    missing = []
    if need_postgres and postgres_bin_dir() is None:
        missing += ["postgresql-15", "postgresql-contrib"]
    if need_redis and not shutil.which("redis-server"):
        missing += ["redis-server"]
    ensure(missing)
