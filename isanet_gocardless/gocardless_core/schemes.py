"""GoCardless direct debit schemes and the currencies and countries they serve.

One table, :data:`SCHEMES`, holds every fact; the helpers below only read it.
Each supported currency is served by exactly one direct debit scheme, so the
scheme of a payment follows from its currency, and the payer's country is
checked against the scheme's countries.

Sources: GoCardless API reference (``mandate_request.scheme``), support
article "Which countries can I collect payments from?", and the payment
reference limits of ``POST /payments``.
"""

from dataclasses import dataclass

from .errors import SchemeError


@dataclass(frozen=True)
class Scheme:
    """A GoCardless direct debit scheme.

    :ivar str code: GoCardless scheme code (``sepa_core``).
    :ivar str currency: the only currency the scheme collects.
    :ivar frozenset countries: ISO 3166-1 alpha-2 codes of payers' countries.
    :ivar str payment_method_code: code of the matching Odoo ``payment.method``.
    :ivar str label: human name.
    :ivar reference_max_length: longest payment ``reference`` the scheme
        accepts, or ``None`` when it has no limit.
    """

    code: str
    currency: str
    countries: frozenset
    payment_method_code: str
    label: str
    reference_max_length: int | None


# Eurozone and other SEPA members where GoCardless collects EUR, plus the
# non-euro SEPA countries whose payers may hold EUR accounts.
_SEPA_COUNTRIES = frozenset(
    {
        "AT", "BE", "HR", "CY", "EE", "FI", "FR", "DE", "GR", "IE", "IT", "LV",
        "LT", "LU", "MT", "MC", "NL", "PT", "SM", "SK", "SI", "ES",
        "IS", "DK", "SE", "GB", "CH", "NO", "LI",
    }
)  # fmt: skip

SCHEMES = {
    scheme.code: scheme
    for scheme in (
        # code, currency, payers' countries, Odoo payment method, label, reference length
        Scheme("sepa_core", "EUR", _SEPA_COUNTRIES,
               "sepa_direct_debit", "SEPA Direct Debit", 140),
        Scheme("bacs", "GBP", frozenset({"GB"}),
               "bacs_direct_debit", "Bacs Direct Debit", 10),
        Scheme("ach", "USD", frozenset({"US", "PR"}),
               "ach_direct_debit", "ACH Debit", 10),
        Scheme("becs", "AUD", frozenset({"AU"}),
               "becs_direct_debit", "BECS Direct Debit", 30),
        Scheme("becs_nz", "NZD", frozenset({"NZ"}),
               "becs_nz", "BECS NZ Direct Debit", 12),
        Scheme("pad", "CAD", frozenset({"CA"}),
               "pre_authorized_debit", "Pre-Authorized Debit", None),
        Scheme("autogiro", "SEK", frozenset({"SE"}),
               "autogiro", "Autogiro", 11),
        Scheme("betalingsservice", "DKK", frozenset({"DK"}),
               "betalingsservice", "Betalingsservice", 30),
    )
}  # fmt: skip

SUPPORTED_CURRENCIES = frozenset(scheme.currency for scheme in SCHEMES.values())

_SCHEME_BY_CURRENCY = {scheme.currency: scheme for scheme in SCHEMES.values()}
_SCHEME_BY_METHOD = {scheme.payment_method_code: scheme for scheme in SCHEMES.values()}


def _normalise(code):
    """Return ``code`` stripped and upper-cased, or ``""`` when empty or not text."""
    return code.strip().upper() if isinstance(code, str) else ""


def _get_scheme(scheme):
    """Return the :class:`Scheme` called ``scheme`` or raise :class:`SchemeError`."""
    try:
        return SCHEMES[scheme]
    except (KeyError, TypeError):
        raise SchemeError(f"{scheme!r} is not a supported GoCardless scheme.") from None


