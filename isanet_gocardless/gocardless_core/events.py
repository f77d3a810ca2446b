"""GoCardless webhook events, normalised, and what each one means for Odoo.

Outcomes are data: :data:`EVENT_OUTCOMES` maps ``(resource_type, action)`` to
one of the string constants below, and :func:`outcome_for` reads it; pairs not
in the table (new actions appear without notice) are :data:`IGNORED`.

Webhooks arrive out of order and more than once, so an event is best used as
a hint to re-read the resource; the ``*_STATUS_OUTCOMES`` tables then map the
resource's *current* status to the same outcomes.

Sources: GoCardless API reference, "Events" (actions and causes per resource)
and the payment, mandate, refund and billing request status lists.
"""

import copy
import re
from dataclasses import dataclass, field

from .errors import MalformedPayload

# --- Outcomes ------------------------------------------------------------------
PAYMENT_PENDING = "payment_pending"
PAYMENT_DONE = "payment_done"
PAYMENT_FAILED = "payment_failed"
PAYMENT_CHARGED_BACK = "payment_charged_back"
PAYMENT_CANCELLED = "payment_cancelled"
# Money moved (fee, settlement) but the payment's status did not change.
PAYMENT_RECORD_ONLY = "payment_record_only"
# A chargeback was reversed: the payment is paid again.
PAYMENT_CHARGEBACK_CANCELLED = "payment_chargeback_cancelled"
# The mandate exists but is not active yet.
MANDATE_PENDING = "mandate_pending"
MANDATE_ACTIVE = "mandate_active"
MANDATE_ENDED = "mandate_ended"
# The mandate moved to another scheme identifier; ``links.new_mandate`` replaces it.
MANDATE_REPLACED = "mandate_replaced"
# Still waiting for the payer (only from BILLING_REQUEST_STATUS_OUTCOMES).
BILLING_REQUEST_PENDING = "billing_request_pending"
BILLING_REQUEST_FULFILLED = "billing_request_fulfilled"
BILLING_REQUEST_CANCELLED = "billing_request_cancelled"
# Refund not paid yet: made (its ``created`` event, which links a refund whose answer was
# lost to its Odoo transaction), or a status on the way to ``paid``.
REFUND_PENDING = "refund_pending"
REFUND_DONE = "refund_done"
REFUND_FAILED = "refund_failed"
PAYOUT_PAID = "payout_paid"
IGNORED = "ignored"

EVENT_OUTCOMES = {
    # Payments. ``failed`` also covers late failures after confirmed/paid_out.
    ("payments", "created"): PAYMENT_PENDING,
    ("payments", "customer_approval_granted"): PAYMENT_PENDING,
    ("payments", "submitted"): PAYMENT_PENDING,
    ("payments", "resubmission_requested"): PAYMENT_PENDING,
    ("payments", "confirmed"): PAYMENT_DONE,
    ("payments", "paid_out"): PAYMENT_DONE,
    ("payments", "failed"): PAYMENT_FAILED,
    ("payments", "charged_back"): PAYMENT_CHARGED_BACK,
    ("payments", "chargeback_cancelled"): PAYMENT_CHARGEBACK_CANCELLED,
    ("payments", "cancelled"): PAYMENT_CANCELLED,
    ("payments", "customer_approval_denied"): PAYMENT_CANCELLED,
    ("payments", "late_failure_settled"): PAYMENT_RECORD_ONLY,
    ("payments", "chargeback_settled"): PAYMENT_RECORD_ONLY,
    ("payments", "surcharge_fee_debited"): PAYMENT_RECORD_ONLY,
    # Mandates. ``reinstated`` is sent once a reinstated mandate is active again. Events of
    # a mandate on its way to ``active`` only change the status the merchant sees.
    ("mandates", "created"): MANDATE_PENDING,
    ("mandates", "customer_approval_granted"): MANDATE_PENDING,
    ("mandates", "customer_approval_skipped"): MANDATE_PENDING,
    ("mandates", "submitted"): MANDATE_PENDING,
    ("mandates", "resubmission_requested"): MANDATE_PENDING,
    ("mandates", "transferred"): MANDATE_ACTIVE,
    ("mandates", "active"): MANDATE_ACTIVE,
    ("mandates", "reinstated"): MANDATE_ACTIVE,
    ("mandates", "cancelled"): MANDATE_ENDED,
    ("mandates", "failed"): MANDATE_ENDED,
    ("mandates", "expired"): MANDATE_ENDED,
    ("mandates", "consumed"): MANDATE_ENDED,
    ("mandates", "blocked"): MANDATE_ENDED,
    ("mandates", "replaced"): MANDATE_REPLACED,
    # Billing requests.
    ("billing_requests", "fulfilled"): BILLING_REQUEST_FULFILLED,
    ("billing_requests", "cancelled"): BILLING_REQUEST_CANCELLED,
    ("billing_requests", "failed"): BILLING_REQUEST_CANCELLED,
    # Refunds. ``failed`` may follow ``refund_settled``: the money comes back.
    ("refunds", "created"): REFUND_PENDING,
    ("refunds", "paid"): REFUND_DONE,
    ("refunds", "refund_settled"): REFUND_DONE,
    ("refunds", "failed"): REFUND_FAILED,
    ("refunds", "cancelled"): REFUND_FAILED,
    ("refunds", "bounced"): REFUND_FAILED,
    ("refunds", "funds_returned"): REFUND_FAILED,
    # Payouts.
    ("payouts", "paid"): PAYOUT_PAID,
}

