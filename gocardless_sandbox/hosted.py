"""Hosted payer pages served at a flow's ``authorisation_url`` (``/flow/BRF...``).

Plain HTML forms, no JavaScript, so a test can submit them with ``requests`` like a browser.

Stable element names / ids (``id`` equals ``name`` for every input):

* form ``#payer-form`` (``method=post``, action = the flow URL); hidden ``lang``
* payer: ``given_name``, ``family_name``, ``company_name`` (either both names or a company),
  ``email``, ``address_line1``, ``address_line2``, ``city``, ``region``, ``postal_code``,
  ``country_code``; ``swedish_identity_number`` (Autogiro), ``danish_identity_number``
  (Betalingsservice)
* bank, depending on the scheme (also shown as ``data-scheme`` on the form):
  SEPA ``iban``; Bacs ``branch_code`` (sort code) + ``account_number``; ACH ``bank_code``
  (routing number) + ``account_number`` + ``account_type`` (select: checking/savings);
  BECS ``branch_code`` (BSB) + ``account_number``; BECS NZ ``bank_code`` + ``branch_code`` +
  ``account_number`` + ``account_number_suffix``; PAD ``bank_code`` (institution) +
  ``branch_code`` (transit) + ``account_number``; Autogiro ``branch_code`` (clearing number) +
  ``account_number``; Betalingsservice ``bank_code`` (reg. number) + ``account_number``;
  always ``account_holder_name`` (optional, defaults to the payer's name)
* submit button ``#confirm`` (``name=action value=confirm``)
* errors: ``#errors`` list, each ``li`` has ``data-field``; the page answers 200
* cancel link ``#exit`` -> ``/flow/BRF.../exit`` -> 303 to the flow's ``exit_uri``
* success page ``#success`` (when there is no ``redirect_uri``); expired page ``#expired``
* creditor name ``#creditor-name``, mandate description ``#mandate-description``

Language: ``?lang=fr|en`` (or hidden ``lang``), then the flow's ``language``, then
``Accept-Language``; default English.
"""

from __future__ import annotations

import html

from .banking import BANK_INPUTS, EXTRA_BILLING, SCHEMES

