"""Scenario simulators: a resource driven to a given state now."""

from __future__ import annotations

from ..banking import SCHEMES
from ..core import Validation, invalid_state, new_id, not_found
from .mandates import ACTIVE_MANDATE

SIMULATORS = {
    "payment_submitted",
    "payment_confirmed",
    "payment_paid_out",
    "payment_failed",
    "payment_failed_will_retry",
    "payment_autoretried",
    "payment_charged_back",
    "payment_chargeback_settled",
    "payment_late_failure",
    "payment_late_failure_settled",
    "mandate_activated",
    "mandate_failed",
    "mandate_expired",
    "mandate_transferred",
    "refund_paid",
    "refund_settled",
    "refund_bounced",
    "billing_request_fulfilled",
    "payout_bounced",
}


DEFAULT_SANDBOX_BANK = {
    "sepa_core": {"iban": "FR1420041010050500013M02606"},
    "bacs": {"branch_code": "200000", "account_number": "55779911"},
    "ach": {"bank_code": "026073150", "account_number": "2715500356", "account_type": "checking"},
    "becs": {"branch_code": "082082", "account_number": "012345678"},
    "becs_nz": {
        "bank_code": "12",
        "branch_code": "3456",
        "account_number": "1234567",
        "account_number_suffix": "00",
    },
    "pad": {"bank_code": "001", "branch_code": "00006", "account_number": "1234567"},
    "autogiro": {"branch_code": "5491", "account_number": "1234567"},
    "betalingsservice": {"bank_code": "0400", "account_number": "4405011223"},
}


