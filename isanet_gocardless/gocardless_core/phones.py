"""Phone numbers in E.164 form, or nothing: never send GoCardless a malformed one."""

import logging

import phonenumbers

_logger = logging.getLogger(__name__)


def to_e164(number, country_code=None):
    """Return ``number`` in E.164 form (``"+33612345678"``), or ``None``.

    :param str number: the number as typed; national numbers need ``country_code``.
    :param str country_code: ISO 3166-1 alpha-2 country used for national numbers.
    :return: the E.164 string; ``None`` for an empty value, and ``None`` with a
        logged warning for an unparsable or invalid number.
    :rtype: str | None
    """
    if not isinstance(number, str) or not number.strip():
        return None
    region = country_code.strip().upper() if isinstance(country_code, str) else None
    try:
        parsed = phonenumbers.parse(number, region or None)
    except phonenumbers.NumberParseException:
        _logger.warning("ignoring unparsable phone number (country %s)", region or "unknown")
        return None
    if not phonenumbers.is_valid_number(parsed):
        _logger.warning("ignoring invalid phone number (country %s)", region or "unknown")
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
