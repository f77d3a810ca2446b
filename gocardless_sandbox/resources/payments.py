"""Payments: created, submitted, confirmed, paid out, failed (retried or not), charged back."""

from __future__ import annotations

import datetime as dt

from ..banking import SCHEMES
from ..core import (
    Validation,
    add_working_days,
    invalid_state,
    new_id,
    parse_date,
    roll_forward,
)
from .events import DESCRIPTIONS
from .mandates import ACTIVE_MANDATE
from .payouts import CHARGEBACK_SURCHARGE_TENTHS, NULL_FX

# A failure GoCardless retries (`will_attempt_retry`) is submitted again this many working
# days later (GoCardless picks the day; any later day behaves alike here).
AUTORETRY_WORKING_DAYS = 3


FAILURE_REASON = {
    "bacs": "ARUDD-0",
    "sepa_core": "AM04",
    "ach": "R01",
    "becs": "IN",
    "becs_nz": "IN",
    "pad": "901",
    "autogiro": "MK",
    "betalingsservice": "0237",
}


class PaymentsMixin:
    def fee_tenths(self, amount: int) -> int:
        fee = (amount * self.fee_percent_tenths + 50) // 100 + self.fee_fixed * 10
        return min(fee, self.fee_cap * 10)

    def _payment_doc(self, org, mandate, scheme, charge_date, amount, currency, **optional):
        """A new payment, pending submission; ``optional``: its ``description``,
        ``metadata``, ``reference`` and ``app_fee``."""
        return {
            "amount": amount,
            "amount_refunded": 0,
            "app_fee": optional.get("app_fee"),
            "charge_date": charge_date.isoformat(),
            "created_at": self.stamp(),
            "currency": currency,
            "description": optional.get("description"),
            "faster_ach": False if scheme == "ach" else None,
            "fx": dict(NULL_FX),
            "id": new_id("PM"),
            "links": {
                "creditor": self.creditor_of(org)["id"],
                "instalment_schedule": None,
                "mandate": mandate["id"] if mandate else None,
                "payout": None,
                "subscription": None,
            },
            "metadata": optional.get("metadata") or {},
            "reference": optional.get("reference"),
            "retry_if_possible": False,
            "scheme": scheme,
            "status": "pending_submission",
            "_org": org,
            "_fee_tenths": self.fee_tenths(amount),
            "_retries": 0,
        }

    def payment_timeline(self, scheme, charge_date: dt.date) -> dict:
        info = SCHEMES.get(scheme, SCHEMES["sepa_core"])
        today = self.today()
        submit = max(add_working_days(today, 1), add_working_days(charge_date, -info["submit"]))
        confirm = max(add_working_days(charge_date, info["confirm"]), add_working_days(submit, 1))
        payout = max(add_working_days(charge_date, info["payout"]), add_working_days(confirm, 1))
        return {
            "submitted": submit.isoformat(),
            "confirmed": confirm.isoformat(),
            "paid_out": payout.isoformat(),
        }

    def create_payment(self, org, body, is_oauth=False):
        v = Validation("payments")
        amount = v.integer(body, "amount", required=True, minimum=1)
        currency = v.string(body, "currency", required=True)
        mandate_id = v.string(body, "links.mandate", required=True)
        charge_raw = v.string(body, "charge_date")
        description = v.string(body, "description", max_len=255)
        reference = v.string(body, "reference", max_len=140)
        meta = v.metadata(body)
        retry = v.boolean(body, "retry_if_possible")
        app_fee = v.integer(body, "app_fee", minimum=0)
        charge_date = None
        if charge_raw is not None:
            charge_date = parse_date(charge_raw)
            if charge_date is None:
                v.add("charge_date", "must be a valid date (YYYY-MM-DD)")
        if amount is not None and amount > 10_000_000:
            v.add("amount", "is too large")
        v.check()
        mandate = self.fetch("mandates", mandate_id, org, "Mandate")
        if mandate["status"] not in ACTIVE_MANDATE:
            raise invalid_state(
                "mandate_is_inactive",
                f"The mandate is {mandate['status']} and cannot take payments",
            )
        scheme = mandate["scheme"]
        if currency != SCHEMES[scheme]["currency"]:
            v.add("currency", f"must be {SCHEMES[scheme]['currency']} for a {scheme} mandate")
        if app_fee is not None and not is_oauth:
            v.add("app_fee", "can only be set by an app (OAuth access token)")
        if app_fee is not None and amount is not None and app_fee > amount:
            v.add("app_fee", "must be less than the payment amount")
        earliest = parse_date(self.next_possible_charge_date(mandate))
        if charge_date is not None:
            charge_date = roll_forward(charge_date)
            if charge_date < earliest:
                v.add(
                    "charge_date",
                    f"must be on or after mandate's next_possible_charge_date "
                    f"({earliest.isoformat()})",
                )
        v.check()
        charge_date = charge_date or earliest
        payment = self._payment_doc(
            org,
            mandate,
            scheme,
            charge_date,
            amount,
            currency,
            description=description,
            metadata=meta,
            reference=reference,
            app_fee=app_fee,
        )
        payment["retry_if_possible"] = bool(retry)
        payment["_due"] = self.payment_timeline(scheme, charge_date)
        self.store.insert("payments", payment, org)
        self.payment_event(payment, "created", "api", "payment_created")
        return payment

    def payment_event(self, payment, action, origin, cause, **extra):
        return self.resource_event("payments", payment, action, origin, cause, **extra)

    def _resubmit(self, payment, charge_date, origin, cause, day=None):
        """A failed payment submitted again on ``charge_date`` (`resubmission_requested`)."""
        payment["charge_date"] = charge_date.isoformat()
        payment["_retries"] += 1
        self.transition(
            "payments",
            payment,
            "pending_submission",
            origin,
            cause,
            "resubmission_requested",
            due=self.payment_timeline(payment["scheme"], charge_date),
            day=day,
        )

    def cancel_payment(self, org, payment_id, data=None):
        payment = self.fetch("payments", payment_id, org)
        if payment["status"] not in ("pending_submission", "pending_customer_approval"):
            raise invalid_state(
                "cancellation_failed", f"Payment is {payment['status']} and cannot be cancelled"
            )
        self.transition("payments", payment, "cancelled", "api", "payment_cancelled", due={})
        return payment

    def retry_payment(self, org, payment_id, data):
        payment = self.fetch("payments", payment_id, org)
        v = Validation("data")
        charge_raw = v.string(data, "charge_date")
        meta = v.metadata(data)
        v.check()
        if payment["status"] != "failed":
            raise invalid_state(
                "retry_failed",
                f"Payment is {payment['status']}; only failed payments can be retried",
            )
        if payment["_retries"] >= 3:
            raise invalid_state("retry_failed", "Payment has already been retried 3 times")
        mandate = self.store.get("mandates", payment["links"]["mandate"], org)
        if mandate is None or mandate["status"] not in ACTIVE_MANDATE:
            raise invalid_state("retry_failed", "The payment's mandate is not active")
        earliest = parse_date(self.next_possible_charge_date(mandate))
        charge_date = earliest
        if charge_raw is not None:
            charge_date = parse_date(charge_raw)
            if charge_date is None:
                v.add("charge_date", "must be a valid date (YYYY-MM-DD)")
            elif roll_forward(charge_date) < earliest:
                v.add("charge_date", "must be on or after mandate's next_possible_charge_date")
            v.check()
            charge_date = roll_forward(charge_date)
        if meta is not None:
            payment["metadata"] = meta
        self._resubmit(payment, charge_date, "api", "payment_retried")
        return payment

    def payment_submit(self, payment, day=None):
        mandate = (
            self.store.get("mandates", payment["links"]["mandate"])
            if payment["links"]["mandate"]
            else None
        )
        if mandate and mandate["status"] == "pending_submission":
            self.mandate_submit(mandate, day)
        self.transition(
            "payments", payment, "submitted", "gocardless", "payment_submitted", day=day
        )

    def payment_confirm(self, payment, day=None):
        self.transition(
            "payments", payment, "confirmed", "gocardless", "payment_confirmed", day=day
        )

    def payment_pay_out(self, payment, day=None):
        """Mark paid out and put its money in the ledger; the event fires with the payout."""
        payment["status"] = "paid_out"
        payment["_due"] = {}
        self.store.save(payment)
        self.book(
            payment,
            "payment_paid_out",
            payment["amount"] * 10,
            ("paid_out", "payment_paid_out"),
        )
        self.book(payment, "gocardless_fee", -payment["_fee_tenths"])
        payment["_fee_paid_out"] = True
        self.store.save(payment)
        if payment.get("app_fee"):
            self.book(payment, "app_fee", -payment["app_fee"] * 10)

    def payment_fail(self, payment, day=None, late=False, will_retry=False):
        """Fail a payment; ``will_retry``: GoCardless plans to submit it again by itself
        (`will_attempt_retry`: true; the retry is due AUTORETRY_WORKING_DAYS later)."""
        was_paid = payment["status"] in ("confirmed", "paid_out")
        due = {}
        if will_retry:
            retry_day = add_working_days(day or self.today(), AUTORETRY_WORKING_DAYS)
            due = {"autoretry": retry_day.isoformat()}
        description = DESCRIPTIONS["payments"]["insufficient_funds"]
        if late:
            description = "The payment failed after it had been confirmed (late failure): " + (
                description
            )
        self.transition(
            "payments",
            payment,
            "failed",
            "bank",
            "insufficient_funds",
            description=description,
            due=due,
            day=day,
            reason_code=FAILURE_REASON.get(payment["scheme"]),
            will_attempt_retry=bool(will_retry),
            not_retried_reason=None if will_retry else "other",
        )
        if was_paid:
            self.book(
                payment,
                "payment_failed",
                -payment["amount"] * 10,
                ("late_failure_settled", "late_failure_settled"),
            )
            self._refund_fee(payment)

    def payment_autoretry(self, payment, day=None):
        """GoCardless submits a failed payment again by itself (intelligent retries):
        `resubmission_requested` (gocardless/payment_autoretried), back to pending_submission
        with a new charge date; the events follow as for any payment."""
        mandate = self.store.get("mandates", payment["links"]["mandate"])
        if mandate is None or mandate["status"] not in ACTIVE_MANDATE:
            payment["_due"] = {}
            self.store.save(payment)
            return False
        today = day or self.today()
        lead = SCHEMES.get(mandate["scheme"], {"lead": 3})["lead"]
        self._resubmit(
            payment, add_working_days(today, lead), "gocardless", "payment_autoretried", day=day
        )
        return True

    def payment_charge_back(self, payment, day=None):
        self.transition(
            "payments",
            payment,
            "charged_back",
            "bank",
            "authorisation_disputed",
            due={},
            day=day,
            reason_code="MD06" if payment["scheme"] == "sepa_core" else "DDICA-1",
        )
        self.book(
            payment,
            "payment_charged_back",
            -payment["amount"] * 10,
            ("chargeback_settled", "chargeback_settled"),
        )
        if payment.get("_fee_paid_out"):
            self._refund_fee(payment)
            self.book(payment, "surcharge_fee", -CHARGEBACK_SURCHARGE_TENTHS)

    def _refund_fee(self, payment):
        """GoCardless gives its fee back (VAT included) when a collected payment fails."""
        if payment.get("_fee_paid_out"):
            self.book(payment, "gocardless_fee", payment["_fee_tenths"])
