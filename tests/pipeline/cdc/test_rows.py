"""Row conversion: masks, unchanged TOAST, keys and partitions."""

import pytest

from pipeline.cdc.errors import CdcError
from pipeline.cdc.masking import REDACTED, masks_for_table
from pipeline.cdc.pgoutput import UNCHANGED_TOAST
from pipeline.cdc.rows import UNAVAILABLE, RowCodec, TableShape
from pipeline.cdc.typemap import TypeMap

SHAPE = TableShape("public", "cards", ("card_id", "account_id", "card_token", "notes"), (20, 20, 25, 25),
                   (-1, -1, -1, -1), ("card_id",))


def codec(**kw):
    return RowCodec(SHAPE, TypeMap(), masks_for_table({"cards.card_token": "hash", "public.cards.notes": "redact"},
                                                      "public", "cards", "salt"), **kw)


def test_masks_hash_joinably_and_redact():
    c = codec()
    a = c.row(("1", "7", "tok_1", "hi"))
    b = c.row(("2", "7", "tok_1", None))
    assert a["card_token"] == b["card_token"] != "tok_1" and len(a["card_token"]) == 64
    assert a["notes"] == REDACTED and b["notes"] is None
    assert a["card_id"] == 1 and c.key(("1", "7", "tok_1", "hi")) == {"card_id": 1}


def test_unchanged_toast_comes_from_the_old_row_or_is_marked():
    c = RowCodec(SHAPE, TypeMap())
    new = ("1", "7", UNCHANGED_TOAST, "x")
    assert c.row(new, ("1", "7", "long-value", "y"))["card_token"] == "long-value"
    assert c.row(new)["card_token"] == UNAVAILABLE


def test_partition_follows_the_configured_column():
    c = codec(partition_column="account_id")
    p = c.partition(("1", "7", "t", None), 6)
    assert p == c.partition(("99", "7", "u", None), 6) and 0 <= p < 6
    assert codec().partition(("1", "7", "t", None), 6) is None


def test_the_unavailable_toast_placeholder_is_never_masked():
    """Without the old row the placeholder stands for "not sent": hashing it would fake a value."""
    c = codec()
    row = c.row(("1", "7", UNCHANGED_TOAST, UNCHANGED_TOAST))
    assert row["card_token"] == UNAVAILABLE and row["notes"] == UNAVAILABLE
    # Filled from the old row, the value is masked like any other: the same hash as the full row's.
    filled = c.row(("1", "7", UNCHANGED_TOAST, "x"), ("1", "7", "tok_1", "y"))
    assert filled["card_token"] == c.row(("1", "7", "tok_1", "x"))["card_token"] != "tok_1"


def test_a_value_that_merely_spells_the_placeholder_is_masked():
    assert codec().row(("1", "7", "__debezium_unavailable_value", "x"))["card_token"] != UNAVAILABLE


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity"])
def test_a_numeric_that_is_not_a_number_stops_the_reader_naming_table_column_and_key(amount):
    shape = TableShape("public", "transactions", ("transaction_id", "amount"), (20, 1700), (-1, -1),
                       ("transaction_id",))
    c = RowCodec(shape, TypeMap())
    assert c.row(("5", "12.50")) == {"transaction_id": 5, "amount": "12.50"}
    with pytest.raises(CdcError, match=rf"public.transactions.amount holds numeric '{amount}' \(key transaction_id=5\)"
                                       r".*cannot carry.*CHECK.*exclude_tables.*pg_replication_slot_advance"):
        c.row(("5", amount))
    with pytest.raises(CdcError, match="public.transactions.amount holds numeric"):  # filled from the old row
        c.row(("5", UNCHANGED_TOAST), ("5", amount))
