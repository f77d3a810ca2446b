import copy
import datetime
import json
import sys
import tempfile
import uuid
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import patch

import requests
from lxml import etree

from odoo import SUPERUSER_ID, Command, fields
from odoo.exceptions import ValidationError
from odoo.tests import new_test_user
from odoo.tools import SQL, mute_logger

from odoo.addons.account_payment.tests.common import AccountPaymentCommon
from odoo.addons.payment.tests.common import PaymentCommon
from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .. import const
from ..controllers.main import GoCardlessController
from ..controllers.oauth import GoCardlessOAuthController
from ..gocardless_core import schemes, webhooks

EVENT_LOGGER = "odoo.addons.isanet_gocardless.models.gocardless_event"
TX_LOGGER = "odoo.addons.payment.models.payment_transaction"
GC_TX_LOGGER = "odoo.addons.isanet_gocardless.models.payment_transaction"
DEBITS_LOGGER = "odoo.addons.isanet_gocardless.models.account_move_debits"
# Where a refused or interrupted debit is logged.
DEBIT_LOGGERS = (
    "odoo.http",
    TX_LOGGER,
    GC_TX_LOGGER,
    DEBITS_LOGGER,
    "odoo.addons.isanet_gocardless.models.account_move",
    "odoo.addons.isanet_gocardless.models.payment_provider",
)
CONTROLLER_LOGGER = "odoo.addons.isanet_gocardless.controllers.main"
# A Belgian test IBAN the sandbox's hosted page accepts.
IBAN = "BE68539007547034"
# The integrator's partner app registered in the sandbox by `GoCardlessConnectMixin`.
CLIENT_ID = "odoo-partner-app"
CLIENT_SECRET = "odoo-partner-secret"  # noqa: S105 - a test value


def company_user(env, login, groups, company=None):
    """A new user of ``groups`` (XML ids, comma-separated) working in ``company`` alone (by
    default the environment's)."""
    company = company or env.company
    return new_test_user(
        env,
        login=login,
        groups=groups,
        company_id=company.id,
        company_ids=[Command.set(company.ids)],
    )


def _import_sandbox_server():
    """Import the local GoCardless sandbox, which lives at the root of the repository."""
    try:
        from gocardless_sandbox import SandboxServer  # noqa: PLC0415
    except ImportError:
        sys.path.append(str(Path(__file__).resolve().parents[2]))
        from gocardless_sandbox import SandboxServer  # noqa: PLC0415
    return SandboxServer


def start_sandbox(add_cleanup, **options):
    """Start a local GoCardless sandbox over HTTP, with a SQLite file of its own.

    :param add_cleanup: `addCleanup` or `addClassCleanup` of the test, to stop and remove it.
    :param options: More `SandboxServer` options (`access_tokens`, `oauth_clients`...).
    :return: The started `SandboxServer`.
    """
    directory = tempfile.TemporaryDirectory()
    add_cleanup(directory.cleanup)
    sandbox = _import_sandbox_server()(
        port=0, db_path=str(Path(directory.name) / "gocardless.sqlite3"), **options
    ).start()
    add_cleanup(sandbox.stop)  # cleanups run last in, first out: stopped, then removed
    return sandbox


