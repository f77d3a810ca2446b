# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""One guard where money moves: every door that could make GoCardless take money is tried with
hostile input; each is refused with a clear error, nothing reaches GoCardless (the sandbox's
request log), nothing answers 500."""

import time

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import (
    GoCardlessFlowCommon,
)

HTTP_LOGGERS = (
    "odoo.http",
    "odoo.addons.payment.models.payment_transaction",
    "odoo.addons.isanet_gocardless.models.payment_provider",
    "odoo.addons.isanet_gocardless.models.payment_transaction",
)


@tagged("post_install", "-at_install")
class TestMoneyGuard(GoCardlessFlowCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bacs = cls.env.ref("payment.payment_method_bacs_direct_debit")
        cls.bacs.active = True

    def setUp(self):
        super().setUp()
        self.mark = self.sandbox.request_log_mark()

    # === HELPERS === #

    def _sent_to_gocardless(self):
        """Return the API requests the sandbox received since the test started."""
        return self.sandbox.request_log(self.mark)

    def _assert_nothing_sent(self):
        self.assertEqual(self._sent_to_gocardless(), [])

    def _assert_refused(self, answer, *texts):
        """A JSON-RPC answer that is a clear error (never a server error), with ``texts``."""
        self.assertIn("error", answer, answer.get("result"))
        error = answer["error"]
        self.assertNotEqual(error["data"].get("name"), "builtins.TypeError", error)
        message = error["data"]["message"]
        for text in texts:
            self.assertIn(text, message)
        return message

    def _post(self, invoice, **values):
        with mute_logger(*HTTP_LOGGERS):
            return self._call_invoice_transaction(
                invoice, **self._invoice_transaction_values(invoice, **values)
            )

    def _mandate_token(self, partner=None, method=None, ref="MD000TEST"):
        return self._create_token(
            provider_id=self.gocardless.id,
            payment_method_id=(method or self.sepa).id,
            partner_id=(partner or self.partner).id,
            provider_ref=ref,
            gocardless_mandate_status="active",
        )

    def _invoice_with_pending_debit(self, pending):
        """An invoice of 100.00 with a debit of ``pending`` under way."""
        invoice = self._create_customer_invoice(amount=100.0)
        self._create_invoice_transaction(
            invoice,
            "redirect",
            "PENDING",
            pending,
            provider_reference="PM000PENDING",
            state="pending",
        )
        return invoice

    # === HOSTILE ROUTE PARAMETERS === #

    def test_hostile_ids_get_a_clear_error_and_nothing_reaches_gocardless(self):
        invoice = self._create_customer_invoice(amount=70.0)
        hostile = [
            [self.gocardless.id],
            [self.gocardless.id, self.dummy_provider.id],
            str(self.gocardless.id),
            "abc",
            None,
            10**20,
            -1,
            0,
            1.5,
            True,
            {"id": self.gocardless.id},
            f"{self.gocardless.id}\x00",
            "é",
        ]
        for value in hostile:
            for name in ("provider_id", "token_id", "payment_method_id"):
                if name != "provider_id" and value is None:
                    continue  # token_id and payment_method_id may be empty
                with self.subTest(parameter=name, value=value):
                    answer = self._post(invoice, **{name: value, "amount": 5000.0})
                    self._assert_refused(answer, "invalid")
        self.assertFalse(invoice.transaction_ids)
        self._assert_nothing_sent()

    def test_hostile_amounts_get_a_clear_error_and_nothing_reaches_gocardless(self):
        invoice = self._create_customer_invoice(amount=70.0)
        for amount in ("abc", "nan", "inf", "1e400", [70.0], {"a": 1}, "70\x00", "७०", True):
            with self.subTest(amount=amount):
                answer = self._post(invoice, amount=amount)
                self._assert_refused(answer, "GoCardless: the amount to pay")
        self.assertFalse(invoice.transaction_ids)
        self._assert_nothing_sent()

    def test_hostile_flows_and_routes_get_a_clear_error(self):
        invoice = self._create_customer_invoice(amount=70.0)
        for name, value in (
            ("flow", ["redirect"]),
            ("flow", "redirect\x00"),
            ("landing_route", {"x": 1}),
            ("landing_route", "/my\x00"),
        ):
            with self.subTest(parameter=name, value=value):
                self._assert_refused(self._post(invoice, **{name: value}), "invalid")
        self._assert_nothing_sent()

    # === AMOUNTS, OFFER, INVOICE STATE === #

    def test_an_amount_above_what_is_due_is_refused(self):
        invoice = self._create_customer_invoice(amount=70.0)
        for amount in (5000.0, 70.01, 1e15):
            with self.subTest(amount=amount):
                self._assert_refused(self._post(invoice, amount=amount), "above what is left")
        self.assertFalse(invoice.transaction_ids)
        self._assert_nothing_sent()

    def test_an_invoice_whose_offer_is_off_is_refused(self):
        invoice = self._create_customer_invoice(amount=70.0)
        invoice.gocardless_offered = False
        self._assert_refused(self._post(invoice), "not offered")
        self._assert_nothing_sent()

    def test_a_paid_invoice_is_not_charged_again(self):
        invoice = self._create_customer_invoice(amount=70.0)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"journal_id": self.company_data["default_journal_bank"].id})._create_payments()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self._assert_refused(self._post(invoice, amount=70.0), "GoCardless")
        self._assert_nothing_sent()

    def test_a_second_debit_while_one_is_pending_is_refused(self):
        invoice = self._invoice_with_pending_debit(100.0)
        self._assert_refused(self._post(invoice, amount=100.0), "already under way")
        # A part of it is refused as well: nothing is left while the debit is pending.
        self._assert_refused(self._post(invoice, amount=1.0), "already under way")
        self._assert_nothing_sent()

    def test_what_a_pending_debit_leaves_can_still_be_paid(self):
        invoice = self._invoice_with_pending_debit(60.0)
        self._assert_refused(self._post(invoice, amount=40.01), "above what is left")
        answer = self._post(invoice, amount=40.0)
        self.assertIn("result", answer, answer.get("error"))

    def test_the_second_of_two_pay_clicks_is_refused_once_the_first_is_debited(self):
        """The customer pays twice from the same link: one debit only (the 200 € on 100 € bug)."""
        invoice = self._create_customer_invoice(amount=100.0)
        first, _response = self._pay_by_redirect(invoice)
        self.assertEqual(first.state, "pending")
        self.assertTrue(first.provider_reference)
        mark = self.sandbox.request_log_mark()
        self._assert_refused(self._post(invoice, amount=100.0), "already under way")
        token = first.token_id
        answer = self._post(invoice, amount=100.0, token_id=token.id, flow="token")
        self._assert_refused(answer, "already under way")
        self.assertEqual(self.sandbox.request_log(mark), [])
        payments = self._sandbox_client().payments.list(params={"mandate": token.provider_ref})
        self.assertEqual(len(payments.records), 1)

    def test_completing_a_mandate_after_the_invoice_was_paid_collects_nothing(self):
        invoice = self._create_customer_invoice(amount=100.0)
        tx, page = self._start_redirect_flow(invoice)
        # Meanwhile the invoice is paid another way.
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"journal_id": self.company_data["default_journal_bank"].id})._create_payments()
        mark = self.sandbox.request_log_mark()
        with mute_logger(*HTTP_LOGGERS):
            self._approve_mandate(page)
        tx.invalidate_recordset()
        self.assertEqual(tx.state, "error")
        self.assertFalse(tx.provider_reference)
        self.assertTrue(tx.token_id, "the mandate is saved all the same")
        posts = [r for r in self.sandbox.request_log(mark) if r["method"] == "POST"]
        self.assertFalse([r for r in posts if r["path"] == "/payments"], posts)

    # === MANDATES === #

    def test_a_mandate_in_another_currency_is_refused(self):
        """A Bacs (GBP) mandate can't pay an EUR invoice: not offered, and refused if forced."""
        invoice = self._create_customer_invoice(amount=70.0)
        token = self._mandate_token(method=self.bacs, ref="MD000BACS")
        euro_token = self._mandate_token(ref="MD000SEPA")
        page_tokens = self._invoice_page_token_ids(invoice)
        self.assertIn(euro_token.id, page_tokens)
        self.assertNotIn(token.id, page_tokens)
        answer = self._post(invoice, token_id=token.id, flow="token")
        self._assert_refused(answer, "can't collect EUR")
        self.assertFalse(invoice.transaction_ids)
        self._assert_nothing_sent()

    def test_another_partners_mandate_is_refused(self):
        invoice = self._create_customer_invoice(amount=70.0)
        stranger = self.partner.copy({"name": "Stranger"})
        token = self._mandate_token(partner=stranger, ref="MD000STRANGER")
        answer = self._post(invoice, token_id=token.id, flow="token")
        self._assert_refused(answer)
        self.assertFalse(invoice.transaction_ids)
        self._assert_nothing_sent()

    def test_an_ended_mandate_is_refused(self):
        invoice = self._create_customer_invoice(amount=70.0)
        token = self._mandate_token(ref="MD000ENDED")
        token.gocardless_mandate_status = "cancelled"
        answer = self._post(invoice, token_id=token.id, flow="token")
        self._assert_refused(answer, "cancelled")
        self._assert_nothing_sent()

    # === OTHER DOORS: MERCHANT, REGISTER PAYMENT, RPC === #

    def _assert_token_debit_refused(self, invoice, reference, amount, operation, reason):
        """A debit of ``amount`` for ``invoice`` on the customer's mandate, created as the
        merchant's *Collect* (``offline``) or an RPC (``online_token``) would, is refused with
        ``reason`` and nothing reaches GoCardless."""
        tx = self.env["payment.transaction"].create(
            {
                "provider_id": self.gocardless.id,
                "payment_method_id": self.sepa.id,
                "reference": reference,
                "amount": amount,
                "currency_id": invoice.currency_id.id,
                "partner_id": self.partner.id,
                "token_id": self._mandate_token().id,
                "operation": operation,
                "invoice_ids": [Command.set(invoice.ids)],
            }
        )
        with self.assertRaisesRegex(ValidationError, reason):
            tx._send_payment_request()
        self._assert_nothing_sent()

    def test_merchant_collect_passes_the_same_guard(self):
        invoice = self._invoice_with_pending_debit(100.0)
        self._assert_token_debit_refused(
            invoice, "COLLECT-TWICE", 100.0, "offline", "already under way"
        )

    def test_rpc_cannot_debit_more_than_is_due(self):
        invoice = self._create_customer_invoice(amount=70.0)
        self._assert_token_debit_refused(
            invoice, "RPC-5000", 5000.0, "online_token", "above what is left"
        )

    def _register_gocardless_payment(self, invoice):
        line = self.gocardless.journal_id.inbound_payment_method_line_ids.filtered(
            lambda line: line.payment_provider_id == self.gocardless
        )
        wizard = (
            self.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create(
                {"journal_id": self.gocardless.journal_id.id, "payment_method_line_id": line.id}
            )
        )
        return wizard._create_payments()

    def _assert_register_payment_refused(self, invoice, message):
        """Register Payment with the GoCardless method on ``invoice`` is refused with
        ``message``: nothing is paid, nothing sent to GoCardless."""
        with self.assertRaisesRegex(UserError, message):
            self._register_gocardless_payment(invoice)
        self.assertEqual(invoice.payment_state, "not_paid")
        self._assert_nothing_sent()

    def test_register_payment_without_a_mandate_is_refused_and_explained(self):
        invoice = self._create_customer_invoice(amount=70.0)
        self._assert_register_payment_refused(invoice, "no active direct debit mandate")

    def test_register_payment_with_a_mandate_points_to_collect(self):
        invoice = self._create_customer_invoice(amount=70.0)
        self._mandate_token()
        self._assert_register_payment_refused(invoice, "Collect by Direct Debit")

    # === GOCARDLESS HANGS OR REFUSES === #

    def _post_during(self, fault):
        """Pay a new invoice of 70.00 while the sandbox has ``fault``; return the invoice, the
        answer and the seconds it took."""
        invoice = self._create_customer_invoice(amount=70.0)
        self.sandbox.set_fault(fault)
        self.addCleanup(self.sandbox.clear_fault)
        started = time.monotonic()
        answer = self._post(invoice)
        elapsed = time.monotonic() - started
        self.sandbox.clear_fault()
        return invoice, answer, elapsed

    def test_pay_with_a_gocardless_that_never_answers_fails_within_ten_seconds(self):
        invoice, answer, elapsed = self._post_during("hang")
        self._assert_refused(answer, "can't be reached right now")
        self.assertLess(elapsed, 10.0)
        # The attempt is kept, ended: nothing under way.
        self.assertEqual(invoice.transaction_ids.mapped("state"), ["error"])

    def test_return_from_a_hanging_gocardless_waits_for_the_webhook_within_ten_seconds(self):
        invoice = self._create_customer_invoice(amount=70.0)
        tx, page = self._start_redirect_flow(invoice)
        self.sandbox.set_fault("hang", path_prefix="/billing_requests/")
        self.addCleanup(self.sandbox.clear_fault)
        started = time.monotonic()
        with mute_logger(*HTTP_LOGGERS, "odoo.addons.isanet_gocardless.controllers.main"):
            response = self._approve_mandate(page)
        elapsed = time.monotonic() - started
        self.sandbox.clear_fault()
        self.assertLess(elapsed, 10.0)
        self.assertTrue(response.url.startswith(self._build_url("/payment/status")))
        tx.invalidate_recordset()
        self.assertEqual(tx.state, "pending", "the billing request's webhook completes it")
        self.assertFalse(tx.provider_reference)

    def test_merchant_collect_with_a_hanging_gocardless_fails_within_ten_seconds(self):
        invoice = self._create_customer_invoice(amount=70.0)
        self._mandate_token()
        self.sandbox.set_fault("hang")
        self.addCleanup(self.sandbox.clear_fault)
        started = time.monotonic()
        # Odoo can't tell whether GoCardless created the payment before hanging: it says so.
        with (
            mute_logger(*HTTP_LOGGERS),
            self.assertRaisesRegex(ValidationError, "could not be confirmed"),
        ):
            invoice.action_gocardless_collect()
        self.assertLess(time.monotonic() - started, 10.0)

    def test_pay_with_a_gocardless_that_refuses_connections_fails_clearly(self):
        _invoice, answer, elapsed = self._post_during("refuse")
        self.assertLess(elapsed, 10.0)
        self._assert_refused(answer, "can't be reached right now")

    def test_pay_during_a_gocardless_outage_fails_clearly(self):
        _invoice, answer, _elapsed = self._post_during("503")
        self._assert_refused(answer, "can't be reached right now")

    def test_a_failed_customer_read_never_creates_a_duplicate_customer(self):
        """Regression: an error reading the stored customer created a second customer."""
        invoice = self._create_customer_invoice(amount=70.0)
        tx, _page = self._start_redirect_flow(invoice)
        customer_id = self.partner.sudo().with_company(tx.company_id).gocardless_customer_id
        self.assertTrue(customer_id)
        other = self._create_customer_invoice(amount=30.0)
        self.sandbox.set_fault("500", path_prefix=f"/customers/{customer_id}", count=1)
        self.addCleanup(self.sandbox.clear_fault)
        mark = self.sandbox.request_log_mark()
        self._assert_refused(self._post(other), "can't be reached right now")
        creates = [
            r
            for r in self.sandbox.request_log(mark)
            if r["method"] == "POST" and r["path"] == "/customers"
        ]
        self.assertEqual(creates, [])
        self.assertEqual(
            self.partner.sudo().with_company(tx.company_id).gocardless_customer_id, customer_id
        )
        customers = self._sandbox_client().customers.list(params={"limit": 500}).records
        self.assertEqual([c.id for c in customers if c.email == self.partner.email], [customer_id])
