# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The debits of an invoice follow it: whatever changes after a debit is scheduled (a payment,
a credit note, a write-off, one of several invoices paid, automatic collection unticked, the
provider disabled, the offer taken off, the mandate's token archived), the payments GoCardless
may still take never exceed what is due. Checked on the sandbox's own payments, listed over
HTTP, not only on Odoo's records."""

import datetime

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from ..gocardless_core import amounts
from .common import GoCardlessMandateCommon, assert_booked_as_credit

LOGGERS = (
    "odoo.addons.isanet_gocardless.models.account_move_debits",
    "odoo.addons.isanet_gocardless.models.payment_transaction",
    "odoo.addons.isanet_gocardless.models.payment_transaction_attempt",
    "odoo.addons.payment.models.payment_transaction",
)
# Payments GoCardless may still take money with (not cancelled, failed or paid out).
LIVE_STATUSES = ("pending_customer_approval", "pending_submission", "submitted", "confirmed")


@tagged("post_install", "-at_install")
class TestDebitFollowsInvoice(GoCardlessMandateCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gocardless.gocardless_creditor_identifiers = "sepa_core: SBX-SEPA_CORE"

    def setUp(self):
        super().setUp()
        self.client = self.gocardless._gocardless_make_client()
        self.bank = self.company_data["default_journal_bank"]

    # === HELPERS === #

    def _live_payments(self):
        """Return the customer's payments GoCardless may still take, as the sandbox lists them."""
        payments = self.client.payments.list(
            params={"mandate": self.mandate["id"], "limit": 500}
        ).records
        return [payment for payment in payments if payment.status in LIVE_STATUSES]

    def _due(self):
        """Return what the customer owes on the invoices offered to direct debit, minor units."""
        invoices = self.env["account.move"].search(
            [
                ("partner_id", "=", self.partner.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("payment_state", "in", ("not_paid", "partial")),
                ("gocardless_offered", "=", True),
            ]
        )
        return sum(amounts.to_minor_units(invoice.amount_residual, "EUR") for invoice in invoices)

    def _assert_live_within_due(self, expected=None):
        """Assert the sandbox's live payments are not above what is due (and equal
        ``expected``, in minor units, when given)."""
        self.env.flush_all()
        live = sum(payment.amount for payment in self._live_payments())
        due = self._due() if self.gocardless.state != "disabled" else 0
        self.assertLessEqual(live, due, f"live payments {live} above what is due {due}")
        if expected is not None:
            self.assertEqual(live, expected)
        return live

    def _scheduled(self, amount=100.0):
        invoice = self._create_customer_invoice(amount=amount)
        with mute_logger(*LOGGERS):
            invoice.action_gocardless_collect()
        tx = invoice.gocardless_debit_transaction_id
        self.assertEqual(invoice.gocardless_debit_status, "scheduled")
        self._assert_live_within_due(amounts.to_minor_units(amount, "EUR"))
        return invoice, tx

    def _pay(self, invoices, amount=None, **values):
        wizard_values = {"journal_id": self.bank.id, **values}
        if amount is not None:
            wizard_values["amount"] = amount
        with mute_logger(*LOGGERS):
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoices.ids
            ).create(wizard_values)._create_payments()

    def _follow(self, tx, scenario=None):
        """Run a sandbox scenario on the debit and let the transaction follow, as a webhook."""
        with mute_logger(*LOGGERS):
            self._sandbox_outcome(tx, scenario)

    def _assert_replaced(self, invoice, old_tx, amount):
        """Assert ``old_tx`` is cancelled at GoCardless and replaced by a debit of ``amount``
        on the same mandate and date, pre-notified to the customer."""
        old = self._sandbox_payment(old_tx.provider_reference)
        self.assertEqual(old["status"], "cancelled")
        self.assertEqual(old_tx.state, "cancel")
        new_tx = invoice.gocardless_debit_transaction_id
        self.assertNotEqual(new_tx, old_tx)
        self.assertEqual(new_tx.state, "pending")
        self.assertEqual(new_tx.token_id, old_tx.token_id)
        new = self._sandbox_payment(new_tx.provider_reference)
        self.assertEqual(new["amount"], amounts.to_minor_units(amount, "EUR"))
        self.assertEqual(new["status"], "pending_submission")
        self.assertEqual(new["charge_date"], old["charge_date"])
        self.assertEqual(new["links"]["mandate"], self.mandate["id"])
        self.assertEqual(invoice.gocardless_debit_status, "scheduled")
        # The pre-notification tells the new amount, on the invoice and to the customer.
        shown = invoice.currency_id.format(amount).replace("\xa0", " ")
        self.assertIn(shown, invoice.gocardless_pre_notice.replace("\xa0", " "))
        told = invoice.message_ids.filtered(
            lambda m: self.partner in m.partner_ids and "pre-notification" in (m.body or "")
        ).sorted("id")[-1:]
        self.assertTrue(told)
        self.assertIn(shown, str(told.body).replace("&nbsp;", " "))
        # Cancelled on purpose: no "failed" alert for the merchant.
        old_tx._post_process()
        self.assertFalse(
            invoice.activity_ids.filtered(lambda a: a.summary == "Direct debit failed")
        )
        return new_tx

    def _surplus_activities(self, invoice):
        return invoice.activity_ids.filtered(
            lambda a: a.summary == "Direct debit above what is due"
        )

    # === THE AMOUNT DUE CHANGES === #

    def test_a_partial_payment_replaces_the_debit_by_one_of_the_remainder(self):
        invoice, tx = self._scheduled(100.0)
        self._pay(invoice, amount=40.0)
        self.assertEqual(invoice.payment_state, "partial")
        self._assert_live_within_due(6000)
        self._assert_replaced(invoice, tx, 60.0)
        # A second payment: the remainder follows again.
        new_tx = invoice.gocardless_debit_transaction_id
        self._pay(invoice, amount=15.0)
        self._assert_live_within_due(4500)
        self._assert_replaced(invoice, new_tx, 45.0)

    def test_a_partial_credit_note_replaces_the_debit(self):
        invoice, tx = self._scheduled(100.0)
        credit_note = self.init_invoice(
            "out_refund", partner=self.partner, amounts=[30.0], currency=self.currency_euro
        )
        credit_note.action_post()
        lines = (invoice | credit_note).line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        with mute_logger(*LOGGERS):
            lines.reconcile()
        self.assertEqual(invoice.payment_state, "partial")
        self._assert_live_within_due(7000)
        self._assert_replaced(invoice, tx, 70.0)
        # The credit note unmatched: more is due, the debit of 70 stays within it.
        with mute_logger(*LOGGERS):
            credit_note.line_ids.filtered(
                lambda line: line.account_id.account_type == "asset_receivable"
            ).remove_move_reconcile()
        self.assertEqual(invoice.amount_residual, 100.0)
        self._assert_live_within_due(7000)

    def test_a_write_off_replaces_the_debit_then_a_full_one_leaves_none(self):
        invoice, tx = self._scheduled(100.0)
        # 20 written off: an entry on the write-off account matched with the invoice, as the
        # reconciliation widget makes it.
        receivable = invoice.line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        rate = receivable.balance / receivable.amount_currency
        writeoff_account = self.company_data["default_account_expense"]
        balance = invoice.company_currency_id.round(20.0 * rate)
        entry = self.env["account.move"].create(
            {
                "move_type": "entry",
                "journal_id": self.company_data["default_journal_misc"].id,
                "line_ids": [
                    Command.create(
                        {
                            "name": "Write-off",
                            "account_id": receivable.account_id.id,
                            "partner_id": self.partner.id,
                            "currency_id": self.currency_euro.id,
                            "amount_currency": -20.0,
                            "balance": -balance,
                        }
                    ),
                    Command.create(
                        {
                            "name": "Write-off",
                            "account_id": writeoff_account.id,
                            "currency_id": self.currency_euro.id,
                            "amount_currency": 20.0,
                            "balance": balance,
                        }
                    ),
                ],
            }
        )
        entry.action_post()
        with mute_logger(*LOGGERS):
            (receivable | entry.line_ids.filtered(lambda line: line.credit)).reconcile()
        self.assertEqual(invoice.payment_state, "partial")
        self.assertEqual(invoice.amount_residual, 80.0)
        self._assert_live_within_due(8000)
        new_tx = self._assert_replaced(invoice, tx, 80.0)
        # Paid 75, the 5 left written off: nothing is due, nothing is debited.
        self._pay(
            invoice,
            amount=75.0,
            payment_difference_handling="reconcile",
            writeoff_account_id=writeoff_account.id,
            writeoff_label="Discount",
        )
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self._assert_live_within_due(0)
        self.assertEqual(self._sandbox_payment(new_tx.provider_reference)["status"], "cancelled")
        self.assertEqual(new_tx.state, "cancel")

    def test_one_of_several_invoices_paid_replaces_their_debit_by_one_for_the_others(self):
        first = self._create_customer_invoice(amount=30.0)
        second = self._create_customer_invoice(amount=45.5)
        tx = self.env["payment.transaction"].create(
            {
                "provider_id": self.gocardless.id,
                "payment_method_id": self.sepa.id,
                "reference": "OVERDUE-FOLLOW",
                "amount": 75.5,
                "currency_id": self.currency_euro.id,
                "partner_id": self.partner.id,
                "token_id": self.token.id,
                "operation": "online_token",
                "invoice_ids": [Command.set((first | second).ids)],
            }
        )
        tx._send_payment_request()
        self._assert_live_within_due(7550)
        self._pay(second)
        self.assertIn(second.payment_state, ("paid", "in_payment"))
        self._assert_live_within_due(3000)
        new_tx = self._assert_replaced(first, tx, 30.0)
        self.assertEqual(new_tx.invoice_ids, first)

    def test_the_offer_taken_off_or_the_token_archived_cancels_the_debit(self):
        invoice, tx = self._scheduled(50.0)
        with mute_logger(*LOGGERS):
            invoice.gocardless_offered = False
        self._assert_live_within_due(0)
        self.assertEqual(self._sandbox_payment(tx.provider_reference)["status"], "cancelled")
        other, other_tx = self._scheduled(20.0)
        with mute_logger(*LOGGERS):
            self.token.active = False
        self.assertEqual(self._sandbox_payment(other_tx.provider_reference)["status"], "cancelled")
        self.assertEqual(other_tx.state, "cancel")
        self.assertFalse(self._live_payments())
        self.assertFalse(other.gocardless_debit_status == "scheduled")

    # === THE PROVIDER CHANGES === #

    def test_automatic_collection_unticked_leaves_the_queue_uncollected(self):
        self.gocardless.gocardless_auto_collect = True
        due = fields.Date.today() + datetime.timedelta(days=14)
        invoices = self.env["account.move"]
        for amount in (10.0, 20.0, 30.0):
            invoice = self._create_customer_invoice(amount=amount, post=False)
            invoice.write({"invoice_payment_term_id": False, "invoice_date_due": due})
            invoice.action_post()
            invoices |= invoice
        self.assertEqual(set(invoices.mapped("gocardless_auto_collect_state")), {"queued"})
        self.gocardless.gocardless_auto_collect = False
        self.assertEqual(set(invoices.mapped("gocardless_auto_collect_state")), {False})
        with mute_logger(*LOGGERS):
            self.env["account.move"]._cron_gocardless_auto_collect()
        self.assertFalse(self._live_payments())
        self._assert_live_within_due(0)
        self.assertFalse(invoices.transaction_ids)

    def test_the_cron_checks_automatic_collection_is_still_on(self):
        self.gocardless.gocardless_auto_collect = True
        invoice = self._create_customer_invoice(amount=10.0)
        self.assertEqual(invoice.gocardless_auto_collect_state, "queued")
        # Unticked where no hook sees it (an import, SQL): the cron checks again.
        self.env.cr.execute(
            "UPDATE payment_provider SET gocardless_auto_collect = FALSE WHERE id = %s",
            [self.gocardless.id],
        )
        self.gocardless.invalidate_recordset(["gocardless_auto_collect"])
        with mute_logger(*LOGGERS):
            self.env["account.move"]._cron_gocardless_auto_collect()
        self.assertFalse(self._live_payments())
        self.assertFalse(invoice.gocardless_auto_collect_state)
        self.assertFalse(invoice.transaction_ids)

    def test_the_provider_disabled_cancels_its_debits(self):
        invoice, tx = self._scheduled(80.0)
        with mute_logger(*LOGGERS):
            self.gocardless.state = "disabled"
        self._assert_live_within_due(0)
        self.assertEqual(self._sandbox_payment(tx.provider_reference)["status"], "cancelled")
        self.assertEqual(tx.state, "cancel")
        self.assertTrue(self.token.active)  # the mandate is kept for when it is enabled again
        self.assertNotEqual(invoice.gocardless_debit_status, "scheduled")

    def test_the_sweep_cancels_what_a_hook_could_not(self):
        invoice, tx = self._scheduled(100.0)
        # GoCardless down when the invoice was paid in part: nothing could be cancelled.
        self.sandbox.set_fault("503", "/payments", count=1)
        try:
            self._pay(invoice, amount=40.0)
        finally:
            self.sandbox.clear_fault()
        self.assertEqual(tx.state, "pending")
        with mute_logger(*LOGGERS):
            self.env["account.move"]._cron_gocardless_auto_collect()
        self._assert_live_within_due(6000)
        self._assert_replaced(invoice, tx, 60.0)

    # === A DEBIT THAT CAN NO LONGER BE CHANGED === #

    def test_a_submitted_debit_gives_one_activity_then_its_surplus_is_refunded(self):
        invoice, tx = self._scheduled(100.0)
        self._follow(tx, "payment_submitted")
        self.assertEqual(tx.gocardless_payment_status, "submitted")
        self._pay(invoice, amount=40.0)
        self._pay(invoice, amount=10.0)
        # Nothing GoCardless can change: the debit stays, the merchant is told once.
        self.assertEqual(self._sandbox_payment(tx.provider_reference)["status"], "submitted")
        self.assertEqual(len(self._live_payments()), 1)
        activity = self._surplus_activities(invoice)
        self.assertEqual(len(activity), 1)
        self.assertIn("50.00", activity.note)
        self.assertFalse(invoice.gocardless_debit_surplus)
        # Collected and booked: the surplus stays as the customer's credit.
        self._follow(tx, "payment_confirmed")
        with mute_logger(*LOGGERS):
            tx._post_process()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(invoice.gocardless_debit_surplus, 50.0)
        self.assertEqual(len(self._surplus_activities(invoice)), 1)
        # Only an invoicing user may send the money back.
        employee = new_test_user(self.env, login="gc-surplus-employee", groups="base.group_user")
        mark = self.sandbox.request_log_mark()
        with self.assertRaises(AccessError):
            invoice.with_user(employee).action_gocardless_refund_surplus()
        self.assertFalse(self.sandbox.request_log(mark))
        with mute_logger(*LOGGERS):
            invoice.action_gocardless_refund_surplus()
        refunds = self.client.refunds.list(params={"payment": tx.provider_reference}).records
        self.assertEqual([refund.amount for refund in refunds], [5000])
        self.assertFalse(invoice.gocardless_debit_surplus)
        self.assertFalse(self._surplus_activities(invoice))
        # The refund paid: its payment repays the customer's credit, nothing is left open.
        refund_tx = tx.child_transaction_ids
        with mute_logger(*LOGGERS):
            self._sandbox_outcome(refund_tx, "refund_paid")
            refund_tx._post_process()
        self.assertEqual(refund_tx.state, "done")
        self.assertTrue(refund_tx.payment_id.is_reconciled)
        self.assertTrue(tx.payment_id.is_reconciled)
        self.assertFalse(invoice.gocardless_debit_surplus)

    def test_a_surplus_refund_whose_answer_is_lost_is_not_sent_again(self):
        invoice, tx = self._scheduled(100.0)
        self._follow(tx, "payment_submitted")
        self._pay(invoice, amount=30.0)
        self._follow(tx, "payment_confirmed")
        with mute_logger(*LOGGERS):
            tx._post_process()
        self.assertEqual(invoice.gocardless_debit_surplus, 30.0)
        # GoCardless makes the refund; its answer never reaches Odoo.
        self.sandbox.set_fault("hang_after", "/refunds", count=1, method="POST", hang_timeout=30)
        self.addCleanup(self.sandbox.clear_fault)
        with (
            mute_logger(*LOGGERS),
            self.assertRaisesRegex(ValidationError, "could not be confirmed"),
        ):
            invoice.action_gocardless_refund_surplus()
        self.sandbox.clear_fault()
        made = self.client.refunds.list(params={"payment": tx.provider_reference}).records
        self.assertEqual([refund.amount for refund in made], [3000])
        self.assertEqual(len(self._surplus_activities(invoice)), 1)
        # Clicked again: no second refund; the one made is found, followed, and said.
        mark = self.sandbox.request_log_mark()
        with mute_logger(*LOGGERS), self.assertRaisesRegex(UserError, "had made the refund"):
            invoice.action_gocardless_refund_surplus()
        self.assertFalse(
            [entry for entry in self.sandbox.request_log(mark) if entry["method"] == "POST"]
        )
        refund_tx = tx.child_transaction_ids
        self.assertEqual((refund_tx.state, refund_tx.provider_reference), ("pending", made[0].id))
        self.assertFalse(invoice.gocardless_debit_surplus)
        self.assertFalse(self._surplus_activities(invoice))
        self.assertEqual(
            len(self.client.refunds.list(params={"payment": tx.provider_reference}).records), 1
        )

    def test_a_debit_collected_on_a_cancelled_invoice_is_the_customers_credit(self):
        invoice, tx = self._scheduled(100.0)
        self._follow(tx, "payment_submitted")
        with mute_logger(*LOGGERS):
            invoice.button_cancel()
        self.assertEqual(invoice.state, "cancel")
        # Submitted: GoCardless can't cancel it any more; it is collected.
        self.assertEqual(self._sandbox_payment(tx.provider_reference)["status"], "submitted")
        self._follow(tx, "payment_confirmed")
        with mute_logger(*LOGGERS):
            tx._post_process()
        self.assertEqual(tx.state, "done")
        self.assertTrue(tx.is_post_processed)
        payment = tx.payment_id
        self.assertTrue(payment, "the collected debit is booked")
        self.assertEqual(payment.move_id.state, "posted")
        self.assertAlmostEqual(payment.amount, 100.0)
        assert_booked_as_credit(self, invoice, payment, 100.0)
        self.assertTrue(invoice.message_ids.filtered(lambda m: "stays as" in str(m.body)))
        activity = invoice.activity_ids.filtered(
            lambda a: a.summary == "Direct debit collected on an invoice no longer posted"
        )
        self.assertEqual(len(activity), 1)
        self.assertIn(tx.reference, str(activity.note))
