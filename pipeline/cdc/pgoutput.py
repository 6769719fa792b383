"""Decodes the messages of PostgreSQL's `pgoutput` logical decoding plugin.

Pure bytes-to-dataclasses: no I/O, no type conversion (tuple values stay the
text Postgres printed; `typemap` turns them into JSON values). Protocol
version 1 and the version 2 streaming messages are understood; see
https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html.
Integers are big-endian; times are microseconds since 2000-01-01 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from struct import Struct, error as StructError

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in Unix microseconds


class _Unchanged:
    """An unchanged TOASTed value: Postgres did not send it because the UPDATE did not touch it."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNCHANGED_TOAST"


UNCHANGED_TOAST = _Unchanged()

# A tuple value is None (SQL NULL), UNCHANGED_TOAST, str (text format) or bytes (binary format).
Value = object


@dataclass(frozen=True, slots=True)
class Column:
    flags: int  # 1: part of the replica identity key
    name: str
    type_oid: int
    type_modifier: int


@dataclass(frozen=True, slots=True)
class Relation:
    relid: int
    namespace: str
    name: str
    replica_identity: str  # d(efault), n(othing), f(ull), i(ndex)
    columns: tuple[Column, ...]
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class TypeMessage:
    oid: int
    namespace: str
    name: str
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class Begin:
    final_lsn: int
    commit_ts_us: int  # Unix microseconds
    xid: int


@dataclass(frozen=True, slots=True)
class Commit:
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


@dataclass(frozen=True, slots=True)
class Origin:
    commit_lsn: int
    name: str


@dataclass(frozen=True, slots=True)
class Insert:
    relid: int
    new: tuple
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class Update:
    relid: int
    old: tuple | None  # present with REPLICA IDENTITY FULL ('O') or when the key changed ('K')
    old_kind: str | None
    new: tuple
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class Delete:
    relid: int
    old: tuple
    old_kind: str
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class Truncate:
    relids: tuple[int, ...]
    cascade: bool
    restart_identity: bool
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class LogicalMessage:
    transactional: bool
    lsn: int
    prefix: str
    content: bytes
    xid: int | None = None


@dataclass(frozen=True, slots=True)
class StreamStart:
    xid: int
    first_segment: bool


@dataclass(frozen=True, slots=True)
class StreamStop:
    pass


@dataclass(frozen=True, slots=True)
class StreamCommit:
    xid: int
    flags: int
    commit_lsn: int
    end_lsn: int
    commit_ts_us: int


@dataclass(frozen=True, slots=True)
class StreamAbort:
    xid: int
    subxid: int


Message = (Begin | Commit | Origin | Relation | TypeMessage | Insert | Update | Delete | Truncate | LogicalMessage
           | StreamStart | StreamStop | StreamCommit | StreamAbort)


class DecodeError(ValueError):
    """The bytes are not a pgoutput message this decoder understands (corruption or a newer protocol)."""


_I16, _I32, _U32, _I64, _U64 = Struct(">h"), Struct(">i"), Struct(">I"), Struct(">q"), Struct(">Q")
_BEGIN = Struct(">QqI")
_COMMIT = Struct(">BQQq")
_STREAM_COMMIT = Struct(">IBQQq")


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    end = buf.index(0, pos)
    return buf[pos:end].decode(), end + 1


def _tuple(buf: bytes, pos: int) -> tuple[tuple, int]:
    (count,) = _I16.unpack_from(buf, pos)
    pos += 2
    # Decode the message once as latin-1 (one char per byte, so offsets match) and slice; a slice
    # that is not pure ASCII is decoded again from its bytes as UTF-8. str.isascii() is O(1).
    text = buf.decode("latin-1")
    values: list = []
    append = values.append
    unpack = _I32.unpack_from
    for _ in range(count):
        kind = buf[pos]
        pos += 1
        if kind == 116:  # 't' text
            (length,) = unpack(buf, pos)
            pos += 4
            value = text[pos:pos + length]
            append(value if value.isascii() else buf[pos:pos + length].decode())
            pos += length
        elif kind == 110:  # 'n' null
            append(None)
        elif kind == 117:  # 'u' unchanged toast
            append(UNCHANGED_TOAST)
        elif kind == 98:  # 'b' binary
            (length,) = unpack(buf, pos)
            pos += 4
            append(bytes(buf[pos:pos + length]))
            pos += length
        else:
            raise DecodeError(f"unknown tuple value kind {chr(kind)!r} at byte {pos - 1}")
    if pos > len(buf):  # slicing past the end does not fail: a cut message would decode to short values
        raise DecodeError(f"malformed tuple: its values end at byte {pos}, the message has {len(buf)}")
    return tuple(values), pos


