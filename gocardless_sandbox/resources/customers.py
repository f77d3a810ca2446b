"""Customers."""

from __future__ import annotations

from ..core import Validation, new_id

CUSTOMER_KEYS = [
    "address_line1",
    "address_line2",
    "address_line3",
    "city",
    "company_name",
    "country_code",
    "danish_identity_number",
    "email",
    "family_name",
    "given_name",
    "language",
    "phone_number",
    "postal_code",
    "region",
    "swedish_identity_number",
]


BILLING_KEYS = [
    "address_line1",
    "address_line2",
    "address_line3",
    "city",
    "country_code",
    "danish_identity_number",
    "ip_address",
    "postal_code",
    "region",
    "swedish_identity_number",
]


LANGUAGES = {"en", "fr", "de", "pt", "es", "it", "nl", "da", "nb", "sl", "sv"}


class CustomersMixin:
    def create_customer(self, org, body, idem=None) -> dict:
        v = Validation("customers")
        data = {}
        for key in CUSTOMER_KEYS:
            data[key] = v.string(body, key, max_len=500)
        data["metadata"] = v.metadata(body) or {}
        if not data["company_name"] and not (data["given_name"] and data["family_name"]):
            if not data["given_name"]:
                v.add("given_name", "can't be blank unless company_name is set")
            if not data["family_name"]:
                v.add("family_name", "can't be blank unless company_name is set")
        self._check_common_customer(v, data, "")
        v.check()
        data["language"] = data["language"] or "en"
        customer = dict(data, id=new_id("CU"), created_at=self.stamp(), _org=org)
        self.store.insert("customers", customer, org)
        self.emit(
            org,
            "customers",
            "created",
            {"customer": customer["id"]},
            {
                "origin": "api",
                "cause": "customer_created",
                "description": "Customer created via the API.",
            },
            customer,
        )
        return customer

    def _check_common_customer(self, v, data, prefix):
        email = data.get("email")
        if email and ("@" not in email or "." not in email.split("@")[-1]):
            v.add(prefix + "email", "is not a valid email address")
        country = data.get("country_code")
        if country and (len(country) != 2 or not country.isalpha()):
            v.add(prefix + "country_code", "is invalid")
        lang = data.get("language")
        if lang and lang not in LANGUAGES:
            v.add(prefix + "language", "is not a supported language")
