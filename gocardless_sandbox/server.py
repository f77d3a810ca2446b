"""The sandbox (its store, engine, webhooks and routes: api, listing, admin, oauth, flow_pages)
and the server that runs it over HTTP (plumbing)."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer

from . import testkit
from .admin import AdminMixin
from .api import ApiMixin
from .core import Store, new_id, public
from .engine import Engine
from .flow_pages import FlowPagesMixin
from .listing import ListingMixin
from .oauth import OAuthMixin
from .plumbing import Handler
from .webhooks import Dispatcher

__all__ = ["Handler", "Sandbox", "SandboxServer"]


class Sandbox(ApiMixin, ListingMixin, AdminMixin, OAuthMixin, FlowPagesMixin):
    """Everything but the socket: usable from the HTTP handler and from tests."""

    def __init__(
        self,
        db_path=":memory:",
        access_tokens=None,
        oauth_clients=None,
        public_url=None,
        rate_limit=1000,
        creditor_name="Sandbox Creditor Ltd",
        webhook_timeout=10.0,
        **webhooks,
    ):
        """``webhooks``: the settings of the webhooks' :class:`Dispatcher` (``webhook_url``,
        ``webhook_secret``, ``max_batch``, ``max_attempts``, ``backoff_base``,
        ``poll_interval``)."""
        self.store = Store(db_path)
        self.engine = Engine(self.store, creditor_name=creditor_name)
        self.dispatcher = Dispatcher(self.store, self.engine, timeout=webhook_timeout, **webhooks)
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


class SandboxServer:
    """Runs the sandbox over HTTP in background threads.

    >>> server = SandboxServer(port=0, db_path="gc.sqlite3", access_tokens=["T"],
    ...                        webhook_url="http://127.0.0.1:8069/payment/gocardless/webhook",
    ...                        webhook_secret="S")
    >>> server.start(); server.url  # doctest: +SKIP
    """

    def __init__(self, port=0, host="127.0.0.1", public_url=None, **options):
        """``options``: those of :class:`Sandbox` (``db_path``, ``access_tokens``,
        ``webhook_url``...)."""
        self.host = host
        self.httpd = ThreadingHTTPServer((host, port), type("BoundHandler", (Handler,), {}))
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}"
        self.sandbox = Sandbox(public_url=public_url or self.url, **options)
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
