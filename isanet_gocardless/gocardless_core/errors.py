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
