"""Schemes and bank-detail validation (IBAN mod-97, sort codes, ABA checksum, ...).

Each validator takes the raw payer input and returns ``(normalised, errors)`` where errors is a
list of ``(field, message)``; field names are the hosted page's input names.
"""

from __future__ import annotations

import re

# scheme -> currency, home country, lead working days before the earliest charge date,
# payment timings in working days relative to the charge date:
# submitted (days before), confirmed (days after), paid out (days after).
SCHEMES = {
    "bacs": {"currency": "GBP", "country": "GB", "lead": 3, "submit": 2, "confirm": 1, "payout": 2},
    "sepa_core": {
        "currency": "EUR",
        "country": None,
        "lead": 3,
        "submit": 2,
        "confirm": 1,
        "payout": 3,
    },
    "ach": {"currency": "USD", "country": "US", "lead": 2, "submit": 1, "confirm": 2, "payout": 3},
    "becs": {"currency": "AUD", "country": "AU", "lead": 1, "submit": 1, "confirm": 2, "payout": 3},
    "becs_nz": {
        "currency": "NZD",
        "country": "NZ",
        "lead": 2,
        "submit": 1,
        "confirm": 3,
        "payout": 4,
    },
    "pad": {"currency": "CAD", "country": "CA", "lead": 3, "submit": 3, "confirm": 2, "payout": 3},
    "autogiro": {
        "currency": "SEK",
        "country": "SE",
        "lead": 8,
        "submit": 2,
        "confirm": 0,
        "payout": 2,
    },
    "betalingsservice": {
        "currency": "DKK",
        "country": "DK",
        "lead": 8,
        "submit": 6,
        "confirm": 1,
        "payout": 2,
    },
}
CURRENCY_SCHEME = {info["currency"]: name for name, info in SCHEMES.items()}

SEPA_COUNTRIES = {
    "AT",
    "BE",
    "HR",
    "CY",
    "EE",
    "FI",
    "FR",
    "DE",
    "GR",
    "IE",
    "IT",
    "LV",
    "LT",
    "LU",
    "MT",
    "MC",
    "NL",
    "PT",
    "SM",
    "SK",
    "SI",
    "ES",
    "IS",
    "DK",
    "SE",
    "GB",
    "CH",
    "NO",
    "LI",
    "BG",
    "CZ",
    "HU",
    "PL",
    "RO",
    "AD",
    "VA",
    "GI",
}
IBAN_LENGTHS = {
    "AD": 24,
    "AT": 20,
    "BE": 16,
    "BG": 22,
    "CH": 21,
    "CY": 28,
    "CZ": 24,
    "DE": 22,
    "DK": 18,
    "EE": 20,
    "ES": 24,
    "FI": 18,
    "FR": 27,
    "GB": 22,
    "GI": 23,
    "GR": 27,
    "HR": 21,
    "HU": 28,
    "IE": 22,
    "IS": 26,
    "IT": 27,
    "LI": 21,
    "LT": 20,
    "LU": 20,
    "LV": 21,
    "MC": 27,
    "MT": 31,
    "NL": 18,
    "NO": 15,
    "PL": 28,
    "PT": 25,
    "RO": 24,
    "SE": 24,
    "SI": 19,
    "SK": 24,
    "SM": 27,
    "VA": 22,
}

# Which customer / billing-detail fields each scheme needs (drives incomplete_fields).
CUSTOMER_FIELDS = ["email", "given_name", "family_name"]
BILLING_FIELDS = ["address_line1", "city", "postal_code", "country_code"]
EXTRA_BILLING = {
    "ach": ["region"],
    "autogiro": ["swedish_identity_number"],
    "betalingsservice": ["danish_identity_number"],
}

# Hosted-page bank inputs per scheme (input names).
BANK_INPUTS = {
    "sepa_core": ["iban"],
    "bacs": ["branch_code", "account_number"],
    "ach": ["bank_code", "account_number", "account_type"],
    "becs": ["branch_code", "account_number"],
    "becs_nz": ["bank_code", "branch_code", "account_number", "account_number_suffix"],
    "pad": ["bank_code", "branch_code", "account_number"],
    "autogiro": ["branch_code", "account_number"],
    "betalingsservice": ["bank_code", "account_number"],
}


def digits(value) -> str:
    return re.sub(r"[\s\-]", "", value or "") if isinstance(value, str) else ""


def iban_valid(iban: str) -> str | None:
    """Return an error message, or None when the IBAN passes length and mod-97 checks."""
    iban = digits(iban).upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]+", iban):
        return "is not a valid IBAN"
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is None:
        return "country is not supported"
    if len(iban) != expected:
        return f"must be {expected} characters long for {iban[:2]}"
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    if int(number) % 97 != 1:
        return "is not a valid IBAN (checksum)"
    return None


def aba_valid(routing: str) -> bool:
    if not re.fullmatch(r"\d{9}", routing):
        return False
    d = [int(c) for c in routing]
    total = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])
    return total % 10 == 0


