"""Mandates: created by a billing request, submitted, active, cancelled, reinstated."""

from __future__ import annotations

import secrets

from ..banking import SCHEMES
from ..core import add_working_days, invalid_state, new_id

ACTIVE_MANDATE = ("pending_customer_approval", "pending_submission", "submitted", "active")


class MandatesMixin:
    def next_possible_charge_date(self, mandate) -> str | None:
        if mandate["status"] not in ACTIVE_MANDATE:
            return None
        lead = SCHEMES.get(mandate["scheme"], {"lead": 3})["lead"]
        if mandate["status"] != "active":
            lead += 1
        return add_working_days(self.today(), lead).isoformat()

    def create_mandate(self, org, customer, account, mandate_request, origin):
        scheme = mandate_request["scheme"]
        mandate = {
            "authorisation_source": mandate_request.get("authorisation_source") or "web",
            "consent_parameters": None,
            "consent_type": None,
            "created_at": self.stamp(),
            "funds_settlement": "managed",
            "id": new_id("MD"),
            "links": {
                "creditor": self.creditor_of(org)["id"],
                "customer": customer["id"],
                "customer_bank_account": account["id"],
                "new_mandate": None,
            },
            "mandate_type": "bank_debit",
            "metadata": dict(mandate_request.get("metadata") or {}),
            "next_possible_charge_date": None,
            "next_possible_standard_ach_charge_date": None,
            "payments_require_approval": False,
            "reference": mandate_request.get("_reference") or "SBX-" + secrets.token_hex(4).upper(),
            "scheme": scheme,
            "status": "pending_submission",
            "verified_at": None,
            "_org": org,
            "_due": self.mandate_due(self.today()),
        }
        self.store.insert("mandates", mandate, org)
        self.mandate_event(mandate, "created", origin, "mandate_created")
        return mandate

    def mandate_event(self, mandate, action, origin, cause, **extra):
        return self.resource_event("mandates", mandate, action, origin, cause, **extra)

    def mandate_due(self, day):
        """The due dates of a mandate put to the banks from ``day``: submitted, then active."""
        return {
            "submitted": add_working_days(day, 1).isoformat(),
            "active": add_working_days(day, 2).isoformat(),
        }

    def cancel_mandate(self, org, mandate_id, data=None):
        mandate = self.fetch("mandates", mandate_id, org)
        if mandate["status"] not in ACTIVE_MANDATE:
            raise invalid_state(
                "cancellation_failed", f"Mandate is {mandate['status']} and cannot be cancelled"
            )
        self._cancel_mandate(mandate, "api", "mandate_cancelled")
        return mandate

    def _cancel_mandate(
        self,
        mandate,
        origin,
        cause,
        status="cancelled",
        day=None,
        reason_code=None,
    ):
        parent = self.transition(
            "mandates", mandate, status, origin, cause, due={}, day=day, reason_code=reason_code
        )
        for _, payment in self.store.all("payments", mandate["_org"]):
            if payment["links"]["mandate"] == mandate["id"] and payment["status"] in (
                "pending_submission",
                "pending_customer_approval",
            ):
                self.transition(
                    "payments",
                    payment,
                    "cancelled",
                    origin,
                    "mandate_cancelled" if cause != "mandate_expired" else cause,
                    due={},
                    day=day,
                    parent_event=parent["id"],
                )

    def reinstate_mandate(self, org, mandate_id, data=None):
        mandate = self.fetch("mandates", mandate_id, org)
        if mandate["status"] not in ("cancelled", "expired"):
            raise invalid_state(
                "mandate_not_inactive", "Mandate is already active or being submitted"
            )
        due = self.mandate_due(self.today())
        self.transition(
            "mandates",
            mandate,
            "pending_submission",
            "api",
            "mandate_reinstated",
            "reinstated",
            due=due,
        )
        return mandate

    def mandate_submit(self, mandate, day=None):
        mandate["_due"].pop("submitted", None)
        self.transition(
            "mandates", mandate, "submitted", "gocardless", "mandate_submitted", day=day
        )

    def mandate_activate(self, mandate, day=None):
        if mandate["status"] == "pending_submission":
            self.mandate_submit(mandate, day)
        self.transition(
            "mandates", mandate, "active", "gocardless", "mandate_activated", due={}, day=day
        )
