"""The hosted billing request flow (``/flow/BRF...``): the payer's form, its submission, exit."""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from . import hosted
from .banking import BANK_INPUTS, EXTRA_BILLING
from .core import ApiError, parse_ts

# The hosted form's inputs, by the billing request action that takes them.
CUSTOMER_INPUTS = {"email", "given_name", "family_name", "company_name"}
BILLING_INPUTS = {
    *(k for k in hosted.PAYER_FIELDS if k not in CUSTOMER_INPUTS),
    *(k for fields in EXTRA_BILLING.values() for k in fields),
}
BANK_FORM_INPUTS = {"account_holder_name", *(k for fields in BANK_INPUTS.values() for k in fields)}


class FlowPagesMixin:
    def flow_lookup(self, flow_id):
        flow = self.store.get("billing_request_flows", flow_id)
        br = self.store.get("billing_requests", flow["links"]["billing_request"]) if flow else None
        return flow, br

    def hosted_page(self, method, path, query, raw, headers):
        """Returns (status, html, extra_headers)."""
        parts = [p for p in path.split("/") if p]
        flow_id = parts[1] if len(parts) > 1 else (query.get("id") or [""])[-1]
        form = {
            k: v[-1].strip()
            for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()
        }
        with self.store.transaction():
            flow, br = self.flow_lookup(flow_id)
            lang = hosted.pick_language(
                form.get("lang") or (query.get("lang") or [None])[-1],
                flow and flow.get("language"),
                headers.get("Accept-Language"),
            )
            if flow is None:
                return 404, hosted.message_page(lang, "expired"), {}
            expired = parse_ts(flow["expires_at"]) <= self.engine.now()
            if len(parts) > 2 and parts[2] == "exit":
                if br["status"] not in ("fulfilled", "cancelled"):
                    self.engine.br_event(
                        br, "flow_exited", "payer", billing_request_flow=flow["id"]
                    )
                if flow.get("exit_uri"):
                    return 303, "", {"Location": flow["exit_uri"]}
                return 200, hosted.message_page(lang, "exited"), {}
            if br["status"] == "fulfilled":
                return 200, self._done_page(lang, flow), {}
            if expired or br["status"] == "cancelled":
                return 410, hosted.message_page(lang, "expired"), {}
            creditor = self.engine.creditor_of(br["_org"])
            if method == "GET":
                if not flow["_visited"]:
                    flow["_visited"] = True
                    self.store.save(flow)
                    self.engine.br_event(
                        br, "flow_visited", "payer", billing_request_flow=flow["id"]
                    )
                return (
                    200,
                    hosted.form_page(lang, flow, br, creditor, self._prefill(flow, br), []),
                    {},
                )
        scheme = (br.get("mandate_request") or {}).get("scheme") or "sepa_core"
        errors = hosted.validate_payer(lang, scheme, form)
        if not errors:
            try:
                self._submit_flow(br, form)
            except ApiError as err:
                if err.err_type != "validation_failed":
                    return (
                        200,
                        hosted.form_page(lang, flow, br, creditor, form, [("form", err.message)]),
                        {},
                    )
                for item in err.errors or []:
                    field = item.get("field", "form").split(".")[-1]
                    errors.append((field, item.get("message", "is invalid")))
        if errors:
            return 200, hosted.form_page(lang, flow, br, creditor, form, errors), {}
        if flow.get("redirect_uri"):
            return 303, "", {"Location": flow["redirect_uri"]}
        return (
            200,
            hosted.message_page(
                lang, "success", "<p>{}</p>".format(html.escape(hosted.TEXT[lang]["success_body"]))
            ),
            {},
        )

    def _done_page(self, lang, flow):
        extra = ""
        if flow.get("redirect_uri"):
            extra = f'<p><a id="continue" href="{html.escape(flow["redirect_uri"])}">&rarr;</a></p>'
        return hosted.message_page(lang, "done", extra)

    def _prefill(self, flow, br):
        customer = self.store.get("customers", br["links"]["customer"]) or {}
        values = {k: v for k, v in (flow.get("prefilled_customer") or {}).items() if v}
        for source in (customer, br["_billing"]):
            for key, value in source.items():
                if (
                    value
                    and isinstance(value, str)
                    and not values.get(key)
                    and not key.startswith("_")
                    and key not in ("id", "created_at")
                ):
                    values[key] = value
        if (flow.get("prefilled_bank_account") or {}).get("account_type"):
            values["account_type"] = flow["prefilled_bank_account"]["account_type"]
        return values

    def _submit_flow(self, br, form):
        org = br["_org"]
        filled = {k: v for k, v in form.items() if v}
        data = {
            "customer": {k: v for k, v in filled.items() if k in CUSTOMER_INPUTS},
            "customer_billing_detail": {k: v for k, v in filled.items() if k in BILLING_INPUTS},
        }
        bank = {k: v for k, v in filled.items() if k in BANK_FORM_INPUTS}
        with self.store.transaction():
            self.engine.collect_customer_details(org, br["id"], data, "payer")
            self.engine.collect_bank_account(org, br["id"], bank, "payer")
            self.engine.confirm_payer_details(org, br["id"], None, "payer")
            self.engine.fulfil(org, br["id"], None, "payer")
