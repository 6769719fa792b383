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
-- Records that were not an alert the dispatcher can page (malformed JSON, missing fields): kept with
-- their position and why, so a bad record is shown (status) rather than skipped or crash-looped on.
CREATE TABLE IF NOT EXISTS rejected (
    topic        TEXT NOT NULL,
    partition    INTEGER NOT NULL,
    "offset"     INTEGER NOT NULL,
    reason       TEXT NOT NULL,
    value_head   TEXT,
    rejected_at  REAL NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);
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

    def reject(self, topic: str, partition: int, offset: int, reason: str, value_head: str, at: float) -> None:
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO rejected VALUES (?, ?, ?, ?, ?, ?)",
                             (topic, partition, offset, reason, value_head, at))

    def rejected(self) -> list[tuple]:
        """(topic, partition, offset, reason) of every record refused, oldest first."""
        return self._db.execute('SELECT topic, partition, "offset", reason FROM rejected ORDER BY rejected_at').fetchall()

    def counts(self) -> dict[str, int]:
        """Pages by outcome, and rejected records: what `status` shows."""
        counts = dict(self._db.execute("SELECT outcome, count(*) FROM pages GROUP BY outcome").fetchall())
        counts["rejected"] = self._db.execute("SELECT count(*) FROM rejected").fetchone()[0]
        return counts

    def pages(self) -> list[Page]:
        return [Page(*row) for row in self._db.execute("SELECT * FROM pages ORDER BY handled_at, alert_id")]

    def close(self) -> None:
        self._db.close()
