"""Tests of gocardless_core.events: normalised events and outcome tables."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gocardless_core import events as ev
from gocardless_core.errors import MalformedPayload

OUTCOMES = {
    value
    for name, value in vars(ev).items()
    if name.isupper() and isinstance(value, str) and not name.startswith("_")
}


def make(resource_type, action, **details):
    links = details.pop("links", {})
    return ev.Event.from_dict(
        {
            "id": "EV1",
            "resource_type": resource_type,
            "action": action,
            "links": links,
            "details": details,
        }
    )


def test_from_dict_of_sdk_fixture_event(load_fixture):
    data = load_fixture("events.json")["get"]["body"]["events"]
    event = ev.Event.from_dict(data)
    assert event.id == "EV123"
    assert event.action == "cancelled"
    assert event.cause == "bank_account_disabled"
    assert event.origin == "bank"
    assert event.reason_code == "ADDACS-B"
    assert event.description == "Customer's bank account closed"
    assert event.organisation == data["links"]["organisation"]
    assert event.links == data["links"]
    assert event.links is not data["links"]
    assert ev.Event.from_dict(event.to_dict()) == event


def test_from_dict_tolerates_missing_and_odd_keys():
    event = ev.Event.from_dict({})
    assert event == ev.Event()
    assert event.resource_id is None
    assert event.cause is None and event.organisation is None
    odd = ev.Event.from_dict({"id": 5, "links": "x", "details": None, "metadata": []})
    assert odd.id == "5"
    assert odd.links == {} and odd.details == {} and odd.metadata == {}
    with pytest.raises(MalformedPayload):
        ev.Event.from_dict(["not", "a", "dict"])


def test_events_are_frozen_and_hashable():
    event = make("payments", "confirmed", links={"payment": "PM1"})
    with pytest.raises(AttributeError):
        event.action = "failed"
    assert len({event, make("payments", "confirmed", links={"payment": "PM1"})}) == 1


def test_metadata_and_resource_metadata_are_kept():
    event = ev.Event.from_dict(
        {"metadata": {"odoo_tx": "TX1"}, "resource_metadata": {"odoo_tx": "TX2"}}
    )
    assert event.metadata == {"odoo_tx": "TX1"}
    assert event.resource_metadata == {"odoo_tx": "TX2"}
    assert event.to_dict()["resource_metadata"] == {"odoo_tx": "TX2"}


@pytest.mark.parametrize(
    ("resource_type", "links", "expected"),
    [
        ("payments", {"payment": "PM1", "mandate": "MD1"}, "PM1"),
        ("mandates", {"mandate": "MD1", "new_mandate": "MD2"}, "MD1"),
        ("billing_requests", {"billing_request": "BRQ1", "mandate_request_mandate": "MD1"}, "BRQ1"),
        ("refunds", {"refund": "RF1", "payment": "PM1"}, "RF1"),
        ("payouts", {"payout": "PO1"}, "PO1"),
        ("subscriptions", {"subscription": "SB1"}, "SB1"),
        ("creditors", {"creditor": "CR1"}, "CR1"),
        ("widgets", {"widget": "W1"}, "W1"),
        ("payments", {"mandate": "MD1"}, None),
        ("", {"payment": "PM1"}, None),
    ],
)
def test_resource_id(resource_type, links, expected):
    assert make(resource_type, "x", links=links).resource_id == expected


def test_organisation_comes_from_links():
    assert make("payments", "paid_out", links={"organisation": "OR1"}).organisation == "OR1"


@pytest.mark.parametrize(
    ("resource_type", "action", "expected"),
    [
        ("payments", "created", ev.PAYMENT_PENDING),
        ("payments", "submitted", ev.PAYMENT_PENDING),
        ("payments", "confirmed", ev.PAYMENT_DONE),
        ("payments", "paid_out", ev.PAYMENT_DONE),
        ("payments", "failed", ev.PAYMENT_FAILED),
        ("payments", "charged_back", ev.PAYMENT_CHARGED_BACK),
        ("payments", "chargeback_cancelled", ev.PAYMENT_CHARGEBACK_CANCELLED),
        ("payments", "cancelled", ev.PAYMENT_CANCELLED),
        ("payments", "customer_approval_denied", ev.PAYMENT_CANCELLED),
        ("payments", "late_failure_settled", ev.PAYMENT_RECORD_ONLY),
        ("payments", "chargeback_settled", ev.PAYMENT_RECORD_ONLY),
        ("payments", "surcharge_fee_debited", ev.PAYMENT_RECORD_ONLY),
        ("mandates", "active", ev.MANDATE_ACTIVE),
        ("mandates", "reinstated", ev.MANDATE_ACTIVE),
        ("mandates", "cancelled", ev.MANDATE_ENDED),
        ("mandates", "failed", ev.MANDATE_ENDED),
        ("mandates", "expired", ev.MANDATE_ENDED),
        ("mandates", "consumed", ev.MANDATE_ENDED),
        ("mandates", "blocked", ev.MANDATE_ENDED),
        ("mandates", "replaced", ev.MANDATE_REPLACED),
        # Issue "one path for money": every mandate event updates the status shown.
        ("mandates", "created", ev.MANDATE_PENDING),
        ("mandates", "customer_approval_granted", ev.MANDATE_PENDING),
        ("mandates", "submitted", ev.MANDATE_PENDING),
        ("mandates", "resubmission_requested", ev.MANDATE_PENDING),
        ("mandates", "transferred", ev.MANDATE_ACTIVE),
        ("mandates", "suspended_by_payer", ev.IGNORED),
        ("billing_requests", "fulfilled", ev.BILLING_REQUEST_FULFILLED),
        ("billing_requests", "cancelled", ev.BILLING_REQUEST_CANCELLED),
        ("billing_requests", "failed", ev.BILLING_REQUEST_CANCELLED),
        ("billing_requests", "flow_visited", ev.IGNORED),
        ("refunds", "paid", ev.REFUND_DONE),
        ("refunds", "refund_settled", ev.REFUND_DONE),
        ("refunds", "failed", ev.REFUND_FAILED),
        ("refunds", "cancelled", ev.REFUND_FAILED),
        ("refunds", "bounced", ev.REFUND_FAILED),
        ("refunds", "funds_returned", ev.REFUND_FAILED),
        ("refunds", "created", ev.REFUND_PENDING),
        ("payouts", "paid", ev.PAYOUT_PAID),
        ("payouts", "fx_rate_confirmed", ev.IGNORED),
        ("subscriptions", "created", ev.IGNORED),
        ("creditors", "updated", ev.IGNORED),
    ],
)
def test_outcome_for(resource_type, action, expected):
    assert ev.outcome_for(make(resource_type, action)) == expected


def test_event_outcome_table_only_uses_known_outcomes():
    assert set(ev.EVENT_OUTCOMES.values()) <= OUTCOMES
    for resource_type, action in ev.EVENT_OUTCOMES:
        assert resource_type in ev.RESOURCE_LINK_KEYS
        assert action == action.strip().lower()


@given(st.text(max_size=30), st.text(max_size=30))
def test_unknown_pairs_are_ignored(resource_type, action):
    expected = ev.EVENT_OUTCOMES.get((resource_type, action), ev.IGNORED)
    assert ev.outcome_for(make(resource_type, action)) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending_customer_approval", ev.PAYMENT_PENDING),
        ("pending_submission", ev.PAYMENT_PENDING),
        ("submitted", ev.PAYMENT_PENDING),
        ("confirmed", ev.PAYMENT_DONE),
        ("paid_out", ev.PAYMENT_DONE),
        ("failed", ev.PAYMENT_FAILED),
        ("charged_back", ev.PAYMENT_CHARGED_BACK),
        ("cancelled", ev.PAYMENT_CANCELLED),
        ("customer_approval_denied", ev.PAYMENT_CANCELLED),
        ("something_new", ev.IGNORED),
        (None, ev.IGNORED),
        (["unhashable"], ev.IGNORED),
    ],
)
def test_payment_outcome_from_status(status, expected):
    assert ev.payment_outcome_from_status(status) == expected


def test_other_status_tables():
    assert ev.mandate_outcome_from_status("active") == ev.MANDATE_ACTIVE
    assert ev.mandate_outcome_from_status("pending_submission") == ev.MANDATE_PENDING
    for status in ("failed", "cancelled", "expired", "consumed", "blocked"):
        assert ev.mandate_outcome_from_status(status) == ev.MANDATE_ENDED
    assert ev.mandate_outcome_from_status("suspended_by_payer") == ev.IGNORED
    assert ev.refund_outcome_from_status("paid") == ev.REFUND_DONE
    assert ev.refund_outcome_from_status("submitted") == ev.REFUND_PENDING
    for status in ("cancelled", "bounced", "funds_returned", "failed"):
        assert ev.refund_outcome_from_status(status) == ev.REFUND_FAILED
    assert ev.billing_request_outcome_from_status("fulfilled") == ev.BILLING_REQUEST_FULFILLED
    assert ev.billing_request_outcome_from_status("cancelled") == ev.BILLING_REQUEST_CANCELLED
    assert ev.billing_request_outcome_from_status("ready_to_fulfil") == ev.BILLING_REQUEST_PENDING
    for function in (
        ev.mandate_outcome_from_status,
        ev.refund_outcome_from_status,
        ev.billing_request_outcome_from_status,
    ):
        assert function("nope") == ev.IGNORED
        assert function({}) == ev.IGNORED


def test_status_tables_agree_with_event_tables():
    """A status reached by an event maps to the same outcome as the event."""
    for status, outcome in ev.PAYMENT_STATUS_OUTCOMES.items():
        if ("payments", status) in ev.EVENT_OUTCOMES:
            assert ev.EVENT_OUTCOMES[("payments", status)] == outcome
    for status, outcome in ev.MANDATE_STATUS_OUTCOMES.items():
        if ("mandates", status) in ev.EVENT_OUTCOMES:
            assert ev.EVENT_OUTCOMES[("mandates", status)] == outcome
    for status, outcome in ev.REFUND_STATUS_OUTCOMES.items():
        if ("refunds", status) in ev.EVENT_OUTCOMES:
            assert ev.EVENT_OUTCOMES[("refunds", status)] == outcome


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (
            {
                "description": "Customer's bank account closed",
                "cause": "bank_account_closed",
                "reason_code": "ADDACS-B",
            },
            "Customer's bank account closed (bank_account_closed, ADDACS-B)",
        ),
        (
            {"description": "Refer to payer", "cause": "refer_to_payer"},
            "Refer to payer (refer_to_payer)",
        ),
        ({"description": "  Two\nlines  "}, "Two lines"),
        ({"cause": "insufficient_funds", "reason_code": "AM04"}, "insufficient_funds, AM04"),
        ({}, ""),
    ],
)
def test_failure_reason(details, expected):
    assert ev.failure_reason(make("payments", "failed", **details)) == expected


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "created_at",
                "resource_type",
                "action",
                "links",
                "details",
                "metadata",
                "resource_metadata",
                "other",
            ]
        ),
        st.one_of(
            st.none(),
            st.text(max_size=10),
            st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=3),
        ),
    )
)
def test_from_dict_never_fails_on_dicts_and_round_trips(data):
    event = ev.Event.from_dict(data)
    assert ev.Event.from_dict(event.to_dict()) == event
    assert isinstance(ev.outcome_for(event), str)
    assert isinstance(ev.failure_reason(event), str)
