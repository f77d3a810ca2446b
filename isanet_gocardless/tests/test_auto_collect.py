# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Automatic collection on the due date: queued when the invoice is posted, collected by a
cron paced under GoCardless's rate limit, resumable without a double debit, and cancelled at
GoCardless when the invoice no longer needs it. Against the local sandbox."""

import datetime

from odoo import fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .common import GoCardlessMandateCommon

LOGGERS = (
    "odoo.addons.isanet_gocardless.models.account_move",
    "odoo.addons.isanet_gocardless.models.account_move_debits",
    "odoo.addons.isanet_gocardless.models.payment_provider",
    "odoo.addons.isanet_gocardless.models.payment_transaction",
    "odoo.addons.payment.models.payment_transaction",
)


def _weekday_in(days):
    """Return the first Monday-to-Friday date at least ``days`` days from today."""
    day = fields.Date.today() + datetime.timedelta(days=days)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return day


@tagged("post_install", "-at_install")
class TestAutoCollect(GoCardlessMandateCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gocardless.gocardless_auto_collect = True
        cls.cron = cls.env.ref("isanet_gocardless.cron_gocardless_auto_collect")

    def setUp(self):
        super().setUp()
        # The provider knows its creditor already (read when it was connected).
        self.gocardless.gocardless_creditor_identifiers = "sepa_core: SBX-SEPA_CORE"
        self.mark = self.sandbox.request_log_mark()
        self.pacer = self.gocardless._gocardless_pacer()
        self.slept = []
        # The pacer's waits are recorded, not slept.
        self.pacer._sleep = self.slept.append
        self.pacer.remaining = self.pacer.reset_at = None

    # === HELPERS === #

    def _invoice(self, amount=100.0, due=None, partner=None, post=True):
        invoice = self._create_customer_invoice(amount=amount, partner=partner, post=False)
        if due:
            invoice.write({"invoice_payment_term_id": False, "invoice_date_due": due})
        if post:
            invoice.action_post()
        return invoice

    def _payment_creates(self):
        return [
            entry
            for entry in self.sandbox.request_log(self.mark)
            if entry["method"] == "POST" and entry["path"] == "/payments"
        ]

    def _run_cron(self):
        with mute_logger(*LOGGERS):
            return self.env["account.move"]._cron_gocardless_auto_collect()

    # === TESTS === #

    def test_posting_queues_and_the_cron_collects_on_the_due_date(self):
        due = _weekday_in(14)
        invoice = self._invoice(amount=120.0, due=due)
        # Nothing is asked of GoCardless while posting: the cron does it.
        self.assertFalse(self._payment_creates())
        self.assertEqual(invoice.gocardless_auto_collect_state, "queued")
        before_cron = self.sandbox.request_log_mark()
        self.assertEqual(self._run_cron(), 1)
        # One API call for the invoice.
        self.assertEqual(len(self.sandbox.request_log(before_cron)), 1)
        self.assertEqual(invoice.gocardless_auto_collect_state, "requested")
        tx = invoice.gocardless_debit_transaction_id
        self.assertEqual(tx.state, "pending")
        self.assertEqual(tx.operation, "offline")
        self.assertEqual(tx.gocardless_requested_charge_date, due)
        payment = self._sandbox_payment(tx.provider_reference)
        self.assertEqual(payment["charge_date"], due.isoformat())
        self.assertEqual(payment["amount"], 12000)
        self.assertEqual(payment["links"]["mandate"], self.mandate["id"])
        self.assertEqual(invoice.gocardless_debit_status, "scheduled")
        self.assertEqual(invoice.gocardless_debit_charge_date, due)
        # Nothing left: a second run does nothing.
        self.assertEqual(self._run_cron(), 0)
        self.assertEqual(len(self._payment_creates()), 1)

    def test_a_due_date_past_or_too_close_is_collected_as_soon_as_the_mandate_allows(self):
        overdue = self._invoice(amount=10.0, due=fields.Date.today() - datetime.timedelta(days=3))
        tomorrow = self._invoice(amount=20.0, due=fields.Date.today() + datetime.timedelta(days=1))
        self.assertEqual(self._run_cron(), 2)
        earliest = (
            self.gocardless._gocardless_make_client()
            .mandates.get(self.mandate["id"])
            .attributes["next_possible_charge_date"]
        )
        for invoice in (overdue, tomorrow):
            tx = invoice.gocardless_debit_transaction_id
            self.assertEqual(tx.state, "pending", invoice.name)
            self.assertEqual(self._sandbox_payment(tx.provider_reference)["charge_date"], earliest)
            self.assertEqual(fields.Date.to_string(invoice.gocardless_debit_charge_date), earliest)
        # The too-close date was refused once by GoCardless, then the mandate was read.
        self.assertEqual(len(self._payment_creates()), 3)

    def test_only_customers_with_a_mandate_and_a_provider_that_collects_are_queued(self):
        stranger = self.env["res.partner"].create({"name": "No Mandate", "email": "n@x.example"})
        without_mandate = self._invoice(partner=stranger)
        self.assertFalse(without_mandate.gocardless_auto_collect_state)
        self.gocardless.gocardless_auto_collect = False
        not_automatic = self._invoice()
        self.assertFalse(not_automatic.gocardless_auto_collect_state)
        self.gocardless.gocardless_auto_collect = True
        self.token.gocardless_mandate_status = "cancelled"
        ended = self._invoice()
        self.assertFalse(ended.gocardless_auto_collect_state)
        self.assertEqual(self._run_cron(), 0)
        self.assertFalse(self._payment_creates())

    def test_an_invoice_paid_meanwhile_is_refused_by_the_guard_and_told(self):
        invoice = self._invoice(amount=50.0)
        self.assertEqual(invoice.gocardless_auto_collect_state, "queued")
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"journal_id": self.company_data["default_journal_bank"].id})._create_payments()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self._run_cron()
        self.assertEqual(invoice.gocardless_auto_collect_state, "refused")
        self.assertFalse(self._payment_creates())
        self.assertIn(
            "Automatic direct debit not requested",
            "\n".join(invoice.message_ids.mapped("body")),
        )

    def test_a_crash_after_gocardless_created_the_payment_never_debits_twice(self):
        invoice = self._invoice(amount=75.0, due=_weekday_in(10))
        # The first run created its transaction (committed), GoCardless created the payment,
        # and the worker died before Odoo recorded the answer.
        tx = invoice._gocardless_new_collect_transaction(invoice.invoice_date_due)
        lost = tx._gocardless_request(
            "payments",
            "create",
            params={
                "amount": 7500,
                "currency": "EUR",
                "charge_date": invoice.invoice_date_due.isoformat(),
                "links": {"mandate": self.mandate["id"]},
                "metadata": {"odoo_reference": tx.reference},
            },
            idempotency_action="payment",
        )
        self.assertEqual(tx.state, "draft")
        self.assertEqual(self._run_cron(), 1)
        self.assertEqual(tx.provider_reference, lost["id"])
        self.assertEqual(tx.state, "pending")
        self.assertEqual(invoice.gocardless_debit_transaction_id, tx)
        payments = (
            self.gocardless._gocardless_make_client()
            .payments.list(params={"mandate": self.mandate["id"]})
            .records
        )
        self.assertEqual([payment.id for payment in payments], [lost["id"]])
        self.assertEqual(len(invoice.transaction_ids), 1)

    def test_an_outage_keeps_the_rest_queued_and_the_next_run_resumes(self):
        first = self._invoice(amount=10.0)
        second = self._invoice(amount=20.0)
        self.sandbox.set_fault("503", "/payments", count=10)
        try:
            self.assertEqual(self._run_cron(), 0)
        finally:
            self.sandbox.clear_fault()
        self.assertEqual(first.gocardless_auto_collect_state, "queued")
        self.assertEqual(second.gocardless_auto_collect_state, "queued")
        # The outage stopped the batch at the first invoice; its transaction is kept.
        kept = first.transaction_ids
        self.assertEqual(len(kept), 1)
        self.assertEqual(kept.state, "draft")
        self.assertFalse(second.transaction_ids)
        self.assertEqual(self._run_cron(), 2)
        self.assertEqual(first.transaction_ids, kept)
        self.assertEqual(kept.state, "pending")
        self.assertEqual(second.gocardless_debit_status, "scheduled")
        payments = (
            self.gocardless._gocardless_make_client()
            .payments.list(params={"mandate": self.mandate["id"]})
            .records
        )
        self.assertEqual(sorted(p.amount for p in payments), [1000, 2000])

    def test_a_rate_limit_refusal_waits_for_the_window_and_goes_on(self):
        first = self._invoice(amount=10.0)
        second = self._invoice(amount=20.0)
        self.sandbox.set_fault("429", "/payments", count=1)
        self.assertEqual(self._run_cron(), 1)
        self.assertEqual(first.gocardless_auto_collect_state, "queued")
        self.assertEqual(second.gocardless_auto_collect_state, "requested")
        # The batch waited for the end of the window before its next call.
        self.assertEqual(len(self.slept), 1)
        self.assertGreater(self.slept[0], 0)
        self.assertEqual(self._run_cron(), 1)
        self.assertEqual(first.gocardless_auto_collect_state, "requested")

    def test_the_batch_paces_itself_under_the_remaining_requests(self):
        invoices = [self._invoice(amount=10.0 + index) for index in range(3)]
        # GoCardless said only the reserve is left in this window.
        self.pacer.observe(limit=1000, remaining=100, reset=60)
        self.assertEqual(self._run_cron(), 3)
        self.assertEqual(len(self.slept), 1)
        self.assertTrue(0 < self.slept[0] <= 61)
        self.assertTrue(all(inv.gocardless_debit_status == "scheduled" for inv in invoices))
        self.assertEqual(self.pacer.limit, 1000)

    def test_progress_is_reported_to_the_cron(self):
        self._invoice(amount=10.0)
        self._invoice(amount=20.0)
        progress = self.env["ir.cron.progress"].create({"cron_id": self.cron.id})
        with mute_logger(*LOGGERS):
            self.env["account.move"].with_context(
                ir_cron_progress_id=progress.id
            )._cron_gocardless_auto_collect()
        self.assertEqual((progress.done, progress.remaining), (2, 0))

    # === CANCELLED WHEN NO LONGER NEEDED === #

    def _scheduled(self, amount=40.0):
        invoice = self._invoice(amount=amount, due=_weekday_in(10))
        self._run_cron()
        tx = invoice.gocardless_debit_transaction_id
        self.assertEqual(invoice.gocardless_debit_status, "scheduled")
        return invoice, tx

    def _assert_cancelled(self, invoice, tx):
        self.assertEqual(self._sandbox_payment(tx.provider_reference)["status"], "cancelled")
        self.assertEqual(tx.state, "cancel")
        self.assertEqual(invoice.gocardless_debit_status, "cancelled")
        tx._post_process()
        # Cancelled on purpose: no "failed" alert for the merchant.
        self.assertFalse(
            invoice.activity_ids.filtered(lambda a: a.summary == "Direct debit failed")
        )

    def test_resetting_or_cancelling_the_invoice_cancels_the_debit(self):
        invoice, tx = self._scheduled()
        with mute_logger(*LOGGERS):
            invoice.button_cancel()
        self._assert_cancelled(invoice, tx)
        self.assertIn("cancelled at GoCardless", "\n".join(invoice.message_ids.mapped("body")))

    def test_a_credit_note_cancels_the_debit(self):
        invoice, tx = self._scheduled()
        reversal = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({"journal_id": invoice.journal_id.id, "reason": "wrong"})
        )
        with mute_logger(*LOGGERS):
            reversal.refund_moves()
            invoice.reversal_move_ids.action_post()
            # The credit note is reconciled with the invoice.
            lines = (invoice | invoice.reversal_move_ids).line_ids.filtered(
                lambda line: (
                    line.account_id.account_type == "asset_receivable" and not line.reconciled
                )
            )
            lines.reconcile()
        self.assertEqual(invoice.payment_state, "reversed")
        self._assert_cancelled(invoice, tx)

    def test_paying_otherwise_cancels_the_debit(self):
        invoice, tx = self._scheduled()
        with mute_logger(*LOGGERS):
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create(
                {"journal_id": self.company_data["default_journal_bank"].id}
            )._create_payments()
        self._assert_cancelled(invoice, tx)

    def test_a_submitted_debit_is_kept_and_the_merchant_is_told(self):
        invoice, tx = self._scheduled()
        self.gocardless._gocardless_make_client().scenario_simulators.run(
            "payment_submitted", params={"links": {"resource": tx.provider_reference}}
        )
        with mute_logger(*LOGGERS):
            invoice.button_draft()
        self.assertEqual(tx.state, "pending")
        self.assertEqual(tx.gocardless_payment_status, "submitted")
        self.assertIn("could not be cancelled", "\n".join(invoice.message_ids.mapped("body")))

    def test_gocardless_down_when_cancelling_leaves_it_to_the_cron(self):
        invoice, tx = self._scheduled()
        self.sandbox.set_fault("503", "/payments", count=1)
        with mute_logger(*LOGGERS):
            invoice.button_cancel()
        self.assertEqual(tx.state, "pending")
        self.assertEqual(invoice.state, "cancel")
        self._run_cron()
        self._assert_cancelled(invoice, tx)

    def test_the_merchant_cancels_a_scheduled_debit(self):
        invoice, tx = self._scheduled()
        with mute_logger(*LOGGERS):
            invoice.action_gocardless_cancel_debit()
        self._assert_cancelled(invoice, tx)
        # The invoice is open again: it can be collected anew.
        self.assertTrue(invoice.gocardless_token_id)


@tagged("post_install", "-at_install")
class TestBatchCollect(GoCardlessMandateCommon):
    def test_collect_many_invoices_in_one_action_each_its_own_debit(self):
        first = self._create_customer_invoice(amount=30.0)
        second = self._create_customer_invoice(amount=45.5)
        stranger = self.env["res.partner"].create({"name": "Stranger", "email": "s@x.example"})
        without_mandate = self._create_customer_invoice(amount=10.0, partner=stranger)
        already = self._create_customer_invoice(amount=12.0)
        already.action_gocardless_collect()
        mark = self.sandbox.request_log_mark()
        moves = first | second | without_mandate | already
        with mute_logger(*LOGGERS):
            action = moves.action_gocardless_collect()
        self.assertEqual(action["tag"], "display_notification")
        message = action["params"]["message"]
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn("Collected by direct debit (2)", message)
        self.assertIn(first.name, message.split("\n")[0])
        self.assertIn(second.name, message.split("\n")[0])
        self.assertIn("Not collected (2)", message)
        self.assertIn(f"{without_mandate.name}: GoCardless: the invoice", message)
        self.assertIn(already.name + ":", message)
        creates = [e for e in self.sandbox.request_log(mark) if e["method"] == "POST"]
        self.assertEqual(len(creates), 2)
        for invoice, minor in ((first, 3000), (second, 4550)):
            tx = invoice.gocardless_debit_transaction_id
            self.assertEqual(tx.invoice_ids, invoice)
            self.assertEqual(self._sandbox_payment(tx.provider_reference)["amount"], minor)
            self.assertEqual(invoice.gocardless_debit_status, "scheduled")
        self.assertFalse(without_mandate.transaction_ids)
        self.assertEqual(len(already.transaction_ids), 1)

    def test_an_outage_on_one_invoice_is_reported_and_the_others_are_collected(self):
        first = self._create_customer_invoice(amount=30.0)
        second = self._create_customer_invoice(amount=40.0)
        self.sandbox.set_fault("503", "/payments", count=1)
        with mute_logger(*LOGGERS):
            action = (first | second).action_gocardless_collect()
        message = action["params"]["message"]
        self.assertIn("Collected by direct debit (1)", message)
        self.assertIn("can't be reached", message)
        self.assertEqual(
            sorted(bool(inv.gocardless_debit_status) for inv in (first, second)), [False, True]
        )

    def test_the_list_action_is_bound_to_invoices_for_invoicing_users(self):
        action = self.env.ref("isanet_gocardless.action_gocardless_collect_invoices")
        self.assertEqual(action.binding_model_id.model, "account.move")
        self.assertEqual(action.binding_view_types, "list")
        self.assertIn(self.env.ref("account.group_account_invoice"), action.groups_id)
        first = self._create_customer_invoice(amount=30.0)
        second = self._create_customer_invoice(amount=40.0)
        with mute_logger(*LOGGERS):
            result = action.with_context(
                active_model="account.move", active_ids=(first | second).ids
            ).run()
        self.assertIn("Collected by direct debit (2)", result["params"]["message"])
        self.assertEqual(first.gocardless_debit_status, "scheduled")

    def test_a_time_out_after_gocardless_created_the_payment_is_resumed_by_the_next_click(self):
        invoice = self._create_customer_invoice(amount=64.0)
        mark = self.sandbox.request_log_mark()
        # GoCardless creates the payment, and its answer never comes: Odoo times out.
        self.sandbox.set_fault("hang_after", "/payments", count=1, method="POST", hang_timeout=30)
        try:
            with self.assertRaisesRegex(ValidationError, "GoCardless"), mute_logger(*LOGGERS):
                invoice.action_gocardless_collect()
        finally:
            self.sandbox.clear_fault()
        tx = invoice.transaction_ids
        self.assertEqual(len(tx), 1)
        self.assertEqual(tx.state, "draft")  # kept, with its reference (the idempotency key)
        self.assertFalse(tx.provider_reference)
        client = self.gocardless._gocardless_make_client()
        created = client.payments.list(params={"mandate": self.mandate["id"]}).records
        self.assertEqual(len(created), 1)  # GoCardless did create it
        # The merchant clicks again: the same transaction, the same key, the same payment.
        with mute_logger(*LOGGERS):
            invoice.action_gocardless_collect()
        self.assertEqual(invoice.transaction_ids, tx)
        self.assertEqual(tx.state, "pending")
        self.assertEqual(tx.provider_reference, created[0].id)
        self.assertEqual(invoice.gocardless_debit_transaction_id, tx)
        self.assertEqual(invoice.gocardless_debit_status, "scheduled")
        payments = client.payments.list(params={"mandate": self.mandate["id"]}).records
        self.assertEqual([payment.id for payment in payments], [created[0].id])
        creates = [
            entry
            for entry in self.sandbox.request_log(mark)
            if (entry["method"], entry["path"]) == ("POST", "/payments")
        ]
        self.assertEqual(len(creates), 2)
        self.assertEqual(len({entry["idempotency_key"] for entry in creates}), 1)
        # A third click has nothing left to collect, and sends nothing.
        mark = self.sandbox.request_log_mark()
        with self.assertRaises(UserError):
            invoice.action_gocardless_collect()
        self.assertFalse([e for e in self.sandbox.request_log(mark) if e["path"] == "/payments"])

    def test_a_refused_resumed_collection_ends_its_draft_and_the_next_click_starts_afresh(self):
        invoice = self._create_customer_invoice(amount=64.0)
        # Part of the invoice was paid meanwhile: the draft's amount is refused by the guard.
        draft = self._collection_interrupted_then_part_paid(
            invoice, 14.0, self.company_data["default_journal_bank"]
        )
        mark = self.sandbox.request_log_mark()
        with self.assertRaisesRegex(ValidationError, "GoCardless"), mute_logger(*LOGGERS):
            invoice.action_gocardless_collect()
        self.assertEqual(draft.state, "error")
        self.assertFalse(self.sandbox.request_log(mark))
        with mute_logger(*LOGGERS):
            invoice.action_gocardless_collect()
        fresh = invoice.gocardless_debit_transaction_id
        self.assertNotEqual(fresh, draft)
        self.assertEqual(fresh.amount, 50.0)
        self.assertEqual(self._sandbox_payment(fresh.provider_reference)["amount"], 5000)

    def test_one_invoice_keeps_raising_its_refusal(self):
        paid = self._create_customer_invoice(amount=30.0)
        paid.action_gocardless_collect()
        with self.assertRaises(UserError):
            paid.action_gocardless_collect()


@tagged("post_install", "-at_install")
class TestDebitVisibility(GoCardlessMandateCommon):
    def _update(self, tx):
        """Let the transaction follow its payment, as a webhook would."""
        tx._handle_notification_data(
            "gocardless",
            {
                "reference": tx.reference,
                "gocardless_payment": self._sandbox_payment(tx.provider_reference),
            },
        )

    def _simulate(self, scenario, resource_id):
        self.gocardless._gocardless_make_client().scenario_simulators.run(
            scenario, params={"links": {"resource": resource_id}}
        )

    def test_the_invoice_shows_its_debit_from_scheduled_to_collected(self):
        invoice = self._create_customer_invoice(amount=66.0)
        invoice.action_gocardless_collect()
        tx = invoice.gocardless_debit_transaction_id
        payment = self._sandbox_payment(tx.provider_reference)
        self.assertEqual(invoice.gocardless_debit_status, "scheduled")
        self.assertEqual(
            fields.Date.to_string(invoice.gocardless_debit_charge_date), payment["charge_date"]
        )
        self.assertEqual(invoice.gocardless_debit_mandate, self.mandate["reference"])
        self.assertEqual(invoice.gocardless_debit_bank_account, "•••• 34")
        self.assertEqual(invoice.gocardless_debit_amount, 66.0)
        summary = invoice.gocardless_debit_summary
        self.assertIn("Direct debit scheduled", summary)
        self.assertIn(self.mandate["reference"], summary)
        self.assertIn("•••• 34", summary)
        Move = self.env["account.move"]
        self.assertIn(invoice, Move.search([("gocardless_debit_status", "=", "scheduled")]))
        self._simulate("payment_submitted", tx.provider_reference)
        self._update(tx)
        self.assertEqual(invoice.gocardless_debit_status, "submitted")
        self.assertIn(invoice, Move.search([("gocardless_debit_status", "=", "submitted")]))
        self._simulate("payment_confirmed", tx.provider_reference)
        self._update(tx)
        self.assertEqual(tx.state, "done")
        self.assertEqual(invoice.gocardless_debit_status, "collected")
        self.assertFalse(invoice.gocardless_debit_summary)
        self.assertNotIn(invoice, Move.search([("gocardless_debit_status", "=", "scheduled")]))

    def test_a_failed_debit_shows_failed(self):
        invoice = self._create_customer_invoice(amount=15.0)
        invoice.action_gocardless_collect()
        tx = invoice.gocardless_debit_transaction_id
        self._simulate("payment_failed", tx.provider_reference)
        with mute_logger(*LOGGERS):
            self._update(tx)
        self.assertEqual(tx.state, "error")
        self.assertEqual(invoice.gocardless_debit_status, "failed")
        failed = self.env["account.move"].search([("gocardless_debit_status", "=", "failed")])
        self.assertIn(invoice, failed)

    def test_views_show_the_debit_its_filters_and_the_mandates(self):
        Move = self.env["account.move"]
        form = Move.get_view(self.env.ref("account.view_move_form").id, "form")["arch"]
        for name in (
            "gocardless_debit_status",
            "gocardless_debit_charge_date",
            "gocardless_debit_mandate",
            "gocardless_debit_bank_account",
            "action_gocardless_cancel_debit",
        ):
            self.assertIn(name, form)
        listing = Move.get_view(self.env.ref("account.view_out_invoice_tree").id, "list")["arch"]
        self.assertIn('name="gocardless_debit_status"', listing)
        search = Move.get_view(self.env.ref("account.view_account_invoice_filter").id, "search")[
            "arch"
        ]
        for status in ("scheduled", "submitted", "collected", "retrying", "failed"):
            self.assertIn(f'name="gocardless_debit_{status}"', search)
        partner_form = self.env["res.partner"].get_view(
            self.env.ref("account.view_partner_property_form").id, "form"
        )["arch"]
        self.assertIn("gocardless_mandate_ids", partner_form)
        self.assertIn("action_gocardless_cancel_mandate", partner_form)

    def test_the_partner_lists_its_mandates_and_cancels_one_at_gocardless(self):
        invoice = self._create_customer_invoice(amount=25.0)
        invoice.action_gocardless_collect()
        tx = invoice.gocardless_debit_transaction_id
        self.assertEqual(tx.token_id, self.token)
        contact = self.env["res.partner"].create({"name": "Accounts", "parent_id": self.partner.id})
        contact_token, contact_mandate = self._sandbox_mandate_token(contact)
        self.assertEqual(self.partner.gocardless_mandate_ids, contact_token | self.token)
        self.token.action_gocardless_cancel_mandate()
        mandate = (
            self.gocardless._gocardless_make_client().mandates.get(self.mandate["id"]).attributes
        )
        self.assertEqual(mandate["status"], "cancelled")
        self.assertEqual(self.token.gocardless_mandate_status, "cancelled")
        self.assertFalse(self.token.active)
        # Ended mandates stay listed.
        self.partner.invalidate_recordset(["gocardless_mandate_ids"])
        self.assertIn(self.token, self.partner.gocardless_mandate_ids)
        # GoCardless cancelled the payment not yet submitted, too.
        self.assertEqual(self._sandbox_payment(tx.provider_reference)["status"], "cancelled")
        self.assertEqual(contact_token.gocardless_mandate_status, contact_mandate["status"])
        # Cancelling again (or one cancelled elsewhere) takes GoCardless's status.
        self.token.action_gocardless_cancel_mandate()
        self.gocardless._gocardless_make_client().mandates.cancel(contact_mandate["id"])
        contact_token.action_gocardless_cancel_mandate()
        self.assertEqual(contact_token.gocardless_mandate_status, "cancelled")

    def test_only_invoicing_users_cancel_mandates(self):
        user = new_test_user(self.env, login="gc-employee", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.token.with_user(user).action_gocardless_cancel_mandate()
        mandate = (
            self.gocardless._gocardless_make_client().mandates.get(self.mandate["id"]).attributes
        )
        self.assertNotEqual(mandate["status"], "cancelled")