class Decoder:
    """Stateful only for protocol v2: inside a stream block, change messages carry their xid first."""

    def __init__(self) -> None:
        self.in_stream = False

    def decode(self, buf: bytes) -> Message:
        tag = buf[0]
        try:
            handler = _HANDLERS[tag]
        except KeyError:
            raise DecodeError(f"unknown pgoutput message type {chr(tag)!r}") from None
        try:
            return handler(self, buf)
        except (IndexError, ValueError, StructError) as exc:
            if isinstance(exc, DecodeError):
                raise
            raise DecodeError(f"malformed pgoutput {chr(tag)!r} message: {exc}") from None

    def _xid(self, buf: bytes) -> tuple[int | None, int]:
        if self.in_stream:
            return _U32.unpack_from(buf, 1)[0], 5
        return None, 1

    def _begin(self, buf: bytes) -> Begin:
        final_lsn, ts, xid = _BEGIN.unpack_from(buf, 1)
        return Begin(final_lsn, ts + PG_EPOCH_US, xid)

    def _commit(self, buf: bytes) -> Commit:
        flags, commit_lsn, end_lsn, ts = _COMMIT.unpack_from(buf, 1)
        return Commit(flags, commit_lsn, end_lsn, ts + PG_EPOCH_US)

    def _origin(self, buf: bytes) -> Origin:
        (lsn,) = _U64.unpack_from(buf, 1)
        name, _ = _string(buf, 9)
        return Origin(lsn, name)

    def _relation(self, buf: bytes) -> Relation:
        xid, pos = self._xid(buf)
        (relid,) = _U32.unpack_from(buf, pos)
        namespace, pos = _string(buf, pos + 4)
        name, pos = _string(buf, pos)
        identity = chr(buf[pos])
        (count,) = _I16.unpack_from(buf, pos + 1)
        pos += 3
        columns = []
        for _ in range(count):
            flags = buf[pos]
            col_name, pos = _string(buf, pos + 1)
            type_oid, typmod = _U32.unpack_from(buf, pos)[0], _I32.unpack_from(buf, pos + 4)[0]
            pos += 8
            columns.append(Column(flags, col_name, type_oid, typmod))
        # pg_catalog is printed as an empty namespace.
        return Relation(relid, namespace or "pg_catalog", name, identity, tuple(columns), xid)

    def _type(self, buf: bytes) -> TypeMessage:
        xid, pos = self._xid(buf)
        (oid,) = _U32.unpack_from(buf, pos)
        namespace, pos = _string(buf, pos + 4)
        name, _ = _string(buf, pos)
        return TypeMessage(oid, namespace, name, xid)

    def _insert(self, buf: bytes) -> Insert:
        xid, pos = self._xid(buf)
        (relid,) = _U32.unpack_from(buf, pos)
        if buf[pos + 4] != 78:  # 'N'
            raise DecodeError("Insert without a new tuple")
        new, _ = _tuple(buf, pos + 5)
        return Insert(relid, new, xid)

    def _update(self, buf: bytes) -> Update:
        xid, pos = self._xid(buf)
        (relid,) = _U32.unpack_from(buf, pos)
        pos += 4
        old = old_kind = None
        if buf[pos] in (75, 79):  # 'K' key / 'O' old full row
            old_kind = chr(buf[pos])
            old, pos = _tuple(buf, pos + 1)
        if buf[pos] != 78:
            raise DecodeError("Update without a new tuple")
        new, _ = _tuple(buf, pos + 1)
        return Update(relid, old, old_kind, new, xid)

    def _delete(self, buf: bytes) -> Delete:
        xid, pos = self._xid(buf)
        (relid,) = _U32.unpack_from(buf, pos)
        kind = chr(buf[pos + 4])
        if kind not in "KO":
            raise DecodeError(f"Delete with old tuple kind {kind!r}")
        old, _ = _tuple(buf, pos + 5)
        return Delete(relid, old, kind, xid)

    def _truncate(self, buf: bytes) -> Truncate:
        xid, pos = self._xid(buf)
        (count,) = _U32.unpack_from(buf, pos)
        options = buf[pos + 4]
        relids = Struct(f">{count}I").unpack_from(buf, pos + 5)
        return Truncate(tuple(relids), bool(options & 1), bool(options & 2), xid)

    def _message(self, buf: bytes) -> LogicalMessage:
        xid, pos = self._xid(buf)
        flags = buf[pos]
        (lsn,) = _U64.unpack_from(buf, pos + 1)
        prefix, pos = _string(buf, pos + 9)
        (length,) = _U32.unpack_from(buf, pos)
        return LogicalMessage(bool(flags & 1), lsn, prefix, bytes(buf[pos + 4:pos + 4 + length]), xid)

    def _stream_start(self, buf: bytes) -> StreamStart:
        self.in_stream = True
        (xid,) = _U32.unpack_from(buf, 1)
        return StreamStart(xid, buf[5] == 1)

    def _stream_stop(self, buf: bytes) -> StreamStop:
        self.in_stream = False
        return StreamStop()

    def _stream_commit(self, buf: bytes) -> StreamCommit:
        xid, flags, commit_lsn, end_lsn, ts = _STREAM_COMMIT.unpack_from(buf, 1)
        return StreamCommit(xid, flags, commit_lsn, end_lsn, ts + PG_EPOCH_US)

    def _stream_abort(self, buf: bytes) -> StreamAbort:
        xid, subxid = _U32.unpack_from(buf, 1)[0], _U32.unpack_from(buf, 5)[0]
        return StreamAbort(xid, subxid)


_HANDLERS = {
    ord("B"): Decoder._begin, ord("C"): Decoder._commit, ord("O"): Decoder._origin,
    ord("R"): Decoder._relation, ord("Y"): Decoder._type, ord("I"): Decoder._insert,
    ord("U"): Decoder._update, ord("D"): Decoder._delete, ord("T"): Decoder._truncate,
    ord("M"): Decoder._message, ord("S"): Decoder._stream_start, ord("E"): Decoder._stream_stop,
    ord("c"): Decoder._stream_commit, ord("A"): Decoder._stream_abort,
}


def format_lsn(lsn: int) -> str:
    return f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def parse_lsn(text: str) -> int:
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)
