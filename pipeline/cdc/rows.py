"""One table's row layout as the reader sees it, and turning pgoutput tuples into event rows.

A `TableShape` is built from a Relation message (streaming) or the catalog
(snapshot); both produce the same shape for the same table, so snapshot and
stream events of one table look alike. Its fingerprint decides when the
`schema_version` moves.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping

from pipeline.cdc.errors import CdcError
from pipeline.cdc.masking import Mask
from pipeline.cdc.pgoutput import UNCHANGED_TOAST
from pipeline.cdc.typemap import Converter, TypeMap, UnrepresentableValue

# Debezium's default `unavailable.value.placeholder`: an unchanged TOASTed value that Postgres did not send.
UNAVAILABLE = "__debezium_unavailable_value"


@dataclass(frozen=True)
class TableShape:
    schema: str
    name: str
    columns: tuple[str, ...]
    type_oids: tuple[int, ...]
    type_modifiers: tuple[int, ...]
    key: tuple[str, ...]  # primary key (or replica identity) columns, in key order

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def fingerprint(self) -> str:
        text = ";".join(f"{c}:{t}:{m}" for c, t, m in zip(self.columns, self.type_oids, self.type_modifiers))
        return hashlib.sha1(f"{text}|{','.join(self.key)}".encode()).hexdigest()[:16]


def partition_column(partition_by: Mapping[str, str], shape: TableShape) -> str | None:
    """[cdc] partition_by names a table plainly or schema-qualified."""
    return partition_by.get(shape.name) or partition_by.get(shape.qualified)


@dataclass
class RowCodec:
    """Converts one table's tuples; built once per shape, used for every row (the hot path)."""

    shape: TableShape
    typemap: TypeMap
    masks: Mapping[str, Mask] = field(default_factory=dict)
    partition_column: str | None = None

    def __post_init__(self) -> None:
        convs: list[Converter] = [self.typemap.converter(oid) for oid in self.shape.type_oids]
        self._plan = tuple(zip(self.shape.columns, convs))
        self._names = self.shape.columns
        self._converted = tuple((i, name, conv) for i, (name, conv) in enumerate(self._plan) if conv is not None)
        self._key_idx = tuple(self.shape.columns.index(k) for k in self.shape.key if k in self.shape.columns)
        self._key_names = tuple(self.shape.columns[i] for i in self._key_idx)
        self._mask_items = tuple(self.masks.items())
        self._part_idx = (self.shape.columns.index(self.partition_column)
                          if self.partition_column in self.shape.columns else None)

    def row(self, values: tuple, fallback: tuple | None = None) -> dict[str, Any]:
        """Tuple -> {column: JSON value}. Unchanged TOAST is taken from `fallback` (the old row under
        REPLICA IDENTITY FULL) when it has the value, else marked unavailable like Debezium does."""
        out = dict(zip(self._names, values))
        for i, name, conv in self._converted:
            v = values[i]
            if v is not None and v is not UNCHANGED_TOAST:
                try:
                    out[name] = conv(v)
                except UnrepresentableValue as exc:
                    raise self._unrepresentable(name, exc, values) from None
        unavailable: tuple[str, ...] = ()
        if UNCHANGED_TOAST in values:
            for i, (name, _) in enumerate(self._plan):
                if values[i] is UNCHANGED_TOAST:
                    old = fallback[i] if fallback is not None and i < len(fallback) else UNCHANGED_TOAST
                    if old is UNCHANGED_TOAST:
                        out[name] = UNAVAILABLE
                        unavailable += (name,)
                    else:
                        out[name] = self._convert(i, old)
        for column, mask in self._mask_items:
            # The placeholder says "not sent"; masking it would turn it into a value that looks real.
            if column in out and column not in unavailable:
                out[column] = mask(out[column])
        return out

    def _convert(self, index: int, value: Any) -> Any:
        name, conv = self._plan[index]
        try:
            return value if conv is None or value is None else conv(value)
        except UnrepresentableValue as exc:
            raise self._unrepresentable(name, exc) from None

    def _unrepresentable(self, column: str, problem: UnrepresentableValue, values: tuple | None = None) -> CdcError:
        """The reader cannot publish the change and must not drop or alter it: it stops, naming the row."""
        key = "" if values is None else " (key " + ", ".join(
            f"{self._names[i]}={values[i]}" for i in self._key_idx) + ")"
        return CdcError(
            f"{self.shape.qualified}.{column} holds {problem}{key}, which a change event cannot carry: JSON has "
            f"no NaN or Infinity and any stand-in would be a wrong amount downstream, so the reader stops here "
            f"rather than publish or skip the change. Fix the data (UPDATE it to a finite number) and refuse such "
            f"values with a CHECK as pipeline/sor/schema.sql does ({self.shape.name}_{column}_finite); the change already in the WAL "
            f"comes again on every restart: to get past it, exclude the table ([cdc] exclude_tables) or advance the "
            f"slot past it (pg_replication_slot_advance), knowing that this change is then not published.")

    def key(self, values: tuple) -> dict[str, Any]:
        key = {name: self._convert(i, values[i]) for name, i in zip(self._key_names, self._key_idx)}
        for column, mask in self._mask_items:
            if column in key:
                key[column] = mask(key[column])
        return key

    def partition(self, values: tuple, partitions: int) -> int | None:
        """The configured column's value picks the partition (stable across restarts and clients);
        None lets the producer hash the key."""
        if self._part_idx is None:
            return None
        value = values[self._part_idx]
        if value is None or value is UNCHANGED_TOAST:
            return None
        return zlib.crc32(str(value).encode()) % partitions

    def key_changed(self, old: tuple, new: tuple) -> bool:
        """Did an update move the row to another primary key? (old: the full old row or only its key)"""
        for i in self._key_idx:
            if i < len(old) and i < len(new) and old[i] is not None and new[i] is not UNCHANGED_TOAST \
                    and old[i] != new[i]:
                return True
        return False
