# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json
import uuid

from odoo import Command
from odoo.tests import tagged

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from ..controllers.main import GoCardlessController
from ..gocardless_core import webhooks
from .common import (
    GoCardlessConnectMixin,
    GoCardlessLedgerMixin,
    GoCardlessMandateMixin,
    GoCardlessSandboxCommon,
    start_sandbox,
)


@tagged("post_install", "-at_install")
class TestMultiCompany(
    GoCardlessLedgerMixin,
    GoCardlessMandateMixin,
    GoCardlessConnectMixin,
    GoCardlessSandboxCommon,
    PaymentHttpCommon,
):
    """Two companies, each connected to its own GoCardless account: each webhook reaches only
    its own company."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_partner_app()
        cls.provider_a = cls.gocardless
        cls.company_a = cls.provider_a.company_id
        cls.company_b = cls.env["res.company"].create({"name": "GoCardless Company B"})
        cls.admin_user.company_ids = [Command.link(cls.company_b.id)]
        cls.provider_b = cls._prepare_provider(
            "gocardless",
            company=cls.company_b,
            update_values={
                "gocardless_access_token": cls.sandbox_token,
                "gocardless_api_url": cls.sandbox.url,
            },
        )

    def setUp(self):
        super().setUp()
        # A sandbox of its own: the events of the other tests stay out of the way.
        self.sandbox = start_sandbox(
            self.addCleanup,
            access_tokens=[self.sandbox_token],
            oauth_clients={"odoo-partner-app": "odoo-partner-secret"},
        )
        (self.provider_a | self.provider_b).gocardless_api_url = self.sandbox.url
        self.authenticate("admin", "admin")
        self._connect(self.provider_a, email="a@example.com", name="Company A Ltd")
        self._connect(self.provider_b, email="b@example.com", name="Company B Ltd")
        self.organisation_a = self.provider_a.gocardless_organisation_id
        self.organisation_b = self.provider_b.gocardless_organisation_id
        self.assertNotEqual(self.organisation_a, self.organisation_b)
        self.tx_a = self._charge(self.provider_a, "A")
        self.tx_b = self._charge(self.provider_b, "B")

    # === HELPERS === #

    def _charge(self, provider, label):
        """Collect 10 EUR on ``provider``'s GoCardless account; return its Odoo transaction."""
        client = provider._gocardless_make_client()
        mandate_id = self._sandbox_mandate(provider=provider)["id"]
        reference = f"MC-{label}-{uuid.uuid4().hex[:8]}"
        payment = client.payments.create(
            params={
                "amount": 1000,
                "currency": "EUR",
                "links": {"mandate": mandate_id},
                "metadata": {"odoo_reference": reference},
            }
        )
        return self.env["payment.transaction"].create(
            {
                "provider_id": provider.id,
                "payment_method_id": self.sepa.id,
                "amount": 10.0,
                "currency_id": self.currency_euro.id,
                "partner_id": self.partner.id,
                "reference": reference,
                "provider_reference": payment.id,
            }
        )

    def _account_events(self, provider):
        """Return the raw events of ``provider``'s GoCardless account."""
        page = provider._gocardless_make_client().events.list(params={"limit": 500})
        return page.api_response.body["events"]

    def _post_events(self, events, secret):
        """POST a signed webhook, then let the ledger's cron apply what it recorded."""
        body = json.dumps({"events": events, "meta": {"webhook_id": "WBMC"}}).encode()
        response = self.url_open(
            self._build_url(GoCardlessController._webhook_url),
            data=body,
            headers={
                "Content-Type": "application/json",
                "Webhook-Signature": webhooks.sign(body, secret),
            },
            timeout=60,
        )
        self._drain_ledger()
        return response

    def _ledger(self, events):
        self.env.invalidate_all()
        return (
            self.env["gocardless.event"]
            .sudo()
            .search([("event_id", "in", [event["id"] for event in events])])
        )

    # === TESTS === #

    def test_partner_webhook_reaches_each_company_by_organisation(self):
        """One partner app, one secret: events are routed by ``links.organisation``."""
        (self.provider_a | self.provider_b).gocardless_webhook_secret = "partner-app-secret"
        events_a = self._account_events(self.provider_a)
        events_b = self._account_events(self.provider_b)
        self.assertEqual({e["links"]["organisation"] for e in events_a}, {self.organisation_a})
        self.assertEqual({e["links"]["organisation"] for e in events_b}, {self.organisation_b})

        # The sandbox sends the events of both accounts in one webhook, as a partner app gets.
        self.env.flush_all()
        self.sandbox.configure_webhooks(
            webhook_url=self._build_url(GoCardlessController._webhook_url),
            webhook_secret="partner-app-secret",
            backoff_base=3600.0,
        )
        try:
            self.sandbox.flush_webhooks()
        finally:
            self.sandbox.configure_webhooks(webhook_url=None)
        self._drain_ledger()
        deliveries = self.sandbox.webhook_deliveries()
        self.assertEqual({hook["response_code"] for hook in deliveries}, {204})

        ledger_a, ledger_b = self._ledger(events_a), self._ledger(events_b)
        self.assertEqual(len(ledger_a), len(events_a))
        self.assertEqual(len(ledger_b), len(events_b))
        self.assertEqual(ledger_a.provider_id, self.provider_a)
        self.assertEqual(ledger_a.company_id, self.company_a)
        self.assertEqual(ledger_b.provider_id, self.provider_b)
        self.assertEqual(ledger_b.company_id, self.company_b)
        self.assertEqual(ledger_a.transaction_id, self.tx_a)
        self.assertEqual(ledger_b.transaction_id, self.tx_b)
        self.assertEqual(self.tx_a.state, "pending")
        self.assertEqual(self.tx_b.state, "pending")

    def test_merchant_webhooks_reach_only_the_company_of_their_secret(self):
        """Two endpoints, two secrets: a secret never opens another company's records."""
        self.provider_a.gocardless_webhook_secret = "secret-a"
        self.provider_b.gocardless_webhook_secret = "secret-b"
        events_a = self._account_events(self.provider_a)
        events_b = self._account_events(self.provider_b)

        # B's events signed with A's secret: acknowledged, but A is another account.
        self.assertEqual(self._post_events(events_b, "secret-a").status_code, 204)
        self.assertFalse(self._ledger(events_b))
        self.assertEqual(self.tx_b.state, "draft")
        # A's events signed with B's secret: likewise.
        self.assertEqual(self._post_events(events_a, "secret-b").status_code, 204)
        self.assertFalse(self._ledger(events_a))
        self.assertEqual(self.tx_a.state, "draft")

        self.assertEqual(self._post_events(events_b, "secret-b").status_code, 204)
        self.assertEqual(self._ledger(events_b).provider_id, self.provider_b)
        self.assertEqual(self.tx_b.state, "pending")
        self.assertEqual(self.tx_a.state, "draft")

        self.assertEqual(self._post_events(events_a, "secret-a").status_code, 204)
        self.assertEqual(self._ledger(events_a).provider_id, self.provider_a)
        self.assertEqual(self.tx_a.state, "pending")

    def test_event_never_reaches_a_transaction_of_another_company(self):
        """Even naming B's payment, an event recorded for A leaves B's transaction alone."""
        self.provider_a.gocardless_webhook_secret = "secret-a"
        self.provider_b.gocardless_webhook_secret = "secret-b"
        self.provider_a.gocardless_organisation_id = False  # a pasted token: no routing
        event = next(
            e
            for e in self._account_events(self.provider_b)
            if e["resource_type"] == "payments" and e["action"] == "created"
        )
        self.assertEqual(self._post_events([event], "secret-a").status_code, 204)
        ledger = self._ledger([event])
        self.assertEqual(ledger.provider_id, self.provider_a)
        self.assertEqual(ledger.state, "ignored")
        self.assertFalse(ledger.transaction_id)
        self.assertEqual(self.tx_b.state, "draft")

    def test_catch_up_of_each_company_reads_its_own_account(self):
        self.provider_b.gocardless_events_synced_at = False
        self.provider_b._gocardless_sync_events()
        events_b = self._account_events(self.provider_b)
        ledger = self.env["gocardless.event"].sudo().search([])
        self.assertEqual(set(ledger.mapped("event_id")), {e["id"] for e in events_b})
        self.assertEqual(ledger.provider_id, self.provider_b)
        self.assertEqual(self.tx_b.state, "pending")
        self.assertEqual(self.tx_a.state, "draft")