PAYMENT_STATUS_OUTCOMES = {
    "pending_customer_approval": PAYMENT_PENDING,
    "pending_submission": PAYMENT_PENDING,
    "submitted": PAYMENT_PENDING,
    "confirmed": PAYMENT_DONE,
    "paid_out": PAYMENT_DONE,
    "failed": PAYMENT_FAILED,
    "charged_back": PAYMENT_CHARGED_BACK,
    "cancelled": PAYMENT_CANCELLED,
    "customer_approval_denied": PAYMENT_CANCELLED,
}

# ``suspended_by_payer`` (PayTo only) is deliberately absent: IGNORED.
MANDATE_STATUS_OUTCOMES = {
    "pending_customer_approval": MANDATE_PENDING,
    "pending_submission": MANDATE_PENDING,
    "submitted": MANDATE_PENDING,
    "active": MANDATE_ACTIVE,
    "failed": MANDATE_ENDED,
    "cancelled": MANDATE_ENDED,
    "expired": MANDATE_ENDED,
    "consumed": MANDATE_ENDED,
    "blocked": MANDATE_ENDED,
}

REFUND_STATUS_OUTCOMES = {
    "created": REFUND_PENDING,
    "pending_submission": REFUND_PENDING,
    "submitted": REFUND_PENDING,
    "paid": REFUND_DONE,
    "cancelled": REFUND_FAILED,
    "bounced": REFUND_FAILED,
    "funds_returned": REFUND_FAILED,
    "failed": REFUND_FAILED,
}

BILLING_REQUEST_STATUS_OUTCOMES = {
    "pending": BILLING_REQUEST_PENDING,
    "ready_to_fulfil": BILLING_REQUEST_PENDING,
    "fulfilling": BILLING_REQUEST_PENDING,
    "fulfilled": BILLING_REQUEST_FULFILLED,
    "cancelled": BILLING_REQUEST_CANCELLED,
}

# Key of ``links`` naming the resource an event is about, per resource type.
RESOURCE_LINK_KEYS = {
    "billing_requests": "billing_request",
    "creditors": "creditor",
    "customers": "customer",
    "exports": "export",
    "instalment_schedules": "instalment_schedule",
    "mandates": "mandate",
    "organisations": "organisation",
    "outbound_payments": "outbound_payment",
    "payer_authorisations": "payer_authorisation",
    "payment_account_transactions": "payment_account_transaction",
    "payments": "payment",
    "payouts": "payout",
    "refunds": "refund",
    "scheme_identifiers": "scheme_identifier",
    "subscriptions": "subscription",
}


def _dict(value):
    """Return a deep copy of ``value`` if it is a dict, else an empty dict."""
    return copy.deepcopy(value) if isinstance(value, dict) else {}


# Characters never kept from a webhook's free text: NUL and the other C0 controls but tab
# and newline, and lone surrogates (which no database text column accepts).
_UNSAFE_TEXT = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


def _text(value):
    """Return ``value`` as a string, ``None`` staying ``None``."""
    return None if value is None else str(value)


def _free_text(value):
    """Return ``value`` as a string without unsafe characters, ``None`` staying ``None``."""
    return None if value is None else _UNSAFE_TEXT.sub("", str(value))


