"""Money in this system: the currencies it holds, and amounts read from files kept exact.

The system of record stores amounts as NUMERIC(18,2) in the account's
currency (pipeline/sor/schema.sql), so every currency here has two decimal
places (JPY included: this schema stores it so) and cents = amount x 100.
There is no FX rates table, so nothing converts between currencies: a sum or
a threshold is always per currency. Adding cents of different currencies
gives a number that is no amount of anything.

Files that analysts edit (fraud rules, health weights) write amounts per
currency, `{USD: "500.00", EUR: "450.00"}`: an amount alone would mean
different money in every account. Amounts are read through their text into
Decimal (a YAML float like 2.10 stays exact) and checked before any SQL is
built: finite, in NUMERIC(18,2)'s range, at most two places.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

# accounts.currency's CHECK in schema.sql (a test keeps the two equal).
CURRENCIES = ("USD", "EUR", "GBP", "JPY", "CHF")
CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999999999.99")  # NUMERIC(18, 2)
_EXAMPLE = '{USD: "500.00", EUR: "450.00"}'


def cents(amount: Decimal) -> int:
    """amount x 100, exactly: from the decimal's digits, so no context precision rounds a long
    amount. Not a whole number of cents (or not a number) is a ValueError: money is never rounded."""
    sign, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{amount} is not an amount")
    whole = int("".join(map(str, digits)))
    shift = exponent + 2  # cents = digits x 10^(exponent + 2)
    if shift >= 0:
        value = whole * 10 ** shift
    else:
        value, rest = divmod(whole, 10 ** -shift)
        if rest:
            raise ValueError(f"{amount} is not a whole number of cents")
    return -value if sign else value


def cents_of_text(text: str) -> int:
    """cents(Decimal(text)) for a decimal as Postgres prints it. A NUMERIC(18,2) value always has two
    places ("-12.30"), and then its cents are its digits: read straight from the text, which is several
    times faster (the history export does this per row); any other shape goes through cents()."""
    if len(text) > 3 and text[-3] == "." and text[-2:].isdigit():
        head = text[:-3]
        if head.lstrip("-").isdigit():
            return int(head + text[-2:])
    return cents(Decimal(text))


def currency(code: Any) -> str:
    if code not in CURRENCIES:
        raise ValueError(f"unknown currency {code!r}; the system holds {', '.join(CURRENCIES)}")
    return code


def amount(raw: Any, *, zero_allowed: bool = False) -> Decimal:
    """One amount: a quoted decimal ("500.00") or a YAML number, read through its text."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f'must be an amount like "500.00", got {raw!r}')
    try:
        value = Decimal(str(raw).strip())
    except InvalidOperation:
        raise ValueError(f'must be an amount like "500.00", got {raw!r}') from None
    if not value.is_finite():
        raise ValueError(f"must be a finite amount, got {raw!r}")
    if value < 0 or value == 0 and not zero_allowed:
        raise ValueError(f"must be {'0 or more' if zero_allowed else 'a positive amount'}, got {raw!r}")
    if value > MAX_AMOUNT:
        raise ValueError(f"must be at most {MAX_AMOUNT} (NUMERIC(18, 2)), got {raw!r}")
    if value != value.quantize(CENT):
        raise ValueError(f"has more than two decimal places: {raw!r}")
    return value.quantize(CENT)


def per_currency(raw: Any, *, zero_allowed: bool = False) -> dict[str, Decimal]:
    """Amounts keyed by currency, {USD: "500.00", EUR: "450.00"}; a bare amount is refused as ambiguous."""
    if not isinstance(raw, dict):
        raise ValueError(f"must say its currency, like {_EXAMPLE}: an amount alone means different money in "
                         f"each currency; got {raw!r}")
    if not raw:
        raise ValueError(f"must list at least one currency, like {_EXAMPLE}")
    amounts = {}
    for code, value in raw.items():
        currency(code)
        try:
            amounts[code] = amount(value, zero_allowed=zero_allowed)
        except ValueError as exc:
            raise ValueError(f"the {code} amount {exc}") from None
    return amounts
