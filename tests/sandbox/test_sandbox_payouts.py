"""Payouts and payout items: VAT on fees, fee refunds, surcharges, negative fees, pagination,
410 for old payouts, and the dashboard's button paying them."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urljoin

import pytest
import requests

DASH = "/sandbox/dashboard"


def _payment(client, mandate, amount, currency):
    return client.payments.create(
        params={"amount": amount, "currency": currency, "links": {"mandate": mandate.id}}
    )


def _pay_out(sandbox, payment_id):
    inner = sandbox.sandbox
    with inner.store.transaction():
        inner.engine.payment_pay_out(inner.store.get("payments", payment_id))


def _items(api, payout_id, **params):
    response = api.get(api.url + "/payout_items", params={"payout": payout_id, **params})
    assert response.status_code == 200, response.text
    return response.json()


def _all_items(api, payout_id):
    items, after = [], None
    while True:
        params = {"limit": 500, **({"after": after} if after else {})}
        body = _items(api, payout_id, **params)
        items += body["payout_items"]
        after = body["meta"]["cursors"]["after"]
        if not after:
            return items


def _rounded_total(items):
    total = sum(Decimal(item["amount"]) for item in items)
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.fixture
def sepa_mandate(client, sandbox, gc):
    return gc.mandate_via_flow(client, sandbox)[2]


@pytest.fixture
def bacs_mandate(client, sandbox, gc):
    return gc.mandate_via_flow(
        client,
        sandbox,
        scheme="bacs",
        currency="GBP",
        bank={"branch_code": "20-00-00", "account_number": "55779911"},
        extra={"country_code": "GB", "postal_code": "SW1A 1AA"},
    )[2]


@pytest.mark.parametrize(
    ("mandate_fixture", "currency", "rate"),
    [("sepa_mandate", "EUR", "FR_VAT_1"), ("bacs_mandate", "GBP", "GB_VAT_1")],
)
def test_fee_items_carry_their_vat(request, sandbox, client, api, mandate_fixture, currency, rate):
    mandate = request.getfixturevalue(mandate_fixture)
    payment = _payment(client, mandate, 12345, currency)
    _pay_out(sandbox, payment.id)
    (payout,) = sandbox.run_payouts()
    assert payout["tax_currency"] == currency
    items = _items(api, payout["id"])["payout_items"]
    by_type = {item["type"]: item for item in items}
    assert set(by_type) == {"payment_paid_out", "gocardless_fee"}
    assert by_type["payment_paid_out"]["amount"] == "12345.0"
    assert by_type["payment_paid_out"]["links"]["payment"] == payment.id
    fee = by_type["gocardless_fee"]
    # 1 % + 20 = 143.45 -> 1434.5 tenths rounded: "-143.5"; VAT included at 20 %: 23.9
    assert fee["amount"] == "-143.5"
    (tax,) = fee["taxes"]
    assert tax == {
        "amount": "23.9",
        "currency": currency,
        "destination_amount": "23.9",
        "destination_currency": currency,
        "exchange_rate": "1.0",
        "tax_rate_id": rate,
    }
    assert payout["amount"] == _rounded_total(items) == 12202
    assert payout["deducted_fees"] == 144


def test_usd_fees_have_no_vat(sandbox):
    inner = sandbox.sandbox
    with inner.store.transaction():
        item = inner.engine.add_payout_item(
            sandbox.default_organisation, "USD", "gocardless_fee", -300
        )
    assert item["taxes"] == []


def test_charge_back_in_a_later_payout_refunds_the_fee_and_adds_a_surcharge(
    sandbox, client, api, sepa_mandate
):
    payment = _payment(client, sepa_mandate, 5000, "EUR")
    _pay_out(sandbox, payment.id)
    (first,) = sandbox.run_payouts()
    client.scenario_simulators.run(
        "payment_chargeback_settled", params={"links": {"resource": payment.id}}
    )
    payouts = [p for p in client.payouts.list().records if p.id != first["id"]]
    assert len(payouts) == 1  # the settle simulator forces the payout
    items = _items(api, payouts[0].id)["payout_items"]
    types = sorted((item["type"], item["amount"]) for item in items)
    assert types == [
        ("gocardless_fee", "70.0"),  # the fee given back, VAT included
        ("payment_charged_back", "-5000.0"),
        ("surcharge_fee", "-150.0"),
    ]
    fee_refund = next(item for item in items if item["type"] == "gocardless_fee")
    assert fee_refund["taxes"][0]["amount"] == "11.7"
    assert all(item["links"]["payment"] == payment.id for item in items)
    assert payouts[0].amount == _rounded_total(items) == -5080
    assert payouts[0].deducted_fees == 80


def test_refund_item_links_its_refund_and_mandate(sandbox, client, api, sepa_mandate):
    payment = _payment(client, sepa_mandate, 4000, "EUR")
    _pay_out(sandbox, payment.id)
    (first,) = sandbox.run_payouts()
    refund = client.refunds.create(
        params={"amount": 1000, "total_amount_confirmation": 1000, "links": {"payment": payment.id}}
    )
    client.scenario_simulators.run("refund_settled", params={"links": {"resource": refund.id}})
    (payout,) = [p for p in client.payouts.list().records if p.id != first["id"]]
    (item,) = _items(api, payout.id)["payout_items"]
    assert item["type"] == "payment_refunded" and item["amount"] == "-1000.0"
    assert item["links"] == {
        "mandate": sepa_mandate.id,
        "payment": payment.id,
        "refund": refund.id,
    }
    assert item["taxes"] == []
    assert payout.amount == -1000


def test_negative_fee_and_app_fee_added_to_the_next_payout(sandbox, client, api, sepa_mandate):
    payment = _payment(client, sepa_mandate, 10000, "EUR")
    _pay_out(sandbox, payment.id)
    sandbox.add_payout_item("EUR", "gocardless_fee", 505)  # GoCardless credits the merchant
    sandbox.add_payout_item("EUR", "app_fee", -1234, payment=payment.id)
    (payout,) = sandbox.run_payouts()
    items = _items(api, payout["id"])["payout_items"]
    amounts = sorted((item["type"], item["amount"]) for item in items)
    assert amounts == [
        ("app_fee", "-123.4"),
        ("gocardless_fee", "-120.0"),
        ("gocardless_fee", "50.5"),
        ("payment_paid_out", "10000.0"),
    ]
    assert payout["amount"] == _rounded_total(items) == 9807
    with pytest.raises(ValueError, match="unknown payout item type"):
        sandbox.add_payout_item("EUR", "free_money", 10)
    with pytest.raises(ValueError, match="integer"):
        sandbox.add_payout_item("EUR", "app_fee", "12")


def test_payout_items_paginate_by_500_at_most(sandbox, api):
    for index in range(1203):
        sandbox.add_payout_item("EUR", "payment_paid_out", 1000 + index)
    (payout,) = sandbox.run_payouts()
    first = _items(api, payout["id"], limit=500)
    assert len(first["payout_items"]) == 500
    assert first["meta"]["cursors"]["after"]
    items = _all_items(api, payout["id"])
    assert len(items) == 1203
    assert len({item["id"] for item in items}) == 1203
    assert payout["amount"] == _rounded_total(items)
    too_many = api.get(api.url + "/payout_items", params={"payout": payout["id"], "limit": 501})
    assert too_many.status_code == 422
    assert too_many.json()["error"]["errors"][0]["field"] == "limit"


def test_items_of_a_payout_older_than_six_months_are_gone(sandbox, api):
    sandbox.add_payout_item("EUR", "payment_paid_out", 1000)
    (old,) = sandbox.run_payouts()
    sandbox.add_payout_item("EUR", "payment_paid_out", 2000)
    (recent,) = sandbox.run_payouts()
    sandbox.age_payout(old["id"], 200)
    gone = api.get(api.url + "/payout_items", params={"payout": old["id"]})
    assert gone.status_code == 410
    error = gone.json()["error"]
    assert error["code"] == 410 and error["type"] == "invalid_api_usage"
    assert error["errors"][0]["reason"] == "payout_items_gone"
    # The payout itself is still there, and a recent payout's items are served.
    assert api.get(api.url + f"/payouts/{old['id']}").status_code == 200
    assert len(_items(api, recent["id"])["payout_items"]) == 1
    sandbox.age_payout(recent["id"], 100)
    assert api.get(api.url + "/payout_items", params={"payout": recent["id"]}).status_code == 200


def test_pay_payouts_button_pays_them_and_announces_it(sandbox, client):
    sandbox.add_payout_item("EUR", "payment_paid_out", 1000)
    (payout,) = sandbox.run_payouts()
    assert client.payouts.get(payout["id"]).status == "pending"
    page = requests.get(sandbox.url + DASH).text
    start = page.index('data-action="pay"')
    form_start = page.rindex("<form", 0, start)
    action = page[form_start:start].split('action="', 1)[1].split('"', 1)[0]
    response = requests.post(urljoin(sandbox.url, action), allow_redirects=False)
    assert response.status_code == 303
    notice_page = requests.get(urljoin(sandbox.url, response.headers["Location"])).text
    assert "1 payout(s) paid." in notice_page
    paid = client.payouts.get(payout["id"])
    assert paid.status == "paid" and paid.arrival_date
    events = client.events.list(params={"payout": payout["id"]}).records
    assert [(e.resource_type, e.action) for e in events] == [("payouts", "paid")]
    assert events[0].details.cause == "payout_paid"
