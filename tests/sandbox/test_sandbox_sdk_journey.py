"""The official SDK over real HTTP through a whole direct-debit life."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal

import gocardless_pro
import pytest
import requests
from gocardless_pro import webhooks
from gocardless_pro.errors import InvalidSignatureError


def test_known_answer_vector_of_the_fixtures_readme(gc):
    body = (gc.fixtures_dir() / "webhook_body.json").read_bytes().rstrip(b"\n")
    assert len(body) == 550
    secret = "ED7D658C-D8EB-4941-948B-3973214F2D49"
    expected = "2693754819d3e32d7e8fcb13c729631f316c6de8dc1cf634d6527f1c07276e7e"
    from gocardless_sandbox import sign

    assert sign(body, secret) == expected
    events = webhooks.parse(body, secret, expected)
    assert [e.id for e in events] == ["EV00BD05S5VM2T", "EV00BD05TB8K63"]
    with pytest.raises(InvalidSignatureError):
        webhooks.parse(body, secret, "0" * 64)


def test_full_life_through_the_sdk(sandbox, client, receiver, gc):
    customer = client.customers.create(
        params={
            "given_name": "Ada",
            "family_name": "Lovelace",
            "email": "ada@example.com",
            "metadata": {"odoo_partner": "42"},
        }
    )
    assert customer.id.startswith("CU")
    br = client.billing_requests.create(
        params={
            "mandate_request": {
                "scheme": "sepa_core",
                "currency": "EUR",
                "description": "Invoices of Acme",
            },
            "links": {"customer": customer.id},
            "metadata": {"odoo_tx": "TX-1"},
        }
    )
    assert br.status == "pending" and br.id.startswith("BRQ")
    assert br.mandate_request.scheme == "sepa_core"
    flow = client.billing_request_flows.create(
        params={
            "links": {"billing_request": br.id},
            "redirect_uri": "https://shop.example/done?tx=1",
            "exit_uri": "https://shop.example/exit",
            "prefilled_customer": {"city": "Paris"},
        }
    )
    assert flow.authorisation_url.startswith(sandbox.url + "/flow/BRF")

    page = requests.get(flow.authorisation_url, headers={"Accept-Language": "en-GB"})
    assert page.status_code == 200
    assert "Sandbox Creditor Ltd" in page.text and "Invoices of Acme" in page.text
    assert 'id="confirm"' in page.text and 'name="iban"' in page.text
    assert 'value="Paris"' in page.text  # prefilled
    form = {**gc.PAYER_FORM, "iban": "FR14 2004 1010 0505 0001 3M02 606"}
    done = requests.post(flow.authorisation_url, data=form, allow_redirects=False)
    assert done.status_code == 303
    assert done.headers["Location"] == "https://shop.example/done?tx=1"

    br = client.billing_requests.get(br.id)
    assert br.status == "fulfilled"
    mandate = client.mandates.get(br.links.mandate_request_mandate)
    assert mandate.status == "pending_submission" and mandate.scheme == "sepa_core"
    assert mandate.links.customer == customer.id
    account = client.customer_bank_accounts.get(mandate.links.customer_bank_account)
    assert account.account_number_ending == "06" and account.currency == "EUR"

    payment = client.payments.create(
        params={
            "amount": 12345,
            "currency": "EUR",
            "links": {"mandate": mandate.id},
            "description": "INV/2025/0042",
            "metadata": {"odoo_tx": "TX-981"},
        },
        headers={"Idempotency-Key": "odoo-tx-981"},
    )
    again = client.payments.create(
        params={"amount": 12345, "currency": "EUR", "links": {"mandate": mandate.id}},
        headers={"Idempotency-Key": "odoo-tx-981"},
    )
    assert again.id == payment.id
    assert payment.status == "pending_submission"
    assert payment.charge_date >= mandate.next_possible_charge_date

    events = client.events.list(params={"payment": payment.id}).records
    assert [(e.resource_type, e.action) for e in events] == [("payments", "created")]
    assert events[0].links.organisation == sandbox.default_organisation

    sandbox.advance_clock(days=5)
    assert client.payments.get(payment.id).status in ("submitted", "confirmed")
    sandbox.advance_clock(days=10)
    payment = client.payments.get(payment.id)
    assert payment.status == "paid_out"
    assert client.mandates.get(mandate.id).status == "active"

    payout = client.payouts.get(payment.links.payout)
    items = list(client.payout_items.all(params={"payout": payout.id}))
    kinds = {item.type for item in items}
    assert {"payment_paid_out", "gocardless_fee"} <= kinds
    total = sum(Decimal(item.amount) for item in items)
    assert int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP)) == payout.amount
    assert payout.deducted_fees > 0
    assert abs(payout.amount - (12345 - payout.deducted_fees)) <= 1  # tenths rounding
    assert all(isinstance(item.amount, str) and "." in item.amount for item in items)
    sandbox.advance_clock(days=3)
    assert client.payouts.get(payout.id).status == "paid"

    refund = client.refunds.create(
        params={"amount": 1000, "total_amount_confirmation": 1000, "links": {"payment": payment.id}}
    )
    assert refund.status == "created"
    assert client.payments.get(payment.id).amount_refunded == 1000

    client.scenario_simulators.run(
        "payment_late_failure", params={"links": {"resource": payment.id}}
    )
    assert client.payments.get(payment.id).status == "failed"
    actions = [e.action for e in client.events.all(params={"payment": payment.id})]
    for expected in ("created", "submitted", "confirmed", "paid_out", "failed"):
        assert expected in actions

    # webhooks: signed, batched, verifiable with the SDK helper
    sandbox.flush_webhooks()
    assert gc.wait_for(
        lambda: any(
            e["resource_type"] == "payments" and e["action"] == "failed" for e in receiver.events()
        )
    )
    for request in receiver.requests:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert headers["content-type"] == "application/json"
        assert headers["user-agent"].startswith("gocardless-webhook-service/")
        assert headers["origin"]
        parsed = webhooks.parse_with_meta(request["body"], gc.SECRET, headers["webhook-signature"])
        assert parsed.webhook_id.startswith("WB")
    ids = [e["id"] for e in receiver.events()]
    assert len(ids) == len(set(ids))
    kinds = {(e["resource_type"], e["action"]) for e in receiver.events()}
    assert {
        ("billing_requests", "fulfilled"),
        ("mandates", "created"),
        ("mandates", "active"),
        ("payments", "paid_out"),
        ("payouts", "paid"),
        ("refunds", "created"),
    } <= kinds
    log = sandbox.webhook_deliveries()
    assert log and all(entry["status"] == "succeeded" for entry in log)
    assert log[0]["attempt_log"][0]["response_code"] == 200


def test_webhook_retries_keep_body_and_signature(sandbox, client, receiver, gc):
    receiver.status = 500
    client.customers.create(params={"company_name": "Retry Ltd"})
    assert gc.wait_for(lambda: len(receiver.requests) >= 3, timeout=10)
    receiver.status = 204
    assert gc.wait_for(
        lambda: any(d["status"] == "succeeded" for d in sandbox.webhook_deliveries()), timeout=10
    )
    bodies = {r["body"] for r in receiver.requests}
    signatures = {r["headers"]["Webhook-Signature"] for r in receiver.requests}
    assert len(bodies) == 1 and len(signatures) == 1
    delivery = sandbox.webhook_deliveries()[0]
    codes = [a["response_code"] for a in delivery["attempt_log"]]
    assert codes[0] == 500 and codes[-1] == 204 and delivery["attempts"] == len(codes)
    assert json.loads(delivery["request_body"])["meta"]["webhook_id"] == delivery["id"]


def test_webhook_gives_up_after_eight_attempts(sandbox, client, receiver, gc):
    receiver.status = 503
    sandbox.configure_webhooks(backoff_base=0.001)
    client.customers.create(params={"company_name": "Down Ltd"})
    assert gc.wait_for(
        lambda: any(d["status"] == "failed" for d in sandbox.webhook_deliveries()), timeout=10
    )
    delivery = sandbox.webhook_deliveries()[0]
    assert delivery["attempts"] == 8 and len(receiver.requests) == 8


def test_sdk_error_classes(client, sandbox):
    with pytest.raises(gocardless_pro.errors.InvalidApiUsageError):
        client.payments.get("PM000NOPE")
    bad = gocardless_pro.Client(access_token="wrong", base_url=sandbox.url)
    with pytest.raises(gocardless_pro.errors.AuthenticationError):
        bad.customers.list()
    strict = gocardless_pro.Client(
        access_token="test-token", base_url=sandbox.url, raise_on_idempotency_conflict=True
    )
    strict.customers.create(params={"company_name": "X"}, headers={"Idempotency-Key": "k"})
    with pytest.raises(gocardless_pro.errors.IdempotentCreationConflictError) as info:
        strict.customers.create(params={"company_name": "X"}, headers={"Idempotency-Key": "k"})
    assert info.value.conflicting_resource_id.startswith("CU")
