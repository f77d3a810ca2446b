"""Customer bank accounts."""

from __future__ import annotations

from ..banking import BANK_DETAIL_KEYS, validate_bank_details
from ..core import ApiError, Validation, invalid_state, new_id
from .mandates import ACTIVE_MANDATE


class BankAccountsMixin:
    def _bank_account_doc(self, org, customer, details, holder, metadata=None):
        return {
            "account_holder_name": holder,
            "account_number_ending": details["account_number_ending"],
            "account_type": details["account_type"],
            "bank_account_token": None,
            "bank_name": "SANDBOX BANK " + details["country_code"],
            "country_code": details["country_code"],
            "created_at": self.stamp(),
            "currency": details["currency"],
            "enabled": True,
            "id": new_id("BA"),
            "links": {"customer": customer["id"]},
            "metadata": metadata or {},
            "payer_name_verification_result": None,
            "trusted_recipient": False,
            "_fingerprint": details["fingerprint"],
            "_org": org,
        }

    def create_bank_account(self, org, body) -> dict:
        v = Validation("customer_bank_accounts")
        holder = v.string(body, "account_holder_name", required=True, max_len=140)
        customer_id = v.string(body, "links.customer", required=True)
        meta = v.metadata(body)
        for key in BANK_DETAIL_KEYS:
            v.string(body, key)
        v.check()
        customer = self.fetch("customers", customer_id, org, "Customer")
        details, errors = validate_bank_details(None, body)
        for field, message in errors:
            v.add(field, message)
        if details and body.get("currency") and body["currency"] != details["currency"]:
            v.add("currency", "is not supported for this bank account's country")
        v.check()
        for _, other in self.store.all("customer_bank_accounts", org):
            if (
                other["links"]["customer"] == customer["id"]
                and other["_fingerprint"] == details["fingerprint"]
                and other["enabled"]
            ):
                raise ApiError(
                    409,
                    "validation_failed",
                    "Bank account already exists",
                    [
                        {
                            "reason": "bank_account_exists",
                            "message": "Bank account already exists",
                            "links": {"customer_bank_account": other["id"]},
                        }
                    ],
                    "bank_account_exists",
                )
        account = self._bank_account_doc(org, customer, details, holder, meta)
        return self.store.insert("customer_bank_accounts", account, org)

    def disable_bank_account(self, org, doc_id):
        account = self.fetch("customer_bank_accounts", doc_id, org)
        if not account["enabled"]:
            raise invalid_state("disable_failed", "Bank account is already disabled")
        account["enabled"] = False
        self.store.save(account)
        for _, mandate in self.store.all("mandates", org):
            if (
                mandate["links"]["customer_bank_account"] == doc_id
                and mandate["status"] in ACTIVE_MANDATE
            ):
                self._cancel_mandate(mandate, "bank", "bank_account_disabled")
        return account