@dataclass(frozen=True)
class Event:
    """One GoCardless event, normalised.

    The dict fields are private copies of the webhook's; they do not take part
    in hashing, so events can be put in sets (two events are equal when all
    their fields are).
    """

    id: str = ""
    created_at: str = ""
    resource_type: str = ""
    action: str = ""
    links: dict = field(default_factory=dict, hash=False)
    details: dict = field(default_factory=dict, hash=False)
    metadata: dict = field(default_factory=dict, hash=False)
    resource_metadata: dict = field(default_factory=dict, hash=False)
    cause: str | None = None
    origin: str | None = None
    reason_code: str | None = None
    description: str | None = None
    organisation: str | None = None

    @classmethod
    def from_dict(cls, data):
        """Build an event from its API/webhook dict, tolerating missing keys.

        ``cause``, ``origin``, ``reason_code`` and ``description`` come from
        ``details``; ``organisation`` from ``links.organisation`` (set on
        partner-app webhooks).

        :param dict data: one item of a webhook's ``events`` list.
        :rtype: Event
        :raise MalformedPayload: if ``data`` is not a dict.
        """
        if not isinstance(data, dict):
            raise MalformedPayload("A webhook event is not a JSON object.")
        links = _dict(data.get("links"))
        details = _dict(data.get("details"))
        return cls(
            id=_text(data.get("id")) or "",
            created_at=_text(data.get("created_at")) or "",
            resource_type=_text(data.get("resource_type")) or "",
            action=_text(data.get("action")) or "",
            links=links,
            details=details,
            metadata=_dict(data.get("metadata")),
            resource_metadata=_dict(data.get("resource_metadata")),
            cause=_free_text(details.get("cause")),
            origin=_free_text(details.get("origin")),
            reason_code=_free_text(details.get("reason_code")),
            description=_free_text(details.get("description")),
            organisation=_text(links.get("organisation")),
        )

    def to_dict(self):
        """Return the event as an API-shaped dict (``details`` holds cause etc.).

        ``Event.from_dict(event.to_dict()) == event`` for any event built by
        :meth:`from_dict`.

        :rtype: dict
        """
        return {
            "id": self.id,
            "created_at": self.created_at,
            "resource_type": self.resource_type,
            "action": self.action,
            "links": copy.deepcopy(self.links),
            "details": copy.deepcopy(self.details),
            "metadata": copy.deepcopy(self.metadata),
            "resource_metadata": copy.deepcopy(self.resource_metadata),
        }

    @property
    def resource_id(self):
        """Id of the resource the event is about (``links.payment`` for payments...).

        :return: the id, or ``None`` if the event has no such link.
        :rtype: str | None
        """
        key = RESOURCE_LINK_KEYS.get(self.resource_type)
        if key is None and self.resource_type.endswith("s"):
            key = self.resource_type[:-1]
        return _text(self.links.get(key)) if key else None


def _lookup(table, status):
    """Return ``table[status]``, or :data:`IGNORED` for unknown or non-text statuses."""
    return table.get(status, IGNORED) if isinstance(status, str) else IGNORED


def outcome_for(event):
    """Return what ``event`` means for Odoo: one of the outcome constants.

    :param Event event: a normalised event.
    :return: the outcome, :data:`IGNORED` for any pair not in :data:`EVENT_OUTCOMES`.
    :rtype: str
    """
    return EVENT_OUTCOMES.get((event.resource_type, event.action), IGNORED)


def payment_outcome_from_status(status):
    """Map a GoCardless payment status to an outcome (unknown -> :data:`IGNORED`)."""
    return _lookup(PAYMENT_STATUS_OUTCOMES, status)


def mandate_outcome_from_status(status):
    """Map a GoCardless mandate status to an outcome (unknown -> :data:`IGNORED`)."""
    return _lookup(MANDATE_STATUS_OUTCOMES, status)


def refund_outcome_from_status(status):
    """Map a GoCardless refund status to an outcome (unknown -> :data:`IGNORED`)."""
    return _lookup(REFUND_STATUS_OUTCOMES, status)


def billing_request_outcome_from_status(status):
    """Map a GoCardless billing request status to an outcome (unknown -> :data:`IGNORED`)."""
    return _lookup(BILLING_REQUEST_STATUS_OUTCOMES, status)


def failure_reason(event):
    """Return a one-line human explanation of a failure, cancellation or chargeback.

    Built from the event's ``description`` followed by ``cause`` and
    ``reason_code`` in brackets, e.g.
    ``"Customer's bank account closed (bank_account_closed, ADDACS-B)"``.

    :param Event event: a normalised event.
    :return: the explanation, ``""`` when the event carries none (the caller
        supplies its own wording then).
    :rtype: str
    """
    codes = ", ".join(code for code in (event.cause, event.reason_code) if code)
    description = " ".join((event.description or "").split())
    if description and codes:
        return f"{description} ({codes})"
    return description or codes