def luhn_valid(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def swedish_id_error(value) -> str | None:
    num = digits(value)
    if len(num) == 12:
        num = num[2:]
    if not re.fullmatch(r"\d{10}", num) or not luhn_valid(num):
        return "is not a valid Swedish personal or organisation number"
    return None


def danish_id_error(value) -> str | None:
    num = digits(value)
    if not re.fullmatch(r"\d{10}|\d{8}", num):
        return "must be a CPR (10 digits) or CVR (8 digits) number"
    return None


# The bank details of the schemes whose inputs are digits only, read in this order:
# (scheme, input, pattern, message).
DIGIT_FIELDS = (
    ("bacs", "branch_code", r"\d{6}", "must be a 6-digit sort code"),
    ("bacs", "account_number", r"\d{8}", "must be 8 digits"),
    ("becs", "branch_code", r"\d{6}", "must be a 6-digit BSB"),
    ("becs", "account_number", r"\d{5,9}", "must be 5 to 9 digits"),
    ("becs_nz", "bank_code", r"\d{2}", "must be 2 digits"),
    ("becs_nz", "branch_code", r"\d{4}", "must be 4 digits"),
    ("becs_nz", "account_number", r"\d{7}", "must be 7 digits"),
    ("becs_nz", "account_number_suffix", r"\d{2,3}", "must be 2-3 digits"),
    ("pad", "bank_code", r"\d{3}", "must be a 3-digit institution"),
    ("pad", "branch_code", r"\d{5}", "must be a 5-digit transit"),
    ("pad", "account_number", r"\d{7,12}", "must be 7 to 12 digits"),
    ("autogiro", "branch_code", r"\d{4,5}", "must be 4-5 digits"),
    ("autogiro", "account_number", r"\d{1,10}", "must be at most 10 digits"),
    ("betalingsservice", "bank_code", r"\d{4}", "must be a 4-digit reg number"),
    ("betalingsservice", "account_number", r"\d{1,10}", "must be at most 10 digits"),
)
# Their fingerprint (duplicate detection), a format of the digits read.
DIGIT_FINGERPRINTS = {
    "bacs": "gb:{0}:{1}",
    "becs": "au:{0}:{1}",
    "becs_nz": "nz:{0}{1}{2}{3}",
    "pad": "ca:{0}{1}:{2}",
    "autogiro": "se:{0}:{1}",
    "betalingsservice": "dk:{0}:{1}",
}
# The bank details an API call may carry (the scheme's inputs, see BANK_INPUTS, and more).
BANK_DETAIL_KEYS = (
    "account_number",
    "branch_code",
    "bank_code",
    "iban",
    "country_code",
    "currency",
    "account_type",
    "account_number_suffix",
)


def _pattern(errors, data, field, regex, message):
    value = digits(data.get(field))
    if not re.fullmatch(regex, value):
        errors.append((field, message))
    return value


def validate_bank_details(scheme: str | None, data: dict):
    """Validate bank details for a scheme (or, without a scheme, from IBAN/country_code).

    ``data`` uses GoCardless's collect_bank_account names: iban, branch_code, bank_code,
    account_number, account_number_suffix, account_type, country_code, account_holder_name.
    Returns ``(details, errors)``; details has country_code, currency, account_number_ending,
    and a ``fingerprint`` for duplicate detection.
    """
    errors: list[tuple[str, str]] = []
    if scheme is None:
        if data.get("iban"):
            scheme = "sepa_core"
        else:
            country = (data.get("country_code") or "").upper()
            scheme = {
                info["country"]: name for name, info in SCHEMES.items() if info["country"]
            }.get(country)
            if scheme is None:
                return None, [("country_code", "is invalid")]
    out = {"scheme": scheme, "currency": SCHEMES[scheme]["currency"], "account_type": None}
    if scheme == "sepa_core":
        iban = digits(data.get("iban")).upper()
        message = iban_valid(iban) if iban else "is required"
        if message is None and iban[:2] not in SEPA_COUNTRIES:
            message = "country is not in the SEPA zone"
        if message:
            errors.append(("iban", message))
        out.update(country_code=iban[:2], fingerprint="iban:" + iban, number=iban)
    elif scheme in DIGIT_FINGERPRINTS:
        read = {
            field[1]: _pattern(errors, data, *field[1:])
            for field in DIGIT_FIELDS
            if field[0] == scheme
        }
        out.update(
            country_code=SCHEMES[scheme]["country"],
            fingerprint=DIGIT_FINGERPRINTS[scheme].format(*read.values()),
            number=read["account_number"] + read.get("account_number_suffix", ""),
        )
    elif scheme == "ach":
        routing = digits(data.get("bank_code"))
        if not aba_valid(routing):
            errors.append(("bank_code", "is not a valid routing number"))
        acc = _pattern(errors, data, "account_number", r"\d{4,17}", "must be 4 to 17 digits")
        account_type = data.get("account_type")
        if account_type not in ("checking", "savings"):
            errors.append(("account_type", "must be checking or savings"))
        out.update(
            country_code="US",
            fingerprint=f"us:{routing}:{acc}",
            number=acc,
            account_type=account_type,
        )
    else:
        return None, [("scheme", "is not supported")]
    out["account_number_ending"] = out.get("number", "")[-2:]
    return out, errors
