"""The export's and the backfill's operator-facing error, in a module of its own so that the export (this package)
and the Druid backfill (pipeline/druid) raise the same one without importing each other."""

from __future__ import annotations


class BackfillError(RuntimeError):
    """An export or a backfill cannot go on; the message names the problem and the fix (the CLI exits 2)."""
