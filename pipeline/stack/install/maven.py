"""Jars from Maven Central, resolved by small poms under infra/local/maven.

Maven's local repository lives in the cache dir, so a second resolve (another
stack, a fresh clone in CI) downloads nothing.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pipeline import log
from pipeline.stack.errors import StackError
from pipeline.stack.install import stamp

_log = log.get("install.maven")


def mvn() -> str:
    path = shutil.which("mvn")
    if not path:
        raise StackError("Maven (`mvn`) is needed to fetch Kafka/Druid/Flink jars; install it (Debian: apt-get install maven)")
    return path


def copy_dependencies(pom: Path, output_dir: Path, cache_dir: Path, properties: dict[str, str] | None = None) -> bool:
    """Copy the pom's runtime dependencies into output_dir. Returns False when already current."""
    properties = properties or {}
    key = stamp.digest(pom, repr(sorted(properties.items())))
    if stamp.is_current(output_dir, key):
        return False
    if output_dir.exists():
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True)
    argv = [
        mvn(), "-B", "-q", "-f", str(pom),
        f"-Dmaven.repo.local={cache_dir / 'm2'}",
        *(f"-D{k}={v}" for k, v in properties.items()),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={output_dir}",
        "-DincludeScope=runtime",
    ]
    _log.info("maven.resolve", pom=str(pom.relative_to(pom.parents[2])), into=str(output_dir))
    result = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    if result.returncode != 0:
        raise StackError(
            f"Maven could not resolve {pom}:\n{(result.stdout + result.stderr)[-3000:]}\n"
            "Check that Maven Central is reachable and the versions in the pom exist"
        )
    stamp.mark(output_dir, key)
    return True