TEXT = {
    "en": {
        "title": "Set up a Direct Debit",
        "asks": "is asking you to set up a Direct Debit",
        "for": "For",
        "scheme": "Scheme",
        "amount": "Amount",
        "your_details": "Your details",
        "given_name": "First name",
        "family_name": "Last name",
        "company_name": "Company name (instead of your name)",
        "email": "Email address",
        "address_line1": "Address",
        "address_line2": "Address (line 2)",
        "city": "Town or city",
        "region": "State / region",
        "postal_code": "Postal code",
        "country_code": "Country code (e.g. FR, GB)",
        "bank": "Your bank details",
        "account_holder_name": "Account holder name",
        "iban": "IBAN",
        "account_number": "Account number",
        "account_number_suffix": "Account suffix",
        "account_type": "Account type",
        "checking": "Checking",
        "savings": "Savings",
        "swedish_identity_number": "Swedish personal identity number (personnummer)",
        "danish_identity_number": "Danish CPR/CVR number",
        "confirm": "Set up Direct Debit",
        "exit": "Cancel / I can't continue",
        "errors": "Please correct the following",
        "required": "is required",
        "name_required": "enter your first and last name, or a company name",
        "invalid_email": "is not a valid email address",
        "invalid_country": "is invalid",
        "success": "Your Direct Debit has been set up",
        "success_body": "You can close this page. You will receive a confirmation by email.",
        "expired": "This link has expired or is no longer valid",
        "done": "This request has already been completed",
        "exited": "You left the Direct Debit set-up. You can close this page.",
        "guarantee": "Your payments are protected by the Direct Debit guarantee.",
        "branch_code": {
            "bacs": "Sort code",
            "becs": "BSB",
            "becs_nz": "Branch",
            "pad": "Transit number",
            "autogiro": "Clearing number",
        },
        "bank_code": {
            "ach": "Routing number",
            "becs_nz": "Bank",
            "pad": "Institution number",
            "betalingsservice": "Registration number",
        },
    },
    "fr": {
        "title": "Mettre en place un prélèvement",
        "asks": "vous demande d'autoriser un prélèvement",
        "for": "Objet",
        "scheme": "Type de prélèvement",
        "amount": "Montant",
        "your_details": "Vos coordonnées",
        "given_name": "Prénom",
        "family_name": "Nom",
        "company_name": "Raison sociale (au lieu de votre nom)",
        "email": "Adresse e-mail",
        "address_line1": "Adresse",
        "address_line2": "Complément d'adresse",
        "city": "Ville",
        "region": "Région",
        "postal_code": "Code postal",
        "country_code": "Code pays (ex. FR, BE)",
        "bank": "Vos coordonnées bancaires",
        "account_holder_name": "Titulaire du compte",
        "iban": "IBAN",
        "account_number": "Numéro de compte",
        "account_number_suffix": "Suffixe du compte",
        "account_type": "Type de compte",
        "checking": "Compte courant",
        "savings": "Épargne",
        "swedish_identity_number": "Numéro d'identité suédois (personnummer)",
        "danish_identity_number": "Numéro CPR/CVR danois",
        "confirm": "Valider le mandat",
        "exit": "Annuler / je ne peux pas continuer",
        "errors": "Merci de corriger les points suivants",
        "required": "est obligatoire",
        "name_required": "indiquez votre prénom et votre nom, ou une raison sociale",
        "invalid_email": "n'est pas une adresse e-mail valide",
        "invalid_country": "n'est pas valide",
        "success": "Votre mandat de prélèvement est en place",
        "success_body": "Vous pouvez fermer cette page. Vous recevrez une confirmation par e-mail.",
        "expired": "Ce lien a expiré ou n'est plus valide",
        "done": "Cette demande a déjà été complétée",
        "exited": "Vous avez quitté la mise en place du prélèvement. Vous pouvez fermer "
        "cette page.",
        "guarantee": "Vos paiements sont protégés par les règles du prélèvement SEPA.",
        "branch_code": {
            "bacs": "Sort code",
            "becs": "BSB",
            "becs_nz": "Agence",
            "pad": "Numéro de transit",
            "autogiro": "Numéro de clearing",
        },
        "bank_code": {
            "ach": "Routing number",
            "becs_nz": "Banque",
            "pad": "Numéro d'institution",
            "betalingsservice": "Numéro d'enregistrement",
        },
    },
}
# The schemes in words (GoCardless's names for them).
SCHEME_NAMES = {
    "en": {
        "bacs": "Bacs Direct Debit",
        "sepa_core": "SEPA Direct Debit",
        "ach": "ACH Debit",
        "becs": "BECS Direct Debit",
        "becs_nz": "BECS NZ Direct Debit",
        "pad": "Pre-Authorized Debit (PAD)",
        "autogiro": "Autogiro",
        "betalingsservice": "Betalingsservice",
        "faster_payments": "Faster Payments",
        "sepa_credit_transfer": "SEPA Credit Transfer",
    },
    "fr": {
        "bacs": "Prélèvement Bacs",
        "sepa_core": "Prélèvement SEPA",
        "ach": "Prélèvement ACH",
        "becs": "Prélèvement BECS",
        "becs_nz": "Prélèvement BECS NZ",
        "pad": "Prélèvement préautorisé (PAD)",
        "autogiro": "Autogiro",
        "betalingsservice": "Betalingsservice",
        "faster_payments": "Faster Payments",
        "sepa_credit_transfer": "Virement SEPA",
    },
}
PAYER_FIELDS = [
    "given_name",
    "family_name",
    "company_name",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "region",
    "postal_code",
    "country_code",
]


def pick_language(query_lang, flow_lang, accept_language) -> str:
    for candidate in (query_lang, flow_lang):
        if candidate and candidate[:2].lower() in TEXT:
            return candidate[:2].lower()
    for part in (accept_language or "").split(","):
        code = part.split(";")[0].strip()[:2].lower()
        if code in TEXT:
            return code
    return "en"


def scheme_name(lang, scheme):
    """A scheme in words (its code when it has no name here)."""
    return SCHEME_NAMES[lang].get(scheme, scheme or "")


CURRENCY_SYMBOLS = {"EUR": "€", "GBP": "£", "USD": "$"}


def money(lang, amount, currency):
    """An amount in minor units as a payer reads it: ``€1,234.50``, ``1 234,50 €``."""
    sign = "-" if amount < 0 else ""
    units, cents = divmod(abs(amount), 100)
    symbol = CURRENCY_SYMBOLS.get(currency)
    if lang == "fr":
        grouped = f"{units:,}".replace(",", "\u202f")
        return f"{sign}{grouped},{cents:02d}\u00a0{symbol or currency}"
    number = f"{units:,}.{cents:02d}"
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"


def label(lang, field, scheme):
    value = TEXT[lang].get(field, field)
    if isinstance(value, dict):
        return value.get(scheme, field)
    return value


def page(lang, title, body, status_id="page"):
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font-family:sans-serif;max-width:640px;margin:2em auto;padding:0 1em}"
        "label{display:block;margin-top:.6em}input,select{width:100%;padding:.3em}"
        ".errors{color:#b00}button{margin-top:1em;padding:.6em 1.2em}</style></head>"
        f'<body id="{status_id}">{body}</body></html>'
    )


def message_page(lang, key, extra=""):
    text = TEXT[lang][key]
    return page(lang, text, f"<h1>{html.escape(text)}</h1>{extra}", key)


