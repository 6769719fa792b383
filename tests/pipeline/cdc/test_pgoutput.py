"""pgoutput decoding against hand-built messages in the documented wire format."""

import struct

import pytest

from pipeline.cdc.pgoutput import (PG_EPOCH_US, UNCHANGED_TOAST, Begin, Commit, DecodeError, Decoder, Delete, Insert,
                                   LogicalMessage, Relation, StreamStart, Truncate, Update, format_lsn, parse_lsn)


def _s(text: str) -> bytes:
    return text.encode() + b"\0"


def _tuple(*values) -> bytes:
    out = struct.pack(">h", len(values))
    for v in values:
        if v is None:
            out += b"n"
        elif v is UNCHANGED_TOAST:
            out += b"u"
        else:
            raw = v.encode()
            out += b"t" + struct.pack(">i", len(raw)) + raw
    return out


def test_begin_and_commit_carry_lsns_and_unix_times():
    begin = Decoder().decode(b"B" + struct.pack(">QqI", 0x1_0000_0010, 5_000_000, 742))
    assert begin == Begin(0x1_0000_0010, PG_EPOCH_US + 5_000_000, 742)
    commit = Decoder().decode(b"C" + struct.pack(">BQQq", 0, 0x20, 0x48, 7))
    assert commit == Commit(0, 0x20, 0x48, PG_EPOCH_US + 7)


def test_relation_lists_columns_with_key_flags():
    body = (b"R" + struct.pack(">I", 16384) + _s("public") + _s("accounts") + b"f" + struct.pack(">h", 2)
            + b"\x01" + _s("account_id") + struct.pack(">Ii", 20, -1)
            + b"\x00" + _s("balance") + struct.pack(">Ii", 1700, 1310726))
    rel = Decoder().decode(body)
    assert isinstance(rel, Relation)
    assert (rel.relid, rel.namespace, rel.name, rel.replica_identity) == (16384, "public", "accounts", "f")
    assert [(c.flags, c.name, c.type_oid, c.type_modifier) for c in rel.columns] == [
        (1, "account_id", 20, -1), (0, "balance", 1700, 1310726)]


def test_insert_update_delete_tuples_keep_nulls_and_unchanged_toast():
    d = Decoder()
    assert d.decode(b"I" + struct.pack(">I", 7) + b"N" + _tuple("1", None, "é")) == Insert(7, ("1", None, "é"))
    upd = d.decode(b"U" + struct.pack(">I", 7) + b"O" + _tuple("1", "old") + b"N" + _tuple("1", UNCHANGED_TOAST))
    assert upd == Update(7, ("1", "old"), "O", ("1", UNCHANGED_TOAST))
    plain = d.decode(b"U" + struct.pack(">I", 7) + b"N" + _tuple("2", "x"))
    assert plain.old is None and plain.old_kind is None
    assert d.decode(b"D" + struct.pack(">I", 7) + b"K" + _tuple("1", None)) == Delete(7, ("1", None), "K")


def test_truncate_and_logical_message():
    d = Decoder()
    assert d.decode(b"T" + struct.pack(">IB", 2, 1) + struct.pack(">II", 10, 11)) == Truncate((10, 11), True, False)
    msg = d.decode(b"M" + b"\x01" + struct.pack(">Q", 99) + _s("audit") + struct.pack(">I", 3) + b"abc")
    assert msg == LogicalMessage(True, 99, "audit", b"abc")


def test_stream_blocks_prefix_changes_with_xid():
    d = Decoder()
    assert d.decode(b"S" + struct.pack(">IB", 900, 1)) == StreamStart(900, True)
    ins = d.decode(b"I" + struct.pack(">II", 900, 7) + b"N" + _tuple("5"))
    assert ins == Insert(7, ("5",), 900)
    d.decode(b"E")
    assert d.decode(b"I" + struct.pack(">I", 7) + b"N" + _tuple("6")).xid is None


def test_garbage_is_a_decode_error_not_a_crash():
    with pytest.raises(DecodeError, match="unknown pgoutput message type"):
        Decoder().decode(b"Z123")
    with pytest.raises(DecodeError, match="malformed"):
        Decoder().decode(b"I\x00\x00")


def test_lsn_text_round_trip():
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    assert parse_lsn("0/10") == 16
