"""The sandbox's own routes (``/sandbox/...``): health, clock, webhooks, payouts, request log
and faults."""

from __future__ import annotations

import re

from . import testkit
from .core import field_error, invalid_api_usage, public
from .plumbing import read_json


class AdminMixin:
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
        body = read_json(raw) if raw.strip() else {}
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
                raise field_error("days", "must be a non-negative number")
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
                raise field_error("since", "must be a non-negative integer")
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
                raise field_error("fault", str(err), "/") from None
            return 200, {"fault": fault}
        if path == "/sandbox/fault/clear" and method == "POST":
            self.faults.clear()
            return 200, {"fault": None}
        raise invalid_api_usage(404, "not_found", f"No admin route for {method} {path}")
