import json
import sys
import tempfile
import uuid
from pathlib import Path

from lxml import etree

from odoo.addons.account_payment.tests.common import AccountPaymentCommon
from odoo.addons.payment.tests.common import PaymentCommon


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
