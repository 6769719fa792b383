"""What the dispatcher did with every alert: the record of pages sent, and its memory for dedupe.

A SQLite file, so it survives restarts: an alert the fraud job emits again
after recovering from a checkpoint (same alert_id) is recognised and not
paged twice, and the rate limit still knows when each (account, rule) was
last paged.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    alert_id     TEXT PRIMARY KEY,
    rule_id      TEXT NOT NULL,
    account_id   INTEGER NOT NULL,
    severity     TEXT NOT NULL,
    event_time   TEXT NOT NULL,
    detected_at  TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('sent', 'rate_limited')),
    message_id   TEXT,
    handled_at   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS pages_last_sent ON pages (account_id, rule_id, outcome, handled_at);
"""


@dataclass(frozen=True)
class Page:
    alert_id: str
    rule_id: str
    account_id: int
    severity: str
    event_time: str
    detected_at: str
    outcome: str
    message_id: str | None
    handled_at: float


class Ledger:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One dispatcher thread writes; tests read beside it (sqlite serialises the connection).
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.executescript(_SCHEMA)

    def seen(self, alert_id: str) -> bool:
        return self._db.execute("SELECT 1 FROM pages WHERE alert_id = ?", (alert_id,)).fetchone() is not None

    def last_sent(self, account_id: int, rule_id: str) -> float | None:
        row = self._db.execute("SELECT max(handled_at) FROM pages WHERE account_id = ? AND rule_id = ? "
                               "AND outcome = 'sent'", (account_id, rule_id)).fetchone()
        return row[0]

    def record(self, page: Page) -> None:
        with self._db:
            self._db.execute("INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (page.alert_id, page.rule_id, page.account_id, page.severity, page.event_time,
                              page.detected_at, page.outcome, page.message_id, page.handled_at))

    def pages(self) -> list[Page]:
        return [Page(*row) for row in self._db.execute("SELECT * FROM pages ORDER BY handled_at, alert_id")]

    def close(self) -> None:
        self._db.close()
