"""Tests of gocardless_core.client: timeouts, transport, idempotency keys, error text."""

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gocardless_pro
import pytest
import requests
from gocardless_pro import errors as sdk_errors
from hypothesis import given
from hypothesis import strategies as st

from gocardless_core import client as gc_client
from gocardless_core.errors import ConfigurationError, GoCardlessCoreError


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections (kernel backlog) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


class _Handler(BaseHTTPRequestHandler):
    """Answers with the response queued on the server, records each request."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append((self.command, self.path, dict(self.headers), body))
        status, payload = self.server.responses.pop(0)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("RateLimit-Remaining", "999")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        """Keep test output quiet."""


@pytest.fixture
def api_server():
    """A local JSON server; queue answers in ``server.responses``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests, server.responses = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def test_default_timeout_and_urls():
    assert gc_client.DEFAULT_TIMEOUT == 20
    assert gc_client.SANDBOX_URL == "https://api-sandbox.gocardless.com"
    assert gc_client.LIVE_URL == "https://api.gocardless.com"
    sandbox = gc_client.make_client("token")
    assert isinstance(sandbox, gocardless_pro.Client)
    assert isinstance(sandbox._api_client, gc_client.TimeoutApiClient)
    assert sandbox._api_client.timeout == 20
    assert sandbox._api_client.base_url == gc_client.SANDBOX_URL
    live = gc_client.make_client("token", environment="live", timeout=5)
    assert live._api_client.base_url == gc_client.LIVE_URL
    assert live._api_client.timeout == 5
    local = gc_client.make_client("token", environment="nonsense", base_url="http://x")
    assert local._api_client.base_url == "http://x"
    assert gc_client.make_client("t", timeout=(3, 7))._api_client.timeout == (3, 7)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"access_token": ""},
        {"access_token": None},
        {"access_token": "  "},
        {"access_token": "t", "environment": "production"},
        {"access_token": "t", "environment": None},
        {"access_token": "t", "timeout": None},
        {"access_token": "t", "timeout": 0},
        {"access_token": "t", "timeout": -1},
        {"access_token": "t", "timeout": float("inf")},
        {"access_token": "t", "timeout": float("nan")},
        {"access_token": "t", "timeout": True},
        {"access_token": "t", "timeout": "20"},
        {"access_token": "t", "timeout": (1, None)},
    ],
)
def test_make_client_refuses_bad_settings(kwargs):
    with pytest.raises(ConfigurationError):
        gc_client.make_client(**kwargs)
    assert issubclass(ConfigurationError, ValueError)


