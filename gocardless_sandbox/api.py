"""The API's routes: authentication, rate limit, versions, creates (idempotent), reads,
updates, actions, scenario simulators and ``/webhooks``."""

from __future__ import annotations

import email.utils
import re
import time

from .core import API_VERSION, ApiError, invalid_api_usage, invalid_state, not_found
from .plumbing import parse_body

CREATES = {
    "customers": "create_customer",
    "customer_bank_accounts": "create_bank_account",
    "billing_requests": "create_billing_request",
    "billing_request_flows": "create_flow",
    "payments": "create_payment",
    "refunds": "create_refund",
}


GETTABLE = {
    "creditors",
    "customers",
    "customer_bank_accounts",
    "billing_requests",
    "billing_request_flows",
    "mandates",
    "payments",
    "refunds",
    "events",
    "payouts",
}


LISTABLE = GETTABLE - {"billing_request_flows"} | {"payout_items"}


UPDATABLE = {"customers", "customer_bank_accounts", "mandates", "payments", "refunds", "payouts"}


ACTIONS = {
    ("billing_requests", "collect_customer_details"): "collect_customer_details",
    ("billing_requests", "collect_bank_account"): "collect_bank_account",
    ("billing_requests", "confirm_payer_details"): "confirm_payer_details",
    ("billing_requests", "fulfil"): "fulfil",
    ("billing_requests", "cancel"): "cancel_billing_request",
    ("billing_request_flows", "initialise"): "initialise_flow",
    ("mandates", "cancel"): "cancel_mandate",
    ("mandates", "reinstate"): "reinstate_mandate",
    ("payments", "cancel"): "cancel_payment",
    ("payments", "retry"): "retry_payment",
    ("customer_bank_accounts", "disable"): "disable_bank_account",
}


