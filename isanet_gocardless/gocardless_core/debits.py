"""Whether a direct debit may be created: GoCardless's money rules, without Odoo.

The Odoo layer gathers the facts (amounts in minor units, currencies, the mandate's scheme)
and asks :func:`refusal`; it gets ``None`` when the debit may be created, else the code of the
first rule broken, which it words for the person asking. Every door that creates a debit
(portal, saved mandate, merchant's collect, webhook completing a mandate set-up) passes here.
"""

from . import schemes
from .errors import SchemeError

# Refusal codes, in the order the rules are checked.
NOT_COLLECTABLE_CURRENCY = "currency"
MANDATE_SCHEME_MISMATCH = "mandate_scheme"
NOT_POSITIVE = "not_positive"
NOTHING_DUE = "nothing_due"
ABOVE_DUE = "above_due"

REFUSALS = (
    NOT_COLLECTABLE_CURRENCY,
    MANDATE_SCHEME_MISMATCH,
    NOT_POSITIVE,
    NOTHING_DUE,
    ABOVE_DUE,
)


def _is_minor_units(value):
    return isinstance(value, int) and not isinstance(value, bool)


def available(due, already):
    """Return what may still be debited: what is due less debits already under way.

    :param int due: What is left to pay on the documents, in minor units.
    :param int already: Debits pending or collected but not yet booked, in minor units.
    :rtype: int
    """
    if not (_is_minor_units(due) and _is_minor_units(already)):
        raise TypeError("Amounts are integer minor units.")
    return max(0, due - max(0, already))


def refusal(amount, currency, due, already=0, mandate_scheme=None):
    """Return why a debit of ``amount`` may not be created, or ``None`` when it may.

    :param int amount: The debit, in minor units of ``currency``.
    :param str currency: ISO 4217 code of the debit (and of the documents it pays).
    :param int due: What is left to pay on the documents, in minor units.
    :param int already: Other debits of the same documents that are pending, or collected and
        not yet booked, in minor units.
    :param str mandate_scheme: The scheme of the mandate to charge, when one is known.
    :return: ``None``, or one of :data:`REFUSALS`.
    :rtype: str | None
    :raise TypeError: If an amount is not an integer.
    """
    for value in (amount, due, already):
        if not _is_minor_units(value):
            raise TypeError("Amounts are integer minor units.")
    if not isinstance(currency, str) or currency.upper() not in schemes.SUPPORTED_CURRENCIES:
        return NOT_COLLECTABLE_CURRENCY
    if mandate_scheme is not None:
        try:
            schemes.check_scheme(mandate_scheme, currency)
        except SchemeError:
            return MANDATE_SCHEME_MISMATCH
    if amount <= 0:
        return NOT_POSITIVE
    left = available(due, already)
    if left <= 0:
        return NOTHING_DUE
    if amount > left:
        return ABOVE_DUE
    return None
