"""Exceptions raised by the framework-free GoCardless core.

Every exception carries a plain English sentence; the Odoo layer shows its own
translated wording and keeps these messages for logs.
"""


class GoCardlessCoreError(Exception):
    """Base class of every error raised by :mod:`gocardless_core`."""


class ConfigurationError(GoCardlessCoreError, ValueError):
    """A client or helper was given an unusable setting (token, environment, timeout)."""


class InvalidSignature(GoCardlessCoreError):
    """A webhook's ``Webhook-Signature`` header does not match its body and secret."""


class MalformedPayload(GoCardlessCoreError):
    """A correctly signed webhook body is not JSON of the form ``{"events": [...]}``."""


class SchemeError(GoCardlessCoreError, ValueError):
    """A currency, country or payment method does not fit a GoCardless scheme."""


class AmountError(GoCardlessCoreError, ValueError):
    """An amount or currency cannot be converted to or from GoCardless minor units."""


class ApiCallError(GoCardlessCoreError):
    """A call to the GoCardless API failed; :func:`client.classify_error` builds it.

    :param str description: One English line saying what went wrong (for logs).
    :param str kind: What went wrong, one of :data:`API_ERROR_KINDS`.
    :param bool transient: Whether the same call may succeed later (outage, time-out, rate
        limit, GoCardless's own 5xx): callers retry those, and report the others.
    :param int status: The HTTP status, when GoCardless answered.
    :param str reason: GoCardless's machine-readable reason of the first error, if any.
    :param bool uncertain: Whether GoCardless may have carried the request out although its
        answer was lost (a time-out or a dropped connection after the request was sent, an
        unreadable answer): a create may then exist at GoCardless.
    """

    def __init__(self, description, kind, transient, status=None, reason=None, uncertain=False):
        super().__init__(description)
        self.description = description
        self.kind = kind
        self.transient = transient
        self.status = status
        self.reason = reason
        self.uncertain = uncertain


# Kinds of API failures, with whether each is transient (worth the same call again later).
API_ERROR_KINDS = {
    "timeout": True,  # no answer in time
    "unreachable": True,  # refused connection, DNS, TLS, reset
    "unreadable": True,  # an answer that is not GoCardless's JSON (proxy page, cut body)
    "rate_limited": True,  # 429
    "internal": True,  # GoCardless's own 5xx
    "authentication": False,  # 401: the token is wrong or revoked
    "permission": False,  # 403: the token may not do this
    "not_found": False,  # 404
    "validation": False,  # 422 validation_failed
    "invalid_state": False,  # 422/409 invalid_state: e.g. a payment that can't be cancelled
    "conflict": False,  # idempotent_creation_conflict the SDK did not resolve
    "invalid_request": False,  # 400 invalid_api_usage and anything the SDK refuses to send
}
