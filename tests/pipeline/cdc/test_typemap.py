"""Text values as Postgres prints them (with the reader's session settings) -> JSON values."""

import pytest

from pipeline.cdc.typemap import TypeMap, UnrepresentableValue, parse_array

tm = TypeMap()


def conv(oid, text):
    c = tm.converter(oid)
    return text if c is None else c(text)


@pytest.mark.parametrize("oid,text,expected", [
    (20, "-9223372036854775808", -9223372036854775808),
    (1700, "12345678901234567890.123456789", "12345678901234567890.123456789"),  # exact, a string
    (790, "-$1,234.56", "-1234.56"),
    (790, "$0.07", "0.07"),
    (16, "t", True),
    (16, "f", False),
    (17, "\\xdeadbeef", "3q2+7w=="),
    (701, "0.1", 0.1),
    (701, "Infinity", "Infinity"),
    (1082, "2026-02-28", "2026-02-28"),
    (1083, "23:59:59.5", "23:59:59.500000"),
    (1114, "2026-11-23 13:36:06", "2026-11-23T13:36:06.000000"),
    (1184, "2026-11-23 13:36:06.123456+00", "2026-11-23T13:36:06.123456Z"),
    (1184, "2026-11-23 00:00:00.1+00", "2026-11-23T00:00:00.100000Z"),
    (1184, "infinity", "infinity"),
    (1186, "P1Y2M3DT4H5M6.5S", "P1Y2M3DT4H5M6.5S"),
    (3802, '{"a": 1}', '{"a": 1}'),
])
def test_scalars(oid, text, expected):
    assert conv(oid, text) == expected


def test_arrays_parse_quotes_nulls_and_nesting():
    assert parse_array('{1,NULL,"a,b","q\\"x"}') == ["1", None, "a,b", 'q"x']
    assert parse_array("{{1,2},{3,4}}") == [["1", "2"], ["3", "4"]]
    assert parse_array("{}") == []
    assert parse_array("[0:1]={7,8}") == ["7", "8"]
    assert conv(1007, "{1,NULL,3}") == [1, None, 3]
    assert conv(1231, "{1.10,2.20}") == ["1.10", "2.20"]


def test_custom_types_resolve_through_the_catalog_lookup():
    lookup = {5000: ("E", 0, 0), 5001: ("A", 5000, 0), 5002: ("N", 0, 1700), 5003: ("A", 5002, 0)}
    m = TypeMap(lambda oid: lookup[oid])
    assert m.converter(5000) is None  # enum: its label as printed
    assert m.converter(5001)("{gold,silver}") == ["gold", "silver"]
    assert m.converter(5003)("{1.5}") == ["1.5"]


@pytest.mark.parametrize("oid, text", [(1700, "NaN"), (1700, "Infinity"), (1700, "-Infinity"), (1231, "{1.50,NaN}")])
def test_numeric_nan_and_infinity_are_refused_not_published(oid, text):
    with pytest.raises(UnrepresentableValue, match="numeric"):
        conv(oid, text)


def test_finite_numerics_pass_exactly():
    assert conv(1700, "-0.00") == "-0.00" and conv(1231, "{1.50,NULL}") == ["1.50", None]
