"""Odoo-facing vocabulary of the GoCardless provider.

The GoCardless rules themselves (schemes, currencies, countries, event outcomes) live in the
framework-free :mod:`gocardless_core` package; this module only derives what Odoo needs.
"""

from .gocardless_core import events, schemes

PROVIDER_CODE = "gocardless"

# Currencies GoCardless collects in (https://developer.gocardless.com/api-reference/#payments).
SUPPORTED_CURRENCIES = frozenset(schemes.SUPPORTED_CURRENCIES)

# The payment methods of the schemes GoCardless offers, Odoo's own ones included.
DEFAULT_PAYMENT_METHOD_CODES = frozenset(
    schemes.payment_method_code(scheme) for scheme in schemes.SCHEMES
)

# The payment methods Odoo 18 lacks, which this module declares: their currency and countries
# are set from the scheme rules of the core (see payment.method._gocardless_apply_scheme_rules).
OWN_PAYMENT_METHOD_CODES = frozenset(
    {"pre_authorized_debit", "autogiro", "betalingsservice", "becs_nz"}
)

# The Odoo transaction state each GoCardless payment outcome leads to: the one mapping of
# payment statuses (read through `gocardless_core.events.payment_outcome_from_status`) to
# transaction states. A failure or charge-back of a payment already `done` cancels it instead
# (its accounting payment is cancelled and the invoice reopened).
PAYMENT_OUTCOME_STATES = {
    events.PAYMENT_PENDING: "pending",
    events.PAYMENT_DONE: "done",
    events.PAYMENT_FAILED: "error",
    events.PAYMENT_CHARGED_BACK: "error",
    events.PAYMENT_CANCELLED: "cancel",
}

# The Odoo transaction state each refund outcome leads to.
REFUND_OUTCOME_STATES = {
    events.REFUND_PENDING: "pending",
    events.REFUND_DONE: "done",
    events.REFUND_FAILED: "error",
}

# Transaction states of a debit that is under way or collected: what it holds of an invoice
# is not available for another debit (a `done` one until its accounting payment is booked).
DEBIT_UNDER_WAY_STATES = ("pending", "authorized")

# Operations that create a GoCardless debit (a refund gives money back; a validation only
# sets a mandate up, which GoCardless does without a debit).
DEBIT_OPERATIONS = ("online_redirect", "online_direct", "online_token", "offline")

# Mandate statuses after which a mandate can't be charged any more.
MANDATE_ENDED_STATUSES = frozenset(
    status
    for status, outcome in events.MANDATE_STATUS_OUTCOMES.items()
    if outcome == events.MANDATE_ENDED
)

# What the merchant sees of an invoice's debit, by the status of its GoCardless payment
# (`retrying` is a failed payment GoCardless will submit again: see the transaction's
# `gocardless_retrying`).
DEBIT_STATUSES = ("scheduled", "submitted", "collected", "retrying", "failed", "cancelled")
DEBIT_STATUS_BY_PAYMENT_STATUS = {
    "pending_customer_approval": "scheduled",
    "pending_submission": "scheduled",
    "submitted": "submitted",
    "confirmed": "collected",
    "paid_out": "collected",
    "failed": "failed",
    "charged_back": "failed",
    "late_failure_settled": "failed",
    "chargeback_settled": "failed",
    "cancelled": "cancelled",
    "customer_approval_denied": "cancelled",
}

# Payment statuses in which GoCardless still lets the merchant cancel a payment.
PAYMENT_CANCELLABLE_STATUSES = frozenset({"pending_submission", "pending_customer_approval"})

# Context key of a batch of the ledger's events: the set of the ids of the transactions whose
# post-processing waits for the end of the batch (`gocardless.event._gocardless_apply_batch`,
# `payment_transaction_batch.py`).
DEFERRED_POST_PROCESS_KEY = "gocardless_deferred_post_process"

# Context key of a batch of the ledger's events: the payments its events name, read together,
# by provider id and payment id (`gocardless.event._gocardless_read_payments`); the pipeline
# reads any other on its own.
PAYMENTS_READ_KEY = "gocardless_payments_read"

# Payment states of an invoice that still has something to pay.
UNPAID_PAYMENT_STATES = ("not_paid", "partial")

# Seconds the provider's "Sync now" button, and the recovery cron for each provider, spend
# applying caught-up events before leaving the rest to the ledger's cron.
CATCH_UP_TIME_BUDGET = 20.0

# Transaction states Odoo leaves no more by itself: a payout item whose transaction is in one
# of them, though not the one its type expects, is booked all the same (GoCardless moved the
# money) and shown to the merchant; only an item whose transaction may still change makes its
# payout wait.
FINAL_STATES = ("done", "cancel", "error")

# Payout item types, and the states of their Odoo transaction once they can be booked.
PAYOUT_ITEM_SETTLED_STATES = {
    "payment_paid_out": ("done",),
    "payment_failed": ("cancel", "error"),
    "payment_charged_back": ("cancel", "error"),
    "payment_refunded": ("done",),
    "refund": ("done",),
    "refund_funds_returned": ("cancel", "error"),
}

# The GoCardless calls that take or give money: a lost answer to one of them may hide that
# GoCardless carried it out, so it is never told that "nothing was charged".
MONEY_MOVING_CALLS = frozenset(
    {("payments", "create"), ("payments", "retry"), ("refunds", "create")}
)

# The transactions of a mandate that GoCardless cancels with it (not yet submitted to the bank).
MANDATE_SCHEDULED_STATES = ("draft", "pending")

# The system parameters holding the partner app's OAuth credentials (GoCardless Connect).
PARAM_CLIENT_ID = "isanet_gocardless.oauth_client_id"
PARAM_CLIENT_SECRET = "isanet_gocardless.oauth_client_secret"  # noqa: S105 - a parameter name

# The largest id PostgreSQL's `integer` columns hold: a record id a request may name.
MAX_ID = 2**31 - 1

# Longest transaction reference looked up from a URL (Odoo's references are far shorter).
REFERENCE_MAX_LENGTH = 255