class SimulatorsMixin:
    def run_simulator(self, org, sim_id, data):
        if sim_id not in SIMULATORS:
            raise not_found("Scenario simulator")
        v = Validation("data")
        resource_id = v.string(data, "links.resource", required=True)
        v.check()
        prefix = sim_id.split("_")[0]
        rtype = {
            "payment": "payments",
            "mandate": "mandates",
            "refund": "refunds",
            "billing": "billing_requests",
            "payout": "payouts",
        }[prefix]
        doc = self.fetch(rtype, resource_id, org)
        handler = getattr(self, "_sim_" + sim_id)
        handler(doc)
        return {"id": sim_id}

    def _sim_error(self, doc, expected):
        raise invalid_state(
            "invalid_state", f"Resource is {doc['status']}; this scenario requires {expected}"
        )

    def _require(self, doc, statuses, expected=None):
        if doc["status"] not in statuses:
            self._sim_error(doc, expected or " or ".join(statuses))

    def _activated(self, mandate):
        """The scenario needs an active mandate: one still being set up is activated first."""
        self._require(mandate, ACTIVE_MANDATE, "an active mandate")
        if mandate["status"] != "active":
            self.mandate_activate(mandate)

    def _to_state(self, payment, target):
        order = ["pending_submission", "submitted", "confirmed", "paid_out"]
        if payment["status"] not in order or order.index(payment["status"]) > order.index(target):
            self._sim_error(payment, "an earlier status than " + target)
        if payment["links"]["mandate"]:
            mandate = self.store.get("mandates", payment["links"]["mandate"])
            if mandate["status"] in ("pending_submission", "submitted"):
                self.mandate_activate(mandate)
        if payment["status"] == "pending_submission":
            self.payment_submit(payment)
        if target == "submitted":
            return
        if payment["status"] == "submitted":
            self.payment_confirm(payment)
        if target == "confirmed":
            return
        if payment["status"] == "confirmed":
            self.payment_pay_out(payment)
            self.run_payouts(org=payment["_org"], currency=payment["currency"], force=True)

    def _sim_payment_submitted(self, payment):
        self._to_state(payment, "submitted")

    def _sim_payment_confirmed(self, payment):
        self._to_state(payment, "confirmed")

    def _sim_payment_paid_out(self, payment):
        self._to_state(payment, "paid_out")

    def _sim_payment_failed(self, payment):
        self._to_state(payment, "submitted")
        self.payment_fail(payment)

    def _sim_payment_failed_will_retry(self, payment):
        """Sandbox extension: a failure GoCardless will retry (`will_attempt_retry`: true)."""
        self._to_state(payment, "submitted")
        self.payment_fail(payment, will_retry=True)

    def _sim_payment_autoretried(self, payment):
        """Sandbox extension: the planned retry of a failed payment happens now."""
        if payment["status"] != "failed" or "autoretry" not in (payment.get("_due") or {}):
            self._sim_error(payment, "failed with a retry planned")
        if not self.payment_autoretry(payment):
            self._sim_error(payment, "an active mandate")

    def _sim_payment_charged_back(self, payment):
        self._to_state(payment, "paid_out")
        self.payment_charge_back(payment)

    def _sim_payment_chargeback_settled(self, payment):
        if payment["status"] != "charged_back":
            self._sim_payment_charged_back(payment)
        self.run_payouts(org=payment["_org"], currency=payment["currency"], force=True)

    def _sim_payment_late_failure(self, payment):
        self._to_state(payment, "paid_out")
        self.payment_fail(payment, late=True)

    def _sim_payment_late_failure_settled(self, payment):
        if payment["status"] != "failed":
            self._sim_payment_late_failure(payment)
        self.run_payouts(org=payment["_org"], currency=payment["currency"], force=True)

    def _sim_mandate_activated(self, mandate):
        self._require(mandate, ("pending_submission", "submitted"))
        self.mandate_activate(mandate)

    def _sim_mandate_failed(self, mandate):
        self._require(mandate, ("pending_submission", "submitted"))
        if mandate["status"] == "pending_submission":
            self.mandate_submit(mandate)
        self._cancel_mandate(
            mandate, "bank", "invalid_bank_details", status="failed", reason_code="MD01"
        )

    def _sim_mandate_expired(self, mandate):
        self._activated(mandate)
        self._cancel_mandate(mandate, "gocardless", "mandate_expired", status="expired")

    def _sim_mandate_transferred(self, mandate):
        self._activated(mandate)
        old = self.store.get("customer_bank_accounts", mandate["links"]["customer_bank_account"])
        new = dict(
            old,
            id=new_id("BA"),
            created_at=self.stamp(),
            bank_name="SANDBOX TRANSFER BANK",
            _fingerprint=old["_fingerprint"] + ":t",
        )
        self.store.insert("customer_bank_accounts", new, mandate["_org"])
        old["enabled"] = False
        self.store.save(old)
        mandate["links"]["customer_bank_account"] = new["id"]
        self.store.save(mandate)
        self.mandate_event(
            mandate,
            "transferred",
            "bank",
            "bank_account_transferred",
            previous_customer_bank_account=old["id"],
            new_customer_bank_account=new["id"],
        )

    def _sim_refund_paid(self, refund):
        self._require(refund, ("created", "submitted"))
        self.refund_pay(refund)

    def _sim_refund_settled(self, refund):
        if refund["status"] in ("created", "submitted"):
            self.refund_pay(refund)
        if refund["status"] != "paid" or refund.get("_settled"):
            self._sim_error(refund, "paid")
        self.run_payouts(org=refund["_org"], currency=refund["currency"], force=True)

    def _sim_refund_bounced(self, refund):
        self._require(refund, ("created", "submitted", "paid"), "created, submitted or paid")
        self.refund_bounce(refund)

    def _sim_payout_bounced(self, payout):
        payout["status"] = "bounced"
        self.store.save(payout)
        self.emit(
            payout["_org"],
            "creditors",
            "bounced_payout",
            {"payout": payout["id"]},
            {
                "origin": "gocardless",
                "cause": "bounced_payout",
                "description": "A payout for this creditor has failed.",
                "currency": payout["currency"],
            },
        )

    def _sim_billing_request_fulfilled(self, br):
        if br["status"] in ("fulfilled", "cancelled"):
            self._sim_error(br, "pending or ready_to_fulfil")
        org = br["_org"]
        scheme = self.br_scheme(br) or "sepa_core"
        country = SCHEMES[scheme]["country"] or "FR"
        billing = {
            "address_line1": "1 Sandbox Road",
            "city": "Sandbox City",
            "postal_code": "12345",
            "country_code": country,
            "region": "CA",
        }
        if scheme == "autogiro":
            billing["swedish_identity_number"] = "556564-5404"
        if scheme == "betalingsservice":
            billing["danish_identity_number"] = "2205506218"
        customer = {"given_name": "Sandbox", "family_name": "Payer", "email": "payer@example.com"}
        self.collect_customer_details(
            org, br["id"], {"customer": customer, "customer_billing_detail": billing}, "gocardless"
        )
        if "collect_bank_account" not in self.store.get("billing_requests", br["id"])["_done"]:
            bank = dict(DEFAULT_SANDBOX_BANK[scheme], account_holder_name="Sandbox Payer")
            self.collect_bank_account(org, br["id"], bank, "gocardless")
        self.confirm_payer_details(org, br["id"], None, "gocardless")
        self.fulfil(org, br["id"], None, "gocardless")
