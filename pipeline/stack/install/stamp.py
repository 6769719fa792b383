"""Input-keyed stamps: a step re-runs only when what it was built from changes."""

from __future__ import annotations

import hashlib
from pathlib import Path


def digest(*parts: str | bytes | Path) -> str:
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, Path):
            h.update(part.read_bytes())
        elif isinstance(part, str):
            h.update(part.encode())
        else:
            h.update(part)
        h.update(b"\0")
    return h.hexdigest()[:16]


def is_current(target: Path, key: str) -> bool:
    stamp = target / ".cdc-olap-stamp"
    return stamp.exists() and stamp.read_text().strip() == key


def mark(target: Path, key: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    (target / ".cdc-olap-stamp").write_text(key + "\n")
