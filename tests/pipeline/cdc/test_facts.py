"""Signed facts: the records one change of a signed table becomes, with exact cents (no services)."""

import orjson
import pytest

from pipeline.cdc import facts
from pipeline.cdc.catalog import TableInfo
from pipeline.cdc.errors import CdcError
from pipeline.cdc.masking import masks_for_table
from pipeline.cdc.pgoutput import format_lsn
from pipeline.cdc.rows import RowCodec, TableShape
from pipeline.cdc.typemap import TypeMap

TOPIC = "fintech.facts.transactions"
SHAPE = TableShape("public", "transactions",
                   ("transaction_id", "merchant_id", "amount", "fee", "currency", "status", "created_at"),
                   (20, 20, 1700, 1700, 1042, 25, 1184), (-1,) * 7, ("transaction_id",))
LSN, COMMIT_LSN, COMMIT_MS = 31_862_960, 31_863_400, 1_795_441_663_525


def _codec(shape: TableShape = SHAPE, mask: dict[str, str] | None = None) -> RowCodec:
    return RowCodec(shape, TypeMap(), masks_for_table(mask or {}, shape.schema, shape.name, "k" * 16))


def _row(amount: str | None = "12.30", status: str = "pending", merchant: str = "7") -> dict:
    return _codec().row(("42", merchant, amount, None, "USD", status, "2026-06-30 21:59:59.5+00"))


def _facts(op: str, before: dict | None, after: dict | None, codec: RowCodec | None = None) -> list[dict]:
    builder = facts.SignedFacts.of(codec or _codec(), TOPIC)
    return [orjson.loads(r) for r in builder.records(op, LSN, COMMIT_LSN, COMMIT_MS, before, after)]


@pytest.mark.parametrize("op", ["c", "r"])
def test_insert_and_snapshot_row_add_the_row(op):
    (fact,) = _facts(op, None, _row())
    assert fact == {"transaction_id": 42, "merchant_id": 7, "amount": "12.30", "fee": None, "currency": "USD",
                    "status": "pending", "created_at": "2026-06-30T21:59:59.500000Z", "amount_cents": 1230,
                    "_sign": 1, "_op": op, "_lsn": LSN, "_commit_lsn": COMMIT_LSN,
                    "_commit_ms": COMMIT_MS}


def test_update_retracts_the_old_row_then_adds_the_new():
    minus, plus = _facts("u", _row(status="pending", merchant="7"), _row("13.00", status="settled", merchant="9"))
    assert (minus["_sign"], minus["status"], minus["merchant_id"], minus["amount_cents"]) == (-1, "pending", 7, 1230)
    assert (plus["_sign"], plus["status"], plus["merchant_id"], plus["amount_cents"]) == (1, "settled", 9, 1300)
    assert minus["_op"] == plus["_op"] == "u" and minus["_lsn"] == plus["_lsn"] == LSN


def test_every_fact_of_a_change_carries_its_transactions_commit_lsn():
    """The backfill's cutover compares it with a slot's consistent point (pipeline/druid/backfill.py)."""
    changes = [("c", None, _row()), ("u", _row(), _row(status="settled")), ("d", _row(), None)]
    found = [f for op, before, after in changes for f in _facts(op, before, after)]
    assert len(found) == 4 and {f["_commit_lsn"] for f in found} == {COMMIT_LSN}
    assert all(f["_lsn"] == LSN for f in found)  # the change's own position stays beside it


def test_delete_retracts_the_old_row():
    (fact,) = _facts("d", _row(), None)
    assert (fact["_sign"], fact["_op"], fact["amount_cents"], fact["status"]) == (-1, "d", 1230, "pending")


@pytest.mark.parametrize("op", ["t", "m"])
def test_truncates_and_watermarks_have_no_facts(op):
    assert _facts(op, None, None) == []


def test_the_signs_of_a_history_sum_to_the_current_row():
    history = [("c", None, _row("5.00")), ("u", _row("5.00"), _row("5.00", "settled")),
               ("u", _row("5.00", "settled"), _row("7.25", "settled", "9")),
               ("d", _row("7.25", "settled", "9"), None),
               ("c", None, _row("1.10", "declined"))]
    totals: dict[tuple, list[int]] = {}
    for op, before, after in history:
        for f in _facts(op, before, after):
            total = totals.setdefault((f["merchant_id"], f["status"]), [0, 0])
            total[0] += f["_sign"]
            total[1] += f["_sign"] * f["amount_cents"]
    assert {k: v for k, v in totals.items() if v != [0, 0]} == {(7, "declined"): [1, 110]}


@pytest.mark.parametrize("amount, cents", [("0.10", 10), ("-12.30", -1230), ("1234567890123456.78", 123456789012345678),
                                           ("7", 700), ("0.00", 0), ("-0.01", -1), ("3.500", 350)])
