"""GoCardless business rules: resources, state machines, events, payouts and simulators.

All methods expect to run inside ``store.transaction()`` (the HTTP layer and the admin helpers
take care of that). Documents keep GoCardless's public shape plus private ``_`` keys.
"""

from __future__ import annotations

import datetime as dt
import secrets

from .banking import (
    BILLING_FIELDS,
    CURRENCY_SCHEME,
    CUSTOMER_FIELDS,
    EXTRA_BILLING,
    SCHEMES,
    danish_id_error,
    swedish_id_error,
    validate_bank_details,
)
from .core import (
    ApiError,
    Store,
    Validation,
    add_working_days,
    fmt_ts,
    invalid_state,
    new_id,
    not_found,
    parse_date,
    parse_ts,
    public,
    roll_forward,
)

EVENT_LINK_KEYS = [
    "bank_authorisation",
    "billing_request",
    "billing_request_flow",
    "creditor",
    "customer",
    "customer_bank_account",
    "instalment_schedule",
    "mandate",
    "mandate_request",
    "mandate_request_mandate",
    "new_customer_bank_account",
    "new_mandate",
    "organisation",
    "outbound_payment",
    "parent_event",
    "payer_authorisation",
    "payment",
    "payment_account_transaction",
    "payment_request_payment",
    "payout",
    "previous_customer_bank_account",
    "refund",
    "scheme_identifier",
    "subscription",
]
DETAIL_KEYS = [
    "origin",
    "cause",
    "description",
    "scheme",
    "reason_code",
    "will_attempt_retry",
    "not_retried_reason",
    "bank_account_id",
    "currency",
    "item_count",
    "property",
]
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
ACTIVE_MANDATE = ("pending_customer_approval", "pending_submission", "submitted", "active")
NULL_FX = {
    "estimated_exchange_rate": None,
    "exchange_rate": None,
    "fx_amount": None,
    "fx_currency": None,
}
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


def links_template(keys, **values):
    return {key: values.get(key) for key in keys}


