"""The ledger (payout items, in tenths of a minor unit) and the payouts made of it."""

from __future__ import annotations

import datetime as dt
import secrets

from ..core import add_working_days, fmt_ts, new_id, parse_ts

NULL_FX = {
    "estimated_exchange_rate": None,
    "exchange_rate": None,
    "fx_amount": None,
    "fx_currency": None,
}

# GoCardless's payout item types; the fees (deducted_fees of a payout) among them.
FEE_ITEM_TYPES = ("app_fee", "gocardless_fee", "surcharge_fee")
PAYOUT_ITEM_TYPES = frozenset(
    {
        *FEE_ITEM_TYPES,
        "payment_charged_back",
        "payment_failed",
        "payment_paid_out",
        "payment_refunded",
        "refund",
        "refund_funds_returned",
        "revenue_share",
    }
)


# VAT GoCardless charges on its fees, per payout currency (``GET /tax_rates`` ids); the fee
# items' amounts include it.
FEE_VAT = {"GBP": ("GB_VAT_1", 20), "EUR": ("FR_VAT_1", 20)}


# A surcharge on a charge-back, in tenths of a minor unit (VAT included where it applies).
CHARGEBACK_SURCHARGE_TENTHS = 1500


# Payout items are no longer served this many days after the payout (410 Gone).
PAYOUT_ITEMS_RETENTION_DAYS = 183


def fee_taxes(currency: str, tenths: int) -> list:
    """The ``taxes`` of a fee item of ``tenths`` (VAT included) in ``currency``."""
    if currency not in FEE_VAT or not tenths:
        return []
    rate_id, percent = FEE_VAT[currency]
    # VAT included: fee * rate / (100 + rate), in tenths, half away from zero.
    tax = (abs(tenths) * percent * 2 + (100 + percent)) // (2 * (100 + percent))
    text = tenths_str(tax)
    return [
        {
            "amount": text,
            "currency": currency,
            "destination_amount": text,
            "destination_currency": currency,
            "exchange_rate": "1.0",
            "tax_rate_id": rate_id,
        }
    ]


def tenths_str(tenths: int) -> str:
    sign = "-" if tenths < 0 else ""
    return f"{sign}{abs(tenths) // 10}.{abs(tenths) % 10}"


def round_tenths(tenths: int) -> int:
    """Round tenths of a minor unit to minor units, half away from zero."""
    sign = -1 if tenths < 0 else 1
    return sign * ((abs(tenths) + 5) // 10)


class PayoutsMixin:
    def book(self, payment, item_type, tenths, settle=None, refund=None):
        """Put an item of ``payment``, or of its ``refund``, in the ledger; ``settle``: the
        ``(action, cause)`` of the payment's (refund's) event when the item's payout is made."""
        rtype, doc = ("refunds", refund) if refund else ("payments", payment)
        return self.ledger(
            doc["_org"],
            doc["currency"],
            item_type,
            tenths,
            payment,
            refund,
            settle=self._settle(rtype, doc["id"], *settle) if settle else None,
        )

    def ledger(
        self, org, currency, item_type, tenths, payment=None, refund=None, settle=None, taxes=None
    ):
        if taxes is None and item_type in ("gocardless_fee", "surcharge_fee"):
            taxes = fee_taxes(currency, tenths)
        item = {
            "amount": None,
            "id": new_id("PI"),
            "links": {
                "mandate": None,
                "payment": payment["id"] if payment else None,
                "refund": refund["id"] if refund else None,
            },
            "taxes": list(taxes or []),
            "type": item_type,
            "_tenths": tenths,
            "_currency": currency,
            "_payout": None,
            "_settle": settle,
            "_org": org,
        }
        if item_type in ("payment_refunded", "refund", "refund_funds_returned") and payment:
            item["links"]["mandate"] = payment["links"]["mandate"]
        self.store.insert("payout_items", item, org)
        return item

    def run_payouts(self, day=None, force=False, org=None, currency=None):
        pending: dict[tuple, list] = {}
        for _, item in self.store.all("payout_items", org):
            if item["_payout"] is None and (currency is None or item["_currency"] == currency):
                pending.setdefault((item["_org"], item["_currency"]), []).append(item)
        created = []
        for (item_org, cur), items in sorted(pending.items()):
            total = sum(item["_tenths"] for item in items)
            if total <= 0 and not force:
                continue
            fees = sum(item["_tenths"] for item in items if item["type"] in FEE_ITEM_TYPES)
            creditor = self.creditor_of(item_org)
            payout_day = day or self.today()
            payout = {
                "amount": round_tenths(total),
                "arrival_date": None,
                "created_at": self.stamp(day),
                "currency": cur,
                "deducted_fees": -round_tenths(fees),
                "fx": dict(NULL_FX),
                "id": new_id("PO"),
                "links": {
                    "creditor": creditor["id"],
                    "creditor_bank_account": creditor["links"][
                        f"default_{cur.lower()}_payout_account"
                    ],
                },
                "metadata": {},
                "payout_type": "merchant",
                "reference": "SBX-" + secrets.token_hex(5).upper(),
                "status": "pending",
                "tax_currency": cur if any(item["taxes"] for item in items) else None,
                "_org": item_org,
                "_due": {"paid": add_working_days(payout_day, 1).isoformat()},
            }
            self.store.insert("payouts", payout, item_org)
            for item in items:
                item["_payout"] = payout["id"]
                self.store.save(item)
            for item in items:
                settle = item.get("_settle")
                if not settle:
                    continue
                doc = self.store.get(settle["type"], settle["id"])
                if settle["action"] == "paid_out":
                    doc["links"]["payout"] = payout["id"]
                    self.store.save(doc)
                elif settle["action"] == "refund_settled":
                    doc["_settled"] = True
                    self.store.save(doc)
                self.resource_event(
                    settle["type"],
                    doc,
                    settle["action"],
                    "gocardless",
                    settle["cause"],
                    day=day,
                    payout=payout["id"],
                )
            created.append(payout)
        return created

    def _settle(self, rtype, doc_id, action, cause):
        """What a payout item settles when its payout is made: the event of its resource."""
        return {"type": rtype, "id": doc_id, "action": action, "cause": cause}

    def pay_pending_payouts(self, day=None):
        """Pay every pending payout now (the dashboard's and the tests' shortcut)."""
        paid = []
        for _, payout in self.store.all("payouts"):
            if payout["status"] == "pending":
                self.payout_paid(payout, day)
                paid.append(payout)
        return paid

    def add_payout_item(self, org, currency, item_type, tenths, payment_id=None, taxes=None):
        """Put one item in the ledger (negative fee, app fee, revenue share...)."""
        if item_type not in PAYOUT_ITEM_TYPES:
            raise ValueError(f"unknown payout item type {item_type!r}")
        if isinstance(tenths, bool) or not isinstance(tenths, int):
            raise ValueError("tenths must be an integer")
        payment = self.store.get("payments", payment_id, org) if payment_id else None
        if payment_id and payment is None:
            raise ValueError(f"no payment {payment_id}")
        return self.ledger(org, currency, item_type, tenths, payment, taxes=taxes)

    def age_payout(self, payout_id, days):
        payout = self.store.get("payouts", payout_id)
        if payout is None:
            raise ValueError(f"no payout {payout_id}")
        created = parse_ts(payout["created_at"]) - dt.timedelta(days=days)
        payout["created_at"] = fmt_ts(created)
        self.store.save(payout)
        return payout

    def payout_paid(self, payout, day=None):
        payout["arrival_date"] = (day or self.today()).isoformat()
        self.transition("payouts", payout, "paid", "gocardless", "payout_paid", due={}, day=day)