def test_cents_are_exact(amount, cents):
    (fact,) = _facts("c", None, _row(amount))
    assert fact["amount_cents"] == cents and fact["amount"] == amount


def test_a_null_amount_has_no_cents_field():
    (fact,) = _facts("c", None, _row(None))
    assert "amount_cents" not in fact and "fee_cents" not in fact and fact["amount"] is None


@pytest.mark.parametrize("amount", ["12.345", "0.001", "-1.999"])
def test_a_value_that_is_not_whole_cents_is_refused_never_rounded(amount):
    with pytest.raises(CdcError, match=rf"public.transactions.amount holds '{amount}' \(key transaction_id=42\) at LSN "
                                       rf"{format_lsn(LSN)}, which is not a whole number of cents.*rather than round"
                                       r".*signed_tables"):
        _facts("c", None, _row(amount))


def test_masked_numeric_columns_get_no_cents():
    codec = _codec(mask={"transactions.fee": "hash"})
    row = codec.row(("42", "7", "12.30", "0.50", "USD", "pending", "2026-06-30 21:59:59.5+00"))
    (fact,) = _facts("c", None, row, codec)
    assert "fee_cents" not in fact and fact["fee"] == row["fee"] != "0.50" and fact["amount_cents"] == 1230


@pytest.mark.parametrize("column, oid", [("_sign", 23), ("_lsn", 20), ("_op", 25), ("_commit_ms", 20),
                                         ("_commit_lsn", 20), ("amount_cents", 20)])
def test_a_column_named_like_a_fact_field_is_refused(column, oid):
    shape = TableShape("public", "transactions", SHAPE.columns + (column,), SHAPE.type_oids + (oid,), (-1,) * 8,
                       SHAPE.key)
    with pytest.raises(CdcError, match=rf"table public.transactions has column\(s\) {column}, which its signed "
                                       r"facts use.*rename the column\(s\), or take transactions out of \[cdc\] "
                                       r"signed_tables"):
        facts.SignedFacts.of(_codec(shape), TOPIC)
    with pytest.raises(CdcError, match="which its signed facts use"):
        facts.check_tables([TableInfo(shape, "f", True)], ("transactions",), exactly_once=True)


def test_a_cents_named_column_without_its_numeric_is_no_clash():
    shape = TableShape("public", "transactions", ("transaction_id", "fee_cents", "amount"), (20, 20, 1700),
                       (-1,) * 3, ("transaction_id",))
    (fact,) = [orjson.loads(r) for r in facts.SignedFacts.of(_codec(shape), TOPIC).records(
        "c", LSN, COMMIT_LSN, COMMIT_MS, None, _codec(shape).row(("1", "5", "1.00")))]
    assert fact["fee_cents"] == 5 and fact["amount_cents"] == 100


def test_start_checks_identity_and_delivery_for_captured_signed_tables_only():
    full, default = TableInfo(SHAPE, "f", True), TableInfo(SHAPE, "d", True)
    facts.check_tables([full], ("transactions",), exactly_once=True)
    facts.check_tables([default], ("disputes",), exactly_once=False)  # not signed: nothing to check
    with pytest.raises(CdcError, match=r"ALTER TABLE public.transactions REPLICA IDENTITY FULL"):
        facts.check_tables([default], ("transactions",), exactly_once=True)
    with pytest.raises(CdcError, match=r"signed facts need \[cdc\] delivery = 'exactly-once'.*signed_tables = \[\]"):
        facts.check_tables([full], ("transactions",), exactly_once=False)


def test_a_truncate_refusal_names_the_datasource_and_the_fix():
    detail, fix = facts.SignedFacts.of(_codec(), TOPIC).truncate_refusal()
    assert TOPIC in detail and "re-index" in detail and "public.transactions" in detail
    assert "on_rejected = 'dead-letter'" in fix and "transactions out of [cdc] signed_tables" in fix


def test_facts_and_their_table_topic_need_as_many_partitions():
    facts.check_partitions("p.facts.transactions", 3, "p.public.transactions", 3)
    with pytest.raises(CdcError, match="topic p.facts.transactions has 1 partitions and p.public.transactions 3"):
        facts.check_partitions("p.facts.transactions", 1, "p.public.transactions", 3)


def test_a_refused_fact_is_recognised_as_its_change_on_the_resend():
    from pipeline.cdc.rejections import Rejection

    (record,) = facts.SignedFacts.of(_codec(), TOPIC).records("d", LSN, COMMIT_LSN, COMMIT_MS, _row(), None)
    key = b'{"transaction_id":42}'
    rejection = Rejection.of_record(TOPIC, key, record, "TOPIC_AUTHORIZATION_FAILED", "not allowed")
    assert rejection.identity == (TOPIC, key, LSN, "d")  # what the reader's divert check looks up
    assert "Kafka refused the change of" in rejection.describe() and "max.message.bytes" in str(rejection.error())
