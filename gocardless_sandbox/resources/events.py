"""Events: every change of a resource is one event, queued for the webhooks."""

from __future__ import annotations

from ..core import new_id

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


def links_template(keys, **values):
    return {key: values.get(key) for key in keys}


def dig(doc, dotted):
    """The value at a dotted path of a document (None where a part is missing)."""
    for part in dotted.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


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

    def resource_event(self, rtype, doc, action, origin, cause, description, day=None, **extra):
        """Emit the event of ``doc`` (a mandate, payment, refund or payout); ``extra``: more
        links (``parent_event``, ``payout``...) and details (``reason_code``...)."""
        link_paths, detail = RESOURCE_EVENTS[rtype]
        links = {key: dig(doc, path) for key, path in link_paths}
        links.update({k: val for k, val in extra.items() if k in EVENT_LINK_KEYS})
        details = {"origin": origin, "cause": cause, "description": description}
        details[detail] = doc[detail]
        details.update({k: val for k, val in extra.items() if k in DETAIL_KEYS})
        return self.emit(doc["_org"], rtype, action, links, details, doc, day=day)
