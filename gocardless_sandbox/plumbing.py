"""HTTP plumbing: one handler reads the request, logs it, applies a fault, and hands it to
the dashboard, the admin routes, the hosted flow, OAuth or the API; errors answer in
GoCardless's envelope."""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from . import dashboard, testkit
from .core import ApiError, request_id

log = logging.getLogger("gocardless_sandbox")


def invalid_document(message):
    """The 400 GoCardless answers for a body that is not the JSON object expected."""
    return ApiError(
        400,
        "invalid_api_usage",
        "Invalid document structure",
        [{"message": message}],
        "invalid_document_structure",
    )


def read_json(raw):
    """The JSON document of a request body; 400 when it is not JSON."""
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise invalid_document("Request body is not valid JSON.") from None


def parse_body(raw, envelope, optional=False):
    """The object under ``envelope`` of a request body (``{}`` when optional and absent)."""
    if not raw.strip():
        if optional:
            return {}
        raise invalid_document("Root element must be an object.")
    body = read_json(raw)
    if body is None and optional:
        return {}
    if not isinstance(body, dict):
        raise invalid_document("Root element must be an object.")
    inner = body.get(envelope)
    if inner is None and optional:
        return {}
    if not isinstance(inner, dict):
        raise invalid_document(
            f"Root element must be an object with an '{envelope}' key holding an object."
        )
    return inner


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gocardless-sandbox/1.0"
    # Headers and body leave in two writes: with Nagle's algorithm, the body of every answer
    # but the first on a kept-alive connection waited for the client's delayed ACK (40 ms on
    # Linux), a latency GoCardless's API does not have.
    disable_nagle_algorithm = True
    sandbox = None  # the Sandbox, set per server class

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
