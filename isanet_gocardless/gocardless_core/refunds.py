"""Whether a refund of a collected payment may be asked: GoCardless's money rules, without Odoo.

GoCardless refunds at most what a payment collected, less its refunds made or under way (its
`amount_refunded`). The Odoo layer gathers the facts in minor units and asks :func:`refusal`
before it records or sends anything; it gets ``None`` when the refund may be asked, else the
code of the first rule broken, which it words for the merchant.
"""

# Refusal codes, in the order the rules are checked.
NOT_POSITIVE = "not_positive"
NOTHING_LEFT = "nothing_left"
ABOVE_LEFT = "above_left"

REFUSALS = (NOT_POSITIVE, NOTHING_LEFT, ABOVE_LEFT)


def _is_minor_units(value):
    return isinstance(value, int) and not isinstance(value, bool)


def left_to_refund(collected, refunded):
    """Return what may still be refunded: what was collected less the refunds.

    :param int collected: What the payment collected, in minor units.
    :param int refunded: Its refunds made or under way, in minor units.
    :rtype: int
    :raise TypeError: If an amount is not an integer.
    """
    if not (_is_minor_units(collected) and _is_minor_units(refunded)):
        raise TypeError("Amounts are integer minor units.")
    return max(0, collected - max(0, refunded))


def refusal(amount, collected, refunded=0):
    """Return why a refund of ``amount`` may not be asked, or ``None`` when it may.

    :param int amount: The refund, in minor units of the payment's currency.
    :param int collected: What the payment collected, in minor units.
    :param int refunded: Its refunds made or under way, in minor units.
    :return: ``None``, or one of :data:`REFUSALS`.
    :rtype: str | None
    :raise TypeError: If an amount is not an integer.
    """
    if not _is_minor_units(amount):
        raise TypeError("Amounts are integer minor units.")
    left = left_to_refund(collected, refunded)
    if amount <= 0:
        return NOT_POSITIVE
    if left <= 0:
        return NOTHING_LEFT
    if amount > left:
        return ABOVE_LEFT
    return None
