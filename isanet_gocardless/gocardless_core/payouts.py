"""A GoCardless payout turned into balanced booking lines, in integer minor units.

A payout is what reaches the merchant's bank: the payments GoCardless collected, less its
fees (VAT included), app fees, charge-backs, late failures and refunds, plus fee refunds and
refunds that came back. Its items (``GET /payout_items``) carry their amounts as decimal
strings of minor units that may hold a fraction (``"-143.4"``); the payout's ``amount`` is an
integer. :func:`booking_lines` books every item once and adds one explicit rounding line, so
that the lines add up to zero and the bank line equals the payout's amount exactly.

Sign convention: a line's ``amount`` is a debit when positive, a credit when negative, in the
payout's currency's minor units.
"""

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from .amounts import payout_item_amount
from .client import MAX_PAGE_SIZE
from .errors import AmountError

# Items about the money of one payment or refund: booked on the clearing account, against
# the payment (or refund) they settle.
PAYMENT_ITEM_TYPES = frozenset(
    {
        "payment_paid_out",
        "payment_failed",
        "payment_charged_back",
        "payment_refunded",
        "refund",
        "refund_funds_returned",
    }
)
# Fee items: an expense (or its refund), VAT on the fee apart.
FEE_ITEM_TYPES = frozenset({"gocardless_fee", "app_fee", "surcharge_fee"})

# Kinds of booking lines.
NET = "net"  # the money moved to the merchant's bank (debit = the payout's amount)
CLEARING = "clearing"  # a payment-related item, against its payment on the clearing account
FEE = "fee"  # GoCardless fees and surcharges, net of VAT
APP_FEE = "app_fee"  # the partner app's fees, net of VAT
VAT = "vat"  # the VAT charged on fees (per tax rate)
OTHER = "other"  # items of types this code does not know (revenue share, newer types)
ROUNDING = "rounding"  # the explicit difference between the exact items and whole minor units

_FEE_KINDS = {"gocardless_fee": FEE, "surcharge_fee": FEE, "app_fee": APP_FEE}


@dataclass
class BookingLine:
    """One line of the payout's entry.

    :ivar str kind: One of NET, CLEARING, FEE, APP_FEE, VAT, OTHER, ROUNDING.
    :ivar int amount: Minor units; positive = debit, negative = credit.
    :ivar str payment: The GoCardless payment (``PM…``) a CLEARING line settles.
    :ivar str refund: The GoCardless refund (``RF…``) a CLEARING line settles.
    :ivar str tax_rate_id: GoCardless's tax rate of a VAT line (``GB_VAT_1``).
    :ivar tuple item_types: The item types booked on the line.
    :ivar int item_count: How many items the line books.
    """

    kind: str
    amount: int
    payment: str = None
    refund: str = None
    tax_rate_id: str = None
    item_types: tuple = ()
    item_count: int = 0


@dataclass
class PayoutBooking:
    """The lines of a payout's entry and its totals (all in minor units).

    ``fees`` and ``vat`` are what the merchant paid (positive) or got back (negative);
    ``rounding`` is the rounding line's amount (a debit when positive).
    """

    currency: str
    amount: int
    lines: list = field(default_factory=list)
    fees: int = 0
    vat: int = 0
    rounding: int = 0
    exact_total: Decimal = Decimal(0)


def _round(value):
    """Round a Decimal of minor units to an int, half away from zero."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _tax_amount(tax, currency):
    """Return the size of one ``taxes[]`` entry in the payout's currency, in minor units."""
    if not isinstance(tax, dict):
        raise AmountError(f"A payout item tax {tax!r} is not an object.")
    if tax.get("destination_currency") == currency and tax.get("destination_amount") is not None:
        value = tax["destination_amount"]
    elif tax.get("currency") in (None, currency):
        value = tax.get("amount")
    else:
        raise AmountError(
            f"The VAT of a fee is in {tax.get('currency')!r}, not in the payout's {currency}."
        )
    return abs(payout_item_amount(value))