PAYOUT_ITEM_TYPES = frozenset(
    {
        "payment_paid_out",
        "payment_failed",
        "payment_charged_back",
        "payment_refunded",
        "refund",
        "refund_funds_returned",
        "gocardless_fee",
        "app_fee",
        "revenue_share",
        "surcharge_fee",
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


class Engine:
    def __init__(
        self,
        store: Store,
        creditor_name: str = "Sandbox Creditor Ltd",
        fee_percent_tenths: int = 10,
        fee_fixed: int = 20,
        fee_cap: int = 400,
    ):
        self.store = store
        self.creditor_name = creditor_name
        # fee = amount * fee_percent_tenths / 1000 + fee_fixed, capped (all minor units)
        self.fee_percent_tenths = fee_percent_tenths
        self.fee_fixed = fee_fixed
        self.fee_cap = fee_cap
        self.event_listeners = []

    # ------------------------------------------------------------------ clock
    def now(self) -> dt.datetime:
        offset = self.store.kv_get("clock_offset_seconds", 0)
        return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset)

    def today(self) -> dt.date:
        return self.now().date()

    def stamp(self, day: dt.date | None = None) -> str:
        now = self.now()
        if day is None or day >= now.date():
            return fmt_ts(now)
        return fmt_ts(dt.datetime.combine(day, now.timetz()))

    def advance_clock(self, days: float = 0, hours: float = 0) -> None:
        offset = self.store.kv_get("clock_offset_seconds", 0)
        offset += int(days * 86400 + hours * 3600)
        self.store.kv_set("clock_offset_seconds", offset)
        self.tick()

    # ------------------------------------------------------------------ orgs
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

    # ------------------------------------------------------------------ events
    def emit(
        self,
        org,
        resource_type,
        action,
        links,
        details,
        resource=None,
        metadata=None,
        day=None,
        origin_token=True,
    ):
        creditor = self.creditor_of(org)
        links = dict(links)
        links.setdefault("organisation", org)
        links.setdefault("creditor", creditor["id"])
        full_details = links_template(DETAIL_KEYS, **details)
        source = (
            {"type": "access_token", "name": "Sandbox access token"}
            if full_details["origin"] == "api"
            else {"type": "app", "name": "GoCardless"}
        )
        event = {
            "action": action,
            "created_at": self.stamp(day),
            "customer_notifications": [],
            "details": full_details,
            "id": new_id("EV"),
            "links": links_template(EVENT_LINK_KEYS, **links),
            "metadata": metadata if (metadata and full_details["origin"] == "api") else {},
            "resource_metadata": dict((resource or {}).get("metadata") or {}),
            "resource_type": resource_type,
            "source": source,
            "_org": org,
        }
        self.store.insert("events", event, org)
        self.store.execute("INSERT INTO outbox (event_id) VALUES (?)", (event["id"],))
        return event

    # ------------------------------------------------------------------ rendering
    def render(self, rtype: str, doc: dict) -> dict:
        if rtype == "mandates":
            doc = dict(doc)
            doc["next_possible_charge_date"] = self.next_possible_charge_date(doc)
        elif rtype == "billing_requests":
            return self.render_billing_request(doc)
        elif rtype == "payout_items":
            doc = dict(doc)
            doc["amount"] = tenths_str(doc["_tenths"])
        return public(doc)

    # ------------------------------------------------------------------ customers
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

    def update_metadata(self, rtype, org, doc_id, body, envelope):
        doc = self.store.get(rtype, doc_id, org)
        if doc is None:
            raise not_found()
        v = Validation(envelope)
        meta = v.metadata(body)
        extra = {}
        if rtype == "customers":
            for key in CUSTOMER_KEYS:
                if key in body:
                    extra[key] = v.string(body, key, max_len=500)
            self._check_common_customer(v, extra, "")
        if rtype == "payments" and "retry_if_possible" in body:
            extra["retry_if_possible"] = v.boolean(body, "retry_if_possible")
        v.check()
        doc.update(extra)
        if meta is not None:
            doc["metadata"] = meta
        self.store.save(doc)
        return doc

    # ------------------------------------------------------------------ bank accounts
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
        for key in (
            "account_number",
            "branch_code",
            "bank_code",
            "iban",
            "country_code",
            "currency",
            "account_type",
            "account_number_suffix",
        ):
            v.string(body, key)
        v.check()
        customer = self.store.get("customers", customer_id, org)
        if customer is None:
            raise not_found("Customer")
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
        account = self.store.get("customer_bank_accounts", doc_id, org)
        if account is None:
            raise not_found()
        if not account["enabled"]:
            raise invalid_state("disable_failed", "Bank account is already disabled")
        account["enabled"] = False
        self.store.save(account)
        for _, mandate in self.store.all("mandates", org):
            if (
                mandate["links"]["customer_bank_account"] == doc_id
                and mandate["status"] in ACTIVE_MANDATE
            ):
                self._cancel_mandate(
                    mandate,
                    "bank",
                    "bank_account_disabled",
                    "Customer's bank account was disabled.",
                )
        return account

    # ------------------------------------------------------------------ billing requests
    def create_billing_request(self, org, body) -> dict:
        v = Validation("billing_requests")
        mr = v.obj(body, "mandate_request")
        pr = v.obj(body, "payment_request")
        if body.get("mandate_request") is None and body.get("payment_request") is None:
            v.add("mandate_request", "a mandate_request or payment_request is required")
        scheme = v.string(body, "mandate_request.scheme", choices=list(SCHEMES))
        currency = v.string(body, "mandate_request.currency", choices=list(CURRENCY_SCHEME))
        description = v.string(body, "mandate_request.description", max_len=500)
        reference = v.string(body, "mandate_request.reference", max_len=140)
        verify = v.string(
            body,
            "mandate_request.verify",
            choices=["minimum", "recommended", "when_available", "always"],
        )
        mr_meta = v.metadata(body, "mandate_request.metadata")
        pr_amount = v.integer(body, "payment_request.amount", required=bool(pr), minimum=1)
        pr_currency = v.string(
            body, "payment_request.currency", required=bool(pr), choices=["GBP", "EUR"]
        )
        pr_description = v.string(body, "payment_request.description", max_len=500)
        meta = v.metadata(body)
        customer_id = v.string(body, "links.customer")
        v.boolean(body, "fallback_enabled")
        if body.get("mandate_request") is not None and not scheme and not currency:
            v.add("mandate_request.currency", "is required when scheme is not given")
        if scheme and currency and SCHEMES[scheme]["currency"] != currency:
            v.add("mandate_request.currency", f"is not supported by scheme {scheme}")
        v.check()
        if customer_id:
            customer = self.store.get("customers", customer_id, org)
            if customer is None:
                raise not_found("Customer")
        else:
            customer = {key: None for key in CUSTOMER_KEYS}
            customer.update(
                id=new_id("CU"), created_at=self.stamp(), language="en", metadata={}, _org=org
            )
            self.store.insert("customers", customer, org)
        creditor = self.creditor_of(org)
        mandate_request = None
        if body.get("mandate_request") is not None:  # null is the same as absent
            scheme = scheme or CURRENCY_SCHEME[currency]
            mandate_request = {
                "authorisation_source": mr.get("authorisation_source") or "web",
                "consent_type": None,
                "constraints": None,
                "currency": SCHEMES[scheme]["currency"],
                "description": description,
                "funds_settlement": "managed",
                "links": {"mandate": None},
                "metadata": mr_meta or {},
                "payer_requested_dual_signature": False,
                "scheme": scheme,
                "sweeping": False,
                "verify": verify or "recommended",
                "_reference": reference,
            }
        payment_request = None
        if pr:
            payment_request = {
                "amount": pr_amount,
                "app_fee": pr.get("app_fee"),
                "currency": pr_currency,
                "description": pr_description,
                "funds_settlement": "managed",
                "links": {"payment": None},
                "metadata": pr.get("metadata") or {},
                "reference": None,
                "scheme": "faster_payments" if pr_currency == "GBP" else "sepa_credit_transfer",
            }
        billing = {key: None for key in BILLING_KEYS}
        for key in BILLING_KEYS:
            if key in customer and customer.get(key):
                billing[key] = customer[key]
        br = {
            "actions": [],
            "created_at": self.stamp(),
            "fallback_enabled": bool(body.get("fallback_enabled")),
            "fallback_occurred": False,
            "id": new_id("BRQ"),
            "instalment_schedule_request": None,
            "links": {
                "bank_authorisation": None,
                "creditor": creditor["id"],
                "customer": customer["id"],
                "customer_bank_account": None,
                "customer_billing_detail": new_id("CBD"),
                "instalment_schedule_request": None,
                "instalment_schedule_request_instalment_schedule": None,
                "mandate_request": new_id("MRQ") if mandate_request else None,
                "mandate_request_mandate": None,
                "organisation": org,
                "payment_provider": None,
                "payment_request": new_id("PRQ") if payment_request else None,
                "payment_request_payment": None,
                "subscription_request": None,
                "subscription_request_subscription": None,
            },
            "mandate_request": mandate_request,
            "metadata": meta or {},
            "payment_context_code": body.get("payment_context_code")
            if isinstance(body.get("payment_context_code"), str)
            else None,
            "payment_purpose_code": body.get("payment_purpose_code")
            if isinstance(body.get("payment_purpose_code"), str)
            else None,
            "payment_request": payment_request,
            "purpose_code": body.get("purpose_code")
            if isinstance(body.get("purpose_code"), str)
            else None,
            "resources": {},
            "status": "pending",
            "subscription_request": None,
            "_billing": billing,
            "_done": [],
            "_org": org,
        }
        self.store.insert("billing_requests", br, org)
        self.br_event(br, "created", "api")
        return br

    def br_event(self, br, action, origin, **links):
        descriptions = {
            "created": "This billing request has been created.",
            "flow_created": "A billing request flow has been created against this billing request.",
            "flow_visited": "The payer visited the billing request flow.",
            "flow_exited": "The payer exited the billing request flow.",
            "collect_customer_details": "Customer details have been collected for this "
            "billing request.",
            "collect_bank_account": "Bank account details have been collected for this "
            "billing request.",
            "payer_details_confirmed": "Payer has confirmed all their details for this "
            "billing request.",
            "fulfilled": "This billing request has been fulfilled, and the resources have "
            "been created.",
            "cancelled": "This billing request has been cancelled, none of the resources "
            "have been created.",
        }
        base = {
            "billing_request": br["id"],
            "customer": br["links"]["customer"],
            "mandate_request": br["links"]["mandate_request"],
        }
        if br["links"]["customer_bank_account"]:
            base["customer_bank_account"] = br["links"]["customer_bank_account"]
        base.update(links)
        return self.emit(
            br["_org"],
            "billing_requests",
            action,
            base,
            {
                "origin": origin,
                "cause": "billing_request_" + action,
                "description": descriptions.get(action, action),
            },
            br,
        )

    def br_scheme(self, br) -> str | None:
        mr = br.get("mandate_request")
        return mr["scheme"] if mr else None

    def incomplete_fields(self, br):
        customer = self.store.get("customers", br["links"]["customer"]) or {}
        billing = br["_billing"]
        missing_c = [key for key in CUSTOMER_FIELDS if not customer.get(key)]
        if customer.get("company_name"):
            missing_c = [key for key in missing_c if key not in ("given_name", "family_name")]
        needed_b = BILLING_FIELDS + EXTRA_BILLING.get(self.br_scheme(br) or "", [])
        missing_b = [key for key in needed_b if not billing.get(key)]
        return {"customer": missing_c, "customer_billing_detail": missing_b}

    def render_billing_request(self, br) -> dict:
        out = public(br)
        incomplete = self.incomplete_fields(br)
        scheme = self.br_scheme(br)
        done = set(br["_done"])

        def action(atype, requires=(), extra=None):
            item = {
                "available_currencies": None,
                "bank_authorisation": None,
                "collect_customer_details": None,
                "completes_actions": [],
                "institution_guess_status": None,
                "required": True,
                "requires_actions": list(requires),
                "status": "completed" if atype in done else "pending",
                "type": atype,
            }
            item.update(extra or {})
            return item

        country = SCHEMES[scheme]["country"] if scheme else None
        actions = [
            action(
                "collect_customer_details",
                extra={
                    "collect_customer_details": {
                        "default_country_code": country or "FR"
                        if scheme == "sepa_core"
                        else country,
                        "incomplete_fields": incomplete,
                    }
                },
            ),
            action(
                "collect_bank_account",
                extra={"available_currencies": [SCHEMES[scheme]["currency"]] if scheme else None},
            ),
        ]
        if br.get("payment_request"):
            actions.append(
                action(
                    "bank_authorisation",
                    ["collect_bank_account"],
                    {
                        "bank_authorisation": {
                            "adapter": "open_banking_gateway_pis",
                            "authorisation_type": "single",
                        }
                    },
                )
            )
        actions.append(
            action("confirm_payer_details", ["collect_customer_details", "collect_bank_account"])
        )
        out["actions"] = actions
        customer = self.store.get("customers", br["links"]["customer"]) or {}
        billing = dict(br["_billing"])
        out["resources"] = {
            "customer": {
                key: customer.get(key)
                for key in (
                    "company_name",
                    "created_at",
                    "email",
                    "family_name",
                    "given_name",
                    "id",
                    "language",
                    "metadata",
                    "phone_number",
                )
            },
            "customer_bank_account": None,
            "customer_billing_detail": dict(
                billing,
                id=br["links"]["customer_billing_detail"],
                created_at=br["created_at"],
                schemes=[scheme] if scheme else [],
            ),
        }
        ba_id = br["links"]["customer_bank_account"]
        if ba_id:
            ba = self.store.get("customer_bank_accounts", ba_id)
            if ba:
                ba = public(ba)
                ba.pop("trusted_recipient", None)
                out["resources"]["customer_bank_account"] = ba
        return out

    def _br_for_action(self, org, br_id):
        br = self.store.get("billing_requests", br_id, org)
        if br is None:
            raise not_found()
        if br["status"] == "fulfilled":
            raise invalid_state(
                "billing_request_already_fulfilled",
                "This billing request has already been fulfilled",
            )
        if br["status"] == "cancelled":
            raise invalid_state(
                "billing_request_cancelled", "This billing request has been cancelled"
            )
        return br

    def collect_customer_details(self, org, br_id, data, origin="api"):
        br = self._br_for_action(org, br_id)
        v = Validation("data")
        cust_in = v.obj(data, "customer")
        bill_in = v.obj(data, "customer_billing_detail")
        cust_upd, bill_upd = {}, {}
        for key in (
            "email",
            "given_name",
            "family_name",
            "company_name",
            "language",
            "phone_number",
        ):
            if key in cust_in:
                cust_upd[key] = v.string(data, "customer." + key, max_len=500)
        for key in BILLING_KEYS:
            if key in bill_in:
                bill_upd[key] = v.string(data, "customer_billing_detail." + key, max_len=500)
        if "metadata" in cust_in:
            cust_upd["metadata"] = v.metadata(data, "customer.metadata") or {}
        self._check_common_customer(v, cust_upd, "customer.")
        self._check_common_customer(
            v, {"country_code": bill_upd.get("country_code")}, "customer_billing_detail."
        )
        scheme = self.br_scheme(br)
        if bill_upd.get("swedish_identity_number") and scheme == "autogiro":
            msg = swedish_id_error(bill_upd["swedish_identity_number"])
            if msg:
                v.add("customer_billing_detail.swedish_identity_number", msg)
        if bill_upd.get("danish_identity_number") and scheme == "betalingsservice":
            msg = danish_id_error(bill_upd["danish_identity_number"])
            if msg:
                v.add("customer_billing_detail.danish_identity_number", msg)
        v.check()
        customer = self.store.get("customers", br["links"]["customer"])
        if bill_upd.get("country_code"):
            bill_upd["country_code"] = bill_upd["country_code"].upper()
        customer.update({k: val for k, val in cust_upd.items() if val is not None})
        for key, val in bill_upd.items():
            if val is not None and key in customer:
                customer[key] = val
        self.store.save(customer)
        br["_billing"].update({k: val for k, val in bill_upd.items() if val is not None})
        incomplete = self.incomplete_fields(br)
        if not incomplete["customer"] and not incomplete["customer_billing_detail"]:
            if "collect_customer_details" not in br["_done"]:
                br["_done"].append("collect_customer_details")
        self.store.save(br)
        self.br_event(br, "collect_customer_details", origin)
        return br

    def collect_bank_account(self, org, br_id, data, origin="api"):
        br = self._br_for_action(org, br_id)
        v = Validation("data")
        for key in (
            "account_holder_name",
            "account_number",
            "branch_code",
            "bank_code",
            "iban",
            "country_code",
            "currency",
            "account_type",
            "account_number_suffix",
        ):
            v.string(data, key, max_len=140)
        meta = v.metadata(data)
        v.check()
        scheme = self.br_scheme(br)
        details, errors = validate_bank_details(scheme, data)
        for field, message in errors:
            v.add(field, message)
        v.check()
        customer = self.store.get("customers", br["links"]["customer"])
        holder = (
            data.get("account_holder_name")
            or customer.get("company_name")
            or " ".join(
                part for part in (customer.get("given_name"), customer.get("family_name")) if part
            )
        )
        if not holder:
            v.add("account_holder_name", "is required")
            v.check()
        account = None
        for _, other in self.store.all("customer_bank_accounts", org):
            if (
                other["links"]["customer"] == customer["id"]
                and other["enabled"]
                and other["_fingerprint"] == details["fingerprint"]
            ):
                account = other
        if account is None:
            account = self._bank_account_doc(org, customer, details, holder, meta)
            self.store.insert("customer_bank_accounts", account, org)
        br["links"]["customer_bank_account"] = account["id"]
        if "collect_bank_account" not in br["_done"]:
            br["_done"].append("collect_bank_account")
        self.store.save(br)
        self.br_event(br, "collect_bank_account", origin)
        return br

    def confirm_payer_details(self, org, br_id, data=None, origin="api"):
        br = self._br_for_action(org, br_id)
        missing = [
            a for a in ("collect_customer_details", "collect_bank_account") if a not in br["_done"]
        ]
        if missing:
            raise invalid_state(
                "billing_request_actions_incomplete",
                "Required actions are not completed: " + ", ".join(missing),
            )
        if "confirm_payer_details" not in br["_done"]:
            br["_done"].append("confirm_payer_details")
        if not br.get("payment_request"):
            br["status"] = "ready_to_fulfil"
        else:
            br["status"] = "ready_to_fulfil"
        self.store.save(br)
        self.br_event(br, "payer_details_confirmed", origin)
        return br

    def fulfil(self, org, br_id, data=None, origin="api"):
        br = self._br_for_action(org, br_id)
        if br["status"] != "ready_to_fulfil":
            raise invalid_state(
                "billing_request_not_ready", "This billing request is not ready to be fulfilled"
            )
        customer = self.store.get("customers", br["links"]["customer"])
        account = self.store.get("customer_bank_accounts", br["links"]["customer_bank_account"])
        br["status"] = "fulfilled"
        extra_links = {}
        if br.get("mandate_request"):
            mandate = self.create_mandate(org, customer, account, br["mandate_request"], origin)
            br["mandate_request"]["links"]["mandate"] = mandate["id"]
            br["links"]["mandate_request_mandate"] = mandate["id"]
            extra_links["mandate_request_mandate"] = mandate["id"]
        if br.get("payment_request"):
            payment = self._instant_payment(org, br)
            br["payment_request"]["links"]["payment"] = payment["id"]
            br["links"]["payment_request_payment"] = payment["id"]
            extra_links["payment_request_payment"] = payment["id"]
        self.store.save(br)
        self.br_event(br, "fulfilled", origin, **extra_links)
        for _, flow in self.store.all("billing_request_flows", org):
            if flow["links"]["billing_request"] == br["id"]:
                flow["_completed"] = True
                self.store.save(flow)
        return br

    def cancel_billing_request(self, org, br_id, data=None):
        br = self._br_for_action(org, br_id)
        br["status"] = "cancelled"
        self.store.save(br)
        for _, flow in self.store.all("billing_request_flows", org):
            if flow["links"]["billing_request"] == br["id"]:
                flow["expires_at"] = self.stamp()
                self.store.save(flow)
        self.br_event(br, "cancelled", "api")
        return br

    def _instant_payment(self, org, br):
        pr = br["payment_request"]
        payment = self._payment_doc(
            org,
            None,
            pr["amount"],
            pr["currency"],
            pr["scheme"],
            self.today(),
            pr["description"],
            pr["metadata"],
            None,
            None,
        )
        payment["status"] = "confirmed"
        payment["_due"] = {"paid_out": add_working_days(self.today(), 1).isoformat()}
        self.store.insert("payments", payment, org)
        self.payment_event(
            payment, "created", "api", "payment_created", "Payment created by a billing request."
        )
        self.payment_event(
            payment,
            "confirmed",
            "gocardless",
            "payment_confirmed",
            "Payment confirmed by the bank.",
        )
        return payment

    # ------------------------------------------------------------------ flows
    def create_flow(self, org, body, public_url) -> dict:
        v = Validation("billing_request_flows")
        br_id = v.string(body, "links.billing_request", required=True)
        redirect = v.string(body, "redirect_uri", max_len=2000)
        exit_uri = v.string(body, "exit_uri", max_len=2000)
        language = v.string(body, "language", choices=sorted(LANGUAGES))
        prefilled = v.obj(body, "prefilled_customer")
        for key in prefilled:
            v.string(body, "prefilled_customer." + key, max_len=500)
        prefilled_bank = v.obj(body, "prefilled_bank_account")
        v.string(body, "prefilled_bank_account.account_type", choices=["savings", "checking"])
        flags = {}
        for key in (
            "lock_customer_details",
            "lock_bank_account",
            "lock_currency",
            "show_redirect_buttons",
            "show_success_redirect_button",
            "skip_success_screen",
            "auto_fulfil",
            "customer_details_captured",
        ):
            flags[key] = v.boolean(body, key)
        if flags["auto_fulfil"] is False:
            v.add("auto_fulfil", "cannot be disabled")
        if flags["skip_success_screen"] and not redirect:
            v.add("skip_success_screen", "requires redirect_uri")
        v.check()
        br = self.store.get("billing_requests", br_id, org)
        if br is None:
            raise not_found("Billing request")
        if br["status"] in ("fulfilled", "cancelled"):
            raise invalid_state("billing_request_not_pending", f"Billing request is {br['status']}")
        if flags["lock_customer_details"] and "collect_customer_details" not in br["_done"]:
            raise invalid_state(
                "customer_details_incomplete",
                "lock_customer_details requires completed customer details",
            )
        if flags["lock_bank_account"] and "collect_bank_account" not in br["_done"]:
            raise invalid_state(
                "bank_account_incomplete", "lock_bank_account requires a collected bank account"
            )
        flow_id = new_id("BRF")
        prefill = {
            key: prefilled.get(key)
            for key in (
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
                "postal_code",
                "region",
                "swedish_identity_number",
            )
        }
        flow = {
            "authorisation_url": public_url.rstrip("/") + "/flow/" + flow_id,
            "auto_fulfil": True,
            "created_at": self.stamp(),
            "customer_details_captured": bool(flags["customer_details_captured"]),
            "exit_uri": exit_uri,
            "expires_at": fmt_ts(self.now() + dt.timedelta(days=7)),
            "id": flow_id,
            "language": language,
            "links": {"billing_request": br["id"]},
            "lock_bank_account": bool(flags["lock_bank_account"]),
            "lock_currency": bool(flags["lock_currency"]),
            "lock_customer_details": bool(flags["lock_customer_details"]),
            "prefilled_bank_account": {"account_type": prefilled_bank.get("account_type")},
            "prefilled_customer": prefill,
            "redirect_uri": redirect,
            "session_token": None,
            "show_redirect_buttons": bool(flags["show_redirect_buttons"]),
            "show_success_redirect_button": bool(flags["show_success_redirect_button"]),
            "skip_success_screen": bool(flags["skip_success_screen"]),
            "_org": org,
            "_visited": False,
            "_completed": False,
        }
        if language:
            customer = self.store.get("customers", br["links"]["customer"])
            customer["language"] = language
            self.store.save(customer)
        self.store.insert("billing_request_flows", flow, org)
        self.br_event(br, "flow_created", "api", billing_request_flow=flow_id)
        return flow

    def initialise_flow(self, org, flow_id):
        flow = self.store.get("billing_request_flows", flow_id, org)
        if flow is None:
            raise not_found()
        flow["session_token"] = "sesh_" + secrets.token_hex(8)
        self.store.save(flow)
        return flow

    # ------------------------------------------------------------------ mandates
    def next_possible_charge_date(self, mandate) -> str | None:
        if mandate["status"] not in ACTIVE_MANDATE:
            return None
        lead = SCHEMES.get(mandate["scheme"], {"lead": 3})["lead"]
        if mandate["status"] != "active":
            lead += 1
        return add_working_days(self.today(), lead).isoformat()

    def create_mandate(self, org, customer, account, mandate_request, origin):
        today = self.today()
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
            "_due": {
                "submitted": add_working_days(today, 1).isoformat(),
                "active": add_working_days(today, 2).isoformat(),
            },
        }
        self.store.insert("mandates", mandate, org)
        self.mandate_event(
            mandate, "created", origin, "mandate_created", "Mandate created via a billing request."
        )
        return mandate

    def mandate_event(self, mandate, action, origin, cause, description, day=None, **extra):
        links = {
            "mandate": mandate["id"],
            "customer": mandate["links"]["customer"],
            "customer_bank_account": mandate["links"]["customer_bank_account"],
        }
        links.update({k: val for k, val in extra.items() if k in EVENT_LINK_KEYS})
        details = {
            "origin": origin,
            "cause": cause,
            "description": description,
            "scheme": mandate["scheme"],
        }
        details.update({k: val for k, val in extra.items() if k in DETAIL_KEYS})
        return self.emit(mandate["_org"], "mandates", action, links, details, mandate, day=day)

    def cancel_mandate(self, org, mandate_id, data=None):
        mandate = self.store.get("mandates", mandate_id, org)
        if mandate is None:
            raise not_found()
        if mandate["status"] not in ACTIVE_MANDATE:
            raise invalid_state(
                "cancellation_failed", f"Mandate is {mandate['status']} and cannot be cancelled"
            )
        self._cancel_mandate(
            mandate, "api", "mandate_cancelled", "The mandate was cancelled at your request."
        )
        return mandate

    def _cancel_mandate(
        self,
        mandate,
        origin,
        cause,
        description,
        status="cancelled",
        action="cancelled",
        day=None,
        reason_code=None,
    ):
        mandate["status"] = status
        mandate["_due"] = {}
        self.store.save(mandate)
        parent = self.mandate_event(
            mandate, action, origin, cause, description, day=day, reason_code=reason_code
        )
        for _, payment in self.store.all("payments", mandate["_org"]):
            if payment["links"]["mandate"] == mandate["id"] and payment["status"] in (
                "pending_submission",
                "pending_customer_approval",
            ):
                payment["status"] = "cancelled"
                payment["_due"] = {}
                self.store.save(payment)
                self.payment_event(
                    payment,
                    "cancelled",
                    origin,
                    "mandate_cancelled" if cause != "mandate_expired" else cause,
                    "The mandate for this payment was cancelled.",
                    day=day,
                    parent_event=parent["id"],
                )

    def reinstate_mandate(self, org, mandate_id, data=None):
        mandate = self.store.get("mandates", mandate_id, org)
        if mandate is None:
            raise not_found()
        if mandate["status"] not in ("cancelled", "expired"):
            raise invalid_state(
                "mandate_not_inactive", "Mandate is already active or being submitted"
            )
        today = self.today()
        mandate["status"] = "pending_submission"
        mandate["_due"] = {
            "submitted": add_working_days(today, 1).isoformat(),
            "active": add_working_days(today, 2).isoformat(),
        }
        self.store.save(mandate)
        self.mandate_event(
            mandate, "reinstated", "api", "mandate_reinstated", "The mandate was reinstated."
        )
        return mandate

    # ------------------------------------------------------------------ payments
    def fee_tenths(self, amount: int) -> int:
        fee = (amount * self.fee_percent_tenths + 50) // 100 + self.fee_fixed * 10
        return min(fee, self.fee_cap * 10)

    def _payment_doc(
        self,
        org,
        mandate,
        amount,
        currency,
        scheme,
        charge_date,
        description,
        metadata,
        reference,
        app_fee,
    ):
        return {
            "amount": amount,
            "amount_refunded": 0,
            "app_fee": app_fee,
            "charge_date": charge_date.isoformat(),
            "created_at": self.stamp(),
            "currency": currency,
            "description": description,
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
            "metadata": metadata or {},
            "reference": reference,
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
        mandate = self.store.get("mandates", mandate_id, org)
        if mandate is None:
            raise not_found("Mandate")
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
            amount,
            currency,
            scheme,
            charge_date,
            description,
            meta,
            reference,
            app_fee,
        )
        payment["retry_if_possible"] = bool(retry)
        payment["_due"] = self.payment_timeline(scheme, charge_date)
        self.store.insert("payments", payment, org)
        self.payment_event(
            payment, "created", "api", "payment_created", "Payment created via the API."
        )
        return payment

    def payment_event(self, payment, action, origin, cause, description, day=None, **extra):
        links = {"payment": payment["id"], "mandate": payment["links"]["mandate"]}
        links.update({k: val for k, val in extra.items() if k in EVENT_LINK_KEYS})
        details = {
            "origin": origin,
            "cause": cause,
            "description": description,
            "scheme": payment["scheme"],
        }
        details.update({k: val for k, val in extra.items() if k in DETAIL_KEYS})
        return self.emit(payment["_org"], "payments", action, links, details, payment, day=day)

    def cancel_payment(self, org, payment_id, data=None):
        payment = self.store.get("payments", payment_id, org)
        if payment is None:
            raise not_found()
        if payment["status"] not in ("pending_submission", "pending_customer_approval"):
            raise invalid_state(
                "cancellation_failed", f"Payment is {payment['status']} and cannot be cancelled"
            )
        payment["status"] = "cancelled"
        payment["_due"] = {}
        self.store.save(payment)
        self.payment_event(
            payment, "cancelled", "api", "payment_cancelled", "Payment cancelled via the API."
        )
        return payment

    def retry_payment(self, org, payment_id, data):
        payment = self.store.get("payments", payment_id, org)
        if payment is None:
            raise not_found()
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
        payment["status"] = "pending_submission"
        payment["charge_date"] = charge_date.isoformat()
        payment["_retries"] += 1
        payment["_due"] = self.payment_timeline(payment["scheme"], charge_date)
        if meta is not None:
            payment["metadata"] = meta
        self.store.save(payment)
        self.payment_event(
            payment,
            "resubmission_requested",
            "api",
            "payment_retried",
            "An attempt to resubmit this payment was requested.",
        )
        return payment

    # ------------------------------------------------------------------ refunds
    def create_refund(self, org, body):
        v = Validation("refunds")
        amount = v.integer(body, "amount", required=True, minimum=1)
        payment_id = v.string(body, "links.payment")
        if body.get("links", {}).get("mandate") if isinstance(body.get("links"), dict) else None:
            raise ApiError(
                403,
                "invalid_api_usage",
                "Refunds against mandates are restricted",
                [
                    {
                        "reason": "insufficient_permissions",
                        "message": "Refunds against mandates are restricted",
                    }
                ],
                "insufficient_permissions",
            )
        if payment_id is None:
            v.add("links.payment", "is required")
        tac = v.integer(body, "total_amount_confirmation", required=True, minimum=1)
        reference = v.string(body, "reference", max_len=140)
        meta = v.metadata(body)
        v.check()
        payment = self.store.get("payments", payment_id, org)
        if payment is None:
            raise not_found("Payment")
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
        self.refund_event(
            refund,
            "created",
            "api",
            "payment_refunded",
            "The refund has been created, and will be submitted in the next batch.",
        )
        return refund

    def refund_event(self, refund, action, origin, cause, description, day=None):
        links = {
            "refund": refund["id"],
            "payment": refund["links"]["payment"],
            "mandate": refund["links"]["mandate"],
        }
        return self.emit(
            refund["_org"],
            "refunds",
            action,
            links,
            {
                "origin": origin,
                "cause": cause,
                "description": description,
                "currency": refund["currency"],
            },
            refund,
            day=day,
        )

    # ------------------------------------------------------------------ ledger & payouts
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
            fees = sum(
                item["_tenths"]
                for item in items
                if item["type"] in ("gocardless_fee", "app_fee", "surcharge_fee")
            )
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
                if settle["type"] == "payments":
                    payment = self.store.get("payments", settle["id"])
                    if settle["action"] == "paid_out":
                        payment["links"]["payout"] = payout["id"]
                        self.store.save(payment)
                    self.payment_event(
                        payment,
                        settle["action"],
                        "gocardless",
                        settle["cause"],
                        settle["description"],
                        day=day,
                        payout=payout["id"],
                    )
                else:
                    refund = self.store.get("refunds", settle["id"])
                    if settle["action"] == "refund_settled":
                        refund["_settled"] = True
                        self.store.save(refund)
                    self.emit(
                        item_org,
                        "refunds",
                        settle["action"],
                        {
                            "refund": refund["id"],
                            "payment": refund["links"]["payment"],
                            "mandate": refund["links"]["mandate"],
                            "payout": payout["id"],
                        },
                        {
                            "origin": "gocardless",
                            "cause": settle["cause"],
                            "description": settle["description"],
                            "currency": cur,
                        },
                        refund,
                        day=day,
                    )
            created.append(payout)
        return created

    def _settle(self, rtype, doc_id, action, cause, description):
        return {
            "type": rtype,
            "id": doc_id,
            "action": action,
            "cause": cause,
            "description": description,
        }

    # ------------------------------------------------------------------ transitions
    def payment_submit(self, payment, day=None):
        mandate = (
            self.store.get("mandates", payment["links"]["mandate"])
            if payment["links"]["mandate"]
            else None
        )
        if mandate and mandate["status"] == "pending_submission":
            self.mandate_submit(mandate, day)
        payment["status"] = "submitted"
        self.store.save(payment)
        self.payment_event(
            payment,
            "submitted",
            "gocardless",
            "payment_submitted",
            "Payment submitted to the banks. As a result, it can no longer be cancelled.",
            day=day,
        )

    def payment_confirm(self, payment, day=None):
        payment["status"] = "confirmed"
        self.store.save(payment)
        self.payment_event(
            payment,
            "confirmed",
            "gocardless",
            "payment_confirmed",
            "Enough time has passed since the payment was submitted for the "
            "banks to return an error, so this payment is now confirmed.",
            day=day,
        )

    def payment_pay_out(self, payment, day=None):
        """Mark paid out and put its money in the ledger; the event fires with the payout."""
        payment["status"] = "paid_out"
        payment["_due"] = {}
        self.store.save(payment)
        org, cur = payment["_org"], payment["currency"]
        self.ledger(
            org,
            cur,
            "payment_paid_out",
            payment["amount"] * 10,
            payment,
            settle=(
                self._settle(
                    "payments",
                    payment["id"],
                    "paid_out",
                    "payment_paid_out",
                    "The payment has been paid out by GoCardless.",
                )
            ),
        )
        self.ledger(org, cur, "gocardless_fee", -payment["_fee_tenths"], payment)
        payment["_fee_paid_out"] = True
        self.store.save(payment)
        if payment.get("app_fee"):
            self.ledger(org, cur, "app_fee", -payment["app_fee"] * 10, payment)

    def payment_fail(self, payment, day=None, late=False, will_retry=False):
        """Fail a payment; ``will_retry``: GoCardless plans to submit it again by itself
        (`will_attempt_retry`: true; the retry is due AUTORETRY_WORKING_DAYS later)."""
        was_paid = payment["status"] in ("confirmed", "paid_out")
        payment["status"] = "failed"
        payment["_due"] = {}
        if will_retry:
            retry_day = add_working_days(day or self.today(), AUTORETRY_WORKING_DAYS)
            payment["_due"] = {"autoretry": retry_day.isoformat()}
        self.store.save(payment)
        self.payment_event(
            payment,
            "failed",
            "bank",
            "insufficient_funds",
            ("The payment failed after it had been confirmed (late failure): " if late else "")
            + "The customer's account had insufficient funds to make this payment.",
            day=day,
            reason_code=FAILURE_REASON.get(payment["scheme"]),
            will_attempt_retry=bool(will_retry),
            not_retried_reason=None if will_retry else "other",
        )
        if was_paid:
            self.ledger(
                payment["_org"],
                payment["currency"],
                "payment_failed",
                -payment["amount"] * 10,
                payment,
                settle=self._settle(
                    "payments",
                    payment["id"],
                    "late_failure_settled",
                    "late_failure_settled",
                    "This late failure has been debited from a payout.",
                ),
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
        charge_date = add_working_days(today, lead)
        payment["status"] = "pending_submission"
        payment["charge_date"] = charge_date.isoformat()
        payment["_retries"] += 1
        payment["_due"] = self.payment_timeline(payment["scheme"], charge_date)
        self.store.save(payment)
        self.payment_event(
            payment,
            "resubmission_requested",
            "gocardless",
            "payment_autoretried",
            "The payment was retried automatically by GoCardless.",
            day=day,
        )
        return True

    def payment_charge_back(self, payment, day=None):
        payment["status"] = "charged_back"
        payment["_due"] = {}
        self.store.save(payment)
        self.payment_event(
            payment,
            "charged_back",
            "bank",
            "authorisation_disputed",
            "The customer has disputed that the amount taken differs from the "
            "amount they were notified of.",
            day=day,
            reason_code="MD06" if payment["scheme"] == "sepa_core" else "DDICA-1",
        )
        self.ledger(
            payment["_org"],
            payment["currency"],
            "payment_charged_back",
            -payment["amount"] * 10,
            payment,
            settle=self._settle(
                "payments",
                payment["id"],
                "chargeback_settled",
                "chargeback_settled",
                "This chargeback has been debited from a payout.",
            ),
        )
        if payment.get("_fee_paid_out"):
            self._refund_fee(payment)
            self.ledger(
                payment["_org"],
                payment["currency"],
                "surcharge_fee",
                -CHARGEBACK_SURCHARGE_TENTHS,
                payment,
            )

    def _refund_fee(self, payment):
        """GoCardless gives its fee back (VAT included) when a collected payment fails."""
        if payment.get("_fee_paid_out"):
            self.ledger(
                payment["_org"],
                payment["currency"],
                "gocardless_fee",
                payment["_fee_tenths"],
                payment,
            )

    def mandate_submit(self, mandate, day=None):
        mandate["status"] = "submitted"
        mandate["_due"].pop("submitted", None)
        self.store.save(mandate)
        self.mandate_event(
            mandate,
            "submitted",
            "gocardless",
            "mandate_submitted",
            "The mandate has been submitted to the banks.",
            day=day,
        )

    def mandate_activate(self, mandate, day=None):
        if mandate["status"] == "pending_submission":
            self.mandate_submit(mandate, day)
        mandate["status"] = "active"
        mandate["_due"] = {}
        self.store.save(mandate)
        self.mandate_event(
            mandate,
            "active",
            "gocardless",
            "mandate_activated",
            "The time window after submission for the banks to refuse a mandate "
            "has ended without any errors being received, so this mandate is "
            "now active.",
            day=day,
        )

    def refund_submit(self, refund, day=None):
        refund["status"] = "submitted"
        refund["_due"].pop("submitted", None)
        self.store.save(refund)

    def refund_pay(self, refund, day=None):
        if refund["status"] == "created":
            self.refund_submit(refund, day)
        refund["status"] = "paid"
        refund["_due"] = {}
        self.store.save(refund)
        self.refund_event(
            refund,
            "paid",
            "gocardless",
            "refund_paid",
            "The refund has been paid to your customer.",
            day=day,
        )
        payment = self.store.get("payments", refund["links"]["payment"])
        self.ledger(
            refund["_org"],
            refund["currency"],
            "payment_refunded",
            -refund["amount"] * 10,
            payment,
            refund,
            settle=self._settle(
                "refunds",
                refund["id"],
                "refund_settled",
                "refund_settled",
                "This refund has been deducted from a payout.",
            ),
        )

    def refund_bounce(self, refund, day=None):
        settled = refund.get("_settled")
        if refund["status"] in ("created", "submitted"):
            self.refund_pay(refund, day)
        refund["status"] = "bounced"
        self.store.save(refund)
        payment = self.store.get("payments", refund["links"]["payment"])
        payment["amount_refunded"] -= refund["amount"]
        self.store.save(payment)
        self.refund_event(
            refund,
            "failed",
            "bank",
            "refund_failed",
            "The refund did not reach your customer and was returned.",
            day=day,
        )
        if settled:
            self.ledger(
                refund["_org"],
                refund["currency"],
                "refund_funds_returned",
                refund["amount"] * 10,
                payment,
                refund,
                settle=self._settle(
                    "refunds",
                    refund["id"],
                    "funds_returned",
                    "refund_funds_returned",
                    "The refunded funds have been returned to you.",
                ),
            )
        else:
            for _, item in self.store.all("payout_items", refund["_org"]):
                if item["links"]["refund"] == refund["id"] and item["_payout"] is None:
                    self.store.execute("DELETE FROM docs WHERE id = ?", (item["id"],))

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
        payout["status"] = "paid"
        payout["arrival_date"] = (day or self.today()).isoformat()
        payout["_due"] = {}
        self.store.save(payout)
        self.emit(
            payout["_org"],
            "payouts",
            "paid",
            {"payout": payout["id"]},
            {
                "origin": "gocardless",
                "cause": "payout_paid",
                "description": "GoCardless has transferred the payout to the creditor's "
                "bank account.",
                "currency": payout["currency"],
            },
            payout,
            day=day,
        )

    # ------------------------------------------------------------------ tick
    def tick(self) -> None:
        """Process every simulated day since the last tick (day-by-day, in order)."""
        today = self.today()
        last = self.store.kv_get("last_tick_date")
        last = dt.date.fromisoformat(last) if last else today
        day = last
        while day < today:
            day += dt.timedelta(days=1)
            self.process_day(day)
            self.store.kv_set("last_tick_date", day.isoformat())
        if last > today:
            self.store.kv_set("last_tick_date", today.isoformat())

    def _due(self, doc, key, day):
        due = (doc.get("_due") or {}).get(key)
        return due is not None and due <= day.isoformat()

    def process_day(self, day: dt.date) -> None:
        for _, mandate in self.store.all("mandates"):
            if mandate["status"] == "pending_submission" and self._due(mandate, "submitted", day):
                self.mandate_submit(mandate, day)
            if mandate["status"] == "submitted" and self._due(mandate, "active", day):
                self.mandate_activate(mandate, day)
        for _, payment in self.store.all("payments"):
            if payment["status"] == "failed" and self._due(payment, "autoretry", day):
                self.payment_autoretry(payment, day)
            if payment["status"] == "pending_submission" and self._due(payment, "submitted", day):
                self.payment_submit(payment, day)
            if payment["status"] == "submitted" and self._due(payment, "confirmed", day):
                self.payment_confirm(payment, day)
            if payment["status"] == "confirmed" and self._due(payment, "paid_out", day):
                self.payment_pay_out(payment, day)
        for _, refund in self.store.all("refunds"):
            if refund["status"] == "created" and self._due(refund, "submitted", day):
                self.refund_submit(refund, day)
            if refund["status"] == "submitted" and self._due(refund, "paid", day):
                self.refund_pay(refund, day)
        for _, payout in self.store.all("payouts"):
            if payout["status"] == "pending" and self._due(payout, "paid", day):
                self.payout_paid(payout, day)
        if day.weekday() < 5:
            self.run_payouts(day)

    # ------------------------------------------------------------------ simulators
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
        doc = self.store.get(rtype, resource_id, org)
        if doc is None:
            raise not_found()
        handler = getattr(self, "_sim_" + sim_id)
        handler(doc)
        return {"id": sim_id}

    def _sim_error(self, doc, expected):
        raise invalid_state(
            "invalid_state", f"Resource is {doc['status']}; this scenario requires {expected}"
        )

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
        if mandate["status"] not in ("pending_submission", "submitted"):
            self._sim_error(mandate, "pending_submission or submitted")
        self.mandate_activate(mandate)

    def _sim_mandate_failed(self, mandate):
        if mandate["status"] not in ("pending_submission", "submitted"):
            self._sim_error(mandate, "pending_submission or submitted")
        if mandate["status"] == "pending_submission":
            self.mandate_submit(mandate)
        self._cancel_mandate(
            mandate,
            "bank",
            "invalid_bank_details",
            "The bank account details are invalid.",
            status="failed",
            action="failed",
            reason_code="MD01",
        )

    def _sim_mandate_expired(self, mandate):
        if mandate["status"] not in ACTIVE_MANDATE:
            self._sim_error(mandate, "an active mandate")
        if mandate["status"] != "active":
            self.mandate_activate(mandate)
        self._cancel_mandate(
            mandate,
            "gocardless",
            "mandate_expired",
            "The mandate expired due to inactivity.",
            status="expired",
            action="expired",
        )

    def _sim_mandate_transferred(self, mandate):
        if mandate["status"] not in ACTIVE_MANDATE:
            self._sim_error(mandate, "an active mandate")
        if mandate["status"] != "active":
            self.mandate_activate(mandate)
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
            "The customer's bank account was transferred to a different bank or building society.",
            previous_customer_bank_account=old["id"],
            new_customer_bank_account=new["id"],
        )

    def _sim_refund_paid(self, refund):
        if refund["status"] not in ("created", "submitted"):
            self._sim_error(refund, "created or submitted")
        self.refund_pay(refund)

    def _sim_refund_settled(self, refund):
        if refund["status"] in ("created", "submitted"):
            self.refund_pay(refund)
        if refund["status"] != "paid" or refund.get("_settled"):
            self._sim_error(refund, "paid")
        self.run_payouts(org=refund["_org"], currency=refund["currency"], force=True)

    def _sim_refund_bounced(self, refund):
        if refund["status"] not in ("created", "submitted", "paid"):
            self._sim_error(refund, "created, submitted or paid")
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
