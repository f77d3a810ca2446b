"""Tests of gocardless_core.payouts: a payout and its items as balanced booking lines."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gocardless_core import payouts, schemes
from gocardless_core.errors import AmountError


def _item(item_type, amount, payment=None, refund=None, taxes=()):
    return {
        "type": item_type,
        "amount": amount,
        "links": {"payment": payment, "refund": refund, "mandate": None},
        "taxes": list(taxes),
    }


def _tax(amount, rate="GB_VAT_1", currency="GBP"):
    return {
        "amount": amount,
        "currency": currency,
        "destination_amount": amount,
        "destination_currency": currency,
        "exchange_rate": "1.0",
        "tax_rate_id": rate,
    }


def _lines(booking, kind):
    return [line for line in booking.lines if line.kind == kind]


def test_reference_example_adds_up_with_an_explicit_rounding_line():
    # The worked example of the API reference: 17044.9 of items for a payout of 17045.
    items = [
        _item("payment_paid_out", "12345.0", "PM1"),
        _item("gocardless_fee", "-143.4", "PM1"),
        _item("app_fee", "-61.7", "PM1"),
        _item("payment_paid_out", "5000.0", "PM2"),
        _item("gocardless_fee", "-70.0", "PM2"),
        _item("gocardless_fee", "-25.0", "PM2"),
    ]
    booking = payouts.booking_lines({"amount": 17045, "currency": "GBP"}, items)
    assert sum(line.amount for line in booking.lines) == 0
    assert _lines(booking, payouts.NET)[0].amount == 17045
    clearing = {line.payment: line.amount for line in _lines(booking, payouts.CLEARING)}
    assert clearing == {"PM1": -12345, "PM2": -5000}
    # 143.4 + 70 + 25 = 238.4 -> 238; 61.7 -> 62; rounded lines give 17045 - 17345 + 300 = 0
    assert _lines(booking, payouts.FEE)[0].amount == 238
    assert _lines(booking, payouts.APP_FEE)[0].amount == 62
    assert booking.fees == 300
    assert booking.rounding == 0
    assert booking.exact_total == Decimal("17044.9")


def test_rounding_line_takes_the_difference_below_one_minor_unit():
    items = [
        _item("payment_paid_out", "1000.0", "PM1"),
        _item("gocardless_fee", "-20.4", "PM1"),
        _item("app_fee", "-10.4", "PM1"),
    ]
    # Exact total 969.2 -> payout 969; fee 20.4 -> 20, app fee 10.4 -> 10: 1 minor unit over.
    booking = payouts.booking_lines({"amount": 969, "currency": "EUR"}, items)
    assert booking.rounding == 1
    assert _lines(booking, payouts.ROUNDING)[0].amount == 1
    assert sum(line.amount for line in booking.lines) == 0


def test_vat_on_fees_is_booked_apart_per_rate_and_fee_refunds_reverse_it():
    items = [
        _item("payment_paid_out", "10000.0", "PM1"),
        _item("gocardless_fee", "-120.0", "PM1", taxes=[_tax("20.0")]),
        _item("payment_paid_out", "5000.0", "PM2"),
        _item("gocardless_fee", "-60.0", "PM2", taxes=[_tax("10.0")]),
        # PM2 charged back: the money goes back, GoCardless refunds its fee and VAT.
        _item("payment_charged_back", "-5000.0", "PM2"),
        _item("gocardless_fee", "60.0", "PM2", taxes=[_tax("10.0")]),
        _item("surcharge_fee", "-300.0", "PM2", taxes=[_tax("50.0")]),
    ]
    booking = payouts.booking_lines({"amount": 9580, "currency": "GBP"}, items)
    assert sum(line.amount for line in booking.lines) == 0
    assert booking.vat == 70  # 20 + 10 - 10 + 50
    assert _lines(booking, payouts.VAT)[0].tax_rate_id == "GB_VAT_1"
    assert booking.fees == 350  # (120-20) + (60-10) - (60-10) + (300-50)
    clearing = {line.payment: line.amount for line in _lines(booking, payouts.CLEARING)}
    # The payment and its charge-back in the same payout cancel out on the clearing account.
    assert clearing == {"PM1": -10000, "PM2": 0}
    assert _lines(booking, payouts.CLEARING)[1].item_types == (
        "payment_charged_back",
        "payment_paid_out",
    )


def test_negative_fees_refunds_and_funds_returned_are_booked_on_their_payment():
    items = [
        _item("payment_paid_out", "2000.0", "PM1"),
        _item("gocardless_fee", "15.5", "PM1"),  # a negative fee: GoCardless pays the merchant
        _item("payment_refunded", "-500.0", "PM3", "RF1"),
        _item("refund_funds_returned", "200.0", "PM4", "RF2"),
        _item("payment_failed", "-700.0", "PM5"),
    ]
    booking = payouts.booking_lines({"amount": 1016, "currency": "EUR"}, items)
    assert sum(line.amount for line in booking.lines) == 0
    clearing = {(x.payment, x.refund): x.amount for x in _lines(booking, payouts.CLEARING)}
    assert clearing == {
        ("PM1", None): -2000,
        ("PM3", "RF1"): 500,
        ("PM4", "RF2"): -200,
        ("PM5", None): 700,
    }
    assert booking.fees == -16  # 15.5 rounded half up, a credit of the fee expense
    assert booking.rounding == 0


def test_unknown_item_types_are_booked_as_other_not_lost():
    items = [_item("payment_paid_out", "100.0", "PM1"), _item("revenue_share", "7.0")]
    booking = payouts.booking_lines({"amount": 107, "currency": "EUR"}, items)
    assert _lines(booking, payouts.OTHER)[0].amount == -7
    assert sum(line.amount for line in booking.lines) == 0


def test_a_negative_payout_is_booked_too():
    items = [_item("payment_charged_back", "-1000.0", "PM1"), _item("surcharge_fee", "-150.0")]
    booking = payouts.booking_lines({"amount": -1150, "currency": "GBP"}, items)
    assert _lines(booking, payouts.NET)[0].amount == -1150
    assert sum(line.amount for line in booking.lines) == 0


@pytest.mark.parametrize(
    ("payout", "items", "message"),
    [
        ({"amount": 100, "currency": "EUR"}, [_item("payment_paid_out", "50.0")], "missing"),
        ({"amount": "100", "currency": "EUR"}, [], "not an integer"),
        ({"amount": True, "currency": "EUR"}, [], "not an integer"),
        ({"amount": 1, "currency": "EUR"}, [_item("payment_paid_out", 1.0)], "float"),
        ({"amount": 1, "currency": "EUR"}, [_item("payment_paid_out", "abc")], "not a number"),
        ({"amount": 1, "currency": "EUR"}, ["junk"], "not an object"),
        (
            {"amount": -10, "currency": "EUR"},
            [_item("gocardless_fee", "-10.0", taxes=[_tax("20.0", currency="EUR")])],
            "larger than the fee",
        ),
        (
            {"amount": -10, "currency": "EUR"},
            [
                _item(
                    "gocardless_fee",
                    "-10.0",
                    taxes=[{"amount": "1.0", "currency": "GBP", "destination_currency": "USD"}],
                )
            ],
            "not in the payout's EUR",
        ),
    ],
)
def test_hostile_or_inconsistent_payouts_are_refused(payout, items, message):
    with pytest.raises(AmountError, match=message):
        payouts.booking_lines(payout, items)


def test_fixture_items_book(load_fixture):
    body = load_fixture("payout_items.json")["list"]["body"]
    payout = load_fixture("payouts.json")["get"]["body"]["payouts"]
    items = body["payout_items"]
    total = sum(Decimal(item["amount"]) for item in items)
    booking = payouts.booking_lines({"amount": int(total), "currency": payout["currency"]}, items)
    assert sum(line.amount for line in booking.lines) == 0
    assert [line.payment for line in _lines(booking, payouts.CLEARING)] == ["PM123"]


def test_all_items_follows_the_cursors_with_pages_of_500():
    pages = {
        None: {"payout_items": [{"amount": "1.0"}] * 500, "meta": {"cursors": {"after": "A"}}},
        "A": {"payout_items": [{"amount": "2.0"}] * 500, "meta": {"cursors": {"after": "B"}}},
        "B": {"payout_items": [{"amount": "3.0"}] * 3, "meta": {"cursors": {"after": None}}},
    }
    calls = []

    def fetch(params):
        calls.append(dict(params))
        return pages[params.get("after")]

    items = payouts.all_items(fetch, "PO1", limit=10_000)
    assert len(items) == 1003
    assert [call.get("after") for call in calls] == [None, "A", "B"]
    assert {call["limit"] for call in calls} == {500}
    assert {call["payout"] for call in calls} == {"PO1"}


def test_all_items_refuses_a_looping_cursor():
    def fetch(params):
        return {"payout_items": [], "meta": {"cursors": {"after": "SAME"}}}

    with pytest.raises(AmountError, match="repeat the cursor"):
        payouts.all_items(fetch, "PO1")


_tenths = st.integers(min_value=-(10**9), max_value=10**9)
_item_strategy = st.one_of(
    st.tuples(st.sampled_from(sorted(payouts.PAYMENT_ITEM_TYPES)), _tenths, st.just(0)),
    st.tuples(
        st.sampled_from(sorted(payouts.FEE_ITEM_TYPES)),
        _tenths,
        st.integers(min_value=0, max_value=1000),
    ),
    st.tuples(st.just("revenue_share"), _tenths, st.just(0)),
)


@given(
    st.lists(st.tuples(_item_strategy, st.sampled_from(["PM1", "PM2", "PM3", None])), max_size=60),
    # Payouts in every currency GoCardless collects (AUD, CAD, DKK, EUR, GBP, NZD, SEK, USD).
    st.sampled_from(sorted(schemes.SUPPORTED_CURRENCIES)),
)
def test_lines_always_add_up_to_the_payout_amount(raw_items, currency):
    items = []
    for (item_type, tenths, vat_percent), payment in raw_items:
        taxes = []
        if vat_percent and tenths:
            # VAT at most the fee itself, in tenths of minor units as GoCardless sends it.
            tax_tenths = abs(tenths) * vat_percent // 1000
            taxes = [_tax(str(Decimal(tax_tenths) / 10), currency=currency)]
        items.append(_item(item_type, str(Decimal(tenths) / 10), payment, taxes=taxes))
    exact = sum((Decimal(item["amount"]) for item in items), Decimal(0))
    amount = int(exact.quantize(Decimal(1), rounding="ROUND_HALF_UP"))
    booking = payouts.booking_lines({"amount": amount, "currency": currency}, items)
    assert sum(line.amount for line in booking.lines) == 0
    assert [line.amount for line in booking.lines if line.kind == payouts.NET] == [amount]
    assert all(isinstance(line.amount, int) for line in booking.lines)
    # The rounding line only absorbs the fractions: at most half a unit per rounded line.
    rounded_lines = len(booking.lines) - 1
    assert abs(booking.rounding) <= rounded_lines / 2 + 1
    # Every item is booked once (VAT lines count taxes, not items).
    booked = sum(line.item_count for line in booking.lines if line.kind != payouts.VAT)
    assert booked == len(items)


def test_payouts_are_booked_in_every_currency_gocardless_collects():
    assert sorted(schemes.SUPPORTED_CURRENCIES) == [
        "AUD",
        "CAD",
        "DKK",
        "EUR",
        "GBP",
        "NZD",
        "SEK",
        "USD",
    ]
    for currency in sorted(schemes.SUPPORTED_CURRENCIES):
        items = [
            _item("payment_paid_out", "1000", "PM1"),
            _item("gocardless_fee", "-12.4", "PM1", taxes=[_tax("-2.4", currency=currency)]),
            _item("app_fee", "-3.3", "PM1"),
        ]
        booking = payouts.booking_lines({"amount": 984, "currency": currency}, items)
        assert sum(line.amount for line in booking.lines) == 0, currency
        assert [line.amount for line in booking.lines if line.kind == payouts.NET] == [984]