class ApiMixin:
    def authenticate(self, header):
        match = re.fullmatch(r"Bearer (\S+)", header or "")
        row = None
        if match:
            row = self.store.execute(
                "SELECT * FROM tokens WHERE token = ? AND revoked = 0", (match.group(1),)
            ).fetchone()
        if row is None:
            raise invalid_api_usage(401, "unauthorized", "Unauthorized")
        return dict(row)

    def rate_headers(self, token):
        now = time.time()
        window = int(now // 60)
        with self._rate_lock:
            key = (token, window)
            count = self._rate.get(key, 0) + 1
            self._rate = {k: v for k, v in self._rate.items() if k[1] == window}
            self._rate[key] = count
        reset = email.utils.formatdate((window + 1) * 60, usegmt=True)
        headers = {
            "RateLimit-Limit": str(self.rate_limit),
            "RateLimit-Remaining": str(max(self.rate_limit - count, 0)),
            "RateLimit-Reset": reset,
        }
        if count > self.rate_limit:
            raise self.rate_limit_error(headers)
        return headers

    @staticmethod
    def rate_limit_error(headers):
        return invalid_api_usage(429, "rate_limit_exceeded", "Rate limit exceeded", headers)

    def fault_error(self, mode):
        """The ApiError answered for a ``500`` / ``503`` / ``429`` fault."""
        if mode == "429":
            window = int(time.time() // 60)
            return self.rate_limit_error(
                {
                    "RateLimit-Limit": str(self.rate_limit),
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": email.utils.formatdate((window + 1) * 60, usegmt=True),
                    "Retry-After": str(max(1, (window + 1) * 60 - int(time.time()))),
                }
            )
        if mode == "503":
            return ApiError(
                503,
                "gocardless",
                "The service is temporarily unavailable, please try again later.",
                None,
                "service_unavailable",
            )
        return ApiError(
            500, "gocardless", "Uh-oh! Something went wrong in the sandbox.", None, "internal_error"
        )

    def api(self, method, path, query, raw, headers):
        """Returns (status, body, extra_headers). Raises ApiError."""
        token = self.authenticate(headers.get("Authorization"))
        rate = self.rate_headers(token["token"])
        try:
            version = headers.get("GoCardless-Version")
            if version is None:
                raise invalid_api_usage(
                    400, "missing_version_header", "GoCardless-Version header is required"
                )
            if version != API_VERSION:
                raise invalid_api_usage(
                    400, "version_not_found", f"GoCardless-Version {version} does not exist"
                )
            if method in ("POST", "PUT", "DELETE") and token["scope"] == "read_only":
                raise invalid_api_usage(403, "insufficient_permissions", "Insufficient permissions")
            status, body = self.route(method, path, query, raw, headers, token)
            return status, body, rate
        except ApiError as err:
            err.headers = {**rate, **err.headers}
            raise

    def route(self, method, path, query, raw, headers, token):
        org = token["org"]
        parts = [p for p in path.split("/") if p]
        if not parts:
            raise invalid_api_usage(404, "not_found", "Not found")
        rtype = parts[0]
        if (
            rtype == "scenario_simulators"
            and method == "POST"
            and len(parts) == 4
            and parts[2:] == ["actions", "run"]
        ):
            data = parse_body(raw, "data", optional=True)
            with self.store.transaction():
                result = self.engine.run_simulator(org, parts[1], data)
            return 200, {"scenario_simulators": result}
        if rtype == "webhooks":
            return self.api_webhooks(method, parts, query)
        if len(parts) == 1 and method == "POST" and rtype in CREATES:
            return self.create(rtype, org, raw, headers, token)
        if len(parts) == 1 and method == "GET" and rtype in LISTABLE:
            with self.store.transaction():
                return 200, self.list(rtype, org, query)
        if len(parts) == 2 and method == "GET" and rtype in GETTABLE:
            with self.store.transaction():
                doc = self.store.get(rtype, parts[1], org)
                if doc is None:
                    raise not_found()
                return 200, {rtype: self.engine.render(rtype, doc)}
        if len(parts) == 2 and method == "PUT" and rtype in UPDATABLE:
            body = parse_body(raw, rtype)
            with self.store.transaction():
                doc = self.engine.update_metadata(rtype, org, parts[1], body, rtype)
                return 200, {rtype: self.engine.render(rtype, doc)}
        if (
            len(parts) == 4
            and method == "POST"
            and parts[2] == "actions"
            and (rtype, parts[3]) in ACTIONS
        ):
            data = parse_body(raw, "data", optional=True)
            handler = getattr(self.engine, ACTIONS[(rtype, parts[3])])
            with self.store.transaction():
                if rtype == "payments" and parts[3] == "retry":
                    doc = handler(org, parts[1], data)
                elif rtype in ("billing_requests",):
                    doc = handler(org, parts[1], data)
                elif rtype == "billing_request_flows":
                    doc = handler(org, parts[1])
                elif rtype == "customer_bank_accounts":
                    doc = handler(org, parts[1])
                else:
                    doc = handler(org, parts[1], data)
                return 200, {rtype: self.engine.render(rtype, doc)}
        raise invalid_api_usage(404, "not_found", f"No route for {method} {path}")

    def create(self, rtype, org, raw, headers, token):
        body = parse_body(raw, rtype)
        key = headers.get("Idempotency-Key")
        with self.store.transaction():
            if key:
                row = self.store.execute(
                    "SELECT resource_id FROM idempotency WHERE org = ? AND key = ?", (org, key)
                ).fetchone()
                if row is not None:
                    message = "A resource has already been created with this idempotency key"
                    raise invalid_state(
                        "idempotent_creation_conflict",
                        message,
                        409,
                        {"conflicting_resource_id": row["resource_id"]},
                    )
            handler = getattr(self.engine, CREATES[rtype])
            if rtype == "billing_request_flows":
                doc = handler(org, body, self.public_url)
            elif rtype == "payments":
                doc = handler(org, body, is_oauth=token.get("client_id") is not None)
            else:
                doc = handler(org, body)
            if key:
                self.store.execute(
                    "INSERT INTO idempotency (org, key, type, resource_id) VALUES (?, ?, ?, ?)",
                    (org, key, rtype, doc["id"]),
                )
            return 201, {rtype: self.engine.render(rtype, doc)}

    def _webhook_resource(self, hook):
        return {
            "created_at": hook["created_at"],
            "id": hook["id"],
            "is_test": False,
            "request_body": hook["request_body"],
            "request_headers": {
                "Content-Type": "application/json",
                "Webhook-Signature": hook["signature"],
            },
            "response_body": (
                hook["attempt_log"][-1]["response_body"] if hook["attempt_log"] else None
            )
            or "",
            "response_body_truncated": False,
            "response_code": hook["response_code"],
            "response_headers": {},
            "response_headers_content_truncated": False,
            "response_headers_count_truncated": False,
            "successful": hook["status"] == "succeeded",
            "url": hook["url"],
        }

    def api_webhooks(self, method, parts, query):
        hooks = [self._webhook_resource(h) for h in self.dispatcher.deliveries()]
        if method == "GET" and len(parts) == 1:
            if "successful" in query:
                wanted = query["successful"][-1].lower() == "true"
                hooks = [h for h in hooks if h["successful"] == wanted]
            hooks.reverse()
            limit = 50
            return 200, {
                "webhooks": hooks[:limit],
                "meta": {"cursors": {"before": None, "after": None}, "limit": limit},
            }
        found = [h for h in hooks if len(parts) > 1 and h["id"] == parts[1]]
        if method == "GET" and len(parts) == 2:
            if not found:
                raise not_found()
            return 200, {"webhooks": found[0]}
        if method == "POST" and len(parts) == 4 and parts[2:] == ["actions", "retry"]:
            if not found or not self.dispatcher.retry(parts[1]):
                raise not_found()
            return 200, {"webhooks": found[0]}
        raise invalid_api_usage(404, "not_found", "Not found")
