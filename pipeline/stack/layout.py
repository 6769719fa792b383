"""Where a local stack keeps its files: a run's paths (pipeline/paths.py) plus the stack's own inputs and
clean-up."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import PROJECT_ROOT
from pipeline.paths import RunPaths


@dataclass(frozen=True)
class Layout(RunPaths):
    """A run's paths plus what only the local stack does with them."""

    @property
    def infra(self) -> Path:
        """Versioned, declarative inputs of the local stack (Maven poms, config templates)."""
        return PROJECT_ROOT / "infra" / "local"

    def ensure(self) -> None:
        for path in (self.logs, self.pids, self.data, self.conf, self.cache_dir):
            path.mkdir(parents=True, exist_ok=True)

    def purge(self) -> None:
        """Delete the stack's files, including data kept outside the run dir (see data_dir_for_user)."""
        for link in self.data.glob("*.link"):
            shutil.rmtree(link.resolve(), ignore_errors=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def data_dir_for_user(self, service: str, user: str) -> Path:
        """A data dir that `user` can reach.

        PostgreSQL refuses to run as root, so it runs as the `postgres` OS user,
        which cannot traverse a run dir under a private home (e.g. /root). Such
        data then lives under /var/tmp, linked from the run dir so it is still
        found in one place.
        """
        wanted = self.data / service
        if _traversable_by(wanted.parent, user):
            return wanted
        digest = hashlib.sha256(str(self.run_dir).encode()).hexdigest()[:12]
        elsewhere = Path("/var/tmp/cdc-olap") / digest / service
        elsewhere.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(elsewhere.parent.parent, 0o755)
        os.chmod(elsewhere.parent, 0o755)
        link = self.data / f"{service}.link"
        if not link.is_symlink():
            link.symlink_to(elsewhere)
        return elsewhere


def _traversable_by(path: Path, user: str) -> bool:
    """True when every directory from / to `path` can be searched by `user` (by mode bits)."""
    info = pwd.getpwnam(user)
    path.mkdir(parents=True, exist_ok=True)
    for part in [path, *path.parents]:
        st = part.stat()
        if st.st_uid == info.pw_uid:
            ok = st.st_mode & 0o100
        elif st.st_gid == info.pw_gid:
            ok = st.st_mode & 0o010
        else:
            ok = st.st_mode & 0o001
        if not ok:
            return False
    return True
