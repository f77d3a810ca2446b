"""Tests of gocardless_core.debits: when a direct debit may be created."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gocardless_core import debits, schemes

minor = st.integers(min_value=-(10**12), max_value=10**12)


def test_a_debit_up_to_what_is_due_is_allowed():
    assert debits.refusal(10000, "EUR", 10000) is None
    assert debits.refusal(4000, "EUR", 10000, already=6000) is None
    assert debits.refusal(1, "gbp", 1, mandate_scheme="bacs") is None


@pytest.mark.parametrize(
    ("amount", "currency", "due", "already", "scheme", "expected"),
    [
        (100, "XAF", 100, 0, None, debits.NOT_COLLECTABLE_CURRENCY),
        (100, None, 100, 0, None, debits.NOT_COLLECTABLE_CURRENCY),
        (100, ["EUR"], 100, 0, None, debits.NOT_COLLECTABLE_CURRENCY),
        (100, "EUR", 100, 0, "bacs", debits.MANDATE_SCHEME_MISMATCH),
        (100, "GBP", 100, 0, "sepa_core", debits.MANDATE_SCHEME_MISMATCH),
        (100, "EUR", 100, 0, "unknown", debits.MANDATE_SCHEME_MISMATCH),
        (0, "EUR", 100, 0, None, debits.NOT_POSITIVE),
        (-5, "EUR", 100, 0, None, debits.NOT_POSITIVE),
        (100, "EUR", 0, 0, None, debits.NOTHING_DUE),
        (100, "EUR", 100, 100, None, debits.NOTHING_DUE),
        (100, "EUR", 100, 250, None, debits.NOTHING_DUE),
        (500000, "EUR", 7000, 0, None, debits.ABOVE_DUE),
        (10001, "EUR", 10000, 0, None, debits.ABOVE_DUE),
        (20000, "EUR", 10000, 0, None, debits.ABOVE_DUE),
        (60, "EUR", 100, 50, None, debits.ABOVE_DUE),
    ],
)
def test_refusals(amount, currency, due, already, scheme, expected):
    assert debits.refusal(amount, currency, due, already, scheme) == expected


@pytest.mark.parametrize("bad", [1.5, "100", None, True, [100]])
def test_amounts_must_be_integer_minor_units(bad):
    with pytest.raises(TypeError):
        debits.refusal(bad, "EUR", 100)
    with pytest.raises(TypeError):
        debits.refusal(100, "EUR", bad)
    with pytest.raises(TypeError):
        debits.available(bad, 0)


def test_every_scheme_matches_its_own_currency_only():
    for scheme in schemes.SCHEMES.values():
        assert debits.refusal(100, scheme.currency, 100, 0, scheme.code) is None
        for other in schemes.SCHEMES.values():
            if other.currency != scheme.currency:
                assert (
                    debits.refusal(100, other.currency, 100, 0, scheme.code)
                    == debits.MANDATE_SCHEME_MISMATCH
                )


@given(amount=minor, due=minor, already=minor)
def test_an_allowed_debit_never_takes_more_than_is_left(amount, due, already):
    if debits.refusal(amount, "EUR", due, already) is None:
        assert 0 < amount <= due - max(0, already)
    else:
        assert amount <= 0 or amount > debits.available(due, already)


@given(due=minor, already=minor)
def test_two_debits_together_never_exceed_what_is_due(due, already):
    """Whatever the first debit, a second one taking the rest never over-collects."""
    left = debits.available(due, 0)
    first = left // 2 or left
    if debits.refusal(first, "EUR", due) is None:
        second = debits.available(due, first)
        assert first + second <= max(due, 0)
        assert debits.refusal(second + 1, "EUR", due, first) is not None
