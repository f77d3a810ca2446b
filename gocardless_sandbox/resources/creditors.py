"""Creditors (one per organisation) and their scheme identifiers."""

from __future__ import annotations

from ..banking import SCHEMES
from ..core import new_id


class CreditorsMixin:
    def ensure_org(self, org: str, name: str | None = None, email: str | None = None) -> dict:
        existing = [doc for _, doc in self.store.all("creditors", org)]
        if existing:
            return existing[0]
        if self.store.kv_get("last_tick_date") is None:
            self.store.kv_set("last_tick_date", self.today().isoformat())
        name = name or self.creditor_name
        creditor = {
            "address_line1": "1 Sandbox Street",
            "address_line2": None,
            "address_line3": None,
            "bank_reference_prefix": "SBX",
            "can_create_refunds": True,
            "city": "London",
            "country_code": "GB",
            "created_at": self.stamp(),
            "creditor_type": "company",
            "custom_payment_pages_enabled": True,
            "fx_payout_currency": None,
            "id": new_id("CR"),
            "links": {
                f"default_{c.lower()}_payout_account": new_id("BA")
                for c in ("AUD", "CAD", "DKK", "EUR", "GBP", "NZD", "SEK", "USD")
            },
            "logo_url": None,
            "mandate_imports_enabled": False,
            "merchant_responsible_for_notifications": False,
            "name": name,
            "postal_code": "EC1V 7LQ",
            "region": None,
            "scheme_identifiers": [
                self._scheme_identifier(s, name, email) for s in ("bacs", "sepa_core")
            ],
            "verification_status": "successful",
            "_org": org,
        }
        return self.store.insert("creditors", creditor, org)

    def _scheme_identifier(self, scheme, name, email):
        return {
            "address_line1": "1 Sandbox Street",
            "address_line2": None,
            "address_line3": None,
            "can_specify_mandate_reference": True,
            "city": "London",
            "country_code": "GB",
            "created_at": self.stamp(),
            "currency": SCHEMES[scheme]["currency"],
            "email": email or "sandbox@example.com",
            "id": new_id("SU"),
            "minimum_advance_notice": 3,
            "name": name,
            "phone_number": "+44 20 1234 1234",
            "postal_code": "EC1V 7LQ",
            "reference": "SBX-" + scheme.upper(),
            "region": None,
            "scheme": scheme,
            "status": "active",
        }

    def creditor_of(self, org: str) -> dict:
        return self.ensure_org(org)
