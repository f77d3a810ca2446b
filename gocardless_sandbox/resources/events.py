"""Events: every change of a resource is one event, queued for the webhooks."""

from __future__ import annotations

from ..core import dig, new_id

EVENT_LINK_KEYS = [
    "bank_authorisation",
    "billing_request",
    "billing_request_flow",
    "creditor",
    "customer",
    "customer_bank_account",
    "instalment_schedule",
    "mandate",
    "mandate_request",
    "mandate_request_mandate",
    "new_customer_bank_account",
    "new_mandate",
    "organisation",
    "outbound_payment",
    "parent_event",
    "payer_authorisation",
    "payment",
    "payment_account_transaction",
    "payment_request_payment",
    "payout",
    "previous_customer_bank_account",
    "refund",
    "scheme_identifier",
    "subscription",
]


DETAIL_KEYS = [
    "origin",
    "cause",
    "description",
    "scheme",
    "reason_code",
    "will_attempt_retry",
    "not_retried_reason",
    "bank_account_id",
    "currency",
    "item_count",
    "property",
]


# What an event of a resource links to and tells of it, read from the resource: the links
# (event link, path in the resource) and the detail (``scheme`` or ``currency``).
RESOURCE_EVENTS = {
    "mandates": (
        (
            ("mandate", "id"),
            ("customer", "links.customer"),
            ("customer_bank_account", "links.customer_bank_account"),
        ),
        "scheme",
    ),
    "payments": ((("payment", "id"), ("mandate", "links.mandate")), "scheme"),
    "refunds": (
        (("refund", "id"), ("payment", "links.payment"), ("mandate", "links.mandate")),
        "currency",
    ),
    "payouts": ((("payout", "id"),), "currency"),
}


# What GoCardless says of each cause, per resource type (an event's ``details.description``;
# a caller may say more, as for a late failure).
DESCRIPTIONS = {
    "mandates": {
        "mandate_created": "Mandate created via a billing request.",
        "mandate_submitted": "The mandate has been submitted to the banks.",
        "mandate_activated": (
            "The time window after submission for the banks to refuse a mandate has ended without "
            "any errors being received, so this mandate is now active."
        ),
        "mandate_cancelled": "The mandate was cancelled at your request.",
        "bank_account_disabled": "Customer's bank account was disabled.",
        "invalid_bank_details": "The bank account details are invalid.",
        "mandate_expired": "The mandate expired due to inactivity.",
        "mandate_reinstated": "The mandate was reinstated.",
        "bank_account_transferred": (
            "The customer's bank account was transferred to a different bank or building society."
        ),
    },
    "payments": {
        "payment_created": "Payment created via the API.",
        "payment_submitted": (
            "Payment submitted to the banks. As a result, it can no longer be cancelled."
        ),
        "payment_confirmed": (
            "Enough time has passed since the payment was submitted for the banks to return an "
            "error, so this payment is now confirmed."
        ),
        "payment_paid_out": "The payment has been paid out by GoCardless.",
        "payment_cancelled": "Payment cancelled via the API.",
        "mandate_cancelled": "The mandate for this payment was cancelled.",
        "mandate_expired": "The mandate for this payment was cancelled.",
        "insufficient_funds": "The customer's account had insufficient funds to make this payment.",
        "payment_retried": "An attempt to resubmit this payment was requested.",
        "payment_autoretried": "The payment was retried automatically by GoCardless.",
        "authorisation_disputed": (
            "The customer has disputed that the amount taken differs from the amount they were "
            "notified of."
        ),
        "late_failure_settled": "This late failure has been debited from a payout.",
        "chargeback_settled": "This chargeback has been debited from a payout.",
    },
    "refunds": {
        "payment_refunded": "The refund has been created, and will be submitted in the next batch.",
        "refund_paid": "The refund has been paid to your customer.",
        "refund_failed": "The refund did not reach your customer and was returned.",
        "refund_settled": "This refund has been deducted from a payout.",
        "refund_funds_returned": "The refunded funds have been returned to you.",
    },
    "payouts": {
        "payout_paid": "GoCardless has transferred the payout to the creditor's bank account.",
    },
}


def links_template(keys, **values):
    return {key: values.get(key) for key in keys}


class EventsMixin:
    def emit(
        self,
        org,
        resource_type,
        action,
        links,
        details,
        resource=None,
        metadata=None,
        day=None,
        origin_token=True,
    ):
        creditor = self.creditor_of(org)
        links = dict(links)
        links.setdefault("organisation", org)
        links.setdefault("creditor", creditor["id"])
        full_details = links_template(DETAIL_KEYS, **details)
        source = (
            {"type": "access_token", "name": "Sandbox access token"}
            if full_details["origin"] == "api"
            else {"type": "app", "name": "GoCardless"}
        )
        event = {
            "action": action,
            "created_at": self.stamp(day),
            "customer_notifications": [],
            "details": full_details,
            "id": new_id("EV"),
            "links": links_template(EVENT_LINK_KEYS, **links),
            "metadata": metadata if (metadata and full_details["origin"] == "api") else {},
            "resource_metadata": dict((resource or {}).get("metadata") or {}),
            "resource_type": resource_type,
            "source": source,
            "_org": org,
        }
        self.store.insert("events", event, org)
        self.store.execute("INSERT INTO outbox (event_id) VALUES (?)", (event["id"],))
        return event

    def resource_event(self, rtype, doc, action, origin, cause, day=None, **extra):
        """Emit the event of ``doc`` (a mandate, payment, refund or payout); ``extra``: more
        links (``parent_event``, ``payout``...) and details (``reason_code``, a
        ``description`` other than the cause's...)."""
        link_paths, detail = RESOURCE_EVENTS[rtype]
        links = {key: dig(doc, path) for key, path in link_paths}
        links.update({k: val for k, val in extra.items() if k in EVENT_LINK_KEYS})
        details = {"origin": origin, "cause": cause, "description": DESCRIPTIONS[rtype][cause]}
        details[detail] = doc[detail]
        details.update({k: val for k, val in extra.items() if k in DETAIL_KEYS})
        return self.emit(doc["_org"], rtype, action, links, details, doc, day=day)
