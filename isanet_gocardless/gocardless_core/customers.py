"""GoCardless customer bodies built from an Odoo-like partner dict.

The partner dict has the keys ``name, is_company, company_name, email, street,
street2, city, zip, state_code, country_code, lang, phone, mobile``; missing
keys, ``None`` and ``False`` (Odoo's empty value) all mean "empty", and empty
values are left out of the body.

Naming rules (GoCardless wants ``given_name`` and ``family_name``, or
``company_name``):

* a company (``is_company``) is sent as ``company_name`` only;
* a person's name is split on its last space: ``"Jean-Luc de la Tour"`` gives
  ``given_name="Jean-Luc de la"``, ``family_name="Tour"``;
* a one-word person name is sent as both ``given_name`` and ``family_name``,
  because GoCardless requires the two together; the payer can correct it in
  the hosted flow;
* a person's parent company is *not* sent: a ``company_name`` makes GoCardless
  treat the payer as a business (Business PAD in Canada) and is ignored in a
  prefilled flow when names are given. It is used only when the person has
  no name at all.
"""

from .errors import GoCardlessCoreError
from .phones import to_e164

# Languages GoCardless sends notifications in (ISO 639-1).
SUPPORTED_LANGUAGES = frozenset({"en", "fr", "de", "pt", "es", "it", "nl", "da", "nb", "sl", "sv"})


def _text(partner, key):
    """Return ``partner[key]`` stripped, or ``""`` when empty or not text."""
    value = partner.get(key)
    return value.strip() if isinstance(value, str) else ""


def _language(lang):
    """Return the ISO 639-1 code of an Odoo language (``fr_FR`` -> ``fr``) if supported."""
    code = lang.replace("-", "_").split("@")[0].split("_")[0].lower()
    return code if code in SUPPORTED_LANGUAGES else ""


def _names(partner):
    """Return the name fields of the customer body."""
    name = " ".join(_text(partner, "name").split())
    if partner.get("is_company"):
        company = name or _text(partner, "company_name")
        return {"company_name": company}
    if not name:
        return {"company_name": _text(partner, "company_name")}
    given, _space, family = name.rpartition(" ")
    if not given:
        given = family
    return {"given_name": given, "family_name": family}


def prefilled_customer(partner):
    """Return a ``prefilled_customer`` body for a Billing Request Flow.

    Same fields as :func:`customer_payload` but without ``phone_number``,
    which flows cannot prefill.

    :param dict partner: Odoo-like partner dict (see module docstring).
    :rtype: dict
    :raise GoCardlessCoreError: if the partner has neither a name nor an email.
    """
    country = _text(partner, "country_code").upper()
    body = {
        **_names(partner),
        "email": _text(partner, "email"),
        "address_line1": _text(partner, "street"),
        "address_line2": _text(partner, "street2"),
        "city": _text(partner, "city"),
        "postal_code": _text(partner, "zip"),
        "region": _text(partner, "state_code"),
        "country_code": country,
        "language": _language(_text(partner, "lang")),
    }
    body = {key: value for key, value in body.items() if value}
    if not (body.get("email") or body.get("family_name") or body.get("company_name")):
        raise GoCardlessCoreError("A GoCardless customer needs a name or an email address.")
    return body


def customer_payload(partner):
    """Return the body of ``POST /customers`` for an Odoo-like partner dict.

    Fields: ``company_name`` or ``given_name``/``family_name``, ``email``,
    ``address_line1``/``address_line2`` (street, street2), ``city``,
    ``postal_code`` (zip), ``region`` (state code, required for US payers),
    ``country_code`` (upper case), ``language`` (ISO 639-1, only if GoCardless
    supports it) and ``phone_number`` (E.164 from ``mobile``, else ``phone``;
    left out when neither is a valid number).

    :param dict partner: Odoo-like partner dict (see module docstring).
    :rtype: dict
    :raise GoCardlessCoreError: if the partner has neither a name nor an email.
    """
    body = prefilled_customer(partner)
    country = body.get("country_code")
    for key in ("mobile", "phone"):
        number = to_e164(_text(partner, key), country)
        if number:
            body["phone_number"] = number
            break
    return body
