# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json
import uuid

from odoo import Command
from odoo.tests import tagged

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from ..controllers.main import GoCardlessController
from ..gocardless_core import schemes, webhooks
from .common import (
    GoCardlessConnectMixin,
    GoCardlessLedgerMixin,
    GoCardlessMandateMixin,
    GoCardlessSandboxCommon,
    start_sandbox,
)

# USD (ACH), AUD (BECS), CAD (PAD), DKK (Betalingsservice), NZD (BECS NZ), against EUR.
OTHER_CURRENCIES = {"USD": 1.1, "AUD": 1.7, "CAD": 1.5, "DKK": 7.46, "NZD": 1.8}


@tagged("post_install", "-at_install")
class TestMultiCompany(
    GoCardlessLedgerMixin,
    GoCardlessMandateMixin,
    GoCardlessConnectMixin,
    GoCardlessSandboxCommon,
    PaymentHttpCommon,
):
    """Two companies, each connected to its own GoCardless account: each webhook reaches only
    its own company, and each company books its own payouts, whatever their currency."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_partner_app()
        cls.provider_a = cls.gocardless
        cls.company_a = cls.provider_a.company_id
        # A company with its chart of accounts: it books its own payouts.
        cls.company_b = cls.setup_other_company(name="GoCardless Company B")["company"]
        cls.gbp = cls.setup_other_currency("GBP", rates=[("2016-01-01", 0.8)])
        cls.sek = cls.setup_other_currency("SEK", rates=[("2016-01-01", 11.3)])
        # The other currencies GoCardless collects, each in its own scheme.
        for code, rate in OTHER_CURRENCIES.items():
            cls.setup_other_currency(code, rates=[("2016-01-01", rate)])
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

    def _charge(self, provider, label, currency="EUR", minor=1000):
        """Collect ``minor`` units of ``currency`` (10 EUR) on ``provider``'s GoCardless account,
        on a mandate of the currency's scheme; return its Odoo transaction."""
        client = provider._gocardless_make_client()
        scheme = schemes.scheme_for(currency)
        mandate_id = self._sandbox_mandate(provider=provider, scheme=scheme)["id"]
        reference = f"MC-{label}-{uuid.uuid4().hex[:8]}"
        payment = client.payments.create(
            params={
                "amount": minor,
                "currency": currency,
                "links": {"mandate": mandate_id},
                "metadata": {"odoo_reference": reference},
            }
        )
        odoo_currency = self.env["res.currency"].search([("name", "=", currency)])
        method = (
            self.env["payment.method"]
            .with_context(active_test=False)
            .search([("code", "=", schemes.payment_method_code(scheme))])
        )
        return self.env["payment.transaction"].create(
            {
                "provider_id": provider.id,
                "payment_method_id": method.id,
                "amount": minor / 100,
                "currency_id": odoo_currency.id,
                "partner_id": self.partner.id,
                "reference": reference,
                "provider_reference": payment.id,
            }
        )

    def _flush_partner_webhooks(self):
        """Have the sandbox send the events of both accounts, as a partner app gets them (one
        endpoint, one secret), then let the ledger's cron apply them."""
        self._deliver_webhooks(secret="partner-app-secret")

    def _simulate(self, provider, scenario, tx):
        provider._gocardless_make_client().scenario_simulators.run(
            scenario, params={"links": {"resource": tx.provider_reference}}
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
        self._flush_partner_webhooks()
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
        self.env["gocardless.event"]._gocardless_catch_up(self.provider_b)
        events_b = self._account_events(self.provider_b)
        ledger = self.env["gocardless.event"].sudo().search([])
        self.assertEqual(set(ledger.mapped("event_id")), {e["id"] for e in events_b})
        self.assertEqual(ledger.provider_id, self.provider_b)
        self.assertEqual(self.tx_b.state, "pending")
        self.assertEqual(self.tx_a.state, "draft")

    def test_payouts_of_each_organisation_are_booked_in_its_company_in_their_currency(self):
        """Payouts in EUR, GBP (Bacs, VAT on fees) and SEK (Autogiro), each paid by its own
        GoCardless account and booked in its own company's books, to the minor unit."""
        (self.provider_a | self.provider_b).gocardless_webhook_secret = "partner-app-secret"
        tx_gbp = self._charge(self.provider_a, "A-GBP", "GBP", 2500)
        # Company A's GBP is paid out to a GBP bank account of its own.
        gbp_bank = (
            self.env["account.journal"]
            .with_company(self.company_a)
            .create(
                {
                    "name": "Bank GBP",
                    "code": "BGBP",
                    "type": "bank",
                    "currency_id": self.gbp.id,
                    "company_id": self.company_a.id,
                }
            )
        )
        self.provider_a.gocardless_payout_journal_ids = gbp_bank
        tx_sek = self._charge(self.provider_b, "B-SEK", "SEK", 12345)
        transactions = self.tx_a | self.tx_b | tx_gbp | tx_sek
        for tx in transactions:
            self._simulate(tx.provider_id, "payment_confirmed", tx)
        self._flush_partner_webhooks()
        self.assertEqual(set(transactions.mapped("state")), {"done"})
        self.assertTrue(all(transactions.payment_id))
        for tx in transactions:
            self.assertEqual(tx.payment_id.company_id, tx.provider_id.company_id)
            self._simulate(tx.provider_id, "payment_paid_out", tx)
        self.sandbox.run_payouts(force=True)
        self.sandbox.pay_payouts()
        self._flush_partner_webhooks()

        payouts = self.env["gocardless.payout"].sudo().search([])
        self.assertEqual(len(payouts), 4)
        # Each `payouts/paid` reached the provider of its organisation through the one endpoint.
        events = self.env["gocardless.event"].sudo().search([("resource_type", "=", "payouts")])
        self.assertEqual(len(events), 4)
        for event in events:
            payout = payouts.filtered(lambda p, event=event: p.name == event.resource_id)
            self.assertEqual(event.state, "processed")
            self.assertEqual(event.provider_id, payout.provider_id)
            self.assertEqual(event.company_id, payout.company_id)
        by_tx = {}
        for payout in payouts:
            self.assertEqual(payout.state, "booked", payout.message)
            (item,) = payout.item_ids.filtered(lambda i: i.item_type == "payment_paid_out")
            by_tx[item.transaction_id] = payout
            # Booked in the books of the company whose account paid it out.
            company = item.transaction_id.provider_id.company_id
            self.assertEqual(payout.provider_id, item.transaction_id.provider_id)
            self.assertEqual(payout.company_id, company)
            self.assertEqual(payout.move_id.company_id, company)
            self.assertEqual(payout.move_id.journal_id, payout.provider_id.journal_id)
            self.assertEqual(payout.currency_id, item.transaction_id.currency_id)
            move = payout.move_id
            self.assertEqual(move.state, "posted")
            self.assertEqual(
                set(move.line_ids.currency_id.mapped("name")), {payout.currency_id.name}
            )
            self.assertTrue(company.currency_id.is_zero(sum(move.line_ids.mapped("balance"))))
            self.assertTrue(
                payout.currency_id.is_zero(sum(move.line_ids.mapped("amount_currency")))
            )
            self.assertEqual(payout.raw_amount, round(payout.amount * 100))
            self.assertAlmostEqual(payout.bank_move_line_id.amount_currency, payout.amount)
            # The payment's money left the clearing account, against its own payment.
            self.assertTrue(item.move_line_id.reconciled)
            self.assertEqual(item.payment_id, item.transaction_id.payment_id)
        self.assertEqual(set(by_tx), set(transactions))

        def lines(payout, label):
            return payout.move_id.line_ids.filtered(lambda line: line.name.startswith(label))

        # EUR, 10.00 in each company: fee 1 % + 0.20 = 0.30, VAT 20 % included (0.05).
        for tx in self.tx_a | self.tx_b:
            payout = by_tx[tx]
            self.assertAlmostEqual(payout.amount, 9.70)
            self.assertAlmostEqual(payout.fee_amount, 0.25)
            self.assertAlmostEqual(payout.fee_tax_amount, 0.05)
        self.assertNotEqual(
            by_tx[self.tx_a].move_id.journal_id, by_tx[self.tx_b].move_id.journal_id
        )

        # GBP 25.00 (Bacs): fee 0.25 + 0.20 = 45.0 pence, 7.5 of it VAT (GB_VAT_1): the fee
        # 37.5 -> 0.38 and the VAT 7.5 -> 0.08 are rounded one by one, so the payout of 24.55
        # needs a rounding line of -0.01: 24.55 + 0.38 + 0.08 - 0.01 = 25.00.
        gbp = by_tx[tx_gbp]
        self.assertEqual(gbp.company_id, self.company_a)
        self.assertAlmostEqual(gbp.amount, 24.55)
        self.assertAlmostEqual(gbp.deducted_fees, 0.45)
        self.assertAlmostEqual(lines(gbp, "GoCardless fees").amount_currency, 0.38)
        vat = lines(gbp, "VAT on GoCardless fees")
        self.assertIn("GB_VAT_1", vat.name)
        self.assertAlmostEqual(vat.amount_currency, 0.08)
        self.assertAlmostEqual(lines(gbp, "Rounding").amount_currency, -0.01)
        self.assertAlmostEqual(gbp.rounding_amount, -0.01)
        self.assertEqual(vat.account_id, self.provider_a._gocardless_fee_tax_account())
        # Its bank line, in the GBP bank journal, is matched with it.
        statement_line = (
            self.env["account.bank.statement.line"]
            .with_company(self.company_a)
            .create(
                {
                    "journal_id": gbp_bank.id,
                    "payment_ref": f"GOCARDLESS {gbp.reference}",
                    "amount": gbp.amount,
                    "date": gbp.arrival_date,
                }
            )
        )
        self.assertEqual(gbp.state, "reconciled")
        self.assertEqual(gbp.statement_line_id, statement_line)

        # SEK 123.45 (Autogiro), no VAT: fee 1.2345 + 0.20 = 143.5 öre, the payout
        # 12345 - 143.5 = 12201.5 -> 122.02; the fee line 1.44: rounding -0.01.
        sek = by_tx[tx_sek]
        self.assertEqual(sek.company_id, self.company_b)
        self.assertAlmostEqual(sek.amount, 122.02)
        self.assertAlmostEqual(lines(sek, "GoCardless fees").amount_currency, 1.44)
        self.assertFalse(lines(sek, "VAT on GoCardless fees"))
        self.assertAlmostEqual(lines(sek, "Rounding").amount_currency, -0.01)
        self.assertEqual(
            lines(sek, "GoCardless fees").account_id, self.provider_b._gocardless_fee_account()
        )
        self.assertEqual(sek.bank_move_line_id.account_id.company_ids, self.company_b)

        # Each company sees only its own payouts.
        company_b_payouts = (
            self.env["gocardless.payout"]
            .with_company(self.company_b)
            .search([("company_id", "=", self.company_b.id)])
        )
        self.assertEqual(company_b_payouts, by_tx[self.tx_b] | sek)

    def test_payouts_in_every_other_currency_gocardless_collects_are_booked_exactly(self):
        """USD, AUD, CAD, DKK and NZD, on mandates of their own schemes, in both companies:
        each payout booked in its currency in the books of its organisation's company, its
        entry adding up to the minor unit, its payment reconciled out of the clearing
        account."""
        (self.provider_a | self.provider_b).gocardless_webhook_secret = "partner-app-secret"
        transactions = self.env["payment.transaction"]
        for index, code in enumerate(OTHER_CURRENCIES):
            provider = (self.provider_a, self.provider_b)[index % 2]
            # Odd amounts: fees in fractions of a minor unit, rounded one by one.
            transactions |= self._charge(provider, f"X-{code}", code, 10037 + 111 * index)
        for tx in transactions:
            self._simulate(tx.provider_id, "payment_confirmed", tx)
        self._flush_partner_webhooks()
        self.assertEqual(set(transactions.mapped("state")), {"done"})
        for tx in transactions:
            self._simulate(tx.provider_id, "payment_paid_out", tx)
        self.sandbox.run_payouts(force=True)
        self.sandbox.pay_payouts()
        self._flush_partner_webhooks()

        payouts = (
            self.env["gocardless.payout"]
            .sudo()
            .search([("currency_id.name", "in", list(OTHER_CURRENCIES))])
        )
        self.assertEqual(sorted(payouts.currency_id.mapped("name")), sorted(OTHER_CURRENCIES))
        for payout in payouts:
            currency = payout.currency_id
            self.assertEqual(payout.state, "booked", payout.message)
            (item,) = payout.item_ids.filtered(lambda i: i.item_type == "payment_paid_out")
            tx = item.transaction_id
            self.assertIn(tx, transactions)
            self.assertEqual(tx.currency_id, currency)
            company = tx.provider_id.company_id
            self.assertEqual(payout.company_id, company)
            move = payout.move_id
            self.assertEqual(move.state, "posted")
            self.assertEqual(move.company_id, company)
            self.assertEqual(set(move.line_ids.currency_id.mapped("name")), {currency.name})
            self.assertTrue(currency.is_zero(sum(move.line_ids.mapped("amount_currency"))))
            self.assertTrue(company.currency_id.is_zero(sum(move.line_ids.mapped("balance"))))
            # The net amount is GoCardless's, to the minor unit; the payment's gross amount
            # left the clearing account against its own payment.
            self.assertEqual(payout.raw_amount, round(payout.amount * 100))
            self.assertAlmostEqual(payout.bank_move_line_id.amount_currency, payout.amount)
            self.assertAlmostEqual(-item.move_line_id.amount_currency, tx.amount)
            self.assertTrue(item.move_line_id.reconciled)
            self.assertEqual(item.payment_id, tx.payment_id)
