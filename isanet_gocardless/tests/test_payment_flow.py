from unittest.mock import patch
from urllib.parse import urlencode

import requests
from lxml import etree

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..controllers.main import GoCardlessController
from ..models.payment_transaction import PaymentTransaction
from .common import (
    GoCardlessFlowCommon,
    GoCardlessInvoiceCommon,
)


@tagged("post_install", "-at_install")
class TestPaymentFlow(GoCardlessFlowCommon):
    # === REDIRECT FLOW === #

    def test_redirect_flow_creates_mandate_token_and_pending_payment(self):
        invoice, tx, response = self._pending_by_redirect(123.45)
        self.assertTrue(tx.gocardless_billing_request_id.startswith("BRQ"))
        self.assertTrue(tx.provider_reference.startswith("PM"))
        self.assertTrue(tx.gocardless_charge_date)
        self.assertEqual(tx.payment_method_id, self.sepa)
        token = tx.token_id
        self.assertTrue(token.provider_ref.startswith("MD"))
        self.assertEqual(token.partner_id, self.partner)
        self.assertIn("7034"[-2:], token.payment_details)

        client = self._sandbox_client()
        payment = client.payments.get(tx.provider_reference).attributes
        self.assertEqual(payment["amount"], 12345)
        self.assertEqual(payment["currency"], "EUR")
        self.assertEqual(payment["links"]["mandate"], token.provider_ref)
        self.assertEqual(payment["description"], invoice.name)
        self.assertEqual(payment["metadata"], {"odoo_reference": tx.reference})
        self.assertEqual(payment["charge_date"], str(tx.gocardless_charge_date))

        customer_id = self.partner.sudo().with_company(tx.company_id).gocardless_customer_id
        self.assertTrue(customer_id.startswith("CU"))

        # The invoice waits for the collection: no more "Pay Now", still unpaid.
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertFalse(invoice._has_to_be_paid())
        # The status page tells the customer when the debit is collected.
        self.assertIn("o_gocardless_charge_date", response.text)

    def test_completing_twice_creates_one_payment(self):
        invoice = self._create_customer_invoice()
        tx, _response = self._pay_by_redirect(invoice)
        payment_id = tx.provider_reference

        # Return route and webhook may both complete the billing request.
        self.assertFalse(tx._gocardless_complete_billing_request())
        self.assertEqual(tx.provider_reference, payment_id)

        # Even with the payment id lost, the idempotency key gets the same payment back.
        tx.provider_reference = False
        tx._gocardless_complete_billing_request()
        self.assertEqual(tx.provider_reference, payment_id)

        client = self._sandbox_client()
        payments = client.payments.list(params={"mandate": tx.token_id.provider_ref}).records
        self.assertEqual([p.id for p in payments], [payment_id])
        self.assertEqual(
            self.env["payment.token"].search_count(
                [("provider_ref", "=", tx.token_id.provider_ref)]
            ),
            1,
        )

    def test_return_before_approval_does_not_collect(self):
        invoice = self._create_customer_invoice()
        tx, _page = self._start_redirect_flow(invoice)
        query = urlencode({"reference": tx.reference, "access_token": tx._gocardless_flow_token()})
        with mute_logger("odoo.addons.payment.models.payment_transaction"):
            response = self.url_open(f"{GoCardlessController._return_url}?{query}")
        self.assertTrue(response.url.endswith("/payment/status"))
        tx.invalidate_recordset()
        self.assertFalse(tx.provider_reference)
        self.assertFalse(tx.token_id)
        self.assertEqual(tx.state, "pending")

    def test_return_and_exit_without_the_flow_token_change_nothing(self):
        invoice = self._create_customer_invoice()
        tx, _page = self._start_redirect_flow(invoice)
        for url in (GoCardlessController._return_url, GoCardlessController._exit_url):
            for token in (None, "forged", tx._gocardless_flow_token()[:-1]):
                params = {"reference": tx.reference}
                if token:
                    params["access_token"] = token
                with mute_logger("odoo.addons.isanet_gocardless.controllers.main"):
                    response = self.url_open(f"{url}?{urlencode(params)}")
                self.assertTrue(response.url.endswith("/payment/status"))
                tx.invalidate_recordset()
                self.assertEqual(tx.state, "draft")
        billing_request = self._sandbox_client().billing_requests.get(
            tx.gocardless_billing_request_id
        )
        self.assertEqual(billing_request.status, "pending")

    def test_gocardless_unreachable_on_return_leaves_the_completion_to_the_webhook(self):
        invoice = self._create_customer_invoice()
        tx, page = self._start_redirect_flow(invoice)

        def unreachable(_tx):
            error = requests.ConnectionError("GoCardless cannot be reached")
            raise ValidationError(str(error)) from error

        with (
            patch.object(PaymentTransaction, "_gocardless_handle_return", unreachable),
            mute_logger("odoo.addons.isanet_gocardless.controllers.main"),
        ):
            response = self._approve_mandate(page)
        self.assertTrue(response.url.startswith(self._build_url("/payment/status")))
        tx.invalidate_recordset()
        self.assertEqual(tx.state, "pending")
        self.assertFalse(tx.provider_reference)

        # The billing request's `fulfilled` webhook completes it (see the event outcomes).
        with mute_logger("odoo.addons.payment.models.payment_transaction"):
            self.assertTrue(tx._gocardless_complete_billing_request())
        self.assertEqual(tx.state, "pending")
        self.assertTrue(tx.provider_reference.startswith("PM"))

    def test_leaving_the_flow_cancels_the_transaction(self):
        invoice = self._create_customer_invoice()
        tx, page = self._start_redirect_flow(invoice)
        tree = etree.fromstring(page.text, parser=etree.HTMLParser())
        exit_href = tree.xpath("//a[@id='exit']")[0].get("href")
        if exit_href.startswith("/"):
            exit_href = self.sandbox.url + exit_href
        with mute_logger("odoo.addons.payment.models.payment_transaction"):
            response = self.opener.get(exit_href, timeout=30)
        self.assertTrue(response.url.startswith(self._build_url("/payment/status")))
        tx.invalidate_recordset()
        self.assertEqual(tx.state, "cancel")
        self.assertIn("left the direct debit set-up", tx.state_message)
        self.assertTrue(invoice._has_to_be_paid())
        # Cancelled at GoCardless too: the flow can't be finished later in another tab.
        billing_request = self._sandbox_client().billing_requests.get(
            tx.gocardless_billing_request_id
        )
        self.assertEqual(billing_request.status, "cancelled")

    # === TOKEN FLOW === #

    def test_second_invoice_is_paid_with_the_saved_mandate_without_redirect(self):
        first_tx, _response = self._pay_by_redirect(self._create_customer_invoice())
        token = first_tx.token_id

        invoice = self._create_customer_invoice(amount=50.0)
        values = self._invoice_transaction_values(invoice, token_id=token.id, flow="token")
        with mute_logger("odoo.addons.payment.models.payment_transaction"):
            answer = self._call_invoice_transaction(invoice, **values)
        self.assertIn("result", answer, answer.get("error"))
        self.assertNotIn("redirect_form_html", answer["result"])
        tx = self._get_tx(answer["result"]["reference"])
        self.assertEqual(tx.operation, "online_token")
        self.assertEqual(tx.state, "pending")
        self.assertTrue(tx.provider_reference.startswith("PM"))
        self.assertNotEqual(tx.provider_reference, first_tx.provider_reference)
        self.assertFalse(tx.gocardless_billing_request_id)
        payment = self._sandbox_client().payments.get(tx.provider_reference).attributes
        self.assertEqual(payment["amount"], 5000)
        self.assertEqual(payment["links"]["mandate"], token.provider_ref)

    def test_merchant_collects_a_later_invoice_on_the_saved_mandate(self):
        first_tx, _response = self._pay_by_redirect(self._create_customer_invoice())
        token = first_tx.token_id
        invoice = self._create_customer_invoice(amount=75.0)
        self.assertEqual(invoice.gocardless_token_id, token)

        invoice.action_gocardless_collect()

        tx = invoice.transaction_ids
        self.assertEqual(tx.operation, "offline")
        self.assertEqual(tx.state, "pending")
        self.assertEqual(tx.token_id, token)
        self.assertTrue(tx.provider_reference.startswith("PM"))
        payment = self._sandbox_client().payments.get(tx.provider_reference).attributes
        self.assertEqual(payment["amount"], 7500)
        self.assertEqual(payment["links"]["mandate"], token.provider_ref)
        self.assertEqual(payment["metadata"], {"odoo_reference": tx.reference})
        self.assertIn(token.provider_ref, invoice.message_ids[0].body)
        # A debit is under way: no second collection.
        invoice.invalidate_recordset(["gocardless_token_id"])
        self.assertFalse(invoice.gocardless_token_id)
        with self.assertRaisesRegex(UserError, "cannot be collected"):
            invoice.action_gocardless_collect()

    def test_invoice_without_mandate_or_offer_cannot_be_collected(self):
        first_tx, _response = self._pay_by_redirect(self._create_customer_invoice())
        other_partner = self.env["res.partner"].create(
            {"name": "No Mandate", "country_id": self.partner.country_id.id}
        )
        for invoice in (
            self._create_customer_invoice(partner=other_partner),
            self._create_customer_invoice(post=False),
        ):
            self.assertFalse(invoice.gocardless_token_id)
            with self.assertRaisesRegex(UserError, "cannot be collected"):
                invoice.action_gocardless_collect()
        self.assertEqual(first_tx.token_id.partner_id, self.partner)

    def test_registering_a_payment_with_a_mandate_is_refused(self):
        first_tx, _response = self._pay_by_redirect(self._create_customer_invoice())
        invoice = self._create_customer_invoice(amount=50.0)
        journal = self.gocardless.journal_id
        method_line = journal.inbound_payment_method_line_ids.filtered(
            lambda line: line.payment_provider_id == self.gocardless
        )
        wizard = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"journal_id": journal.id, "payment_method_line_id": method_line.id})
        )
        wizard.payment_token_id = first_tx.token_id
        with self.assertRaises(Exception) as error:  # noqa: B017 - UserError, possibly wrapped
            wizard._create_payments()
        self.assertIn("GoCardless", str(error.exception))

    # === REFUND FLOW === #

    def _collected_tx(self, amount):
        """A transaction whose payment GoCardless collected, done and post-processed."""
        tx, _response = self._pay_by_redirect(self._create_customer_invoice(amount=amount))
        client = self._sandbox_client()
        client.scenario_simulators.run(
            "payment_confirmed", params={"links": {"resource": tx.provider_reference}}
        )
        payment = client.payments.get(tx.provider_reference).attributes
        with mute_logger("odoo.addons.payment.models.payment_transaction"):
            tx._handle_notification_data("gocardless", {"gocardless_payment": payment})
        tx._post_process()
        self.assertEqual(tx.state, "done")
        return tx

    def test_partial_refunds_confirm_the_total_refunded_to_gocardless(self):
        tx = self._collected_tx(100.0)
        client = self._sandbox_client()
        with mute_logger("odoo.addons.payment.models.payment_transaction"):
            first = tx._send_refund_request(amount_to_refund=40.0)
            second = tx._send_refund_request(amount_to_refund=25.5)

        for refund_tx, minor_units in ((first, 4000), (second, 2550)):
            self.assertEqual(refund_tx.operation, "refund")
            self.assertEqual(refund_tx.state, "pending")
            self.assertTrue(refund_tx.provider_reference.startswith("RF"))
            refund = client.refunds.get(refund_tx.provider_reference).attributes
            self.assertEqual(refund["amount"], minor_units)
            self.assertEqual(refund["links"]["payment"], tx.provider_reference)
            self.assertEqual(refund["metadata"], {"odoo_reference": refund_tx.reference})
        self.assertEqual(client.payments.get(tx.provider_reference).amount_refunded, 6550)

    def test_refund_above_what_is_left_is_refused_and_changes_nothing_at_gocardless(self):
        tx = self._collected_tx(30.0)
        client = self._sandbox_client()
        with mute_logger("odoo.addons.payment.models.payment_transaction"):
            tx._send_refund_request(amount_to_refund=20.0)
        with (
            mute_logger(
                "odoo.addons.payment.models.payment_transaction",
                "odoo.addons.isanet_gocardless.models.payment_transaction",
            ),
            self.assertRaisesRegex(ValidationError, "GoCardless"),
        ):
            tx._send_refund_request(amount_to_refund=20.0)
        self.assertEqual(client.payments.get(tx.provider_reference).amount_refunded, 2000)


