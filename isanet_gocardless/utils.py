"""Glue between Odoo records and the framework-free :mod:`gocardless_core` package."""

from urllib.parse import parse_qsl, urlsplit, urlunsplit

import psycopg2
import requests
from gocardless_pro.errors import GoCardlessProError

from odoo.exceptions import AccessError, ValidationError

from .gocardless_core import client as gc_client
from .gocardless_core.errors import ApiCallError


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


def check_merchant_rights(records, operation="write", group=None):
    """Refuse a public method's caller who may not act on ``records`` as the merchant.

    Every public method of the addon (a door of `/web/dataset/call_button`) calls this first,
    before any `sudo()` or call to GoCardless: the user needs ``group`` (when given), the
    ``operation`` right on the records (access rights and record rules) and each record's
    company among the companies they work in (or a parent of one). Code already running as
    superuser (crons, webhooks, the module's own flows) has decided for itself and passes.

    :param records: The records the method acts on (may be empty).
    :param str operation: ``read`` or ``write``, the right the action needs on the records.
    :param str group: The XML id of the group the action needs (e.g. the invoicing group).
    :return: None
    :raise AccessError: If the user may not act on the records.
    """
    env = records.env
    if env.su:
        return
    if group and not env.user.has_group(group):
        raise AccessError(
            env._(
                "GoCardless: you are not allowed to do this (%(group)s only).",
                group=env.ref(group).sudo().full_name,
            )
        )
    records.check_access(operation)
    if "company_id" in records._fields:
        # A company's records are shared with its branches (`parent_of`, as Odoo's rules).
        allowed = env.companies | env.companies.sudo().parent_ids
        foreign = records.sudo().filtered(
            lambda record: record.company_id and record.company_id not in allowed
        )
        if foreign:
            raise AccessError(
                env._("GoCardless: these records belong to a company you are not working in.")
            )


def set_code_labels(records, code_field, label_field, labels):
    """Set each record's ``label_field`` to the words ``labels`` give its GoCardless code
    (``code_field``); a code GoCardless adds one day is shown as it is, not hidden."""
    for record in records:
        code = record[code_field]
        record[label_field] = labels.get(code, code or "")


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


class GoCardlessRequestError(ValidationError):
    """A call to GoCardless failed; raised by ``payment.provider._gocardless_make_request``.

    A `ValidationError`, so that a person (portal, back office) reads its translated message;
    it keeps the core's classification for the code deciding whether to retry.

    :param str message: The translated message shown to the user.
    :param gocardless_core.errors.ApiCallError api_error: What went wrong, classified.
    """

    def __init__(self, message, api_error):
        super().__init__(message)
        self.api_error = api_error

    @property
    def transient(self):
        return self.api_error.transient

    @property
    def kind(self):
        return self.api_error.kind


class GoCardlessUnknownResource(ValidationError):
    """No record of this database matches the GoCardless resource an event names.

    Raised by ``payment.transaction._get_tx_from_notification_data``; the ledger records the
    event as ignored, with this message.

    :param str message: Why nothing matches, for the merchant.
    :param recordset record: The record found but not owning the resource, if any.
    """

    def __init__(self, message, record=None):
        super().__init__(message)
        self.record = record


def is_transient(exc):
    """Tell whether ``exc``, or an exception it was raised from, is worth retrying.

    Transient: a GoCardless call the core classified so (time-out, outage, rate limit, 5xx:
    ``payment.provider._gocardless_make_request`` raises :class:`GoCardlessRequestError`; an
    SDK or network error raised from elsewhere is classified the same way), or a database
    error (serialization failure, lost connection).

    :param Exception exc: the exception raised while talking to GoCardless or the database.
    :rtype: bool
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, GoCardlessRequestError):
            return exc.transient
        if isinstance(exc, ApiCallError):
            return exc.transient
        if isinstance(exc, (GoCardlessProError, requests.RequestException)):
            # A failure of the SDK or of the network met outside the request method (a
            # completion step raising from it): classified as the request method would.
            return gc_client.classify_error(exc).transient
        if isinstance(exc, psycopg2.OperationalError):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def error_detail(error):
    """Return a one-line technical description of ``error``, for logs and the event ledger.

    A GoCardless call failure gives the core's description followed by what the transport said
    (e.g. ``Could not connect to GoCardless. (Connection refused)``); other errors their text.

    :param Exception error: What was raised.
    :rtype: str
    """
    if isinstance(error, GoCardlessRequestError):
        detail = error.api_error.description
        cause = error.__cause__
        cause_text = " ".join(str(cause).split()) if cause is not None else ""
        if cause_text and cause_text not in detail:
            detail = f"{detail} ({cause_text})"
        return detail
    return str(error) or type(error).__name__
