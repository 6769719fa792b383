"""Per-column masking of PII before a value leaves the reader.

`hash` keeps values joinable (the same card token, device or IP maps to the
same digest everywhere, so joins and "seen before" questions still work)
without being reversible by someone who lacks the key: HMAC-SHA-256 with a
secret key, hex. A plain hash, even salted, is not enough for values with
few possibilities (an IPv4 address has 2^32, a card's last digits far fewer):
whoever learns the salt, which sits in every consumer's view of the data
path, enumerates them in minutes; HMAC is the construction made for a keyed
pseudonym. `redact` replaces the value with a fixed marker. NULL stays NULL
so "is it set" questions still work downstream.

Only real values are masked: the reader's placeholder for an unchanged TOAST
value it could not fill (rows.UNAVAILABLE) is not data, and hashing it would
make it look like one (rows.py keeps it away from here).
"""

from __future__ import annotations

import hmac
from typing import Any, Callable, Mapping

REDACTED = "****"
RULES = ("hash", "redact")

Mask = Callable[[Any], Any]


def hmac_hex(key: bytes, value: str) -> str:
    """HMAC-SHA-256(key, value as UTF-8), lower-case hex: what `hash` writes."""
    return hmac.digest(key, value.encode(), "sha256").hex()


def mask_for(rule: str, key: str) -> Mask:
    if rule == "hash":
        secret = key.encode()

        def hash_value(value: Any) -> Any:
            return None if value is None else hmac_hex(secret, str(value))

        return hash_value
    if rule == "redact":
        return lambda value: None if value is None else REDACTED
    raise ValueError(f"unknown mask rule {rule!r}: use 'hash' or 'redact'")


def masks_for_table(rules: Mapping[str, str], schema: str, table: str, key: str) -> dict[str, Mask]:
    """Rules are keyed 'table.column' or 'schema.table.column'; returns column -> mask."""
    masks = {}
    for target, rule in rules.items():
        parts = target.split(".")
        if len(parts) == 2 and parts[0] == table or len(parts) == 3 and parts[:2] == [schema, table]:
            masks[parts[-1]] = mask_for(rule, key)
    return masks
