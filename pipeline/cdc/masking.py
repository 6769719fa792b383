"""Per-column masking of PII before a value leaves the reader.

`hash` keeps values joinable (the same card token hashes the same everywhere)
without being reversible: a salted SHA-256, the salt a secret outside the
repo. `redact` replaces the value with a fixed marker. NULL stays NULL so
"is it set" questions still work downstream.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Mapping

REDACTED = "****"

Mask = Callable[[Any], Any]


def mask_for(rule: str, salt: str) -> Mask:
    if rule == "hash":
        prefix = salt.encode()

        def hash_value(value: Any) -> Any:
            if value is None:
                return None
            return hashlib.sha256(prefix + str(value).encode()).hexdigest()

        return hash_value
    if rule == "redact":
        return lambda value: None if value is None else REDACTED
    raise ValueError(f"unknown mask rule {rule!r}: use 'hash' or 'redact'")


def masks_for_table(rules: Mapping[str, str], schema: str, table: str, salt: str) -> dict[str, Mask]:
    """Rules are keyed 'table.column' or 'schema.table.column'; returns column -> mask."""
    masks = {}
    for target, rule in rules.items():
        parts = target.split(".")
        if len(parts) == 2 and parts[0] == table or len(parts) == 3 and parts[:2] == [schema, table]:
            masks[parts[-1]] = mask_for(rule, salt)
    return masks