@tagged("post_install", "-at_install")
class TestNotificationProcessing(GoCardlessInvoiceCommon):
    def setUp(self):
        super().setUp()
        self.invoice_to_pay = self._create_customer_invoice(amount=100.0)
        self.tx = self._create_transaction(
            "redirect",
            reference="INV-GC-1",
            amount=100.0,
            payment_method_id=self.sepa.id,
            invoice_ids=[Command.set(self.invoice_to_pay.ids)],
        )

    def _notify(self, status, payment_id="PM0001", **extra):
        payment = {"id": payment_id, "status": status, "charge_date": "2026-12-03"}
        with mute_logger("odoo.addons.payment.models.payment_transaction"):
            return self.env["payment.transaction"]._handle_notification_data(
                "gocardless",
                {"reference": self.tx.reference, "gocardless_payment": payment, **extra},
            )

    def test_tx_is_found_by_payment_id_or_metadata(self):
        self.tx.provider_reference = "PM0001"
        Tx = self.env["payment.transaction"]
        self.assertEqual(
            Tx._get_tx_from_notification_data(
                "gocardless", {"gocardless_payment": {"id": "PM0001"}}
            ),
            self.tx,
        )
        self.assertEqual(
            Tx._get_tx_from_notification_data(
                "gocardless",
                {"gocardless_payment": {"id": "PMX", "metadata": {"odoo_reference": "INV-GC-1"}}},
            ),
            self.tx,
        )
        with self.assertRaises(ValidationError):
            Tx._get_tx_from_notification_data("gocardless", {"gocardless_payment": {"id": "PMX"}})

    def test_pending_statuses_set_the_tx_pending_with_its_charge_date(self):
        tx = self._notify("pending_submission")
        self.assertEqual(tx, self.tx)
        self.assertEqual(tx.state, "pending")
        self.assertEqual(tx.provider_reference, "PM0001")
        self.assertEqual(str(tx.gocardless_charge_date), "2026-12-03")

    def test_confirmed_payment_pays_the_invoice(self):
        self._notify("submitted")
        self._notify("confirmed")
        self.assertEqual(self.tx.state, "done")
        self.tx._post_process()
        self.assertIn(self.invoice_to_pay.payment_state, ("paid", "in_payment"))

    def test_failure_before_collection_sets_an_error(self):
        self._notify("pending_submission")
        self._notify("failed", reason="Insufficient funds (insufficient_funds)")
        self.assertEqual(self.tx.state, "error")
        self.assertIn("insufficient_funds", self.tx.state_message)

    def test_chargeback_after_payment_reopens_the_invoice_and_its_cancellation_repays_it(self):
        self._notify("confirmed")
        self.tx._post_process()
        self.assertIn(self.invoice_to_pay.payment_state, ("paid", "in_payment"))

        self._notify("charged_back")
        self.assertEqual(self.tx.state, "cancel")
        self.tx._post_process()
        self.assertEqual(self.invoice_to_pay.payment_state, "not_paid")

        self._notify("confirmed")  # chargeback cancelled
        self.assertEqual(self.tx.state, "done")
        self.tx._post_process()
        self.assertIn(self.invoice_to_pay.payment_state, ("paid", "in_payment"))

    def test_cancelled_payment_cancels_the_tx(self):
        self._notify("pending_submission")
        self._notify("cancelled")
        self.assertEqual(self.tx.state, "cancel")

    def test_payment_of_another_tx_is_refused(self):
        self._notify("pending_submission")
        with self.assertRaises(ValidationError):
            self._notify("confirmed", payment_id="PM9999")
        self.assertEqual(self.tx.state, "pending")

    def test_data_without_payment_is_refused(self):
        with self.assertRaises(ValidationError):
            self.env["payment.transaction"]._handle_notification_data(
                "gocardless", {"reference": self.tx.reference}
            )