def _check_country(scheme, country_code):
    """Raise :class:`SchemeError` unless the payer's country is served by ``scheme``."""
    country = _normalise(country_code)
    if country and country not in scheme.countries:
        raise SchemeError(
            f"GoCardless cannot collect {scheme.currency} from a payer in {country}: "
            f"the {scheme.label} scheme only serves {', '.join(sorted(scheme.countries))}."
        )


def scheme_for(currency, country_code=None):
    """Return the scheme code that collects ``currency`` from a payer in ``country_code``.

    :param str currency: ISO 4217 code, case-insensitive.
    :param country_code: payer's ISO 3166-1 alpha-2 country; ``None`` or ``""``
        means unknown, and the scheme is chosen by currency alone.
    :rtype: str
    :raise SchemeError: if GoCardless does not collect that currency, or not
        from that country; the message names both.
    """
    code = _normalise(currency)
    scheme = _SCHEME_BY_CURRENCY.get(code)
    if scheme is None:
        raise SchemeError(
            f"GoCardless cannot collect payments in {code or 'an unknown currency'}"
            f" (payer country: {_normalise(country_code) or 'unknown'});"
            f" supported currencies are {', '.join(sorted(SUPPORTED_CURRENCIES))}."
        )
    _check_country(scheme, country_code)
    return scheme.code


def check_scheme(scheme, currency, country_code=None):
    """Check that ``scheme`` can collect ``currency`` from a payer in ``country_code``.

    :raise SchemeError: if the scheme is unknown, collects another currency, or
        does not serve that country (``None``/``""`` country is accepted).
    """
    found = _get_scheme(scheme)
    code = _normalise(currency)
    if code != found.currency:
        raise SchemeError(
            f"The {found.label} scheme collects {found.currency}, not {code or 'no currency'}."
        )
    _check_country(found, country_code)


def payment_method_code(scheme):
    """Return the Odoo payment method code of a scheme (``bacs`` -> ``bacs_direct_debit``).

    :raise SchemeError: if the scheme is unknown.
    """
    return _get_scheme(scheme).payment_method_code


def _scheme_for_method(code):
    """Return the :class:`Scheme` of an Odoo payment method code, or raise SchemeError."""
    try:
        return _SCHEME_BY_METHOD[code]
    except (KeyError, TypeError):
        raise SchemeError(f"{code!r} is not a payment method handled by GoCardless.") from None


def scheme_from_payment_method_code(code):
    """Return the scheme code of an Odoo payment method code.

    :raise SchemeError: if no scheme uses that payment method.
    """
    return _scheme_for_method(code).code


def countries_for_payment_method(code):
    """Return the sorted country codes where payers of that payment method live.

    :rtype: tuple[str, ...]
    :raise SchemeError: if no scheme uses that payment method.
    """
    return tuple(sorted(_scheme_for_method(code).countries))


def currency_for_payment_method(code):
    """Return the only currency of an Odoo payment method code.

    :raise SchemeError: if no scheme uses that payment method.
    """
    return _scheme_for_method(code).currency


# Scheme names a creditor's ``scheme_identifiers`` may use for a collecting scheme of
# :data:`SCHEMES` (GoCardless names the SEPA identifier ``sepa``).
_IDENTIFIER_ALIASES = {"sepa": "sepa_core"}


def collectable_schemes(identifier_schemes):
    """Return the direct debit schemes a creditor can collect with, from its identifiers.

    :param identifier_schemes: The ``scheme`` of each of the creditor's ``scheme_identifiers``
        (credit transfer and other schemes are left out; anything not text is ignored).
    :return: The scheme codes of :data:`SCHEMES`, sorted.
    :rtype: tuple[str, ...]
    """
    found = set()
    for name in identifier_schemes or ():
        if not isinstance(name, str):
            continue
        code = _IDENTIFIER_ALIASES.get(name.strip().lower(), name.strip().lower())
        if code in SCHEMES:
            found.add(code)
    return tuple(sorted(found))
