"""Every type in the documented mapping arrives exactly, from the snapshot and from the stream."""

import psycopg
import pytest

from pipeline.kafka.changelog import read_all

DDL = """
CREATE TYPE tier AS ENUM ('gold', 'silver');
CREATE TABLE everything (
    id bigint PRIMARY KEY, i2 smallint, i4 integer, i8 bigint, amount numeric(20,4), big numeric,
    price money, flag boolean, t text, vc varchar(10), ch char(4), raw bytea, uid uuid, doc json, docb jsonb,
    d date, tm time, ts timestamp, tstz timestamptz, iv interval, f8 double precision,
    tags text[], nums integer[], amounts numeric[], level tier, levels tier[], note text
);
ALTER TABLE everything REPLICA IDENTITY FULL;
"""

ROW = ("%s, 32767, -2147483648, 9223372036854775807, 12345678901234.5678, 0.000000000000000000000001, "
       "'-1234.56'::money, true, 'tab\there, quote '' and ünïcode', 'short', 'ab', '\\xdeadbeef'::bytea, "
       "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2]}', '{\"b\": null}', '2024-02-29', '23:59:59.999999', "
       "'2026-01-01 00:00:00', '2026-06-30 23:59:59.5+02', '1 year 2 months 3 days 04:05:06.5', 0.1, "
       "'{\"x,y\",NULL,\"q\\\"z\"}', '{1,NULL,3}', '{1.10,2.20}', 'gold', '{gold,silver}', NULL")

EXPECTED = {
    "i2": 32767, "i4": -2147483648, "i8": 9223372036854775807, "amount": "12345678901234.5678",
    "big": "0.000000000000000000000001", "price": "-1234.56", "flag": True, "t": "tab\there, quote ' and ünïcode",
    "vc": "short", "ch": "ab  ", "raw": "3q2+7w==", "uid": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    "doc": '{"a": [1, 2]}', "docb": '{"b": null}', "d": "2024-02-29", "tm": "23:59:59.999999",
    "ts": "2026-01-01T00:00:00.000000", "tstz": "2026-06-30T21:59:59.500000Z", "iv": "P1Y2M3DT4H5M6.5S",
    "f8": 0.1, "tags": ["x,y", None, 'q"z'], "nums": [1, None, 3], "amounts": ["1.10", "2.20"], "level": "gold",
    "levels": ["gold", "silver"], "note": None,
}


@pytest.fixture(scope="module")
def events(fresh_database, cdc_reader):
    with psycopg.connect(fresh_database.dsn(), autocommit=True) as conn:
        conn.execute(DDL)
        conn.execute(f"INSERT INTO everything VALUES ({ROW})", (1,))  # before the reader: snapshot
        reader = cdc_reader(fresh_database).start()
        conn.execute(f"INSERT INTO everything VALUES ({ROW})", (2,))  # streamed
        conn.execute("UPDATE everything SET note = repeat('long text ', 5000) WHERE id = 2")  # TOASTed
        conn.execute("UPDATE everything SET i2 = 1 WHERE id = 2")  # note unchanged: not sent by Postgres
        reader.fence()
    by_op = {}
    for record in read_all(reader.bootstrap, f"{reader.prefix}.public.everything"):
        by_op.setdefault((record.key["id"], record.value["op"]), []).append(record.value)
    return by_op


def test_snapshot_row_maps_every_type(events):
    (event,) = events[(1, "r")]
    assert {k: v for k, v in event["after"].items() if k != "id"} == EXPECTED
    assert event["source"]["snapshot"] == "true" and event["before"] is None


def test_streamed_row_maps_every_type_identically(events):
    (event,) = events[(2, "c")]
    assert {k: v for k, v in event["after"].items() if k != "id"} == EXPECTED
    assert event["source"]["snapshot"] == "false" and event["source"]["txId"] > 0


def test_unchanged_toast_is_filled_from_the_old_row_never_null(events):
    toasted, untouched = events[(2, "u")]
    assert toasted["after"]["note"] == "long text " * 5000
    assert untouched["after"]["note"] == "long text " * 5000 and untouched["after"]["i2"] == 1
    assert untouched["before"]["i2"] == 32767
