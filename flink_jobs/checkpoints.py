"""Where a job's checkpoints are, and which ones its storage holds.

Layout: `<checkpoint_dir>/<job>/<version>/<flink job id>/chk-<n>/_metadata`. The
version in the path (flink_jobs/job.py) is what tells a checkpoint of this job's
SQL from one of an older SQL, wherever the path comes from: the local disk,
an S3 listing, or a JobManager's REST answer for a remote cluster.

Storage is listed through what reaches it: the local filesystem, S3 through
boto3 (the same clients and credentials as the rest of the project). Other
schemes (hdfs://) cannot be listed from here; in remote mode the JobManager
still knows the checkpoints of the jobs it ran (flink_jobs/cluster.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from pipeline.config import Config

@dataclass(frozen=True)
class Checkpoint:
    path: str  # a chk-<n> directory, as `execution.state-recovery.path` takes it
    version: str  # the job version (SQL fingerprint) that wrote it
    number: int
    completed_at: float  # Unix seconds: the newest is the one to restore


def job_root(config: Config, job: str) -> str:
    """Every version's checkpoints of a job: a path under the run dir, or under the configured URI."""
    return config.run_path(config.flink.checkpoint_dir).rstrip("/") + f"/{job}"


def checkpoint_dir(config: Config, job: str, version: str) -> str:
    """Where this version of the job checkpoints: a changed SQL makes a different job whose state a
    checkpoint of the old one cannot restore, so each version keeps its own checkpoints."""
    return f"{job_root(config, job)}/{version}"


def parse(path: str, root: str, completed_at: float) -> Checkpoint | None:
    """A checkpoint under `root` (`<version>/<flink job id>/chk-<n>`, `_metadata` or not), else None.
    Flink reports local paths as `file:/...`; the root may be a plain path."""
    plain, base = _plain(path), _plain(root)
    if not plain.startswith(base + "/"):
        return None
    parts = plain[len(base) + 1:].split("/")
    if parts[-1] == "_metadata":
        parts.pop()
    if len(parts) != 3 or not re.fullmatch(r"chk-\d+", parts[2]):
        return None
    return Checkpoint("/".join([root.rstrip("/"), *parts]), parts[0], int(parts[2][4:]), completed_at)


def _plain(path: str) -> str:
    for prefix in ("file://", "file:"):
        if path.startswith(prefix):
            return path[len(prefix):].rstrip("/")
    return path.rstrip("/")


def newest(found: list[Checkpoint], version: str) -> Checkpoint | None:
    mine = [c for c in found if c.version == version]
    return max(mine, key=lambda c: (c.completed_at, c.number)) if mine else None


def stored(config: Config, job: str) -> list[Checkpoint]:
    """The complete checkpoints (those with `_metadata`) of every version of the job in its storage."""
    root = job_root(config, job)
    scheme = urlparse(root).scheme if "://" in root else ""
    if scheme in ("", "file"):
        return [c for meta in Path(_plain(root)).glob("*/*/chk-*/_metadata")
                if (c := parse(str(meta), root, meta.stat().st_mtime)) is not None]
    if scheme in ("s3", "s3a", "s3p"):
        return _s3(config, root)
    return []


def _s3(config: Config, root: str) -> list[Checkpoint]:
    from pipeline.aws import client

    url = urlparse(root)
    prefix = url.path.lstrip("/").rstrip("/") + "/"
    found = []
    for page in client(config.aws, "s3").get_paginator("list_objects_v2").paginate(Bucket=url.netloc, Prefix=prefix):
        for item in page.get("Contents", []):
            if item["Key"].endswith("/_metadata"):
                path = f"{url.scheme}://{url.netloc}/{item['Key']}"
                checkpoint = parse(path, root, item["LastModified"].timestamp())
                if checkpoint is not None:
                    found.append(checkpoint)
    return found
