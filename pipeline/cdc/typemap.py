"""Postgres text values -> JSON values in change events. The mapping is documented in docs/cdc.md.

The reader's sessions (replication and snapshot) run with fixed output
settings (`SESSION_OPTIONS`), so the text Postgres prints is predictable:
ISO dates in UTC, ISO-8601 intervals, shortest-exact floats, C-locale money.

Money stays exact: numeric and money travel as decimal strings, never floats;
a numeric NaN or Infinity is refused (UnrepresentableValue), not published.
Temporal values are ISO-8601 strings (timestamptz always in UTC with 'Z' and
six fractional digits), which Flink's `debezium-json` format reads with
`timestamp-format.standard = 'ISO-8601'`. Types this module does not know
(enums, domains over text, geometric types, ...) travel as the text
Postgres printed; enums are exactly that by design.
"""

from __future__ import annotations

import base64
from typing import Any, Callable

Converter = Callable[[str], Any] | None  # None: the text is already the JSON value

# Applied to every connection whose text output becomes events.
SESSION_OPTIONS = ("-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=iso_8601 -c extra_float_digits=3"
                   " -c lc_monetary=C -c bytea_output=hex")


class UnrepresentableValue(ValueError):
    """A value no change event can carry; rows.py turns it into a CdcError naming table and column."""


def _numeric(text: str) -> str:
    # Postgres numeric also holds NaN, Infinity and -Infinity. JSON has none of them, the consumers
    # read amounts as DECIMAL, and any stand-in (null, 0, a string) would be a wrong amount downstream.
    if text[-1] in "Ny":  # 'NaN', 'Infinity', '-Infinity': a number always ends in a digit
        raise UnrepresentableValue(f"numeric {text!r}")
    return text


_bool = "t".__eq__  # a C-level call: this runs once per boolean value on the hot path


def _float(text: str) -> float | str:
    value = float(text)
    # JSON has no NaN or Infinity: keep Postgres's spelling as a string.
    return value if value - value == 0 else text


def _money(text: str) -> str:
    # C locale prints "-$1,234.56"; the amount is the digits, sign and point.
    negative = text.startswith("-") or text.startswith("(")
    digits = "".join(ch for ch in text if ch.isdigit() or ch == ".")
    return f"-{digits}" if negative else digits


def _bytea(text: str) -> str:
    # Debezium's default binary.handling.mode=bytes is base64 in JSON.
    return base64.b64encode(bytes.fromhex(text[2:])).decode()


def _fraction6(time_part: str) -> str:
    head, dot, frac = time_part.partition(".")
    return f"{head}.{(frac + '000000')[:6]}"


def _timestamp(text: str) -> str:
    if len(text) < 19 or text[4] != "-" or text.endswith(" BC"):
        return text  # infinity, -infinity, years beyond 9999 or BC: as printed
    return f"{text[:10]}T{_fraction6(text[11:])}"


def _timestamptz(text: str) -> str:
    # With TimeZone=UTC Postgres prints '+00' as the offset.
    if len(text) == 29 and text[26] == "+":  # the common case: all six fractional digits printed
        return f"{text[:10]}T{text[11:26]}Z"
    if not text.endswith("+00") or len(text) < 22:
        return text
    return f"{_timestamp(text[:-3])}Z"


def _time(text: str) -> str:
    return _fraction6(text)


_int = int
_SCALARS: dict[int, Converter] = {
    16: _bool, 17: _bytea, 18: None, 19: None, 20: _int, 21: _int, 23: _int, 25: None, 26: _int,
    114: None, 3802: None,  # json/jsonb: the document as a string (Debezium's io.debezium.data.Json)
    700: _float, 701: _float, 790: _money, 1042: None, 1043: None, 1082: None, 1083: _time,
    1114: _timestamp, 1184: _timestamptz, 1186: None, 1266: None, 1700: _numeric, 2950: None,
    869: None, 650: None, 829: None, 774: None, 1560: None, 1562: None,
}

# array type oid -> element type oid, for the built-in array types
_ARRAYS: dict[int, int] = {
    1000: 16, 1001: 17, 1002: 18, 1003: 19, 1016: 20, 1005: 21, 1007: 23, 1009: 25, 1028: 26, 199: 114,
    3807: 3802, 1021: 700, 1022: 701, 791: 790, 1014: 1042, 1015: 1043, 1182: 1082, 1183: 1083,
    1115: 1114, 1185: 1184, 1187: 1186, 1270: 1266, 1231: 1700, 2951: 2950, 1041: 869, 651: 650,
    1040: 829,
}


def parse_array(text: str) -> list:
    """Parse an array literal ('{1,NULL,"a,b",{2}}') into nested lists of strings and None."""
    if text.startswith("["):  # explicit bounds, e.g. '[0:1]={1,2}'
        text = text[text.index("=") + 1:]
    result, pos = _parse_array(text, 0)
    return result


def _parse_array(text: str, pos: int) -> tuple[list, int]:
    if text[pos] != "{":
        raise ValueError(f"array literal expected '{{' at {pos}: {text!r}")
    pos += 1
    items: list = []
    if text[pos] == "}":
        return items, pos + 1
    while True:
        ch = text[pos]
        if ch == "{":
            item, pos = _parse_array(text, pos)
            items.append(item)
        elif ch == '"':
            pos += 1
            chars = []
            while text[pos] != '"':
                if text[pos] == "\\":
                    pos += 1
                chars.append(text[pos])
                pos += 1
            items.append("".join(chars))
            pos += 1
        else:
            end = pos
            while text[end] not in ",}":
                end += 1
            raw = text[pos:end]
            items.append(None if raw == "NULL" else raw)
            pos = end
        if text[pos] == ",":
            pos += 1
            continue
        if text[pos] == "}":
            return items, pos + 1
        raise ValueError(f"array literal: unexpected {text[pos]!r} at {pos}: {text!r}")


def _array_of(element: Converter) -> Callable[[str], list]:
    def walk(items: list) -> list:
        return [walk(i) if isinstance(i, list) else (i if i is None or element is None else element(i))
                for i in items]

    return lambda text: walk(parse_array(text))


class TypeMap:
    """Converters per type oid. Types outside the built-ins are resolved once from the catalog
    through `lookup(oid) -> (category, element_oid, base_oid)` so arrays of enums and domains work."""

    def __init__(self, lookup: Callable[[int], tuple[str, int, int]] | None = None) -> None:
        self._lookup = lookup
        self._cache: dict[int, Converter] = {}

    def converter(self, oid: int) -> Converter:
        if oid in _SCALARS:
            return _SCALARS[oid]
        if oid in self._cache:
            return self._cache[oid]
        if oid in _ARRAYS:
            conv: Converter = _array_of(self.converter(_ARRAYS[oid]))
        elif self._lookup is not None:
            category, element, base = self._lookup(oid)
            if category == "A" and element:
                conv = _array_of(self.converter(element))
            elif base:  # a domain: its base type's mapping
                conv = self.converter(base)
            else:
                conv = None  # enums and everything else: the text as printed
        else:
            conv = None
        self._cache[oid] = conv
        return conv

    def forget(self, oid: int) -> None:
        """A Type message says the type changed (ALTER TYPE); resolve it again next time."""
        self._cache.pop(oid, None)
