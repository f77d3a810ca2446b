# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from unittest.mock import patch

from gocardless_pro import errors as gc_errors

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import EVENT_LOGGER, GoCardlessWebhookCommon, company_user

FAILURE_DETAILS = {
    "origin": "bank",
    "cause": "insufficient_funds",
    "description": "The customer's account had insufficient funds",
    "reason_code": "AM04",
}


@tagged("post_install", "-at_install")
class TestEventOutcomes(GoCardlessWebhookCommon):
    # === Payments === #

    def test_confirmed_payment_pays_the_invoice_and_tells_it_in_the_chatter(self):
        """A debit collected needs nobody: a message, no to-do (issue "never lose, never
        stall": activities are for failures and reconnection; the digest sums debits up)."""
        self._set_payment("confirmed")
        self.assertFalse(self._receive([self._payment_event("confirmed", event_id="EV1")]))
        self.assertEqual(self.tx.state, "done")
        self.assertTrue(self.tx.is_post_processed)
        self.assertEqual(self.tx.payment_id.state, "paid")
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(len(self._messages("Direct debit received")), 1)
        self.assertFalse(self.invoice.activity_ids)
        self.assertEqual(self._ledger("EV1").transaction_id, self.tx)

    def test_failure_activity_goes_to_the_administrator_when_the_invoice_has_no_salesperson(
        self,
    ):
        self.invoice.invoice_user_id = False
        admin = self.env.ref("base.user_admin")
        admin.company_ids |= self.invoice.company_id
        self._set_payment("failed")
        self._receive([self._payment_event("failed")])
        self.assertEqual(self._activities("Direct debit failed").user_id, admin)

    def test_failure_activity_goes_to_the_salesperson(self):
        self._set_payment("failed")
        self._receive([self._payment_event("failed")])
        activity = self._activities("Direct debit failed")
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.salesperson)
        self.assertEqual(activity.activity_type_id, self.env.ref("mail.mail_activity_data_todo"))

    def test_confirmed_event_arriving_before_submitted_ends_done(self):
        self._set_payment("confirmed")
        self._receive([self._payment_event("confirmed")])
        self._receive([self._payment_event("submitted")])
        self.assertEqual(self.tx.state, "done")
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(len(self._messages("Direct debit received")), 1)

    def test_submitted_payment_keeps_the_transaction_pending(self):
        self._set_payment("submitted")
        self._receive([self._payment_event("submitted", event_id="EV1")])
        self.assertEqual(self.tx.state, "pending")
        self.assertEqual(self._ledger("EV1").state, "processed")
        self.assertFalse(self.invoice.activity_ids)

    def test_failure_after_paid_out_reopens_the_invoice_and_notifies(self):
        self._set_payment("paid_out")
        self._receive([self._payment_event("paid_out")])
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        payment = self.tx.payment_id

        self._set_payment("failed")
        self._receive([self._payment_event("failed", details=FAILURE_DETAILS)])
        self.assertEqual(self.tx.state, "cancel")
        self.assertEqual(payment.state, "canceled")
        self.assertEqual(self.invoice.payment_state, "not_paid")
        activity = self._activities("Direct debit failed")
        self.assertEqual(activity.user_id, self.salesperson)
        self.assertIn("insufficient funds", activity.note)
        self.assertIn("AM04", activity.note)
        self.assertTrue(self._messages("invoice is open again"))

    def test_failure_reason_is_found_when_an_earlier_event_arrives_in_the_same_batch(self):
        self._set_payment("failed")
        self._receive(
            [
                self._payment_event("confirmed"),
                self._payment_event("failed", details=FAILURE_DETAILS),
            ]
        )
        self.assertIn(self.tx.state, ("error", "cancel"))
        activity = self._activities("Direct debit failed")
        self.assertEqual(len(activity), 1)
        self.assertIn("insufficient funds", activity.note)

    def test_paid_out_event_arriving_after_the_failure_does_not_pay_the_invoice(self):
        self._set_payment("failed")
        self._receive([self._payment_event("failed", details=FAILURE_DETAILS)])
        self._receive([self._payment_event("confirmed"), self._payment_event("paid_out")])
        self.assertIn(self.tx.state, ("error", "cancel"))
        self.assertFalse(self.tx.payment_id)
        self.assertEqual(self.invoice.payment_state, "not_paid")
        self.assertEqual(len(self._activities("Direct debit failed")), 1)
        self.assertFalse(self._messages("Direct debit received"))

    def test_chargeback_reopens_the_invoice_and_its_cancellation_pays_it_again(self):
        self._set_payment("confirmed")
        self._receive([self._payment_event("confirmed")])
        self._set_payment("charged_back")
        self._receive([self._payment_event("charged_back")])
        self.assertEqual(self.invoice.payment_state, "not_paid")
        self.assertTrue(self._activities("Direct debit failed"))

        self._set_payment("confirmed")
        self._receive([self._payment_event("chargeback_cancelled")])
        self.assertEqual(self.tx.state, "done")
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(len(self._messages("Direct debit received")), 2)
        self.assertFalse(self._activities("Direct debit failed"), "Its cause is gone.")

    def test_a_later_debit_collected_closes_the_failure_activity_of_its_invoice_only(self):
        other_invoice = self._create_customer_invoice(partner=self.partner_a)
        other_failure = other_invoice.activity_schedule(
            "mail.mail_activity_data_todo", summary="Direct debit failed", note="Other invoice"
        )
        self._set_payment("failed")
        self._receive([self._payment_event("failed", details=FAILURE_DETAILS)])
        self.assertEqual(len(self._activities("Direct debit failed")), 1)

        # The customer pays the invoice by a new direct debit, which GoCardless collects.
        retry = self.tx.copy(
            {
                "reference": "INV-GC-2",
                "provider_reference": "PM456",
                "invoice_ids": [Command.set(self.invoice.ids)],
                "state": "pending",
            }
        )
        self._set_payment("confirmed", payment_id="PM456", reference="INV-GC-2")
        self._receive([self._event("payments", "confirmed", "PM456", odoo_ref=False)])
        self.assertEqual(retry.state, "done")
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))
        self.assertFalse(self._activities("Direct debit failed"), "Marked done: paid since.")
        self.assertEqual(len(self._messages("Direct debit received")), 1)
        done = self.invoice.message_ids.filtered(
            lambda m: (
                m.mail_activity_type_id == self.env.ref("mail.mail_activity_data_todo")
                and "PM456" in (m.body or "")
            )
        )
        self.assertEqual(len(done), 1, "The closed activity says which debit resolved it.")
        self.assertTrue(other_failure.exists() and other_failure.active)
        self.assertEqual(other_invoice.activity_ids, other_failure)

    def test_settlement_event_changes_nothing(self):
        self._set_payment("failed")
        self._receive([self._payment_event("late_failure_settled", event_id="EV1")])
        self.assertEqual(self._ledger("EV1").state, "ignored")
        self.assertEqual(self.tx.state, "pending")
        self.assertFalse(self.api_reads)

    def test_event_of_an_unknown_payment_is_ignored_with_a_reason(self):
        event = self._event("payments", "confirmed", "PM999", event_id="EV1", odoo_ref=False)
        self.assertFalse(self._receive([event]))
        self.assertEqual(self._ledger("EV1").state, "ignored")
        self.assertIn("PM999", self._ledger("EV1").error_message)
        self.assertFalse(self.api_reads)

    # === Mandates === #

    def _receive_mandate_event(self, action, status):
        """The token of mandate MD123, then its event ``action`` (EV1) received while
        GoCardless reads the mandate as ``status``; return the token."""
        token = self._create_token(provider_ref="MD123", payment_method_id=self.sepa.id)
        self.api_resources[("mandates", "MD123")] = {"id": "MD123", "status": status}
        self._receive([self._event("mandates", action, "MD123", event_id="EV1")])
        return token

    def test_cancelled_mandate_archives_its_token(self):
        token = self._receive_mandate_event("cancelled", "cancelled")
        self.assertFalse(token.active)
        self.assertEqual(self._ledger("EV1").state, "processed")

    def test_mandate_active_again_keeps_its_token(self):
        token = self._receive_mandate_event("expired", "active")
        self.assertTrue(token.active)
        self.assertEqual(self._ledger("EV1").state, "ignored")

    def test_replaced_mandate_moves_its_token_to_the_new_mandate(self):
        token = self._create_token(provider_ref="MD123", payment_method_id=self.sepa.id)
        self.api_resources[("mandates", "MD456")] = {"id": "MD456", "status": "active"}
        event = self._event("mandates", "replaced", "MD123", new_mandate="MD456")
        self._receive([event])
        self.assertEqual(token.provider_ref, "MD456")
        self.assertTrue(token.active)

    def test_event_of_an_unknown_mandate_is_ignored(self):
        self._receive([self._event("mandates", "cancelled", "MD999", event_id="EV1")])
        self.assertEqual(self._ledger("EV1").state, "ignored")

    # === Billing requests === #

    def _receive_completing(self, action):
        """Receive the event ``action`` of billing request BRQ123, the completion of the
        billing request spied; return the spy."""
        with patch.object(
            self.env.registry["payment.transaction"],
            "_gocardless_complete_billing_request",
            autospec=True,
            return_value=True,
        ) as complete:
            self._receive([self._event("billing_requests", action, "BRQ123")])
        return complete

    def test_cancelled_billing_request_cancels_its_transaction(self):
        tx = self._billing_request_tx("cancelled")
        self._receive([self._event("billing_requests", "cancelled", "BRQ123", event_id="EV1")])
        self.assertEqual(tx.state, "cancel")
        self.assertEqual(self._ledger("EV1").state, "processed")

    def test_fulfilled_billing_request_completes_its_transaction(self):
        tx = self._billing_request_tx("fulfilled")
        complete = self._receive_completing("fulfilled")
        complete.assert_called_once()
        self.assertEqual(complete.call_args.args[0], tx)

    def test_cancelled_event_of_a_fulfilled_billing_request_completes_it(self):
        tx = self._billing_request_tx("fulfilled")
        complete = self._receive_completing("cancelled")
        complete.assert_called_once()
        self.assertNotEqual(tx.state, "cancel")

    # === Refunds === #

    def test_refund_events_confirm_or_fail_the_refund_transaction(self):
        refund_tx = self._refund_tx("R-INV-GC-1", "RF123", "failed")
        self._receive([self._event("refunds", "failed", "RF123", event_id="EV1")])
        self.assertEqual(refund_tx.state, "error")
        self.assertEqual(self._ledger("EV1").transaction_id, refund_tx)

    def test_paid_refund_confirms_the_refund_transaction_and_records_the_refund(self):
        self._set_payment("confirmed")
        self._receive([self._payment_event("confirmed")])
        refund_tx = self._refund_tx("R-INV-GC-2", "RF456", "paid")
        self._receive([self._event("refunds", "paid", "RF456", event_id="EV1")])
        self.assertEqual(refund_tx.state, "done")
        self.assertEqual(refund_tx.payment_id.payment_type, "outbound")
        self.assertEqual(refund_tx.payment_id.amount, 20.0)
        self.assertEqual(self._ledger("EV1").state, "processed")

    # === Ledger === #

    @mute_logger(EVENT_LOGGER)
    def test_failed_event_is_recorded_and_can_be_processed_again(self):
        self.api_resources[("payments", "PM123")] = gc_errors.InvalidApiUsageError(
            {"message": "Resource not found", "errors": []}
        )
        self.assertFalse(self._receive([self._payment_event("confirmed", event_id="EV1")]))
        event = self._ledger("EV1")
        self.assertEqual(event.state, "failed")
        self.assertIn("Resource not found", event.error_message)
        self.assertEqual(self.tx.state, "pending")

        self._set_payment("confirmed")
        event.action_gocardless_process_again()
        self.assertEqual(event.state, "processed")
        self.assertEqual(self.tx.state, "done")

    def test_processed_event_cannot_be_processed_again(self):
        self._set_payment("confirmed")
        self._receive([self._payment_event("confirmed", event_id="EV1")])
        with self.assertRaises(UserError):
            self._ledger("EV1").action_gocardless_process_again()
        self.assertEqual(len(self.api_reads), 1)

    def test_account_managers_read_events_but_do_not_change_them(self):
        self._receive([self._event("creditors", "updated", "CR123", event_id="EV1")])
        manager = new_test_user(
            self.env,
            login="gocardless_account_manager",
            groups="account.group_account_manager",
        )
        event = self._ledger("EV1").with_user(manager)
        self.assertEqual(event.state, "ignored")
        with self.assertRaises(AccessError):
            event.write({"state": "received"})
        with self.assertRaises(UserError):
            event.action_gocardless_process_again()

    def test_events_of_another_company_are_hidden(self):
        self._receive([self._event("creditors", "updated", "CR123", event_id="EV1")])
        other_company = self.env["res.company"].create({"name": "GoCardless Other Company"})
        admin = company_user(self.env, "gocardless_other_admin", "base.group_system", other_company)
        events = self.env["gocardless.event"].with_user(admin).search([("event_id", "=", "EV1")])
        self.assertFalse(events)
