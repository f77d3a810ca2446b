"""HTTP layer: routing, auth, rate limits, idempotency, lists, hosted pages, OAuth, admin."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import html
import json
import logging
import re
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

from . import dashboard, hosted, testkit
from .core import (
    API_VERSION,
    ApiError,
    Store,
    Validation,
    invalid_api_usage,
    new_id,
    not_found,
    parse_ts,
    public,
    request_id,
)
from .engine import PAYOUT_ITEMS_RETENTION_DAYS, Engine
from .webhooks import Dispatcher

log = logging.getLogger("gocardless_sandbox")

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
LINK_FILTERS = {
    "customer_bank_accounts": {"customer": "links.customer"},
    "billing_requests": {"customer": "links.customer"},
    "mandates": {
        "customer": "links.customer",
        "customer_bank_account": "links.customer_bank_account",
        "creditor": "links.creditor",
        "reference": "reference",
        "scheme": "scheme",
    },
    "payments": {
        "mandate": "links.mandate",
        "creditor": "links.creditor",
        "currency": "currency",
        "scheme": "scheme",
        "subscription": "links.subscription",
    },
    "refunds": {"payment": "links.payment", "mandate": "links.mandate"},
    "payouts": {
        "currency": "currency",
        "payout_type": "payout_type",
        "reference": "reference",
        "creditor": "links.creditor",
    },
    "events": {
        key: "links." + key
        for key in (
            "payment",
            "mandate",
            "billing_request",
            "refund",
            "payout",
            "customer",
            "parent_event",
            "subscription",
            "creditor",
        )
    }
    | {"resource_type": "resource_type", "action": "action"},
}
INCLUDES = {
    "billing_request": "billing_requests",
    "creditor": "creditors",
    "customer": "customers",
    "mandate": "mandates",
    "payment": "payments",
    "payout": "payouts",
    "refund": "refunds",
}
LINKED_KEYS = [
    "billing_requests",
    "creditors",
    "customers",
    "instalment_schedules",
    "mandates",
    "outbound_payments",
    "payer_authorisations",
    "payment_account_transactions",
    "payments",
    "payouts",
    "refunds",
    "scheme_identifiers",
    "subscriptions",
]


def _dig(doc, dotted):
    for part in dotted.split("."):
        doc = doc.get(part) if isinstance(doc, dict) else None
    return doc


class Sandbox:
    """Everything but the socket: usable from the HTTP handler and from tests."""

    def __init__(
        self,
        db_path=":memory:",
        webhook_url=None,
        webhook_secret="",
        access_tokens=None,
        oauth_clients=None,
        public_url=None,
        rate_limit=1000,
        creditor_name="Sandbox Creditor Ltd",
        backoff_base=60.0,
        max_attempts=8,
        max_batch=250,
        webhook_timeout=10.0,
        poll_interval=0.2,
    ):
        self.store = Store(db_path)
        self.engine = Engine(self.store, creditor_name=creditor_name)
        self.dispatcher = Dispatcher(
            self.store,
            self.engine,
            webhook_url,
            webhook_secret,
            max_batch=max_batch,
            max_attempts=max_attempts,
            backoff_base=backoff_base,
            timeout=webhook_timeout,
            poll_interval=poll_interval,
        )
        self.public_url = public_url
        self.rate_limit = rate_limit
        self.oauth_clients = dict(oauth_clients or {})
        self._rate = {}
        self._rate_lock = threading.Lock()
        self.requests = testkit.RequestLog()
        self.faults = testkit.Faults()
        with self.store.transaction():
            org = self.store.kv_get("default_org")
            if org is None:
                org = new_id("OR")
                self.store.kv_set("default_org", org)
            self.default_org = org
            self.engine.ensure_org(org)
            for token in access_tokens or []:
                self.store.execute(
                    "INSERT OR IGNORE INTO tokens (token, org, scope) VALUES (?, ?, ?)",
                    (token, org, "read_write"),
                )

    # ------------------------------------------------------------------ auth & limits
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
        return ApiError(
            429,
            "invalid_api_usage",
            "Rate limit exceeded",
            [{"reason": "rate_limit_exceeded", "message": "Rate limit exceeded"}],
            "rate_limit_exceeded",
            headers,
        )

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

    # ------------------------------------------------------------------ API dispatch
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
                raise ApiError(
                    403,
                    "invalid_api_usage",
                    "Insufficient permissions",
                    [{"reason": "insufficient_permissions", "message": "Insufficient permissions"}],
                    "insufficient_permissions",
                )
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
            data = self.parse_body(raw, "data", optional=True)
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
            body = self.parse_body(raw, rtype)
            with self.store.transaction():
                doc = self.engine.update_metadata(rtype, org, parts[1], body, rtype)
                return 200, {rtype: self.engine.render(rtype, doc)}
        if (
            len(parts) == 4
            and method == "POST"
            and parts[2] == "actions"
            and (rtype, parts[3]) in ACTIONS
        ):
            data = self.parse_body(raw, "data", optional=True)
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

    def parse_body(self, raw, envelope, optional=False):
        if not raw.strip():
            if optional:
                return {}
            raise ApiError(
                400,
                "invalid_api_usage",
                "Invalid document structure",
                [{"message": "Root element must be an object."}],
                "invalid_document_structure",
            )
        try:
            body = json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(
                400,
                "invalid_api_usage",
                "Invalid document structure",
                [{"message": "Request body is not valid JSON."}],
                "invalid_document_structure",
            ) from None
        if body is None and optional:
            return {}
        if not isinstance(body, dict):
            raise ApiError(
                400,
                "invalid_api_usage",
                "Invalid document structure",
                [{"message": "Root element must be an object."}],
                "invalid_document_structure",
            )
        inner = body.get(envelope)
        if inner is None and optional:
            return {}
        if not isinstance(inner, dict):
            raise ApiError(
                400,
                "invalid_api_usage",
                "Invalid document structure",
                [
                    {
                        "message": f"Root element must be an object with an "
                        f"'{envelope}' key holding an object."
                    }
                ],
                "invalid_document_structure",
            )
        return inner

    def create(self, rtype, org, raw, headers, token):
        body = self.parse_body(raw, rtype)
        key = headers.get("Idempotency-Key")
        with self.store.transaction():
            if key:
                row = self.store.execute(
                    "SELECT resource_id FROM idempotency WHERE org = ? AND key = ?", (org, key)
                ).fetchone()
                if row is not None:
                    message = "A resource has already been created with this idempotency key"
                    raise ApiError(
                        409,
                        "invalid_state",
                        message,
                        [
                            {
                                "reason": "idempotent_creation_conflict",
                                "message": message,
                                "links": {"conflicting_resource_id": row["resource_id"]},
                            }
                        ],
                        "idempotent_creation_conflict",
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

    # ------------------------------------------------------------------ lists
    def _list_params(self, rtype, query):
        q = {k: v[-1] for k, v in query.items()}
        v = Validation(rtype)
        limit = 50
        if "limit" in q:
            if not re.fullmatch(r"\d{1,6}", q["limit"]) or not 1 <= int(q["limit"]) <= 500:
                v.add("limit", "must be a number between 1 and 500")
            else:
                limit = int(q["limit"])
        ranges = []
        for key, value in q.items():
            match = re.fullmatch(r"(created_at|charge_date)\[(gt|gte|lt|lte)\]", key)
            if match:
                try:
                    bound = (
                        parse_ts(value)
                        if match.group(1) == "created_at"
                        else dt.date.fromisoformat(value)
                    )
                except ValueError:
                    v.add(match.group(1), "is not a valid date/time")
                    continue
                ranges.append((match.group(1), match.group(2), bound))
        if rtype == "payout_items" and not q.get("payout"):
            v.add("payout", "is required")
        include = q.get("include")
        if include is not None:
            if rtype != "events" or include not in INCLUDES:
                v.add("include", "is invalid")
            elif not q.get("resource_type"):
                v.add("include", "requires resource_type")
        v.check()
        return q, limit, ranges, include

    def _check_payout_items_available(self, org, payout_id):
        """GoCardless answers 410 Gone for the items of a payout older than six months."""
        payout = self.store.get("payouts", payout_id, org)
        if payout is None:
            return
        age = self.engine.now() - parse_ts(payout["created_at"])
        if age > dt.timedelta(days=PAYOUT_ITEMS_RETENTION_DAYS):
            raise ApiError(
                410,
                "invalid_api_usage",
                "Payout items are not available for payouts older than 6 months",
                [
                    {
                        "reason": "payout_items_gone",
                        "message": "Payout items are not available for payouts older than 6 months",
                    }
                ],
                "payout_items_gone",
            )

    def _matches(self, rtype, doc, q, ranges):
        if rtype == "payout_items" and doc["_payout"] != q["payout"]:
            return False
        if "status" in q and doc.get("status") not in q["status"].split(","):
            return False
        if (
            rtype == "customer_bank_accounts"
            and "enabled" in q
            and str(doc["enabled"]).lower() != q["enabled"].lower()
        ):
            return False
        if rtype == "payments" and "customer" in q:
            mandate = self.store.get("mandates", doc["links"]["mandate"] or "")
            if not mandate or mandate["links"]["customer"] != q["customer"]:
                return False
        if any(
            param in q and _dig(doc, path) != q[param]
            for param, path in LINK_FILTERS.get(rtype, {}).items()
        ):
            return False
        return self._in_ranges(doc, ranges)

    def list(self, rtype, org, query):
        q, limit, ranges, include = self._list_params(rtype, query)
        if rtype == "payout_items":
            self._check_payout_items_available(org, q["payout"])
        selected = [
            (seq, doc)
            for seq, doc in self.store.all(rtype, org)
            if self._matches(rtype, doc, q, ranges)
        ]
        selected.reverse()  # newest first
        if "after" in q:
            cursor = self.store.seq_of(q["after"])
            if cursor is None:
                raise ApiError(
                    422,
                    "validation_failed",
                    "Validation failed",
                    [
                        {
                            "field": "after",
                            "message": "is not a valid cursor",
                            "request_pointer": "/after",
                        }
                    ],
                )
            selected = [item for item in selected if item[0] < cursor]
        has_newer = False
        if "before" in q:
            cursor = self.store.seq_of(q["before"])
            if cursor is None:
                raise ApiError(
                    422,
                    "validation_failed",
                    "Validation failed",
                    [
                        {
                            "field": "before",
                            "message": "is not a valid cursor",
                            "request_pointer": "/before",
                        }
                    ],
                )
            newer = [item for item in selected if item[0] > cursor]
            page = newer[-limit:]
            has_newer = len(newer) > limit
            has_older = True
        else:
            has_newer = "after" in q
            page = selected[:limit]
            has_older = len(selected) > limit
        records = [self.engine.render(rtype, doc) for _, doc in page]
        body = {
            rtype: records,
            "meta": {
                "cursors": {
                    "before": page[0][1]["id"] if page and has_newer else None,
                    "after": page[-1][1]["id"] if page and has_older else None,
                },
                "limit": limit,
            },
        }
        if rtype == "events":
            body["linked"] = {key: [] for key in LINKED_KEYS}
        if include:
            linked_type = INCLUDES[include]
            seen, linked = set(), []
            for record in records:
                linked_id = (record.get("links") or {}).get(include)
                if linked_id and linked_id not in seen:
                    seen.add(linked_id)
                    doc = self.store.get(linked_type, linked_id, org)
                    if doc:
                        linked.append(self.engine.render(linked_type, doc))
            body["linked"][linked_type] = linked
        return body

    @staticmethod
    def _in_ranges(doc, ranges):
        for field, op, bound in ranges:
            raw = doc.get(field)
            if raw is None:
                return False
            value = parse_ts(raw) if field == "created_at" else dt.date.fromisoformat(raw)
            if not {
                "gt": value > bound,
                "gte": value >= bound,
                "lt": value < bound,
                "lte": value <= bound,
            }[op]:
                return False
        return True

    # ------------------------------------------------------------------ /webhooks API
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

    # ------------------------------------------------------------------ admin
    def clock(self):
        now = self.engine.now()
        return {
            "now": now.isoformat(),
            "today": now.date().isoformat(),
            "offset_seconds": self.store.kv_get("clock_offset_seconds", 0),
        }

    def advance_clock(self, days=0, hours=0):
        with self.store.transaction():
            self.engine.advance_clock(days, hours)
        return self.clock()

    def admin(self, method, path, raw, query=None):
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise ApiError(
                400,
                "invalid_api_usage",
                "Invalid document structure",
                [{"message": "Request body is not valid JSON."}],
                "invalid_document_structure",
            ) from None
        if not isinstance(body, dict):
            body = {}
        if path == "/sandbox/health":
            return 200, {"status": "ok"}
        if path == "/sandbox/clock" and method == "GET":
            return 200, self.clock()
        if path == "/sandbox/clock/advance" and method == "POST":
            days, hours = body.get("days", 0), body.get("hours", 0)
            if any(
                isinstance(x, bool) or not isinstance(x, (int, float)) or x < 0
                for x in (days, hours)
            ):
                raise ApiError(
                    422,
                    "validation_failed",
                    "Validation failed",
                    [
                        {
                            "field": "days",
                            "message": "must be a non-negative number",
                            "request_pointer": "/days",
                        }
                    ],
                )
            return 200, self.advance_clock(days, hours)
        if path == "/sandbox/webhooks" and method == "GET":
            return 200, {"webhooks": self.dispatcher.deliveries()}
        if path == "/sandbox/webhooks/flush" and method == "POST":
            return 200, self.dispatcher.flush()
        if path == "/sandbox/webhooks/settings" and method == "POST":
            for key in (
                "webhook_url",
                "webhook_secret",
                "backoff_base",
                "max_attempts",
                "max_batch",
                "timeout",
            ):
                if key in body:
                    setattr(self.dispatcher, key, body[key])
            return 200, {
                "webhook_url": self.dispatcher.webhook_url,
                "backoff_base": self.dispatcher.backoff_base,
                "max_attempts": self.dispatcher.max_attempts,
            }
        if path.startswith(("/sandbox/requests", "/sandbox/fault")):
            return self.admin_testkit(method, path, body, query or {})
        if path == "/sandbox/payouts/run" and method == "POST":
            with self.store.transaction():
                payouts = self.engine.run_payouts(force=bool(body.get("force")))
            return 200, {"payouts": [public(p) for p in payouts]}
        if path == "/sandbox/payouts/pay" and method == "POST":
            with self.store.transaction():
                payouts = self.engine.pay_pending_payouts()
            return 200, {"payouts": [public(p) for p in payouts]}
        raise invalid_api_usage(404, "not_found", f"No admin route for {method} {path}")

    def admin_testkit(self, method, path, body, query):
        """``/sandbox/requests`` (request log) and ``/sandbox/fault`` (fault injection)."""
        if path == "/sandbox/requests" and method == "GET":
            since = (query.get("since") or [None])[-1]
            if since is not None and not re.fullmatch(r"\d{1,12}", since):
                raise ApiError(
                    422,
                    "validation_failed",
                    "Validation failed",
                    [
                        {
                            "field": "since",
                            "message": "must be a non-negative integer",
                            "request_pointer": "/since",
                        }
                    ],
                )
            return 200, {
                "requests": self.requests.entries(None if since is None else int(since)),
                "mark": self.requests.mark(),
            }
        if path == "/sandbox/requests/clear" and method == "POST":
            self.requests.clear()
            return 200, {"mark": self.requests.mark()}
        if path == "/sandbox/fault" and method == "GET":
            return 200, {"fault": self.faults.current()}
        if path == "/sandbox/fault" and method == "POST":
            try:
                fault = self.faults.set(
                    body.get("mode"),
                    body.get("path_prefix"),
                    body.get("count"),
                    body.get("method"),
                    body.get("hang_timeout", testkit.MAX_HANG_SECONDS),
                )
            except (ValueError, AttributeError) as err:
                raise ApiError(
                    422,
                    "validation_failed",
                    "Validation failed",
                    [{"field": "fault", "message": str(err), "request_pointer": "/"}],
                ) from None
            return 200, {"fault": fault}
        if path == "/sandbox/fault/clear" and method == "POST":
            self.faults.clear()
            return 200, {"fault": None}
        raise invalid_api_usage(404, "not_found", f"No admin route for {method} {path}")

    # ------------------------------------------------------------------ hosted flow
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
        customer_keys = ("email", "given_name", "family_name", "company_name")
        billing_keys = (
            "address_line1",
            "address_line2",
            "city",
            "region",
            "postal_code",
            "country_code",
            "swedish_identity_number",
            "danish_identity_number",
        )
        data = {
            "customer": {k: form[k] for k in customer_keys if form.get(k)},
            "customer_billing_detail": {k: form[k] for k in billing_keys if form.get(k)},
        }
        bank = {
            k: form[k]
            for k in (
                "account_holder_name",
                "iban",
                "branch_code",
                "bank_code",
                "account_number",
                "account_number_suffix",
                "account_type",
            )
            if form.get(k)
        }
        with self.store.transaction():
            self.engine.collect_customer_details(org, br["id"], data, "payer")
            self.engine.collect_bank_account(org, br["id"], bank, "payer")
            self.engine.confirm_payer_details(org, br["id"], None, "payer")
            self.engine.fulfil(org, br["id"], None, "payer")

    # ------------------------------------------------------------------ OAuth
    def oauth(self, method, path, query, raw, headers):
        """Returns (status, content_type, body, extra_headers)."""
        if path == "/oauth/authorize":
            params = {k: v[-1] for k, v in query.items()}
            if method == "POST":
                params = {
                    k: v[-1]
                    for k, v in parse_qs(
                        raw.decode("utf-8", "replace"), keep_blank_values=True
                    ).items()
                }
            return self.oauth_authorize(method, params)
        if path == "/oauth/access_token" and method == "POST":
            return self.oauth_token(raw, headers)
        if path == "/oauth/revoke" and method == "POST":
            params = self._oauth_params(raw, headers)
            client = self._oauth_client(params, headers)
            if client is None:
                return self._oauth_error(401, "invalid_client", "Unknown client")
            with self.store.transaction():
                self.store.execute(
                    "UPDATE tokens SET revoked = 1 WHERE token = ? AND client_id = ?",
                    (params.get("token"), client),
                )
            return 200, "application/json", "{}", {}
        return 404, "text/html", hosted.page("en", "Not found", "<h1>Not found</h1>"), {}

    def oauth_authorize(self, method, params):
        client_id, redirect = params.get("client_id"), params.get("redirect_uri")
        if client_id not in self.oauth_clients:
            return (
                400,
                "text/html",
                hosted.page("en", "Invalid client", "<h1>Unknown client_id</h1>", "oauth-error"),
                {},
            )
        if not redirect or not re.match(r"https?://", redirect):
            return (
                400,
                "text/html",
                hosted.page(
                    "en",
                    "Invalid redirect",
                    "<h1>Missing or invalid redirect_uri</h1>",
                    "oauth-error",
                ),
                {},
            )
        state = params.get("state")

        def back(**values):
            if state is not None:
                values["state"] = state
            sep = "&" if "?" in redirect else "?"
            return 303, "text/html", "", {"Location": redirect + sep + urlencode(values)}

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type")
        scope = params.get("scope") or "read_write"
        if scope not in ("read_write", "read_only"):
            return back(error="invalid_scope")
        if method == "POST":
            if params.get("decision") != "approve":
                return back(error="access_denied")
            code = "sbx_code_" + secrets.token_urlsafe(18)
            data = {
                "client_id": client_id,
                "redirect_uri": redirect,
                "scope": scope,
                "email": params.get("email") or "merchant@example.com",
                "organisation_name": params.get("organisation_name") or "Connected Merchant",
                "expires": time.time() + 600,
            }
            with self.store.transaction():
                self.store.execute(
                    "INSERT INTO oauth_codes (code, data) VALUES (?, ?)", (code, json.dumps(data))
                )
            return back(code=code)
        view = params.get("initial_view") or "signup"
        esc = html.escape
        hidden = "".join(
            f'<input type="hidden" name="{k}" id="{k}" value="{esc(params.get(k) or "")}">'
            for k in ("client_id", "redirect_uri", "scope", "state", "response_type")
        )
        fields = "".join(
            f'<label for="{name}">{label}</label><input type="text" id="{name}" '
            f'name="{name}" value="{esc(params.get("prefill[" + name + "]") or "")}">'
            for name, label in (
                ("email", "Email"),
                ("given_name", "First name"),
                ("family_name", "Last name"),
                ("organisation_name", "Organisation name"),
                ("country_code", "Country code"),
            )
        )
        body = (
            f'<h1 id="view-{esc(view)}">{"Log in" if view == "login" else "Sign up"} '
            f'to GoCardless (sandbox)</h1><p>An app wants <strong id="scope">'
            f"{esc(scope)}</strong> access to your account.</p>"
            f'<form id="oauth-form" method="post" action="/oauth/authorize">{hidden}'
            f'{fields}<button type="submit" id="approve" name="decision" value="approve">'
            'Connect</button> <button type="submit" id="deny" name="decision" '
            'value="deny">Deny</button></form>'
        )
        return 200, "text/html", hosted.page("en", "Connect to GoCardless", body, "oauth"), {}

    def _oauth_params(self, raw, headers):
        ctype = headers.get("Content-Type") or ""
        text = raw.decode("utf-8", "replace")
        if "json" in ctype:
            try:
                data = json.loads(text)
            except ValueError:
                return {}
            return (
                {k: v for k, v in data.items() if isinstance(v, str)}
                if isinstance(data, dict)
                else {}
            )
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}

    def _oauth_client(self, params, headers):
        client_id, secret = params.get("client_id"), params.get("client_secret")
        auth = headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
        expected = self.oauth_clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected, secret or ""):
            return None
        return client_id

    @staticmethod
    def _oauth_error(status, code, description):
        return (
            status,
            "application/json",
            json.dumps({"error": code, "error_description": description}),
            {},
        )

    def oauth_token(self, raw, headers):
        params = self._oauth_params(raw, headers)
        client = self._oauth_client(params, headers)
        if client is None:
            return self._oauth_error(401, "invalid_client", "Client authentication failed")
        if params.get("grant_type") != "authorization_code":
            return self._oauth_error(
                400, "unsupported_grant_type", "grant_type must be authorization_code"
            )
        with self.store.transaction():
            row = self.store.execute(
                "SELECT * FROM oauth_codes WHERE code = ?", (params.get("code") or "",)
            ).fetchone()
            if row is None or row["used"]:
                return self._oauth_error(400, "invalid_grant", "Invalid or used code")
            data = json.loads(row["data"])
            if data["client_id"] != client or data["expires"] < time.time():
                return self._oauth_error(400, "invalid_grant", "Invalid code")
            if params.get("redirect_uri") != data["redirect_uri"]:
                return self._oauth_error(400, "invalid_grant", "redirect_uri does not match")
            self.store.execute("UPDATE oauth_codes SET used = 1 WHERE code = ?", (row["code"],))
            orgs = self.store.kv_get("oauth_orgs", {})
            org = orgs.get(data["email"])
            if org is None:
                org = new_id("OR")
                orgs[data["email"]] = org
                self.store.kv_set("oauth_orgs", orgs)
            self.engine.ensure_org(org, data["organisation_name"], data["email"])
            token = "sandbox_oauth_" + secrets.token_urlsafe(24)
            self.store.execute(
                "INSERT INTO tokens (token, org, scope, client_id, email) VALUES (?, ?, ?, ?, ?)",
                (token, org, data["scope"], client, data["email"]),
            )
        return (
            200,
            "application/json",
            json.dumps(
                {
                    "access_token": token,
                    "token_type": "bearer",
                    "scope": data["scope"],
                    "email": data["email"],
                    "organisation_id": org,
                }
            ),
            {},
        )


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gocardless-sandbox/1.0"
    # Headers and body leave in two writes: with Nagle's algorithm, the body of every answer
    # but the first on a kept-alive connection waited for the client's delayed ACK (40 ms on
    # Linux), a latency GoCardless's API does not have.
    disable_nagle_algorithm = True
    sandbox: Sandbox = None  # set per server class

    def log_message(self, fmt, *args):
        log.debug("%s - %s", self.address_string(), fmt % args)

    _logged = None  # this request's entry in the request log, if it is logged

    _held = None  # a `hang_after` fault: the request was processed, its answer is withheld

    def _send(self, status, body: bytes, ctype, headers=None):
        if self._held is not None:
            _mode, hang_timeout, released = self._held
            self._held = None
            released.wait(hang_timeout)
            self._logged = None
            self.close_connection = True
            return None
        if self._logged is not None:
            self.sandbox.requests.update(self._logged, status=status)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status, payload, headers=None):
        self._send(status, json.dumps(payload).encode("utf-8"), "application/json", headers)

    def _handle(self):
        req_id = request_id()
        rate = {}
        self._logged = None
        self._held = None
        try:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length > 0 else b""
            split = urlsplit(self.path)
            path = split.path.rstrip("/") or "/"
            query = parse_qs(split.query, keep_blank_values=True)
            sandbox = self.sandbox
            kind = testkit.request_kind(path)
            if kind in testkit.LOGGED_KINDS:
                self._logged = sandbox.requests.add(
                    self.command, path, query, self.headers.get("Idempotency-Key"), kind
                )
                fault = sandbox.faults.take(self.command, path)
                if fault is not None and fault[0] == "hang_after":
                    # Processed as usual; `_send` withholds the answer.
                    self._held = fault
                    self.sandbox.requests.update(self._logged, fault=fault[0])
                elif fault is not None:
                    return self._fault(*fault, req_id)
            if path == dashboard.BASE or path.startswith(dashboard.BASE + "/"):
                status, page, extra = dashboard.handle(
                    sandbox, self.command, path, query, raw, self.headers
                )
                return self._send(status, page.encode("utf-8"), "text/html; charset=utf-8", extra)
            if path.startswith("/sandbox/"):
                status, payload = sandbox.admin(self.command, path, raw, query)
                return self._json(status, payload)
            if path == "/flow" or path.startswith("/flow/"):
                status, page, extra = sandbox.hosted_page(
                    self.command, path, query, raw, self.headers
                )
                return self._send(status, page.encode("utf-8"), "text/html; charset=utf-8", extra)
            if path.startswith("/oauth/"):
                status, ctype, page, extra = sandbox.oauth(
                    self.command, path, query, raw, self.headers
                )
                return self._send(status, page.encode("utf-8"), ctype, extra)
            status, payload, rate = sandbox.api(self.command, path, query, raw, self.headers)
            if status == 204:
                return self._send(204, b"", "application/json", rate)
            return self._json(status, payload, rate)
        except ApiError as err:
            return self._json(err.status, err.body(req_id), err.headers or rate)
        except Exception:  # noqa: BLE001 - never a traceback on the wire
            log.exception(
                "internal error handling %s %s (request %s)", self.command, self.path, req_id
            )
            return self._json(
                500,
                {
                    "error": {
                        "type": "gocardless",
                        "code": 500,
                        "message": "Uh-oh! Something went wrong in the sandbox.",
                        "documentation_url": "https://developer.gocardless.com/api-reference"
                        "#internal_error",
                        "request_id": req_id,
                    }
                },
                rate,
            )

    def _fault(self, mode, hang_timeout, released, req_id):
        self.sandbox.requests.update(self._logged, fault=mode)
        if mode in ("hang", "refuse"):
            if mode == "hang":
                # Handler threads are daemon threads (ThreadingHTTPServer.daemon_threads), so
                # other requests are served meanwhile and stop() never waits for this one.
                released.wait(hang_timeout)
            self._logged = None  # nothing is ever answered on this connection
            self.close_connection = True
            return None
        err = self.sandbox.fault_error(mode)
        return self._json(err.status, err.body(req_id), err.headers)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle


class SandboxServer:
    """Runs the sandbox over HTTP in background threads.

    >>> server = SandboxServer(port=0, db_path="gc.sqlite3", access_tokens=["T"],
    ...                        webhook_url="http://127.0.0.1:8069/payment/gocardless/webhook",
    ...                        webhook_secret="S")
    >>> server.start(); server.url  # doctest: +SKIP
    """

    def __init__(
        self,
        port=0,
        host="127.0.0.1",
        db_path=":memory:",
        webhook_url=None,
        webhook_secret="",
        access_tokens=None,
        oauth_clients=None,
        public_url=None,
        **options,
    ):
        self.host = host
        self.httpd = ThreadingHTTPServer((host, port), type("BoundHandler", (Handler,), {}))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.sandbox = Sandbox(
            db_path=db_path,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret,
            access_tokens=access_tokens or [],
            oauth_clients=oauth_clients,
            public_url=public_url or self.url,
            **options,
        )
        self.httpd.RequestHandlerClass.sandbox = self.sandbox
        self._thread = None

    def start(self):
        # A short poll interval: stop() (httpd.shutdown) returns within ~50 ms.
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, args=(0.05,), name="gc-sandbox-http", daemon=True
        )
        self._thread.start()
        self.sandbox.dispatcher.start()
        return self

    def serve_forever(self):
        self.sandbox.dispatcher.start()
        try:
            self.httpd.serve_forever()
        finally:
            self.sandbox.faults.release_all()
            self.sandbox.dispatcher.stop()

    def stop(self):
        self.sandbox.faults.release_all()  # hanging requests are closed unanswered
        self.sandbox.dispatcher.stop()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.sandbox.store.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- admin helpers for tests -------------------------------------------------------
    @property
    def default_organisation(self):
        return self.sandbox.default_org

    def clock(self):
        return self.sandbox.clock()

    def advance_clock(self, days=0, hours=0):
        return self.sandbox.advance_clock(days, hours)

    def flush_webhooks(self):
        return self.sandbox.dispatcher.flush()

    def webhook_deliveries(self):
        return self.sandbox.dispatcher.deliveries()

    def configure_webhooks(self, **settings):
        for key, value in settings.items():
            setattr(self.sandbox.dispatcher, key, value)

    # -- request log and fault injection (see testkit.py) ----------------------------------
    def request_log(self, since=None):
        """Copies of the logged API/OAuth requests, oldest first; ``since``: a mark.

        Entries: ``seq``, ``method``, ``path`` (no query string), ``query`` (``parse_qs``
        dict), ``status`` (answered, None if unanswered), ``idempotency_key``, ``kind``
        (``api``/``oauth``), ``fault`` (mode or None), ``at`` (``time.time()``).
        """
        return self.sandbox.requests.entries(since)

    def request_log_mark(self):
        """Number of requests logged so far (never decreases): pass it to request_log()."""
        return self.sandbox.requests.mark()

    def clear_request_log(self):
        self.sandbox.requests.clear()

    def set_fault(
        self, mode, path_prefix=None, count=None, method=None, hang_timeout=testkit.MAX_HANG_SECONDS
    ):
        """``mode``: hang, hang_after, refuse, 500, 503, 429; see :meth:`testkit.Faults.set`."""
        return self.sandbox.faults.set(mode, path_prefix, count, method, hang_timeout)

    def clear_fault(self):
        self.sandbox.faults.clear()

    def current_fault(self):
        return self.sandbox.faults.current()

    def run_payouts(self, force=False):
        with self.sandbox.store.transaction():
            return [public(p) for p in self.sandbox.engine.run_payouts(force=force)]

    def pay_payouts(self):
        """Pay every pending payout today (``payouts/paid`` events); return them."""
        with self.sandbox.store.transaction():
            return [public(p) for p in self.sandbox.engine.pay_pending_payouts()]

    def add_payout_item(self, currency, item_type, tenths, payment=None, taxes=None, org=None):
        """Put an item in the ledger for the next payout: a negative fee, an app fee...

        ``tenths``: tenths of a minor unit (``-1434`` is ``"-143.4"``); ``payment``: a
        payment id to link; ``taxes``: the item's ``taxes`` (VAT computed for fees if None).
        """
        with self.sandbox.store.transaction():
            return public(
                self.sandbox.engine.add_payout_item(
                    org or self.default_organisation, currency, item_type, tenths, payment, taxes
                )
            )

    def fail_payment(self, payment_id, will_attempt_retry=False):
        """Fail a payment at the bank (`payments/failed`); ``will_attempt_retry``: GoCardless
        plans to submit it again by itself (see :meth:`autoretry_payment`)."""
        scenario = "payment_failed_will_retry" if will_attempt_retry else "payment_failed"
        return self._simulate(scenario, "payments", payment_id)

    def autoretry_payment(self, payment_id):
        """Run now the retry planned by a failure with `will_attempt_retry`:
        `resubmission_requested`, the payment is pending submission again."""
        return self._simulate("payment_autoretried", "payments", payment_id)

    def _simulate(self, scenario, rtype, resource_id):
        with self.sandbox.store.transaction():
            doc = self.sandbox.store.get(rtype, resource_id)
            if doc is None:
                raise KeyError(resource_id)
            self.sandbox.engine.run_simulator(
                doc["_org"], scenario, {"links": {"resource": resource_id}}
            )
            return public(self.sandbox.store.get(rtype, resource_id))

    def age_payout(self, payout_id, days):
        """Make a payout ``days`` older (its items answer 410 after six months)."""
        with self.sandbox.store.transaction():
            return public(self.sandbox.engine.age_payout(payout_id, days))