class GoCardlessCommon(PaymentCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gocardless = cls._prepare_provider(
            "gocardless",
            update_values={
                "gocardless_access_token": "sandbox_test_token",
                "gocardless_webhook_secret": "webhook-secret",
            },
        )
        cls.provider = cls.gocardless


class GoCardlessInvoiceCommon(GoCardlessCommon, AccountPaymentCommon):
    """GoCardless with accounting: a journal for the provider and EUR customer invoices."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gocardless.write({"is_published": True, "gocardless_offer_by_default": True})
        cls.dummy_provider.is_published = True
        cls.gocardless.journal_id = cls.company_data["default_journal_bank"]
        cls.gocardless.journal_id.inbound_payment_method_line_ids.filtered(
            lambda line: line.payment_provider_id == cls.gocardless
        ).payment_account_id = cls.inbound_payment_method_line.payment_account_id
        cls.sepa = cls.env.ref("payment.payment_method_sepa_direct_debit")
        cls.sepa.active = True
        cls.currency = cls.currency_euro

    def setUp(self):
        super().setUp()
        # Idempotency keys are namespaced by the database uuid: tests roll back, so a fresh
        # uuid keeps each test's references from replaying an earlier test's resources.
        self.env["ir.config_parameter"].sudo().set_param("database.uuid", str(uuid.uuid4()))

    @classmethod
    def _create_customer_invoice(cls, amount=100.0, currency=None, partner=None, post=True):
        return cls.init_invoice(
            "out_invoice",
            partner=partner or cls.partner,
            amounts=[amount],
            currency=currency or cls.currency_euro,
            post=post,
        )

    def _create_invoice_transaction(self, invoice, flow, suffix, amount, **values):
        """A SEPA direct debit transaction of ``flow`` paying ``amount`` of ``invoice``, its
        reference the invoice's name and ``suffix``."""
        return self._create_transaction(
            flow,
            reference=f"{invoice.name}-{suffix}",
            amount=amount,
            currency_id=invoice.currency_id.id,
            payment_method_id=self.sepa.id,
            invoice_ids=[Command.set(invoice.ids)],
            **values,
        )


class GoCardlessSandboxCommon(GoCardlessInvoiceCommon):
    """Starts the local GoCardless sandbox over HTTP and points the provider at it."""

    sandbox_token = "sandbox_test_token"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.sandbox = start_sandbox(cls.addClassCleanup, access_tokens=[cls.sandbox_token])
        cls.gocardless.write(
            {"gocardless_api_url": cls.sandbox.url, "gocardless_access_token": cls.sandbox_token}
        )

    def _use_own_sandbox(self):
        """Point the provider at a sandbox of the test's own (the same account): the class's
        sandbox holds the other tests' resources and events (rolled back in Odoo)."""
        self.sandbox = start_sandbox(self.addCleanup, access_tokens=[self.sandbox_token])
        self.gocardless.gocardless_api_url = self.sandbox.url


class GoCardlessPortalMixin:
    """Helpers for the invoice portal, to mix with `PaymentHttpCommon`."""

    def _invoice_page_provider_codes(self, invoice, access_token=None):
        """Return the provider codes of the payment options shown on the invoice portal page."""
        token = access_token or invoice._portal_ensure_token()
        response = self.url_open(f"/my/invoices/{invoice.id}?access_token={token}")
        self.assertEqual(response.status_code, 200)
        tree = etree.fromstring(response.text, parser=etree.HTMLParser())
        return {
            node.get("data-provider-code")
            for node in tree.xpath("//input[@name='o_payment_radio']")
        }

    def _log_in_as_customer(self, partner):
        """Log in as a portal user of ``partner`` (created once per test)."""
        login = f"gc-customer-{partner.id}"
        if (
            not self.env["res.users"]
            .with_context(active_test=False)
            .search_count([("login", "=", login)])
        ):
            new_test_user(self.env, login=login, groups="base.group_portal", partner_id=partner.id)
        self.authenticate(login, login)

    def _invoice_page_token_ids(self, invoice, as_customer=True):
        """Return the ids of the saved payment methods offered on the invoice portal page,
        to its customer logged in (saved mandates are offered to them only), or with
        ``as_customer=False`` to whoever is logged in now."""
        if as_customer:
            self._log_in_as_customer(invoice.partner_id)
        token = invoice._portal_ensure_token()
        response = self.url_open(f"/my/invoices/{invoice.id}?access_token={token}")
        self.assertEqual(response.status_code, 200)
        tree = etree.fromstring(response.text, parser=etree.HTMLParser())
        return {
            int(node.get("data-payment-option-id"))
            for node in tree.xpath(
                "//input[@name='o_payment_radio'][@data-payment-option-type='token']"
            )
        }

    def _invoice_transaction_values(self, invoice, provider=None, **values):
        provider = provider or self.gocardless
        method = self.sepa if provider == self.gocardless else self.payment_method
        return {
            "provider_id": provider.id,
            "payment_method_id": method.id,
            "token_id": None,
            "amount": invoice.amount_residual,
            "flow": "redirect",
            "tokenization_requested": False,
            "landing_route": invoice.get_portal_url(),
            "access_token": invoice._portal_ensure_token(),
            **values,
        }

    def _call_invoice_transaction(self, invoice, **values):
        """POST to `/invoice/transaction/<id>` and return the JSON-RPC `result` or `error`."""
        response = self.url_open(
            f"/invoice/transaction/{invoice.id}",
            data=json.dumps(
                {"jsonrpc": "2.0", "method": "call", "id": 0, "params": values}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        response.raise_for_status()
        return response.json()


class GoCardlessLedgerMixin:
    """Run the ledger's processing as its cron would, within a test's transaction."""

    def _drain_ledger(self, include_waiting=False):
        """Apply the events due (and, with ``include_waiting``, those waiting for a retry).

        :return: Whether GoCardless was unavailable.
        :rtype: bool
        """
        self.env.invalidate_all()
        Event = self.env["gocardless.event"]
        if include_waiting:
            Event.search([("state", "=", "received")]).write({"next_attempt_at": False})
        _done, outage = Event.with_context(
            gocardless_request_profile="background"
        )._gocardless_process_due(limit=100000)
        self.env.invalidate_all()
        return outage

    def _deliver_webhooks(self, secret="webhook-secret", drain=True):
        """Have the test's sandbox (``self.sandbox``) send its pending events now, signed with
        ``secret``; return the new deliveries. With ``drain``, the ledger then applies them
        (as its cron does, see :meth:`_drain_ledger`)."""
        self.env.flush_all()
        known = {hook["id"] for hook in self.sandbox.webhook_deliveries()}
        self.sandbox.configure_webhooks(
            webhook_url=self._build_url(GoCardlessController._webhook_url),
            webhook_secret=secret,
            backoff_base=3600.0,
        )
        try:
            self.sandbox.flush_webhooks()
        finally:
            self.sandbox.configure_webhooks(webhook_url=None)
        # Odoo recorded the events while serving the sandbox's requests; its cron applies them.
        if drain:
            self._drain_ledger()
        return [hook for hook in self.sandbox.webhook_deliveries() if hook["id"] not in known]


class GoCardlessAttemptMixin:
    """Attempts whose create got no answer, as the cron of unconfirmed attempts sees them."""

    def _age(self, tx, minutes):
        """Make ``tx`` look last written ``minutes`` ago (the cron leaves fresh attempts)."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "UPDATE payment_transaction SET write_date = %s WHERE id = %s",
                fields.Datetime.now() - datetime.timedelta(minutes=minutes),
                tx.id,
            )
        )
        tx.invalidate_recordset()

    def _check_unconfirmed(self):
        """Run the cron of unconfirmed attempts; return how many it linked."""
        with mute_logger(
            "odoo.addons.payment.models.payment_transaction",
            "odoo.addons.isanet_gocardless.models.account_move_debits",
            "odoo.addons.isanet_gocardless.models.payment_transaction",
            "odoo.addons.isanet_gocardless.models.payment_transaction_attempt",
        ):
            linked = self.env["payment.transaction"]._cron_gocardless_check_unconfirmed_attempts()
        self.env.invalidate_all()
        return linked


class GoCardlessFlowMixin(GoCardlessLedgerMixin):
    """The customer's redirect flow through the local sandbox's hosted pages, over HTTP.

    To mix with `GoCardlessPortalMixin`, `GoCardlessSandboxCommon` and `PaymentHttpCommon`.
    """

    def _start_redirect_flow(self, invoice):
        """Pay the invoice from its portal page: return the transaction and the hosted page."""
        answer = self._call_invoice_transaction(
            invoice, **self._invoice_transaction_values(invoice)
        )
        self.assertIn("result", answer, answer.get("error"))
        processing_values = answer["result"]
        form = self._extract_values_from_html_form(processing_values["redirect_form_html"])
        self.assertTrue(form["action"].startswith(self.sandbox.url))
        tx = self._get_tx(processing_values["reference"])
        # The browser submits the redirect form (GET) to GoCardless's hosted page.
        page = self.opener.get(form["action"], params=form["inputs"], timeout=30)
        self.assertEqual(page.status_code, 200)
        return tx, page

    def _approve_mandate(self, page, allow_redirects=True):
        """Fill in and submit the hosted payer page as a browser would; return the last answer
        (without ``allow_redirects``: GoCardless's answer, whose Location is Odoo's return)."""
        tree = etree.fromstring(page.text, parser=etree.HTMLParser())
        form = tree.xpath("//form[@id='payer-form']")[0]
        data = {
            node.get("name"): node.get("value") or ""
            for node in form.xpath(".//input[@name]")
            if node.get("type") not in ("submit", "button")
        }
        data.update({"iban": IBAN, "action": "confirm"})
        for key, value in (("address_line1", "Huge Street"), ("city", "Sin City")):
            data[key] = data.get(key) or value
        action = form.get("action") or page.url
        if action.startswith("/"):
            action = self.sandbox.url + action
        return self.opener.post(action, data=data, timeout=30, allow_redirects=allow_redirects)

    def _sandbox_client(self):
        return self.gocardless._gocardless_make_client()

    def _pay_by_redirect(self, invoice):
        tx, page = self._start_redirect_flow(invoice)
        with mute_logger("odoo.addons.payment.models.payment_transaction"):
            response = self._approve_mandate(page)
        self.assertEqual(response.status_code, 200)
        self.assertTrue(response.url.startswith(self._build_url("/payment/status")), response.url)
        tx.invalidate_recordset()
        return tx, response

    def _pending_by_redirect(self, amount):
        """Pay a new invoice of ``amount`` by redirect: the debit is created, pending; return
        the invoice, its transaction and the answer of the return route."""
        invoice = self._create_customer_invoice(amount=amount)
        tx, response = self._pay_by_redirect(invoice)
        self.assertEqual(tx.state, "pending")
        return invoice, tx, response

    def _simulate(self, scenario, resource_id):
        client = self.gocardless._gocardless_make_client()
        client.scenario_simulators.run(scenario, params={"links": {"resource": resource_id}})


class GoCardlessFlowCommon(
    GoCardlessFlowMixin, GoCardlessPortalMixin, GoCardlessSandboxCommon, PaymentHttpCommon
):
    """The customer's way through the portal and GoCardless's pages, in the sandbox."""


class GoCardlessMandateMixin:
    """Real SEPA mandates in the local sandbox, saved as the customer's tokens.

    The payer approves the mandate on the sandbox's hosted page as a browser would, without
    Odoo's portal flow. To mix with `GoCardlessSandboxCommon`.
    """

    def _sandbox_mandate(self, partner=None, provider=None, scheme="sepa_core"):
        """Set up a mandate in the sandbox for ``partner``, in the GoCardless account of
        ``provider`` (default: the test's provider); return the `mandates` resource.

        A SEPA mandate is approved on the hosted page as the payer would; a mandate of another
        scheme (``bacs``, ``autogiro``...) is completed by GoCardless's scenario simulator
        `billing_request_fulfilled`, with the scheme's sandbox bank details.
        """
        partner = partner or self.partner
        client = (provider or self.gocardless)._gocardless_make_client()
        customer = client.customers.create(
            params={
                "email": partner.email or "payer@example.com",
                "given_name": "Ada",
                "family_name": partner.name or "Payer",
                "country_code": "BE",
            }
        )
        billing_request = client.billing_requests.create(
            params={
                "mandate_request": {
                    "scheme": scheme,
                    "currency": schemes.SCHEMES[scheme].currency,
                },
                "links": {"customer": customer.id},
            }
        )
        if scheme != "sepa_core":
            client.scenario_simulators.run(
                "billing_request_fulfilled", params={"links": {"resource": billing_request.id}}
            )
            billing_request = client.billing_requests.get(billing_request.id)
            return client.mandates.get(billing_request.links.mandate_request_mandate).attributes
        flow = client.billing_request_flows.create(
            params={
                "links": {"billing_request": billing_request.id},
                "redirect_uri": "https://shop.example/done",
                "exit_uri": "https://shop.example/exit",
            }
        )
        answer = requests.post(
            flow.authorisation_url,
            data={
                "given_name": "Ada",
                "family_name": partner.name or "Payer",
                "email": partner.email or "payer@example.com",
                "address_line1": "1 Rue Royale",
                "city": "Bruxelles",
                "postal_code": "1000",
                "country_code": "BE",
                "iban": IBAN,
                "action": "confirm",
            },
            allow_redirects=False,
            timeout=30,
        )
        self.assertEqual(answer.status_code, 303, answer.text[:500])
        billing_request = client.billing_requests.get(billing_request.id)
        return client.mandates.get(billing_request.links.mandate_request_mandate).attributes

    def _sandbox_mandate_token(self, partner=None):
        """Return a token of ``partner`` holding a new sandbox mandate, and the mandate."""
        partner = partner or self.partner
        mandate = self._sandbox_mandate(partner)
        token = self._create_token(
            provider_id=self.gocardless.id,
            payment_method_id=self.sepa.id,
            partner_id=partner.id,
            provider_ref=mandate["id"],
            payment_details="•••• 34",
            gocardless_mandate_status=mandate["status"],
            gocardless_mandate_reference=mandate["reference"],
        )
        return token, mandate

    def _sandbox_payment(self, payment_id):
        """Return the `payments` resource as the sandbox has it now."""
        return self.gocardless._gocardless_make_client().payments.get(payment_id).attributes

    def _sandbox_outcome(self, tx, scenario=None):
        """Run GoCardless's scenario simulator ``scenario`` (``payment_confirmed``,
        ``payment_failed``, ``refund_paid``...), if any, on the payment of ``tx`` (its refund,
        for a refund transaction), then hand the resource, as the sandbox has it now, to the
        pipeline as its event does."""
        client = self.gocardless._gocardless_make_client()
        if scenario:
            client.scenario_simulators.run(
                scenario, params={"links": {"resource": tx.provider_reference}}
            )
        if tx.operation == "refund":
            resource = {"gocardless_refund": client.refunds.get(tx.provider_reference).attributes}
        else:
            resource = {"gocardless_payment": self._sandbox_payment(tx.provider_reference)}
        tx._handle_notification_data("gocardless", {"reference": tx.reference, **resource})

    def _collection_interrupted_then_part_paid(self, invoice, paid, journal):
        """*Collect* ``invoice`` while GoCardless is out (its draft kept, with its key), then
        register a payment of ``paid`` on ``journal``: the draft's amount is now too much.

        :return: The draft transaction.
        """
        self.sandbox.set_fault("503", "/payments", count=1)
        # (`assertRaisesRegex`: Odoo's `assertRaises` would roll the draft back.)
        with self.assertRaisesRegex(ValidationError, "GoCardless"), mute_logger(*DEBIT_LOGGERS):
            invoice.action_gocardless_collect()
        draft = invoice.transaction_ids
        self.assertEqual(draft.state, "draft")
        with mute_logger(*DEBIT_LOGGERS):
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"journal_id": journal.id, "amount": paid})._create_payments()
        return draft


class GoCardlessMandateCommon(GoCardlessMandateMixin, GoCardlessSandboxCommon):
    """The customer's saved mandate in the sandbox: ``self.token`` and ``self.mandate``."""

    def setUp(self):
        super().setUp()
        self.token, self.mandate = self._sandbox_mandate_token()


class GoCardlessConnectMixin:
    """Drive GoCardless's connect pages of the local sandbox as the administrator's browser.

    To mix with `GoCardlessSandboxCommon` and `PaymentHttpCommon`.
    """

    @classmethod
    def _setup_partner_app(cls):
        cls.sandbox.sandbox.oauth_clients[CLIENT_ID] = CLIENT_SECRET
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param(const.PARAM_CLIENT_ID, CLIENT_ID)
        params.set_param(const.PARAM_CLIENT_SECRET, CLIENT_SECRET)
        cls.admin_user = cls.env.ref("base.user_admin")
        # The administrator works in the companies of the tests' providers.
        cls.admin_user.company_ids = [Command.link(cls.gocardless.company_id.id)]

    def _as_admin(self, provider):
        return provider.with_user(self.admin_user).with_company(provider.company_id)

    def _start_connect(self, provider=None, signup=False, user=None):
        """Click Connect (or Create an account) on the provider; return GoCardless's page."""
        provider = provider or self.gocardless
        provider = provider.with_user(user or self.admin_user).with_company(provider.company_id)
        action = (
            provider.action_gocardless_signup() if signup else provider.action_gocardless_connect()
        )
        self.assertEqual(action["type"], "ir.actions.act_url")
        page = self.opener.get(action["url"], timeout=30)
        self.assertEqual(page.status_code, 200, page.text[:500])
        return action["url"], page

    def _form_inputs(self, page):
        tree = etree.fromstring(page.text, parser=etree.HTMLParser())
        form = tree.xpath("//form[@id='oauth-form']")[0]
        return tree, {
            node.get("name"): node.get("value") or "" for node in form.xpath(".//input[@name]")
        }

    def _decide(self, page, decision="approve", **values):
        """Submit GoCardless's connect form; return the redirection to Odoo's callback."""
        _tree, data = self._form_inputs(page)
        data.update(values, decision=decision)
        answer = self.opener.post(
            f"{self.sandbox.url}/oauth/authorize", data=data, allow_redirects=False, timeout=30
        )
        self.assertEqual(answer.status_code, 303, answer.text[:500])
        location = answer.headers["Location"]
        self.assertTrue(
            location.startswith(self._build_url(GoCardlessOAuthController._oauth_callback_url))
        )
        return location

    def _callback(self, location):
        """Follow GoCardless's redirection to Odoo's callback (not further)."""
        return self.opener.get(location, allow_redirects=False, timeout=60)

    def _connect(self, provider=None, email="merchant@example.com", name="Merchant Ltd"):
        """Connect ``provider`` to the sandbox account of ``email``; return the callback answer."""
        provider = provider or self.gocardless
        _url, page = self._start_connect(provider)
        location = self._decide(page, email=email, organisation_name=name)
        response = self._callback(location)
        self.assertEqual(response.status_code, 303, response.text[:500])
        self.assertTrue(response.headers["Location"].endswith(provider._gocardless_get_form_url()))
        provider.invalidate_recordset()
        return response


class GoCardlessConnectCommon(GoCardlessConnectMixin, GoCardlessSandboxCommon, PaymentHttpCommon):
    """The partner app registered in the sandbox, the administrator logged in."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_partner_app()

    def setUp(self):
        super().setUp()
        self.authenticate("admin", "admin")


class FakeService:
    """Stands for one SDK service: `get` returns a copy of the canned resource, or raises.

    A list of resources is answered in turn, its last one from then on (a resource that
    changes between two reads).
    """

    def __init__(self, test, resource_type):
        self.test = test
        self.resource_type = resource_type

    def get(self, identity):
        self.test.api_reads.append((self.resource_type, identity))
        resource = self.test.api_resources[(self.resource_type, identity)]
        if isinstance(resource, list):
            resource = resource.pop(0) if len(resource) > 1 else resource[0]
        if isinstance(resource, Exception):
            raise resource
        return SimpleNamespace(attributes=copy.deepcopy(resource))


class FakeEvents:
    """Stands for the SDK's events service: `list` answers a page of events whose ``linked``
    payments are the canned ones that are plain resources (one given as a list changes between
    reads, an error fails its read: both are left to `get`), or raises the error canned as
    ``("events", "list")``."""

    def __init__(self, test):
        self.test = test

    def list(self, params=None):
        self.test.api_reads.append(("events", "list"))
        self.test.api_lists.append(dict(params or {}))
        error = self.test.api_resources.get(("events", "list"))
        if isinstance(error, Exception):
            raise error
        payments = [
            copy.deepcopy(resource)
            for (resource_type, _identity), resource in self.test.api_resources.items()
            if resource_type == "payments" and isinstance(resource, dict)
        ]
        body = {"events": [], "linked": {"payments": payments}, "meta": {"cursors": {}}}
        return SimpleNamespace(records=[], api_response=SimpleNamespace(body=body))


class GoCardlessWebhookCommon(GoCardlessLedgerMixin, GoCardlessInvoiceCommon, PaymentHttpCommon):
    """A GoCardless provider with its journal, an invoice, a transaction and a fake API."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.salesperson = company_user(
            cls.env, "gocardless_salesperson", "account.group_account_invoice"
        )
        cls.webhook_url = f"{cls.base_url()}{GoCardlessController._webhook_url}"

    def setUp(self):
        super().setUp()
        self.api_resources = {}
        self.api_reads = []
        self.api_lists = []
        client = SimpleNamespace(
            events=FakeEvents(self),
            payments=FakeService(self, "payments"),
            mandates=FakeService(self, "mandates"),
            billing_requests=FakeService(self, "billing_requests"),
            refunds=FakeService(self, "refunds"),
        )
        patcher = patch.object(
            self.env.registry["payment.provider"],
            "_gocardless_make_client",
            lambda provider, **_kwargs: client,
        )
        patcher.start()
        self.addCleanup(patcher.stop)
        self.invoice = self._create_customer_invoice(partner=self.partner_a)
        self.invoice.invoice_user_id = self.salesperson
        self.tx = self._create_transaction(
            "redirect",
            reference="INV-GC-1",
            amount=self.invoice.amount_total,
            currency_id=self.invoice.currency_id.id,
            partner_id=self.partner_a.id,
            payment_method_id=self.sepa.id,
            provider_reference="PM123",
            invoice_ids=[Command.set(self.invoice.ids)],
            state="pending",
        )

    # === Helpers === #

    def _set_payment(self, status, payment_id="PM123", reference="INV-GC-1"):
        """Make the fake API answer that the payment is now ``status``."""
        self.api_resources[("payments", payment_id)] = {
            "id": payment_id,
            "amount": int(round(self.tx.amount * 100)),
            "currency": self.tx.currency_id.name,
            "charge_date": "2026-01-15",
            "status": status,
            "links": {"mandate": "MD123", "creditor": "CR123"},
            "metadata": {"odoo_reference": reference},
        }

    _event_counter = 0

    def _event(
        self,
        resource_type,
        action,
        resource_id,
        event_id=None,
        details=None,
        odoo_ref=True,
        **links,
    ):
        """Return a GoCardless event dict about ``resource_id``."""
        GoCardlessWebhookCommon._event_counter += 1
        link_key = {
            "payments": "payment",
            "mandates": "mandate",
            "billing_requests": "billing_request",
            "refunds": "refund",
            "payouts": "payout",
        }.get(resource_type, resource_type.rstrip("s"))
        return {
            "id": event_id or f"EV{GoCardlessWebhookCommon._event_counter:06d}",
            "created_at": "2026-01-15T10:00:00.000Z",
            "resource_type": resource_type,
            "action": action,
            "links": {link_key: resource_id, **links},
            "details": details or {"origin": "gocardless", "cause": f"payment_{action}"},
            "metadata": {},
            "resource_metadata": {"odoo_reference": self.tx.reference} if odoo_ref else {},
        }

    def _payment_event(self, action, **kwargs):
        return self._event("payments", action, "PM123", **kwargs)

    def _body(self, events):
        return json.dumps({"events": events, "meta": {"webhook_id": "WB123"}}).encode()

    def _post_body(self, body, signature):
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["Webhook-Signature"] = signature
        # Always a POST, even with an empty body (`url_open` sends a GET without data).
        return self.opener.post(self.webhook_url, data=body, headers=headers, timeout=60)

    def _post_events(self, events, secret="webhook-secret", drain=True):
        """POST ``events`` to the webhook, signed with ``secret``; return the response.

        With ``drain``, the ledger's cron then applies what is due, as it does right after a
        webhook in production.
        """
        body = self._body(events)
        response = self._post_body(body, webhooks.sign(body, secret))
        if drain:
            self._drain_ledger()
        return response

    def _receive(self, events, secret="webhook-secret"):
        """Hand ``events`` to the ledger as the controller does, without HTTP, then apply
        them as the cron does; return whether GoCardless was unavailable."""
        body = self._body(events)
        self.env["gocardless.event"].with_user(SUPERUSER_ID)._gocardless_receive_webhook(
            body, webhooks.sign(body, secret)
        )
        return self._drain_ledger()

    def _ledger(self, event_id=None):
        domain = [("event_id", "=", event_id)] if event_id else []
        return self.env["gocardless.event"].search(domain)

    def _activities(self, summary):
        return self.invoice.activity_ids.filtered(lambda a: a.summary == summary)

    def _messages(self, text):
        """The chatter messages of the invoice holding ``text`` (activities marked done,
        which quote their feedback, are not messages of their own)."""
        return self.invoice.message_ids.filtered(
            lambda m: text in (m.body or "") and not m.mail_activity_type_id
        )

    def _billing_request_tx(self, status):
        """A draft transaction waiting on billing request BRQ123, which GoCardless reads as
        ``status``."""
        self.api_resources[("billing_requests", "BRQ123")] = {"id": "BRQ123", "status": status}
        return self._create_transaction(
            "redirect",
            reference="INV-GC-BR",
            payment_method_id=self.sepa.id,
            gocardless_billing_request_id="BRQ123",
            state="draft",
        )

    def _refund_tx(self, reference, refund_id, status):
        """A pending refund of 20.0 of the invoice's transaction, GoCardless's refund
        ``refund_id``, which GoCardless reads as ``status``."""
        self.api_resources[("refunds", refund_id)] = {"id": refund_id, "status": status}
        return self._create_transaction(
            "redirect",
            reference=reference,
            operation="refund",
            amount=-20.0,
            payment_method_id=self.sepa.id,
            provider_reference=refund_id,
            source_transaction_id=self.tx.id,
            state="pending",
        )


class GoCardlessPayoutMixin:
    """Debits collected through the local sandbox and paid out, for the payout tests.

    To mix with `GoCardlessFlowMixin`, `GoCardlessPortalMixin`, `GoCardlessSandboxCommon` and
    `PaymentHttpCommon`.
    """

    def setUp(self):
        super().setUp()
        self._use_own_sandbox()
        self.env.flush_all()  # Odoo's webhook requests read the database

    def _deliver_and_apply(self):
        """Deliver the pending webhooks, then apply them by the ledger's own cron method."""
        self._deliver_webhooks(drain=False)
        self.env.invalidate_all()
        self.env["gocardless.event"]._cron_process_received_events()
        self.env.invalidate_all()

    def _collect_by_redirect(self, amount, partner=None):
        """Pay a new invoice by direct debit and have GoCardless confirm it (webhook)."""
        invoice = self._create_customer_invoice(amount=amount, partner=partner)
        tx, _response = self._pay_by_redirect(invoice)
        self._simulate("payment_confirmed", tx.provider_reference)
        self._deliver_and_apply()
        self.assertEqual(tx.state, "done")
        self.assertTrue(tx.payment_id)
        return tx

    def _pay_out(self, tx):
        """Have GoCardless pay the transaction's payment out; return the pending payout id."""
        self._simulate("payment_paid_out", tx.provider_reference)
        client = self._sandbox_client()
        return client.payments.get(tx.provider_reference).links.payout

    def _pay_payouts(self):
        """Pay the pending payouts and deliver the `payouts/paid` webhooks to Odoo."""
        self.sandbox.pay_payouts()
        self._deliver_and_apply()

    def _payout(self, payout_id):
        return self.env["gocardless.payout"].search([("name", "=", payout_id)])

    def _book_payout(self, tx):
        """Have GoCardless pay the transaction's payment out and pay the payout; return the
        payout, booked by Odoo (webhooks delivered)."""
        payout_id = self._pay_out(tx)
        with mute_logger(TX_LOGGER):
            self._pay_payouts()
        payout = self._payout(payout_id)
        self.assertEqual(payout.state, "booked", payout.message)
        return payout

    def _booked_payout(self, amount):
        """Collect ``amount``, pay it out and book its payout (webhooks delivered); return the
        transaction and the payout."""
        with mute_logger(TX_LOGGER):
            tx = self._collect_by_redirect(amount)
        return tx, self._book_payout(tx)

    def _new_payouts(self, scenario, tx):
        """Run ``scenario`` on the transaction's payment (a charge-back or a late failure
        GoCardless settles in a payout of its own); return the ids of the payouts it made."""
        client = self._sandbox_client()
        known = {payout.id for payout in client.payouts.list().records}
        self._simulate(scenario, tx.provider_reference)
        return [payout.id for payout in client.payouts.list().records if payout.id not in known]

    def _eur_bank_journal(self):
        """A EUR bank journal receiving the payouts."""
        journal = self.env["account.journal"].create(
            {
                "name": "Bank EUR",
                "code": "BEUR",
                "type": "bank",
                "currency_id": self.currency_euro.id,
            }
        )
        self.gocardless.gocardless_payout_journal_id = journal
        return journal

    def _bank_line(self, journal, reference, amount):
        line = self.env["account.bank.statement.line"].create(
            {
                "journal_id": journal.id,
                "payment_ref": f"GOCARDLESS {reference}",
                "amount": amount,
                "date": "2026-01-20",
            }
        )
        # Odoo's webhook requests read the database.
        self.env.flush_all()
        return line


class GoCardlessCashProofMixin:
    """The cash proof of the provider: prove, read the drifts, mend, the clearing balance.

    To mix with `GoCardlessSandboxCommon`; the clearing journal is created.
    """

    def setUp(self):
        super().setUp()
        self.gocardless.action_gocardless_create_clearing_journal()
        self.clearing = self.gocardless._gocardless_clearing_account()

    def _prove(self, date_from=None, date_to=None):
        """Prove the cash from ``date_from`` (the month's first day) to ``date_to`` (today)."""
        today = fields.Date.context_today(self.gocardless)
        self.env.flush_all()
        proof = self.env["gocardless.cash.proof"]._gocardless_prove(
            self.gocardless, date_from or today.replace(day=1), date_to or today
        )
        self.assertNotEqual(proof.state, "failed", proof.message)
        return proof

    def _drifts(self, proof, kind):
        return proof.drift_ids.filtered(lambda drift: drift.kind == kind)

    def _mend(self, drift):
        with mute_logger(TX_LOGGER, GC_TX_LOGGER, DEBITS_LOGGER, EVENT_LOGGER):
            drift.action_gocardless_mend()
        self.assertEqual(drift.state, "mended", drift.message)

    def _clearing_balance(self):
        lines = self.env["account.move.line"].search(
            [("account_id", "=", self.clearing.id), ("parent_state", "=", "posted")]
        )
        return self.currency_euro.round(sum(lines.mapped("amount_currency")))


def assert_booked_as_credit(test, invoice, payment, amount):
    """Assert ``payment`` booked ``amount`` as the customer's credit, ``invoice`` cancelled."""
    receivable = payment.move_id.line_ids.filtered(
        lambda line: line.account_id == payment.destination_account_id
    )
    test.assertAlmostEqual(-sum(receivable.mapped("amount_residual")), amount)
    test.assertEqual(invoice.state, "cancel", "the cancelled invoice stays cancelled")
    test.assertEqual(invoice.gocardless_debit_surplus, amount)


class GoCardlessMandatePortalMixin:
    """The customer's mandates page of the portal (`/my/direct_debit_mandates`), over HTTP.

    To mix with `PaymentHttpCommon`; the test logs a portal user in first.
    """

    mandates_url = "/my/direct_debit_mandates"

    def _mandates_page(self, query=""):
        """GET the customer's mandates page; return the answer and its parsed HTML."""
        response = self.url_open(f"{self.mandates_url}{query}", allow_redirects=False)
        tree = etree.fromstring(response.text or "<html/>", parser=etree.HTMLParser())
        return response, tree

    def _listed_mandate_ids(self, tree):
        """The ids of the tokens listed on the page, and those offered with Cancel."""
        listed = [int(v) for v in tree.xpath("//tr[@data-mandate-id]/@data-mandate-id")]
        cancellable = [
            int(v)
            for v in tree.xpath(
                "//form[@action='/my/direct_debit_mandates/cancel']"
                "//input[@name='mandate_id']/@value"
            )
        ]
        return listed, cancellable

    def _csrf_token(self):
        _response, tree = self._mandates_page()
        tokens = tree.xpath("//input[@name='csrf_token']/@value")
        self.assertTrue(tokens, "the page offers no mandate to cancel, hence no CSRF token")
        return tokens[0]

    def _post_cancel(self, data, csrf=True):
        """POST the cancel form with ``data`` (a dict or a list of pairs); no redirect followed.

        ``csrf``: True to take the page's CSRF token, a token to send, or None for none.
        """
        pairs = list(data.items()) if isinstance(data, dict) else list(data)
        if csrf is True:
            csrf = self._csrf_token()
        if csrf is not None:
            pairs.append(("csrf_token", csrf))
        return self.opener.post(
            self._build_url(f"{self.mandates_url}/cancel"),
            data=pairs,
            allow_redirects=False,
            timeout=60,
        )


class GoCardlessMandatePortalCommon(
    GoCardlessMandatePortalMixin,
    GoCardlessFlowMixin,
    GoCardlessPortalMixin,
    GoCardlessMandateMixin,
    GoCardlessSandboxCommon,
    PaymentHttpCommon,
):
    """The customer's portal, mandates page included, in the sandbox."""
