"""Refunds: created, submitted, paid, settled from a payout, bounced."""

from __future__ import annotations

from ..core import Validation, add_working_days, invalid_api_usage, invalid_state, new_id
from .payouts import NULL_FX


class RefundsMixin:
    def create_refund(self, org, body):
        v = Validation("refunds")
        amount = v.integer(body, "amount", required=True, minimum=1)
        payment_id = v.string(body, "links.payment")
        if body.get("links", {}).get("mandate") if isinstance(body.get("links"), dict) else None:
            raise invalid_api_usage(
                403, "insufficient_permissions", "Refunds against mandates are restricted"
            )
        if payment_id is None:
            v.add("links.payment", "is required")
        tac = v.integer(body, "total_amount_confirmation", required=True, minimum=1)
        reference = v.string(body, "reference", max_len=140)
        meta = v.metadata(body)
        v.check()
        payment = self.fetch("payments", payment_id, org, "Payment")
        if not self.creditor_of(org)["can_create_refunds"]:
            raise invalid_state("refunds_not_enabled", "Refunds are not enabled")
        if payment["status"] not in ("confirmed", "paid_out"):
            raise invalid_state(
                "refund_payment_invalid_state",
                f"Payment is {payment['status']} and cannot be refunded",
            )
        already = payment["amount_refunded"]
        if tac != already + amount:
            raise invalid_state(
                "total_amount_confirmation_invalid",
                "total_amount_confirmation must equal the sum of all refunds on the payment "
                f"including this one ({already + amount})",
            )
        if already + amount > payment["amount"]:
            raise invalid_state(
                "available_refund_amount_insufficient",
                "The refund amount exceeds the amount available to refund "
                f"({payment['amount'] - already})",
            )
        payment["amount_refunded"] = already + amount
        self.store.save(payment)
        today = self.today()
        refund = {
            "amount": amount,
            "created_at": self.stamp(),
            "currency": payment["currency"],
            "fx": dict(NULL_FX),
            "id": new_id("RF"),
            "links": {"mandate": payment["links"]["mandate"], "payment": payment["id"]},
            "metadata": meta or {},
            "reference": reference,
            "status": "created",
            "_org": org,
            "_due": {
                "submitted": add_working_days(today, 1).isoformat(),
                "paid": add_working_days(today, 2).isoformat(),
            },
        }
        self.store.insert("refunds", refund, org)
        self.refund_event(refund, "created", "api", "payment_refunded")
        return refund

    def refund_event(self, refund, action, origin, cause, **extra):
        return self.resource_event("refunds", refund, action, origin, cause, **extra)

    def refund_submit(self, refund, day=None):
        refund["status"] = "submitted"
        refund["_due"].pop("submitted", None)
        self.store.save(refund)

    def refund_pay(self, refund, day=None):
        if refund["status"] == "created":
            self.refund_submit(refund, day)
        self.transition("refunds", refund, "paid", "gocardless", "refund_paid", due={}, day=day)
        payment = self.store.get("payments", refund["links"]["payment"])
        self.book(
            payment,
            "payment_refunded",
            -refund["amount"] * 10,
            ("refund_settled", "refund_settled"),
            refund=refund,
        )

    def refund_bounce(self, refund, day=None):
        settled = refund.get("_settled")
        if refund["status"] in ("created", "submitted"):
            self.refund_pay(refund, day)
        payment = self.store.get("payments", refund["links"]["payment"])
        payment["amount_refunded"] -= refund["amount"]
        self.store.save(payment)
        self.transition("refunds", refund, "bounced", "bank", "refund_failed", "failed", day=day)
        if settled:
            self.book(
                payment,
                "refund_funds_returned",
                refund["amount"] * 10,
                ("funds_returned", "refund_funds_returned"),
                refund=refund,
            )
        else:
            for _, item in self.store.all("payout_items", refund["_org"]):
                if item["links"]["refund"] == refund["id"] and item["_payout"] is None:
                    self.store.execute("DELETE FROM docs WHERE id = ?", (item["id"],))
