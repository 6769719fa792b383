"""Assertions over change topics read back, shared by the CDC tests."""

from __future__ import annotations


def assert_each_change_once(records, key_field: str = "id") -> None:
    """Exactly-once: no change (key, LSN, op) appears twice among the committed records."""
    seen = set()
    for r in records:
        if r.value is None or r.value["op"] == "m":
            continue
        ident = (r.key[key_field], r.value["source"]["lsn"], r.value["op"])
        assert ident not in seen, f"change {ident} is in the topic twice"
        seen.add(ident)
    assert seen, "no change to check"
