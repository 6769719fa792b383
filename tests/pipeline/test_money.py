"""Amounts read from files stay exact and finite, and the system's currencies are the schema's."""

import re
from decimal import Decimal

import pytest

from pipeline import money
from pipeline.sor.schema import SCHEMA_FILE


def test_the_currencies_are_those_the_schema_allows():
    check = re.search(r"currency\s+char\(3\)\s+NOT NULL CHECK \(currency IN \(([^)]*)\)\)", SCHEMA_FILE.read_text())
    assert check and tuple(c.strip().strip("'") for c in check.group(1).split(",")) == money.CURRENCIES


@pytest.mark.parametrize("raw, expected", [("2.10", Decimal("2.10")), (2.1, Decimal("2.10")), (7, Decimal("7.00")),
                                           ("9999999999999999.99", money.MAX_AMOUNT)])
def test_amounts_are_exact_decimals(raw, expected):
    assert money.amount(raw) == expected and money.cents(money.amount(raw)) == int(expected * 100)


@pytest.mark.parametrize("raw, problem", [
    ("1e30", "at most"), (1e30, "at most"), ("NaN", "finite"), (float("nan"), "finite"), (float("inf"), "finite"),
    ("-Infinity", "finite"), ("sNaN", "finite"), ("0", "positive"), ("0.001", "two decimal places"),
    (True, "like"), (None, "like")])
def test_bad_amounts_are_named_never_a_traceback(raw, problem):
    with pytest.raises(ValueError, match=problem):
        money.amount(raw)


def test_zero_where_allowed():
    assert money.amount("0", zero_allowed=True) == Decimal("0.00")
    with pytest.raises(ValueError, match="must be 0 or more"):
        money.amount("-1", zero_allowed=True)


@pytest.mark.parametrize("amount, expected", [
    ("0.10", 10), ("-12.30", -1230), ("1234567890123456.78", 123456789012345678), ("7", 700), ("0", 0),
    ("5.000", 500), ("-0.00", 0), ("1E+3", 100000),
    ("123456789012345678901234567890123456.01", 12345678901234567890123456789012345601)])
def test_cents_are_exact_at_any_size(amount, expected):
    assert money.cents(Decimal(amount)) == expected


@pytest.mark.parametrize("amount", ["0.001", "-12.305", "1234567890123456.789", "NaN", "Infinity"])
def test_cents_refuse_what_is_not_whole_cents(amount):
    with pytest.raises(ValueError, match="whole number of cents|not an amount"):
        money.cents(Decimal(amount))


@pytest.mark.parametrize("text", ["12.30", "-12.30", "0.00", "-0.01", "9999999999999999.99", "7", "3.500", "1e2",
                                  "-.50", "0.1"])
def test_cents_of_text_equal_cents_of_the_decimal(text):
    assert money.cents_of_text(text) == money.cents(Decimal(text))


@pytest.mark.parametrize("text", ["1.005", "12.3-0", "NaN"])
def test_cents_of_text_refuse_what_cents_refuses(text):
    with pytest.raises((ValueError, ArithmeticError)):
        money.cents_of_text(text)
