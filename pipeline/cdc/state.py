"""What the reader must remember besides the slot position: snapshot progress and schema versions.

A small JSON file per (database, slot), replaced atomically. Losing it is not
data loss: the stream position lives in the slot; without the file a snapshot
in progress restarts from the beginning and schema versions restart at 1.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class SnapshotProgress:
    status: str = "none"  # none | running | done
    lsn: int | None = None  # the slot's consistent point the snapshot lines up with
    tables_done: list[str] = field(default_factory=list)
    last_key: dict[str, list] = field(default_factory=dict)  # table -> key values of the last acked row


@dataclass
class ReaderState:
    path: Path
    snapshot: SnapshotProgress = field(default_factory=SnapshotProgress)
    # table -> {"fingerprint": ..., "version": n}; the version only ever moves up
    schema_versions: dict[str, dict] = field(default_factory=dict)
    # Why the reader last stopped on an error it cannot get past alone (a refused record), for
    # `status` after the process has exited; cleared when streaming starts again.
    failure: dict | None = None

    @staticmethod
    def path_for(state_dir: Path, database: str, slot: str) -> Path:
        """One file per (database, slot): the reader's, and what `status` reads after it stopped."""
        return state_dir / f"{database}-{slot}.json"

    @classmethod
    def load(cls, path: Path) -> "ReaderState":
        if not path.exists():
            return cls(path)
        data = json.loads(path.read_text())
        return cls(path, SnapshotProgress(**data.get("snapshot", {})), data.get("schema_versions", {}),
                   data.get("failure"))

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"snapshot": asdict(self.snapshot), "schema_versions": self.schema_versions,
                                   "failure": self.failure}, indent=1))
        os.replace(tmp, self.path)

    def schema_version(self, table: str, fingerprint: str) -> int:
        current = self.schema_versions.get(table)
        if current is None or current["fingerprint"] != fingerprint:
            current = {"fingerprint": fingerprint, "version": current["version"] + 1 if current else 1}
            self.schema_versions[table] = current
            self.save()
        return current["version"]

    def record_failure(self, error: str, exit_code: int) -> None:
        self.failure = {"error": error, "exit_code": exit_code, "at": time.time()}
        self.save()

    def clear_failure(self) -> None:
        if self.failure is not None:
            self.failure = None
            self.save()

    def reset(self) -> None:
        self.snapshot = SnapshotProgress()
        self.save()
