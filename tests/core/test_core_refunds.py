"""Tests of gocardless_core.refunds: when a refund of a collected payment may be asked."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gocardless_core import refunds

minor = st.integers(min_value=-(10**12), max_value=10**12)


def test_a_refund_up_to_what_is_left_is_allowed():
    assert refunds.refusal(10000, 10000) is None
    assert refunds.refusal(4000, 10000, refunded=6000) is None
    assert refunds.refusal(1, 1) is None


@pytest.mark.parametrize(
    ("amount", "collected", "refunded", "expected"),
    [
        (0, 100, 0, refunds.NOT_POSITIVE),
        (-5, 100, 0, refunds.NOT_POSITIVE),
        (0, 100, 100, refunds.NOT_POSITIVE),
        (100, 100, 100, refunds.NOTHING_LEFT),
        (100, 100, 250, refunds.NOTHING_LEFT),
        (100, 0, 0, refunds.NOTHING_LEFT),
        (101, 100, 0, refunds.ABOVE_LEFT),
        (60, 100, 50, refunds.ABOVE_LEFT),
        (10**12, 100, 0, refunds.ABOVE_LEFT),
    ],
)
def test_refusals(amount, collected, refunded, expected):
    assert refunds.refusal(amount, collected, refunded) == expected


def test_negative_refunds_never_add_to_what_is_left():
    assert refunds.left_to_refund(100, -50) == 100
    assert refunds.refusal(150, 100, -50) == refunds.ABOVE_LEFT


@pytest.mark.parametrize("bad", [1.5, "100", None, True, [100], 100.0])
def test_amounts_must_be_integer_minor_units(bad):
    with pytest.raises(TypeError):
        refunds.refusal(bad, 100, 0)
    with pytest.raises(TypeError):
        refunds.refusal(10, bad, 0)
    with pytest.raises(TypeError):
        refunds.left_to_refund(100, bad)


@given(amount=minor, collected=minor, refunded=minor)
def test_an_allowed_refund_never_takes_the_refunds_above_what_was_collected(
    amount, collected, refunded
):
    if refunds.refusal(amount, collected, refunded) is None:
        assert 0 < amount <= collected - max(0, refunded)
    else:
        assert refunds.refusal(amount, collected, refunded) in refunds.REFUSALS


@given(collected=st.integers(min_value=1, max_value=10**12), data=st.data())
def test_what_is_left_can_always_be_refunded_and_nothing_more(collected, data):
    refunded = data.draw(st.integers(min_value=0, max_value=collected - 1))
    left = refunds.left_to_refund(collected, refunded)
    assert refunds.refusal(left, collected, refunded) is None
    assert refunds.refusal(left + 1, collected, refunded) == refunds.ABOVE_LEFT