def booking_lines(payout, items):
    """Book a payout and all its items as lines adding up to zero.

    * one NET line: the payout's ``amount``, debited to the merchant's bank;
    * one CLEARING line per payment (or refund) the items touch, the sum of its items with
      the sign reversed (a payment paid out credits the clearing account);
    * FEE and APP_FEE lines (one each) net of VAT, and one VAT line per tax rate; a fee
      refunded or negative reduces them, its VAT too;
    * OTHER for items of other types;
    * ROUNDING: whatever makes the lines of whole minor units add up to zero.

    :param dict payout: The ``payouts`` resource (``amount``, ``currency``).
    :param list items: All its ``payout_items`` (every page).
    :rtype: PayoutBooking
    :raise AmountError: if an amount is not a number, a tax is in another currency, or the
        items do not add up to the payout's amount (to less than one minor unit).
    """
    currency = payout.get("currency")
    amount = payout.get("amount")
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise AmountError(f"The payout amount {amount!r} is not an integer of minor units.")
    clearing = {}  # (payment, refund) -> [Decimal, types, count]
    fees = {}  # kind -> [Decimal, types, count]
    vat = {}  # tax rate -> [Decimal, count]
    other = [Decimal(0), set(), 0]
    exact_total = Decimal(0)
    for item in items:
        if not isinstance(item, dict):
            raise AmountError(f"A payout item {item!r} is not an object.")
        value = payout_item_amount(item.get("amount"))
        exact_total += value
        item_type = item.get("type")
        links = item.get("links") or {}
        if item_type in PAYMENT_ITEM_TYPES:
            key = (links.get("payment"), links.get("refund"))
            bucket = clearing.setdefault(key, [Decimal(0), set(), 0])
        elif item_type in FEE_ITEM_TYPES:
            tax_total = Decimal(0)
            sign = -1 if value < 0 else 1
            for tax in item.get("taxes") or ():
                tax_value = _tax_amount(tax, currency) * sign
                tax_total += tax_value
                rate = vat.setdefault(tax.get("tax_rate_id") or "", [Decimal(0), 0])
                rate[0] -= tax_value
                rate[1] += 1
            if abs(tax_total) > abs(value):
                raise AmountError(
                    f"The VAT {tax_total} of a fee is larger than the fee {value} itself."
                )
            value -= tax_total
            bucket = fees.setdefault(_FEE_KINDS[item_type], [Decimal(0), set(), 0])
        else:
            bucket = other
        # Every line books the item's opposite: what the merchant receives is a credit here
        # and the debit of the NET line.
        bucket[0] -= value
        bucket[1].add(item_type)
        bucket[2] += 1
    if abs(exact_total - amount) >= 1:
        raise AmountError(
            f"The payout's items add up to {exact_total}, not to its amount {amount} "
            f"({currency}): some items are missing."
        )

    booking = PayoutBooking(currency=currency, amount=amount, exact_total=exact_total)
    lines = booking.lines
    lines.append(BookingLine(NET, amount, item_count=0))
    for (payment, refund), (value, types, count) in clearing.items():
        lines.append(
            BookingLine(
                CLEARING,
                _round(value),
                payment=payment,
                refund=refund,
                item_types=tuple(sorted(types)),
                item_count=count,
            )
        )
    for kind in (FEE, APP_FEE):
        if kind in fees:
            value, types, count = fees[kind]
            lines.append(
                BookingLine(kind, _round(value), item_types=tuple(sorted(types)), item_count=count)
            )
    for rate, (value, count) in sorted(vat.items()):
        lines.append(BookingLine(VAT, _round(value), tax_rate_id=rate or None, item_count=count))
    if other[2]:
        lines.append(
            BookingLine(
                OTHER, _round(other[0]), item_types=tuple(sorted(other[1])), item_count=other[2]
            )
        )
    # Lines of zero (a payment and its charge-back in the same payout) are kept for the
    # links; the rounding line makes the entry add up exactly.
    difference = sum(line.amount for line in lines)
    if difference:
        booking.rounding = -difference
        lines.append(BookingLine(ROUNDING, -difference))
    booking.fees = sum(line.amount for line in lines if line.kind in (FEE, APP_FEE))
    booking.vat = sum(line.amount for line in lines if line.kind == VAT)
    return booking


def all_items(fetch_page, payout_id, limit=MAX_PAGE_SIZE):
    """Read every item of a payout, page after page (cursor pagination).

    :param fetch_page: Called with the list parameters (``payout``, ``limit``, ``after``),
        returns the response body of ``GET /payout_items``.
    :param str payout_id: The payout (``PO…``).
    :param int limit: Items per page, at most :data:`MAX_PAGE_SIZE`.
    :return: The items, in the order GoCardless gave them.
    :rtype: list
    :raise AmountError: if the API sends the same cursor twice (it would loop forever).
    """
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    items, seen, after = [], set(), None
    while True:
        params = {"payout": payout_id, "limit": limit}
        if after:
            params["after"] = after
        body = fetch_page(params) or {}
        items.extend(body.get("payout_items") or ())
        after = ((body.get("meta") or {}).get("cursors") or {}).get("after")
        if not after:
            return items
        if after in seen:
            raise AmountError(f"The payout items of {payout_id} repeat the cursor {after}.")
        seen.add(after)