def test_unanswered_action_fails_within_the_timeout(silent_server):
    api = gc_client.make_client("token", base_url=silent_server, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(requests.Timeout) as info:
        api.payments.cancel("PM123")  # action endpoints are never retried by the SDK
    elapsed = time.monotonic() - started
    assert elapsed < 2, elapsed
    assert gc_client.describe_api_error(info.value) == "GoCardless did not answer in time."


def test_unanswered_get_is_bounded_by_the_sdk_retries(silent_server):
    api = gc_client.make_client("token", base_url=silent_server, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        api.payments.get("PM123")
    # 3 attempts of 0.3 s plus 2 pauses of 0.5 s
    assert time.monotonic() - started < 4


def test_requests_go_through_the_sdk_with_its_headers(api_server, load_fixture):
    payments = load_fixture("payments.json")
    api_server.responses += [
        (201, payments["create"]["body"]),
        (200, payments["get"]["body"]),
        (200, payments["update"]["body"]),
        (200, payments["list"]["body"]),
    ]
    api = gc_client.make_client("secret-token", base_url=api_server.url)
    key = gc_client.idempotency_key("db-uuid", "TX-1", "payment")
    created = api.payments.create(
        params={"amount": 1000, "currency": "EUR", "links": {"mandate": "MD123"}},
        headers={"Idempotency-Key": key},
    )
    assert created.id == payments["create"]["body"]["payments"]["id"]
    assert api.payments.get("PM123").amount == payments["get"]["body"]["payments"]["amount"]
    api.payments.update("PM123", params={"metadata": {"odoo": "1"}})
    assert len(api.payments.list(params={"mandate": "MD123"}).records) == len(
        payments["list"]["body"]["payments"]
    )
    (m1, p1, h1, b1), (m2, p2, h2, _), (m3, _, _, b3), (m4, p4, _, _) = api_server.requests
    assert (m1, p1) == ("POST", "/payments")
    assert h1["Idempotency-Key"] == key
    assert h1["Authorization"] == "Bearer secret-token"
    assert h1["GoCardless-Version"] == "2015-07-06"
    assert json.loads(b1) == {
        "payments": {"amount": 1000, "currency": "EUR", "links": {"mandate": "MD123"}}
    }
    assert (m2, p2) == ("GET", "/payments/PM123")
    assert "Idempotency-Key" not in h2
    assert m3 == "PUT" and json.loads(b3) == {"payments": {"metadata": {"odoo": "1"}}}
    assert (m4, p4) == ("GET", "/payments?mandate=MD123")
    assert api._api_client.rate_limit.remaining == 999


def test_sdk_adds_a_random_idempotency_key_when_none_is_given(api_server, load_fixture):
    body = load_fixture("customers.json")["create"]["body"]
    api_server.responses += [(201, body), (201, body)]
    api = gc_client.make_client("t", base_url=api_server.url)
    api.customers.create(params={"email": "a@example.com"})
    api.customers.create(params={"email": "a@example.com"})
    keys = [headers["Idempotency-Key"] for _, _, headers, _ in api_server.requests]
    assert len(set(keys)) == 2


def test_api_errors_are_typed_and_described(api_server, load_fixture):
    api_server.responses.append((422, load_fixture("validation_failed_error.json")))
    api = gc_client.make_client("t", base_url=api_server.url)
    with pytest.raises(sdk_errors.ValidationFailedError) as info:
        api.customer_bank_accounts.create(params={})
    assert gc_client.describe_api_error(info.value) == (
        "Validation failed: branch_code must be a number; country_code is invalid "
        "(request id dd50eaaf-8213-48fe-90d6-5466872efbc4)"
    )


@pytest.mark.parametrize(
    ("fixture", "status", "expected_class", "expected_start"),
    [
        ("invalid_state_error.json", 422, sdk_errors.InvalidStateError, None),
        ("unauthorized_error.json", 401, sdk_errors.AuthenticationError, None),
        ("insufficient_permission.json", 403, sdk_errors.PermissionsError, None),
        ("rate_limit_exceeded.json", 429, sdk_errors.RateLimitError, None),
        ("gocardless_error.json", 500, sdk_errors.GoCardlessInternalError, None),
        (
            "idempotent_creation_conflict_error.json",
            409,
            sdk_errors.IdempotentCreationConflictError,
            "A resource has already been created with this idempotency key (request id",
        ),
    ],
)
def test_describe_every_sdk_error_fixture(
    load_fixture, fixture, status, expected_class, expected_start
):
    error = load_fixture(fixture)["error"]
    exc_class = sdk_errors.ApiError.exception_for(status, error["type"], error.get("errors"))
    assert exc_class is expected_class
    text = gc_client.describe_api_error(exc_class(error))
    assert "\n" not in text
    assert text.startswith(expected_start or error["message"])


def test_describe_other_failures():
    assert gc_client.describe_api_error(requests.ConnectionError("boom")) == (
        "Could not connect to GoCardless."
    )
    assert gc_client.describe_api_error(requests.ConnectTimeout("slow")) == (
        "GoCardless did not answer in time."
    )
    malformed = sdk_errors.MalformedResponseError("Malformed", "<html>", 502)
    assert gc_client.describe_api_error(malformed) == (
        "GoCardless sent an unreadable response (HTTP 502)."
    )
    assert gc_client.describe_api_error(sdk_errors.ApiError({"message": "Oops\nthere"})) == (
        "Oops there"
    )
    assert gc_client.describe_api_error(sdk_errors.ApiError({})) == (
        "GoCardless refused the request"
    )
    assert gc_client.describe_api_error(ValueError()) == "ValueError"


def test_idempotency_key_is_deterministic_and_readable():
    key = gc_client.idempotency_key("1b2c-uuid", "S00042-1", "payment")
    assert key == "1b2c-uuid:S00042-1:payment"
    assert gc_client.idempotency_key("1b2c-uuid", "S00042-1", "payment") == key
    assert gc_client.idempotency_key("db", 42, "refund") == "db:42:refund"
    assert gc_client.idempotency_key("db", "INV/2025/0042", "payment") == "db:INV/2025/0042:payment"


def test_idempotency_key_hashes_unsafe_or_long_parts():
    spaced = gc_client.idempotency_key("db", "tx 1", "payment")
    assert spaced.startswith("sha256:") and len(spaced) == 71
    assert spaced != gc_client.idempotency_key("db", "tx_1", "payment")
    long_key = gc_client.idempotency_key("db", "x" * 200, "payment")
    assert long_key.startswith("sha256:")
    assert gc_client.idempotency_key("a:b", "c", "d") != gc_client.idempotency_key("a", "b:c", "d")


@pytest.mark.parametrize("parts", [("", "r", "a"), ("n", None, "a"), ("n", "r", "  ")])
def test_idempotency_key_refuses_empty_parts(parts):
    with pytest.raises(GoCardlessCoreError):
        gc_client.idempotency_key(*parts)


parts = st.text(min_size=1, max_size=80).filter(str.strip)


@given(parts, parts, parts)
def test_idempotency_keys_are_short_ascii_and_stable(namespace, reference, action):
    key = gc_client.idempotency_key(namespace, reference, action)
    assert key.isascii() and key.isprintable()
    assert 0 < len(key) <= gc_client.IDEMPOTENCY_KEY_MAX_LENGTH
    assert key == gc_client.idempotency_key(namespace, reference, action)


@given(st.tuples(parts, parts, parts), st.tuples(parts, parts, parts))
def test_distinct_intents_get_distinct_keys(first, second):
    if first != second:
        assert gc_client.idempotency_key(*first) != gc_client.idempotency_key(*second)


# --- One choke point: perform() and classify_error() ---------------------------------------


def test_perform_returns_plain_data_and_reuses_one_session(api_server):
    api_server.responses += [
        (200, {"customers": {"id": "CU1", "email": "a@example.com"}}),
        (200, {"customers": [{"id": "CU1"}], "meta": {"cursors": {"after": None}}}),
    ]
    client = gc_client.make_client("token", base_url=api_server.url, timeout=(1, 2))
    assert gc_client.perform(client, "customers", "get", "CU1") == {
        "id": "CU1",
        "email": "a@example.com",
    }
    page = gc_client.perform(client, "customers", "list", params={"limit": 1})
    assert page["customers"] == [{"id": "CU1"}]
    assert gc_client.http_session() is gc_client.http_session()
    adapter = gc_client.http_session().get_adapter(api_server.url)
    assert adapter.poolmanager.pools  # the connection pool is kept between calls


def test_perform_sends_the_idempotency_key(api_server):
    api_server.responses.append((201, {"payments": {"id": "PM1"}}))
    client = gc_client.make_client("token", base_url=api_server.url)
    gc_client.perform(
        client, "payments", "create", params={"amount": 1}, headers={"Idempotency-Key": "k-1"}
    )
    assert api_server.requests[0][2]["Idempotency-Key"] == "k-1"


def test_a_hanging_api_fails_once_within_the_interactive_budget(silent_server):
    settings = gc_client.profile_settings("interactive")
    client = gc_client.make_client("token", base_url=silent_server, timeout=settings["timeout"])
    started = time.monotonic()
    with pytest.raises(GoCardlessCoreError) as caught:
        gc_client.perform(client, "payments", "get", "PM1", tries=settings["tries"])
    elapsed = time.monotonic() - started
    assert caught.value.kind == "timeout"
    assert caught.value.transient is True
    assert elapsed < 10, elapsed


def test_profiles_are_bounded():
    for name, settings in gc_client.PROFILES.items():
        connect, read = settings["timeout"]
        assert settings["tries"] >= 1, name
        # Each try waits at most connect + read seconds; the SDK sleeps 0.5 s between tries.
        worst = settings["tries"] * (connect + read) + 0.5 * (settings["tries"] - 1)
        assert worst < {"interactive": 10, "background": 60}[name], name
    with pytest.raises(ConfigurationError):
        gc_client.profile_settings("forever")


def _api_error(cls, status, error_type, reason=None):
    return cls(
        {
            "message": "refused",
            "type": error_type,
            "code": status,
            "errors": [{"reason": reason, "message": "refused"}] if reason else [],
            "request_id": "RQ1",
        }
    )


# GoCardless's API errors: SDK class, HTTP status, error type, reason -> kind, transient.
API_ERRORS = [
    ("RateLimitError", 429, "invalid_api_usage", "rate_limit_exceeded", "rate_limited", True),
    ("GoCardlessInternalError", 500, "gocardless", None, "internal", True),
    ("AuthenticationError", 401, "invalid_api_usage", "unauthorized", "authentication", False),
    ("PermissionsError", 403, "invalid_api_usage", "forbidden", "permission", False),
    ("InvalidApiUsageError", 404, "invalid_api_usage", "not_found", "not_found", False),
    ("ValidationFailedError", 422, "validation_failed", "invalid", "validation", False),
    ("InvalidStateError", 422, "invalid_state", "cancellation_failed", "invalid_state", False),
]


@pytest.mark.parametrize(
    ("error", "kind", "transient"),
    [
        (requests.Timeout("slow"), "timeout", True),
        (requests.ConnectionError("refused"), "unreachable", True),
        (sdk_errors.MalformedResponseError("html", None, 502), "unreadable", True),
        *[
            (_api_error(getattr(sdk_errors, name), status, error_type, reason), kind, transient)
            for name, status, error_type, reason, kind, transient in API_ERRORS
        ],
        (sdk_errors.GoCardlessProError("bad url parameter"), "invalid_request", False),
    ],
)
def test_classify_error(error, kind, transient):
    classified = gc_client.classify_error(error)
    assert (classified.kind, classified.transient) == (kind, transient)
    assert classified.description
    assert gc_client.classify_error(classified) is classified


def test_perform_raises_the_classified_error(api_server):
    api_server.responses.append(
        (
            401,
            {
                "error": {
                    "message": "Access token not active",
                    "type": "invalid_api_usage",
                    "code": 401,
                    "errors": [{"reason": "access_token_not_active", "message": "x"}],
                    "request_id": "RQ2",
                }
            },
        )
    )
    client = gc_client.make_client("token", base_url=api_server.url)
    with pytest.raises(GoCardlessCoreError) as caught:
        gc_client.perform(client, "creditors", "list")
    assert caught.value.kind == "authentication"
    assert caught.value.status == 401
    assert caught.value.reason == "access_token_not_active"
    assert "RQ2" in caught.value.description


def test_a_lost_answer_is_uncertain_and_a_request_never_sent_is_not(silent_server):
    """A read time-out or a connection dropped after sending may hide a created resource;
    a connection never made, or an error GoCardless answered, hides nothing."""
    with pytest.raises(requests.ConnectionError) as refused:
        requests.post("http://127.0.0.1:1/payments", data="{}", timeout=2)
    assert not gc_client.classify_error(refused.value).uncertain
    assert not gc_client.classify_error(requests.ConnectTimeout("slow")).uncertain
    with pytest.raises(requests.ReadTimeout) as timed_out:
        requests.post(f"{silent_server}/payments", data="{}", timeout=(2, 0.2))
    assert gc_client.classify_error(timed_out.value).uncertain
    assert gc_client.classify_error(requests.ReadTimeout("slow")).uncertain
    assert gc_client.classify_error(sdk_errors.MalformedResponseError("html", None, 502)).uncertain
    internal = _api_error(sdk_errors.GoCardlessInternalError, 500, "gocardless")
    assert not gc_client.classify_error(internal).uncertain
    assert not gc_client.classify_error(ValueError("no")).uncertain


def test_a_connection_closed_without_an_answer_is_uncertain():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)

        def close_after_reading():
            connection, _address = server.accept()
            connection.recv(65536)
            connection.close()

        thread = threading.Thread(target=close_after_reading, daemon=True)
        thread.start()
        port = server.getsockname()[1]
        with pytest.raises(requests.ConnectionError) as dropped:
            requests.post(f"http://127.0.0.1:{port}/payments", data="{}", timeout=5)
        thread.join(5)
    classified = gc_client.classify_error(dropped.value)
    assert (classified.kind, classified.transient, classified.uncertain) == (
        "unreachable",
        True,
        True,
    )
