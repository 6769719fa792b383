"""pgoutput decoding of messages a real PostgreSQL 15 sent (pgoutput_samples.py says how they were captured).

The expected values are read off the bytes by hand, field by field, following
https://www.postgresql.org/docs/15/protocol-logicalrep-message-formats.html, and
checked against what the capture knew (transaction ids, LSNs from the SQL
functions, the rows written). Nothing here builds input with the decoder's own
struct formats: a wrong field width or order in the decoder fails these tests.
"""

from datetime import datetime, timezone

import pytest

from pipeline.cdc.pgoutput import (UNCHANGED_TOAST, Begin, Column, Commit, DecodeError, Decoder, Delete, Insert,
                                   LogicalMessage, Relation, StreamCommit, StreamStart, StreamStop, Truncate,
                                   TypeMessage, Update, format_lsn, parse_lsn)
from tests.pipeline.cdc.pgoutput_samples import V1, V2_STREAM

ACCT, FULL_T, MOOD = 16635, 16642, 16631
INT8, INT4, NUMERIC, TEXT = 20, 23, 1700, 25


def _unix_us(moment: datetime) -> int:
    return int(moment.replace(microsecond=0).timestamp()) * 1_000_000 + moment.microsecond


def _decode(samples: dict[str, str], name: str, decoder: Decoder | None = None):
    return (decoder or Decoder()).decode(bytes.fromhex(samples[name]))


# Commit times of the captured transactions (Int64 microseconds since 2000-01-01, printed as UTC).
T1 = _unix_us(datetime(2026, 12, 2, 4, 19, 34, 777292, tzinfo=timezone.utc))
T_STREAM = _unix_us(datetime(2026, 12, 2, 4, 19, 34, 801432, tzinfo=timezone.utc))


def test_begin_and_commit_carry_lsns_xid_and_unix_times():
    # B, final LSN 0/268A778, commit time, xid 0x2f5 = 757 (pg_logical_slot_peek_binary_changes' xid column)
    assert _decode(V1, "begin") == Begin(final_lsn=0x268A778, commit_ts_us=T1, xid=757)
    # C, flags 0, commit LSN 0/268A778, end LSN 0/268A7A8 (the peek's lsn column), same commit time
    assert _decode(V1, "commit") == Commit(flags=0, commit_lsn=0x268A778, end_lsn=0x268A7A8, commit_ts_us=T1)
    assert T1 == 1_796_185_174_777_292


def test_type_and_relation_describe_columns_and_key_flags():
    assert _decode(V1, "type") == TypeMessage(oid=MOOD, namespace="public", name="mood")
    assert _decode(V1, "relation_acct") == Relation(ACCT, "public", "acct", "d", (
        Column(1, "id", INT8, -1),
        Column(0, "balance", NUMERIC, (12 << 16 | 2) + 4),  # numeric(12,2): atttypmod 786438
        Column(0, "note", TEXT, -1),
        Column(0, "m", MOOD, -1)))
    # REPLICA IDENTITY FULL: every column is part of the identity
    assert _decode(V1, "relation_full") == Relation(FULL_T, "public", "full_t", "f", (
        Column(1, "id", INT4, -1), Column(1, "name", TEXT, -1)))


def test_insert_keeps_text_values_and_nulls():
    assert _decode(V1, "insert") == Insert(ACCT, ("1", "12.50", None, "calm"))


def test_updates_with_old_key_with_whole_old_row_and_with_unchanged_toast():
    assert _decode(V1, "update_old_key") == Update(ACCT, ("1", None, None, None), "K", ("2", "7.25", None, "calm"))
    assert _decode(V1, "update_old_row") == Update(FULL_T, ("1", "a"), "O", ("1", "b"))
    plain = _decode(V1, "update_unchanged_toast")
    assert plain == Update(ACCT, None, None, ("3", "2.00", UNCHANGED_TOAST, "calm"))


def test_deletes_with_key_and_with_whole_row():
    assert _decode(V1, "delete_key") == Delete(ACCT, ("2", None, None, None), "K")
    assert _decode(V1, "delete_old_row") == Delete(FULL_T, ("1", "b"), "O")


def test_truncate_of_two_tables_with_cascade_and_restart_identity():
    assert _decode(V1, "truncate") == Truncate((ACCT, FULL_T), cascade=True, restart_identity=True)


def test_logical_messages_transactional_or_not():
    assert _decode(V1, "message_transactional") == LogicalMessage(True, 0x268C4A0, "audit", b"abc")
    assert _decode(V1, "message_not_transactional") == LogicalMessage(False, 0x268C510, "fence", b"x")


def test_streamed_transaction_prefixes_its_changes_with_the_xid():
    d = Decoder()
    assert _decode(V2_STREAM, "stream_start_first", d) == StreamStart(xid=766, first_segment=True)
    relation = _decode(V2_STREAM, "relation", d)
    assert (relation.xid, relation.relid, relation.name, relation.replica_identity) == (766, FULL_T, "full_t", "f")
    assert _decode(V2_STREAM, "insert", d) == Insert(FULL_T, ("1", "row 1"), 766)
    assert _decode(V2_STREAM, "stream_stop", d) == StreamStop()
    assert _decode(V2_STREAM, "stream_start_next", d) == StreamStart(xid=766, first_segment=False)
    assert _decode(V2_STREAM, "stream_stop", d) == StreamStop()
    assert _decode(V2_STREAM, "stream_commit", d) == StreamCommit(
        xid=766, flags=0, commit_lsn=0x26F3170, end_lsn=0x26F31A0, commit_ts_us=T_STREAM)
    # out of the stream block, protocol 1 messages carry no xid again
    assert _decode(V1, "insert", d).xid is None


def test_garbage_and_cut_messages_are_decode_errors_not_crashes():
    with pytest.raises(DecodeError, match="unknown pgoutput message type"):
        Decoder().decode(b"Z123")
    with pytest.raises(DecodeError, match="malformed"):
        Decoder().decode(bytes.fromhex(V1["insert"])[:-3])
    with pytest.raises(DecodeError, match="malformed"):
        Decoder().decode(bytes.fromhex(V1["begin"])[:10])


def test_lsn_text_round_trip():
    assert format_lsn(parse_lsn("16/B374D848")) == "16/B374D848"
    assert parse_lsn("0/268A778") == 0x268A778
    assert format_lsn(0x1_0000_0010) == "1/10"
