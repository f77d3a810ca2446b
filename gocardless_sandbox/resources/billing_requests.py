"""Billing requests: the payer's details, bank account and consent, then the mandate or the
instant payment they ask for."""

from __future__ import annotations

from ..banking import (
    BANK_DETAIL_KEYS,
    BILLING_FIELDS,
    CURRENCY_SCHEME,
    CUSTOMER_FIELDS,
    EXTRA_BILLING,
    SCHEMES,
    danish_id_error,
    swedish_id_error,
    validate_bank_details,
)
from ..core import Validation, add_working_days, invalid_state, new_id, public
from .customers import BILLING_KEYS, CUSTOMER_KEYS


class BillingRequestsMixin:
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
            customer = self.fetch("customers", customer_id, org, "Customer")
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
        br = self.fetch("billing_requests", br_id, org)
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
        for key in ("account_holder_name", *BANK_DETAIL_KEYS):
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
            pr["scheme"],
            self.today(),
            pr["amount"],
            pr["currency"],
            description=pr["description"],
            metadata=pr["metadata"],
        )
        payment["status"] = "confirmed"
        payment["_due"] = {"paid_out": add_working_days(self.today(), 1).isoformat()}
        self.store.insert("payments", payment, org)
        self.payment_event(
            payment,
            "created",
            "api",
            "payment_created",
            description="Payment created by a billing request.",
        )
        self.payment_event(
            payment,
            "confirmed",
            "gocardless",
            "payment_confirmed",
            description="Payment confirmed by the bank.",
        )
        return payment
