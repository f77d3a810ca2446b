"""Shared fixtures for the GoCardless sandbox tests."""

from __future__ import annotations

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import gocardless_pro
import pytest
import requests

from gocardless_sandbox import SandboxServer

TOKEN = "test-token"
SECRET = "test-webhook-secret"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "GoCardless-Version": "2015-07-06",
    "Content-Type": "application/json",
}
VALID_IBAN = "FR1420041010050500013M02606"
# What a payer types on the hosted page (the bank details apart).
PAYER_FORM = {
    "given_name": "Ada",
    "family_name": "Lovelace",
    "email": "ada@example.com",
    "address_line1": "1 rue de la Paix",
    "city": "Paris",
    "postal_code": "75002",
    "country_code": "FR",
    "action": "confirm",
}


def wait_for(predicate, timeout=5.0):
    """Whether ``predicate()`` comes true within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def fixtures_dir() -> Path:
    env = os.environ.get("GOCARDLESS_FIXTURES_DIR")
    path = Path(env) if env else (Path(__file__).resolve().parents[1] / "fixtures" / "gocardless")
    if not (path / "payments.json").is_file():
        raise RuntimeError(f"GoCardless fixtures not found in {path} (set GOCARDLESS_FIXTURES_DIR)")
    return path


class WebhookReceiver:
    """A tiny HTTP server recording webhook POSTs; answers `self.status` (default 200)."""

    def __init__(self):
        receiver = self
        self.requests = []
        self.status = 200
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.requests.append({"headers": dict(self.headers), "body": body})
                    status = receiver.status
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/webhook"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def events(self):
        with self.lock:
            return [e for r in self.requests for e in json.loads(r["body"])["events"]]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# pytest-odoo (installed for the addon's Odoo tests) has autouse fixtures that start an Odoo
# registry; these tests are Odoo-free, so same-named fixtures neutralise them here.
@pytest.fixture(scope="session", autouse=True)
def load_registry():
    yield


@pytest.fixture(scope="module", autouse=True)
def enable_odoo_test_flag():
    yield


@pytest.fixture(scope="session", autouse=True)
def _fixtures_present():
    """Every sandbox test errors loudly when the SDK fixtures are missing."""
    return fixtures_dir()


@pytest.fixture
def receiver():
    rec = WebhookReceiver()
    yield rec
    rec.close()


@pytest.fixture
def sandbox(tmp_path, receiver):
    server = SandboxServer(
        port=0,
        db_path=str(tmp_path / "gc.sqlite3"),
        webhook_url=receiver.url,
        webhook_secret=SECRET,
        access_tokens=[TOKEN],
        oauth_clients={"app_1": "app_secret"},
        backoff_base=0.05,
        poll_interval=0.05,
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(sandbox):
    return gocardless_pro.Client(access_token=TOKEN, base_url=sandbox.url)


@pytest.fixture
def api(sandbox):
    """requests.Session pre-configured with the sandbox headers; call api.url + path."""
    session = requests.Session()
    session.headers.update(HEADERS)
    session.url = sandbox.url
    yield session
    session.close()


def mandate_via_flow(
    client,
    sandbox,
    scheme="sepa_core",
    currency="EUR",
    bank=None,
    extra=None,
    redirect="https://merchant.example/return",
):
    """Customer -> billing request -> flow -> hosted page POST; returns (br, flow, mandate)."""
    customer = client.customers.create(
        params={"given_name": "Ada", "family_name": "Lovelace", "email": "ada@example.com"}
    )
    br = client.billing_requests.create(
        params={
            "mandate_request": {
                "scheme": scheme,
                "currency": currency,
                "description": "Monthly invoices",
            },
            "links": {"customer": customer.id},
        }
    )
    flow = client.billing_request_flows.create(
        params={
            "links": {"billing_request": br.id},
            "redirect_uri": redirect,
            "exit_uri": "https://merchant.example/exit",
        }
    )
    form = dict(PAYER_FORM)
    form.update(bank if bank is not None else {"iban": VALID_IBAN})
    form.update(extra or {})
    response = requests.post(flow.authorisation_url, data=form, allow_redirects=False)
    assert response.status_code == 303, response.text[:2000]
    br = client.billing_requests.get(br.id)
    mandate = client.mandates.get(br.links.mandate_request_mandate)
    return br, flow, mandate


@pytest.fixture
def gc():
    """Helpers and constants for the tests (conftest modules can't be imported directly)."""
    import types

    return types.SimpleNamespace(
        TOKEN=TOKEN,
        SECRET=SECRET,
        HEADERS=HEADERS,
        VALID_IBAN=VALID_IBAN,
        fixtures_dir=fixtures_dir,
        mandate_via_flow=mandate_via_flow,
        WebhookReceiver=WebhookReceiver,
        PAYER_FORM=PAYER_FORM,
        wait_for=wait_for,
    )
