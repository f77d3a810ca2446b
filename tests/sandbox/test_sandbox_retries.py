"""Failures GoCardless retries by itself (`will_attempt_retry`) and the final failure."""

from __future__ import annotations

import gocardless_pro
import pytest
import requests

from gocardless_sandbox.core import ApiError


def _payment(client, gc, sandbox, amount=2500):
    _br, _flow, mandate = gc.mandate_via_flow(client, sandbox)
    return client.payments.create(
        params={"amount": amount, "currency": "EUR", "links": {"mandate": mandate.id}}
    )


def _events(client, payment_id):
    """The payment's events, oldest first."""
    return list(reversed(list(client.events.all(params={"payment": payment_id}))))


def test_a_failure_with_a_retry_then_the_retry_then_a_final_failure(client, sandbox, gc):
    payment = _payment(client, gc, sandbox)
    client.scenario_simulators.run(
        "payment_failed_will_retry", params={"links": {"resource": payment.id}}
    )
    assert client.payments.get(payment.id).status == "failed"
    failed = [e for e in _events(client, payment.id) if e.action == "failed"]
    assert len(failed) == 1
    assert failed[0].details.will_attempt_retry is True
    assert failed[0].details.not_retried_reason is None
    assert failed[0].details.origin == "bank"
    assert failed[0].details.cause == "insufficient_funds"
    # The retry GoCardless planned happens: resubmission_requested, pending submission again.
    client.scenario_simulators.run(
        "payment_autoretried", params={"links": {"resource": payment.id}}
    )
    retried = client.payments.get(payment.id)
    assert retried.status == "pending_submission"
    assert retried.charge_date > sandbox.clock()["today"]
    last = _events(client, payment.id)[-1]
    assert (last.action, last.details.origin, last.details.cause) == (
        "resubmission_requested",
        "gocardless",
        "payment_autoretried",
    )
    # It fails again, for good this time.
    client.scenario_simulators.run("payment_failed", params={"links": {"resource": payment.id}})
    actions = [e.action for e in _events(client, payment.id)]
    assert actions == [
        "created",
        "submitted",
        "failed",
        "resubmission_requested",
        "submitted",
        "failed",
    ]
    final = _events(client, payment.id)[-1]
    assert final.details.will_attempt_retry is False
    assert final.details.not_retried_reason == "other"
    # No retry was planned by the final failure.
    with pytest.raises(gocardless_pro.errors.InvalidStateError):
        client.scenario_simulators.run(
            "payment_autoretried", params={"links": {"resource": payment.id}}
        )


def test_the_planned_retry_happens_as_days_pass(client, sandbox, gc):
    payment = _payment(client, gc, sandbox)
    failed = sandbox.fail_payment(payment.id, will_attempt_retry=True)
    assert failed["status"] == "failed"
    sandbox.advance_clock(days=7)
    actions = [e.action for e in _events(client, payment.id)]
    assert actions[:4] == ["created", "submitted", "failed", "resubmission_requested"]
    sandbox.advance_clock(days=7)
    assert client.payments.get(payment.id).status in ("submitted", "confirmed", "paid_out")


def test_a_failure_without_retry_and_the_mandate_ended_before_the_retry(client, sandbox, gc):
    payment = _payment(client, gc, sandbox)
    assert sandbox.fail_payment(payment.id)["status"] == "failed"
    with pytest.raises(ApiError, match="retry planned"):
        sandbox.autoretry_payment(payment.id)
    other = _payment(client, gc, sandbox)
    sandbox.fail_payment(other.id, will_attempt_retry=True)
    client.mandates.cancel(other.links.mandate)
    with pytest.raises(ApiError, match="active mandate"):
        sandbox.autoretry_payment(other.id)
    assert client.payments.get(other.id).status == "failed"
    # Nothing happens later either.
    sandbox.advance_clock(days=7)
    assert [e.action for e in _events(client, other.id)][-1] == "failed"


def test_the_dashboard_fails_with_a_retry_and_retries(client, sandbox, gc):
    payment = _payment(client, gc, sandbox)
    page = requests.get(f"{sandbox.url}/sandbox/dashboard?lang=en", timeout=10).text
    assert f'data-action="fail_retry" data-resource="{payment.id}"' in page
    answer = requests.post(
        f"{sandbox.url}/sandbox/dashboard/actions/payments/{payment.id}/fail_retry",
        data={"lang": "en"},
        timeout=10,
    )
    assert answer.status_code == 200  # after the 303 back to the page
    assert 'data-outcome="ok"' in answer.text
    assert client.payments.get(payment.id).status == "failed"
    assert f'data-action="autoretry" data-resource="{payment.id}"' in answer.text
    answer = requests.post(
        f"{sandbox.url}/sandbox/dashboard/actions/payments/{payment.id}/autoretry",
        data={"lang": "fr"},
        timeout=10,
    )
    assert 'data-outcome="ok"' in answer.text
    assert client.payments.get(payment.id).status == "pending_submission"
