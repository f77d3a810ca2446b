"""Glue between Odoo records and the framework-free :mod:`gocardless_core` package."""

from urllib.parse import parse_qsl, urlsplit, urlunsplit

import psycopg2
import requests
from gocardless_pro import errors as gc_errors


def partner_dict(partner):
    """Return the partner dict the core's customer helpers expect.

    :param res.partner partner: The partner paying, usually a commercial partner.
    :return: The keys ``name, is_company, company_name, email, street, street2, city, zip,
             state_code, country_code, lang, phone, mobile``.
    :rtype: dict
    """
    return {
        "name": partner.name or "",
        "is_company": partner.is_company,
        "company_name": partner.commercial_company_name or partner.company_name or "",
        "email": partner.email or "",
        "street": partner.street or "",
        "street2": partner.street2 or "",
        "city": partner.city or "",
        "zip": partner.zip or "",
        "state_code": partner.state_id.code or "",
        "country_code": partner.country_id.code or "",
        "lang": partner.lang or "",
        "phone": partner.phone or "",
        "mobile": partner.mobile or "",
    }


def split_url(url):
    """Split a URL into its address without query string and its query parameters.

    A form submitted with GET drops the query string of its action, so the parameters are
    re-emitted as hidden inputs by the redirect form.

    :param str url: The absolute URL, e.g. a flow's ``authorisation_url``.
    :return: The URL without query string nor fragment, and the query parameters.
    :rtype: tuple[str, dict]
    """
    parts = urlsplit(url)
    return (
        urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
        dict(parse_qsl(parts.query, keep_blank_values=True)),
    )


def bank_account_details(bank_account):
    """Return the clear part shown for a mandate: bank name and last digits of the account.

    :param dict bank_account: A ``customer_bank_accounts`` resource.
    :return: E.g. ``"Barclays •••• 11"``; ``""`` when the account is unknown.
    :rtype: str
    """
    bank_account = bank_account or {}
    bank_name = (bank_account.get("bank_name") or "").strip()
    last_digits = (bank_account.get("account_number_ending") or "").strip()
    parts = [bank_name] if bank_name else []
    if last_digits:
        parts.append(f"•••• {last_digits}")
    return " ".join(parts)


TRANSIENT_EXCEPTIONS = (
    psycopg2.OperationalError,
    requests.ConnectionError,
    requests.Timeout,
    gc_errors.MalformedResponseError,
    gc_errors.GoCardlessInternalError,
    gc_errors.RateLimitError,
)


class GoCardlessTransientError(Exception):
    """A failure that must not be recorded as final: the event is kept for a later attempt."""


def is_transient(exc):
    """Tell whether ``exc``, or an exception it was raised from, is worth retrying.

    :param Exception exc: the exception raised while talking to GoCardless or the database.
    :rtype: bool
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (GoCardlessTransientError, *TRANSIENT_EXCEPTIONS)):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False
