"""Tests of gocardless_core.amounts: minor units, payout items."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gocardless_core import amounts
from gocardless_core.errors import AmountError, GoCardlessCoreError

GC_CURRENCIES = ("AUD", "CAD", "DKK", "EUR", "GBP", "NZD", "SEK", "USD")

two_decimals = st.decimals(
    min_value=Decimal("-1000000000"),
    max_value=Decimal("1000000000"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)


def test_gocardless_currencies_are_all_two_decimal():
    assert {c: amounts.CURRENCY_EXPONENTS[c] for c in GC_CURRENCIES} == dict.fromkeys(
        GC_CURRENCIES, 2
    )
    assert amounts.CURRENCY_EXPONENTS["JPY"] == 0
    assert amounts.CURRENCY_EXPONENTS["KWD"] == 3


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        (19.99, 1999),
        (1.15, 115),
        (0.1 + 0.2, 30),
        (Decimal("19.99"), 1999),
        ("19.99", 1999),
        (" 12.3 ", 1230),
        (7, 700),
        (Decimal("0.005"), 1),
        (Decimal("0.004999"), 0),
        (Decimal("-0.005"), -1),
        (Decimal("1E+2"), 10000),
        (0.0, 0),
    ],
)
def test_to_minor_units_two_decimal_currency(amount, expected):
    assert amounts.to_minor_units(amount, "EUR") == expected


def test_to_minor_units_never_uses_float_multiplication():
    assert int(19.99 * 100) == 1998  # the bug we avoid
    assert amounts.to_minor_units(19.99, "GBP") == 1999
    assert amounts.to_minor_units(1.15, "GBP") == 115


def test_to_minor_units_other_exponents_and_case():
    assert amounts.to_minor_units(Decimal("1234.5"), "jpy") == 1235
    assert amounts.to_minor_units("1.0005", "KWD") == 1001
    assert amounts.to_minor_units(1, " usd ") == 100


@pytest.mark.parametrize(
    "bad",
    [
        float("nan"),
        float("inf"),
        -float("inf"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("Infinity"),
        "NaN",
        "inf",
        "abc",
        "",
        "1,5",
        None,
        True,
        False,
        [1],
        b"1",
    ],
)
def test_to_minor_units_refuses_non_numbers(bad):
    with pytest.raises(AmountError):
        amounts.to_minor_units(bad, "EUR")


@pytest.mark.parametrize("currency", ["XXX", "", None, "EURO", 978])
def test_unknown_currencies_are_refused(currency):
    with pytest.raises(AmountError):
        amounts.to_minor_units(1, currency)
    with pytest.raises(AmountError):
        amounts.from_minor_units(1, currency)


def test_huge_amounts_raise_amount_error_not_decimal_errors():
    with pytest.raises(AmountError):
        amounts.to_minor_units(Decimal("1E+100"), "EUR")


def test_amount_error_is_a_value_error_and_a_core_error():
    assert issubclass(AmountError, ValueError)
    assert issubclass(AmountError, GoCardlessCoreError)


def test_from_minor_units():
    assert amounts.from_minor_units(1999, "EUR") == Decimal("19.99")
    assert str(amounts.from_minor_units(100, "EUR")) == "1.00"
    assert str(amounts.from_minor_units(-5, "GBP")) == "-0.05"
    assert amounts.from_minor_units(5, "JPY") == Decimal(5)
    assert str(amounts.from_minor_units(1001, "KWD")) == "1.001"
    # exact beyond the default 28-digit decimal precision
    assert str(amounts.from_minor_units(10**40 + 1, "EUR")) == "1" + "0" * 38 + ".01"


@pytest.mark.parametrize("bad", [True, False, 1.0, "100", Decimal(100), None])
def test_from_minor_units_refuses_non_integers(bad):
    with pytest.raises(AmountError):
        amounts.from_minor_units(bad, "EUR")


@given(two_decimals, st.sampled_from(GC_CURRENCIES))
def test_round_trip_of_two_decimal_amounts(value, currency):
    minor = amounts.to_minor_units(value, currency)
    assert isinstance(minor, int)
    assert amounts.from_minor_units(minor, currency) == value


@given(st.integers(min_value=-(10**12), max_value=10**12))
def test_floats_with_two_decimals_map_to_the_exact_integer(cents):
    as_float = float(Decimal(cents) / 100)
    assert amounts.to_minor_units(as_float, "EUR") == cents
    assert amounts.to_minor_units(str(Decimal(cents) / 100), "EUR") == cents


@given(st.integers(min_value=-(10**15), max_value=10**15), st.sampled_from(["EUR", "JPY", "KWD"]))
def test_minor_units_round_trip_from_integers(minor, currency):
    assert amounts.to_minor_units(amounts.from_minor_units(minor, currency), currency) == minor


@given(
    st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False),
    st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False),
)
def test_to_minor_units_is_monotonic(a, b):
    low, high = sorted((a, b))
    assert amounts.to_minor_units(low, "EUR") <= amounts.to_minor_units(high, "EUR")


@given(st.decimals(min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False))
def test_rounding_error_is_at_most_half_a_minor_unit(value):
    minor = amounts.to_minor_units(value, "EUR")
    assert abs(Decimal(minor) - value * 100) <= Decimal("0.5")


def test_payout_item_amount():
    assert amounts.payout_item_amount("-143.4") == Decimal("-143.4")
    assert amounts.payout_item_amount("12345.0") == Decimal("12345.0")
    assert amounts.payout_item_amount(45) == Decimal(45)
    for bad in ("", "abc", "NaN", None, 1.5, True):
        with pytest.raises(AmountError):
            amounts.payout_item_amount(bad)