def form_page(lang, flow, br, creditor, values, errors):
    t = TEXT[lang]
    scheme = (br.get("mandate_request") or {}).get("scheme") or "sepa_core"
    description = (br.get("mandate_request") or {}).get("description") or ""
    esc = html.escape
    parts = [
        f"<h1>{esc(t['title'])}</h1>",
        f'<p><strong id="creditor-name">{esc(creditor["name"])}</strong> {esc(t["asks"])}.</p>',
        f'<p>{esc(t["for"])}: <span id="mandate-description">{esc(description)}</span></p>',
    ]
    payment_request = br.get("payment_request")
    if payment_request:
        amount = money(lang, payment_request["amount"], payment_request["currency"])
        parts.append(f'<p>{esc(t["amount"])}: <strong id="amount">{esc(amount)}</strong></p>')
    parts.append(
        f'<p>{esc(t["scheme"])}: <span id="scheme" data-scheme="{esc(scheme)}">'
        f"{esc(scheme_name(lang, scheme))}</span> ({esc(SCHEMES[scheme]['currency'])})</p>"
    )
    if errors:
        items = "".join(
            f'<li data-field="{esc(field)}">{esc(label(lang, field, scheme))}: {esc(msg)}</li>'
            for field, msg in errors
        )
        parts.append(
            f'<div id="errors" class="errors"><p>{esc(t["errors"])}</p><ul>{items}</ul></div>'
        )
    parts.append(
        f'<form id="payer-form" method="post" action="/flow/{esc(flow["id"])}" '
        f'data-scheme="{esc(scheme)}">'
    )
    parts.append(f'<input type="hidden" name="lang" id="lang" value="{esc(lang)}">')
    parts.append(f"<fieldset><legend>{esc(t['your_details'])}</legend>")
    readonly = " readonly" if flow.get("lock_customer_details") else ""
    fields = PAYER_FIELDS + EXTRA_BILLING.get(scheme, [])
    for field in dict.fromkeys(fields):
        if field == "region" and scheme != "ach":
            continue
        kind = "email" if field == "email" else "text"
        parts.append(
            f'<label for="{field}">{esc(label(lang, field, scheme))}</label>'
            f'<input type="{kind}" id="{field}" name="{field}" '
            f'value="{esc(values.get(field) or "")}"{readonly}>'
        )
    parts.append("</fieldset>")
    parts.append(f"<fieldset><legend>{esc(t['bank'])}</legend>")
    parts.append(
        f'<label for="account_holder_name">{esc(t["account_holder_name"])}</label>'
        '<input type="text" id="account_holder_name" name="account_holder_name" '
        f'value="{esc(values.get("account_holder_name") or "")}">'
    )
    for field in BANK_INPUTS[scheme]:
        if field == "account_type":
            current = values.get("account_type") or ""
            options = "".join(
                f'<option value="{opt}"{" selected" if current == opt else ""}>'
                f"{esc(t[opt])}</option>"
                for opt in ("checking", "savings")
            )
            parts.append(
                f'<label for="account_type">{esc(t["account_type"])}</label>'
                f'<select id="account_type" name="account_type">{options}</select>'
            )
            continue
        parts.append(
            f'<label for="{field}">{esc(label(lang, field, scheme))}</label>'
            f'<input type="text" id="{field}" name="{field}" autocomplete="off" '
            f'value="{esc(values.get(field) or "")}">'
        )
    parts.append("</fieldset>")
    parts.append(f"<p>{esc(t['guarantee'])}</p>")
    parts.append(
        f'<button type="submit" id="confirm" name="action" value="confirm">'
        f"{esc(t['confirm'])}</button></form>"
    )
    parts.append(
        f'<p><a id="exit" href="/flow/{esc(flow["id"])}/exit?lang={esc(lang)}">'
        f"{esc(t['exit'])}</a></p>"
    )
    return page(lang, t["title"], "".join(parts), "flow")


def validate_payer(lang, scheme, values):
    """Page-level checks before the API actions run (those re-validate bank details)."""
    t = TEXT[lang]
    errors = []
    if not values.get("company_name") and not (
        values.get("given_name") and values.get("family_name")
    ):
        errors.append(("given_name", t["name_required"]))
    email = values.get("email") or ""
    if not email:
        errors.append(("email", t["required"]))
    elif "@" not in email or "." not in email.split("@")[-1]:
        errors.append(("email", t["invalid_email"]))
    needed = ["address_line1", "city", "postal_code", "country_code"] + EXTRA_BILLING.get(
        scheme, []
    )
    for field in needed:
        if not values.get(field):
            errors.append((field, t["required"]))
    country = values.get("country_code") or ""
    if country and (len(country) != 2 or not country.isalpha()):
        errors.append(("country_code", t["invalid_country"]))
    return errors
