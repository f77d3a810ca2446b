"""Odoo-facing vocabulary of the GoCardless provider.

The GoCardless rules themselves (schemes, currencies, countries, event outcomes) live in the
framework-free :mod:`gocardless_core` package; this module only derives what Odoo needs.
"""

from .gocardless_core import schemes

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
