"""Money conversions between Odoo amounts and GoCardless integer minor units.

GoCardless sends and expects amounts as integers in the currency's minor unit
(pence, cents, öre). Conversions go through :class:`decimal.Decimal` only; a
float is first turned into the decimal it prints as (``Decimal(repr(x))``), so
``19.99`` becomes ``1999`` and never ``1998`` as ``int(19.99 * 100)`` would.

Payout items are the exception: their ``amount`` is a *string* of minor units
with one decimal place (``"-143.4"``); see :func:`payout_item_amount`.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from .errors import AmountError

# Number of decimal places of each currency's minor unit (ISO 4217). The first
# eight are the currencies GoCardless collects (all two-decimal); the others
# keep the conversion functions general.
CURRENCY_EXPONENTS = {
    "AUD": 2,
    "CAD": 2,
    "DKK": 2,
    "EUR": 2,
    "GBP": 2,
    "NZD": 2,
    "SEK": 2,
    "USD": 2,
    "CHF": 2,
    "NOK": 2,
    "PLN": 2,
    "ISK": 0,
    "JPY": 0,
    "KRW": 0,
    "BHD": 3,
    "JOD": 3,
    "KWD": 3,
    "OMR": 3,
    "TND": 3,
}

# Enough digits for any realistic amount; larger values raise AmountError
# instead of being silently rounded by the default 28-digit context.
_PRECISION = 60


def currency_exponent(currency):
    """Return the number of decimals of ``currency``'s minor unit.

    :param str currency: ISO 4217 code, case-insensitive.
    :return: the exponent, e.g. 2 for EUR, 0 for JPY.
    :rtype: int
    :raise AmountError: if the currency is unknown.
    """
    code = currency.strip().upper() if isinstance(currency, str) else None
    if code not in CURRENCY_EXPONENTS:
        raise AmountError(f"The currency {currency!r} is not supported.")
    return CURRENCY_EXPONENTS[code]


def _to_decimal(amount):
    """Convert an int, Decimal, numeric string or float into a finite Decimal.

    :raise AmountError: for booleans, other types, unparsable strings, NaN and infinities.
    """
    if isinstance(amount, bool):
        raise AmountError(f"{amount!r} is not an amount.")
    if isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, int):
        value = Decimal(amount)
    elif isinstance(amount, float):
        # repr() gives the shortest string that reads back as the same float:
        # 19.99 -> "19.99", so the decimal value is the one the user typed.
        value = Decimal(repr(amount))
    elif isinstance(amount, str):
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            raise AmountError(f"{amount!r} is not a number.") from None
    else:
        raise AmountError(f"{amount!r} is not an amount.")
    if not value.is_finite():
        raise AmountError(f"{amount!r} is not a finite amount.")
    return value


def to_minor_units(amount, currency):
    """Convert an amount in major units to integer minor units.

    Rounds half away from zero (``ROUND_HALF_UP``) to the currency's exponent.

    :param amount: ``Decimal``, ``int``, numeric ``str`` or ``float``.
    :param str currency: ISO 4217 code.
    :return: the amount in minor units, e.g. ``1999`` for ``19.99`` EUR.
    :rtype: int
    :raise AmountError: for non-numbers, NaN, infinities, absurdly large
        values and unknown currencies.
    """
    exponent = currency_exponent(currency)
    value = _to_decimal(amount)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        try:
            rounded = value.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)
            return int(rounded.scaleb(exponent))
        except InvalidOperation:
            raise AmountError(f"The amount {amount!r} is too large.") from None


def from_minor_units(minor, currency):
    """Convert integer minor units back to a Decimal in major units.

    The result carries exactly the currency's number of decimals
    (``1999`` EUR -> ``Decimal("19.99")``, ``100`` EUR -> ``Decimal("1.00")``).

    :param int minor: amount in minor units.
    :param str currency: ISO 4217 code.
    :rtype: Decimal
    :raise AmountError: if ``minor`` is not an ``int`` (booleans included) or
        the currency is unknown.
    """
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise AmountError(f"{minor!r} is not an integer amount in minor units.")
    exponent = currency_exponent(currency)
    digits = Decimal(minor).as_tuple()
    # Rebuilding from the digit tuple is exact whatever the context precision.
    return Decimal((digits.sign, digits.digits, -exponent))


def payout_item_amount(amount):
    """Parse a payout item ``amount`` (minor units, one decimal place).

    :param amount: the API's string, e.g. ``"-143.4"``; an ``int`` or finite
        ``Decimal`` is accepted too. Floats are refused.
    :return: the amount in minor units, e.g. ``Decimal("-143.4")``.
    :rtype: Decimal
    :raise AmountError: if the value is not a finite decimal number.
    """
    if isinstance(amount, float):
        raise AmountError(f"Payout item amount {amount!r} must be a string, not a float.")
    return _to_decimal(amount)
