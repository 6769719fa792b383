"""Primary keys taken from a table's own sequence in blocks, before the rows are written.

Knowing the id before the insert removes the `RETURNING` round trip (the live
writers pipeline their statements) and lets the history COPY ledger entries
that point at transactions it has not sent yet. The values come from the same
identity sequence Postgres would use, one `nextval` each, so concurrent writers
never collide; a block's ids increase but need not be contiguous.
"""

from __future__ import annotations

from collections import deque

import psycopg


def reserve(conn: psycopg.Connection, table: str, column: str, count: int) -> list[int]:
    if count <= 0:
        return []
    rows = conn.execute("SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                        (table, column, count)).fetchall()
    return [r[0] for r in rows]


class IdBlock:
    """Hands out one table's ids, fetching `size` more whenever it runs dry."""

    def __init__(self, table: str, column: str, size: int = 1000) -> None:
        self.table, self.column, self.size = table, column, size
        self._ids: deque[int] = deque()

    def next(self, conn: psycopg.Connection) -> int:
        if not self._ids:
            self._ids.extend(reserve(conn, self.table, self.column, self.size))
        return self._ids.popleft()
