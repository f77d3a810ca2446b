"""Billing request flows: the hosted page a payer is sent to."""

from __future__ import annotations

import datetime as dt
import secrets

from ..core import Validation, fmt_ts, invalid_state, new_id
from .customers import CUSTOMER_KEYS, LANGUAGES

# A flow's ``prefilled_customer``: the customer's fields but its language and phone number.
PREFILLED_CUSTOMER_KEYS = [k for k in CUSTOMER_KEYS if k not in ("language", "phone_number")]


class BillingRequestFlowsMixin:
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
        br = self.fetch("billing_requests", br_id, org, "Billing request")
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
        prefill = {key: prefilled.get(key) for key in PREFILLED_CUSTOMER_KEYS}
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
        flow = self.fetch("billing_request_flows", flow_id, org)
        flow["session_token"] = "sesh_" + secrets.token_hex(8)
        self.store.save(flow)
        return flow
