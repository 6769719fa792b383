"""The reader's operator-facing error, in a module of its own so that every layer (catalog checks,
row conversion, the stream) can raise it without importing another layer."""

from __future__ import annotations


class CdcError(RuntimeError):
    """A condition the operator must fix; the message says what and how (the process exits 2)."""
