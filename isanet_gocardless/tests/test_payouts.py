# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Payouts against the local sandbox: a confirmed debit, its payout booked with fees and
their VAT, the bank line reconciled; charge-backs, rounding, pagination, 410, idempotence."""

from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .common import (
    EVENT_LOGGER,
    TX_LOGGER,
    GoCardlessFlowMixin,
    GoCardlessPayoutMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
)


@tagged("post_install", "-at_install")
class TestPayouts(
    GoCardlessPayoutMixin,
    GoCardlessFlowMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
    PaymentHttpCommon,
):
    def _lines(self, move, name):
        return move.line_ids.filtered(lambda line: (line.name or "").startswith(name))

    def _assert_balanced(self, move):
        self.assertEqual(move.state, "posted")
        self.assertAlmostEqual(sum(move.line_ids.mapped("balance")), 0.0, places=6)
        self.assertAlmostEqual(sum(move.line_ids.mapped("amount_currency")), 0.0, places=6)

    def _clearing_balance(self, clearing):
        """The balance of the clearing account over the posted entries."""
        lines = self.env["account.move.line"].search(
            [("account_id", "=", clearing.id), ("parent_state", "=", "posted")]
        )
        return sum(lines.mapped("amount_currency"))

    def _paid_out_to_bank_lines(self, amount, line_amounts):
        """Collect ``amount``, have GoCardless pay it out to a EUR bank journal where lines of
        ``line_amounts`` were typed with the payout's reference, then pay the payout (webhooks
        delivered); return the payout and the lines."""
        bank = self._eur_bank_journal()
        with mute_logger(TX_LOGGER):
            tx = self._collect_by_redirect(amount)
        payout_id = self._pay_out(tx)
        reference = self._sandbox_client().payouts.get(payout_id).reference
        lines = [self._bank_line(bank, reference, line_amount) for line_amount in line_amounts]
        with mute_logger(TX_LOGGER):
            self._pay_payouts()
        return self._payout(payout_id), lines

    def _paid_at(self, setting):
        """A GoCardless clearing journal and a EUR payout bank; invoices paid at ``setting``."""
        self.gocardless.action_gocardless_create_clearing_journal()
        bank = self._eur_bank_journal()
        self.gocardless.gocardless_invoice_paid = setting
        return bank, self.gocardless._gocardless_clearing_account()

    def _charge_back_after_payout(self, setting):
        """Collect 50.00, pay it out, have it charged back into a later payout; return the
        invoice, the transaction and both payouts."""
        _bank, clearing = self._paid_at(setting)
        with mute_logger(TX_LOGGER):
            tx = self._collect_by_redirect(50.0)
        invoice = tx.invoice_ids
        expected = "paid" if setting == "confirmation" else "in_payment"
        self.assertEqual(invoice.payment_state, expected)
        first = self._book_payout(tx)
        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(tx.payment_id.state, "paid")
        self.assertAlmostEqual(self._clearing_balance(clearing), 0.0)

        (second_id,) = self._new_payouts("payment_chargeback_settled", tx)
        with mute_logger(TX_LOGGER, EVENT_LOGGER):
            self._pay_payouts()
        second = self._payout(second_id)
        self.assertEqual(second.state, "booked", second.message)
        return invoice, tx, first, second

    def _assert_charge_back_reversed(self, invoice, tx, first, second):
        # The payment is cancelled, the invoice open again, the merchant told.
        self.assertEqual(tx.state, "cancel")
        self.assertEqual(tx.payment_id.state, "canceled")
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertAlmostEqual(invoice.amount_residual, 50.0)
        self.assertTrue(
            invoice.message_ids.filtered(
                lambda m: "Direct debit reversed after it was collected" in (m.body or "")
            )
        )
        self.assertTrue(invoice.activity_ids.filtered(lambda a: a.summary == "Direct debit failed"))
        # The payout carrying the charge-back adds up exactly, and leaves the clearing account
        # even: its debit settles the first payout's credit, which cancelling the payment left
        # open.
        self._assert_balanced(second.move_id)
        self.assertAlmostEqual(second.amount, -50.80)
        self.assertAlmostEqual(second.bank_move_line_id.amount_currency, -50.80)
        charged_back = second.item_ids.filtered(
            lambda item: item.item_type == "payment_charged_back"
        )
        first_clearing = first.item_ids.filtered(
            lambda item: item.item_type == "payment_paid_out"
        ).move_line_id
        self.assertTrue(charged_back.move_line_id.reconciled)
        self.assertEqual(
            charged_back.move_line_id.full_reconcile_id, first_clearing.full_reconcile_id
        )
        clearing = self.gocardless._gocardless_clearing_account()
        self.assertEqual(charged_back.move_line_id.account_id, clearing)
        self.assertAlmostEqual(self._clearing_balance(clearing), 0.0)

    def test_paid_at_payout_needs_a_clearing_journal(self):
        self.assertEqual(self.gocardless.gocardless_invoice_paid, "confirmation")
        with self.assertRaisesRegex(ValidationError, "Create a GoCardless clearing journal"):
            self.gocardless.gocardless_invoice_paid = "payout"
        # The refused value stays in the test's cache (a request's transaction is rolled back).
        self.gocardless.gocardless_invoice_paid = "confirmation"
        self.gocardless.action_gocardless_create_clearing_journal()
        self.gocardless.gocardless_invoice_paid = "payout"
        self.assertTrue(self.gocardless._gocardless_pays_at_payout())
        # The clearing account given back to the bank's own outstanding receipts: refused.
        method_line = self.gocardless._gocardless_payment_method_line()
        method_line.payment_account_id = self.gocardless._gocardless_bank_account(
            self.gocardless._gocardless_payout_journal()
        )
        with self.assertRaisesRegex(ValidationError, "clearing account of their own"):
            self.gocardless._check_gocardless_invoice_paid()

    def test_paid_at_payout_invoice_in_payment_until_its_payout_is_booked(self):
        bank, clearing = self._paid_at("payout")
        with mute_logger(TX_LOGGER):
            tx = self._collect_by_redirect(100.0)
        invoice, payment = tx.invoice_ids, tx.payment_id
        # Confirmed: the payment settles the invoice, which waits for the money to be paid out.
        self.assertEqual(tx.state, "done")
        self.assertEqual(payment.state, "in_process")
        self.assertFalse(payment.is_matched)
        self.assertEqual(payment.outstanding_account_id, clearing)
        self.assertTrue(invoice.currency_id.is_zero(invoice.amount_residual))
        self.assertEqual(invoice.payment_state, "in_payment")
        self.assertFalse(invoice._gocardless_is_open_customer_invoice())
        # Another invoice paid at confirmation by the same provider elsewhere is unaffected:
        # the hook answers only for GoCardless debits waiting for their payout.
        self.assertEqual(self.env["account.move"]._get_invoice_in_payment_state(), "paid")

        payout_id = self._pay_out(tx)
        self.assertEqual(invoice.payment_state, "in_payment")  # paid out, not yet paid
        with mute_logger(TX_LOGGER):
            self._pay_payouts()
        payout = self._payout(payout_id)
        self.assertEqual(payout.state, "booked", payout.message)
        self.assertTrue(payment.is_matched)
        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(payment.state, "paid")
        self.assertAlmostEqual(self._clearing_balance(clearing), 0.0)

        statement_line = self._bank_line(bank, payout.reference, 98.80)
        self.assertEqual(payout.state, "reconciled")
        self.assertTrue(statement_line.is_reconciled)
        self.assertEqual(invoice.payment_state, "paid")

    def test_paid_at_payout_switched_back_pays_the_waiting_invoices(self):
        self._paid_at("payout")
        with mute_logger(TX_LOGGER):
            tx = self._collect_by_redirect(20.0)
        invoice = tx.invoice_ids
        self.assertEqual(invoice.payment_state, "in_payment")
        self.gocardless.gocardless_invoice_paid = "confirmation"
        self.assertEqual(invoice.payment_state, "paid")

    def test_charge_back_after_payout_paid_at_confirmation(self):
        self._assert_charge_back_reversed(*self._charge_back_after_payout("confirmation"))

    def test_charge_back_after_payout_paid_at_payout(self):
        self._assert_charge_back_reversed(*self._charge_back_after_payout("payout"))

    def test_late_failure_after_payout_paid_at_payout(self):
        self._paid_at("payout")
        with mute_logger(TX_LOGGER):
            tx = self._collect_by_redirect(60.0)
        invoice = tx.invoice_ids
        self._book_payout(tx)
        self.assertEqual(invoice.payment_state, "paid")

        new_ids = self._new_payouts("payment_late_failure_settled", tx)
        with mute_logger(TX_LOGGER, EVENT_LOGGER):
            self._pay_payouts()
        self.assertEqual(tx.state, "cancel")
        self.assertEqual(tx.payment_id.state, "canceled")
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertEqual(len(new_ids), 1)
        second = self._payout(new_ids[0])
        self.assertEqual(second.state, "booked", second.message)
        self._assert_balanced(second.move_id)
        failed = second.item_ids.filtered(lambda item: item.item_type == "payment_failed")
        self.assertEqual(failed.transaction_id, tx)
        self.assertTrue(failed.move_line_id.reconciled)
        clearing = self.gocardless._gocardless_clearing_account()
        self.assertAlmostEqual(self._clearing_balance(clearing), 0.0)

    def test_debit_to_payout_to_bank_line_with_fees_and_vat(self):
        self.gocardless.action_gocardless_create_clearing_journal()
        gocardless_journal = self.gocardless.journal_id
        clearing = self.gocardless._gocardless_clearing_account()
        self.assertEqual(gocardless_journal.code, "GOCL")
        self.assertEqual(clearing.account_type, "asset_current")
        self.assertTrue(clearing.reconcile)
        self.assertEqual(
            self.gocardless.gocardless_payout_journal_id, self.company_data["default_journal_bank"]
        )
        bank = self._eur_bank_journal()

        with mute_logger(TX_LOGGER):
            tx = self._collect_by_redirect(100.0)
        payment = tx.payment_id
        self.assertEqual(payment.journal_id, gocardless_journal)
        self.assertEqual(payment.outstanding_account_id, clearing)

        payout = self._book_payout(tx)
        event = self.env["gocardless.event"].search(
            [("resource_type", "=", "payouts"), ("resource_id", "=", payout.name)]
        )
        self.assertEqual(event.state, "processed")
        # 100.00 collected; fee 1 % + 0.20 = 1.20, of which 0.20 is VAT (FR 20 % included).
        self.assertEqual(payout.currency_id, self.currency_euro)
        self.assertAlmostEqual(payout.amount, 98.80)
        self.assertAlmostEqual(payout.deducted_fees, 1.20)
        self.assertAlmostEqual(payout.fee_amount, 1.00)
        self.assertAlmostEqual(payout.fee_tax_amount, 0.20)
        self.assertAlmostEqual(payout.rounding_amount, 0.0)
        self.assertTrue(payout.reference.startswith("SBX-"))
        self.assertTrue(payout.arrival_date)
        # The items say what they are in words (GoCardless's type codes kept beside).
        self.assertEqual(
            sorted((item.item_type, item.item_type_label) for item in payout.item_ids),
            [("gocardless_fee", "GoCardless fee"), ("payment_paid_out", "Payment collected")],
        )

        move = payout.move_id
        self._assert_balanced(move)
        self.assertEqual(move.journal_id, gocardless_journal)
        net = payout.bank_move_line_id
        self.assertEqual(net.account_id, self.gocardless._gocardless_bank_account(bank))
        self.assertAlmostEqual(net.amount_currency, 98.80)
        fee = self._lines(move, "GoCardless fees")
        self.assertEqual(fee.account_id, self.gocardless._gocardless_fee_account())
        self.assertEqual(fee.account_id.account_type, "expense")
        self.assertAlmostEqual(fee.amount_currency, 1.00)
        vat = self._lines(move, "VAT on GoCardless fees")
        self.assertIn("FR_VAT_1", vat.name)
        self.assertAlmostEqual(vat.amount_currency, 0.20)
        self.assertEqual(vat.account_id, self.gocardless._gocardless_fee_tax_account())

        # The payment's money left the clearing account: its line is reconciled.
        (paid_out,) = payout.item_ids.filtered(lambda item: item.item_type == "payment_paid_out")
        self.assertEqual(paid_out.transaction_id, tx)
        self.assertEqual(paid_out.payment_id, payment)
        self.assertEqual(paid_out.move_line_id.account_id, clearing)
        self.assertEqual(paid_out.move_line_id.partner_id, tx.partner_id.commercial_partner_id)
        self.assertAlmostEqual(paid_out.move_line_id.amount_currency, -100.0)
        self.assertTrue(paid_out.move_line_id.reconciled)
        payment_line = payment.move_id.line_ids.filtered(lambda line: line.account_id == clearing)
        self.assertTrue(payment_line.reconciled)
        self.assertEqual(payout.transaction_ids, tx)
        self.assertEqual(payout.item_count, 2)
        self.assertEqual(sorted(payout.item_ids.mapped("amount")), [-1.2, 100.0])

        # The merchant's bank line arrives: reconciled in one step with the payout's entry.
        statement_line = self._bank_line(bank, payout.reference, 98.80)
        self.assertEqual(payout.state, "reconciled")
        self.assertEqual(payout.statement_line_id, statement_line)
        self.assertTrue(statement_line.is_reconciled)
        self.assertTrue(net.reconciled)

    def test_payout_of_a_french_company_is_booked_in_french(self):
        """The ledger's cron runs in English: the entry is written in the company's language."""
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env.company.partner_id.lang = "fr_FR"
        self.gocardless.action_gocardless_create_clearing_journal()
        _tx, payout = self._booked_payout(100.0)
        self.assertTrue(payout.move_id.ref.startswith(f"Virement GoCardless {payout.name}"))
        self.assertTrue(self._lines(payout.move_id, "Frais GoCardless"))
        self.assertIn(
            "Frais GoCardless",
            payout.item_ids.with_context(lang="fr_FR").mapped("item_type_label"),
        )
        self.assertFalse(self._lines(payout.move_id, "GoCardless fees"))

    def test_bank_line_typed_before_the_payout_is_matched_when_it_is_booked(self):
        # 40.00 less its fee 0.60 (1 % + 0.20); a second line of another amount is ignored.
        payout, (statement_line, other) = self._paid_out_to_bank_lines(40.0, [39.40, 39.41])
        self.assertEqual(payout.state, "reconciled")
        self.assertEqual(payout.statement_line_id, statement_line)
        self.assertFalse(other.is_reconciled)

    def test_two_bank_lines_for_one_payout_are_left_to_the_merchant(self):
        payout, (first, second) = self._paid_out_to_bank_lines(40.0, [39.40, 39.40])
        self.assertEqual(payout.state, "booked")
        self.assertFalse(first.is_reconciled or second.is_reconciled)
        with self.assertRaisesRegex(Exception, "no single unreconciled bank line"):
            payout.action_gocardless_match_bank_line()
        second.unlink()
        self.assertTrue(payout.action_gocardless_match_bank_line())
        self.assertEqual(payout.statement_line_id, first)

    def test_charge_back_inside_a_later_payout(self):
        self._eur_bank_journal()
        tx, first = self._booked_payout(50.0)
        invoice = tx.invoice_ids
        first_clearing = first.item_ids.filtered(
            lambda item: item.item_type == "payment_paid_out"
        ).move_line_id
        self.assertTrue(first_clearing.reconciled)
        self.assertEqual(invoice.payment_state, "paid")

        # The customer's bank charges the payment back; GoCardless takes it from a payout,
        # gives its fee back and adds a surcharge.
        (second_id,) = self._new_payouts("payment_chargeback_settled", tx)
        with mute_logger(TX_LOGGER, EVENT_LOGGER):
            self._pay_payouts()
        self.assertEqual(tx.state, "cancel")
        self.assertEqual(tx.payment_id.state, "canceled")
        self.assertEqual(invoice.payment_state, "not_paid")

        second = self._payout(second_id)
        self.assertEqual(second.state, "booked", second.message)
        # -50.00 charged back, +0.70 fee given back (0.117 VAT), -1.50 surcharge (0.25 VAT).
        self.assertAlmostEqual(second.amount, -50.80)
        self.assertAlmostEqual(second.fee_amount, 0.67)  # 1.25 - 0.583 = 0.667
        self.assertAlmostEqual(second.fee_tax_amount, 0.13)  # 0.25 - 0.117 = 0.133
        self.assertEqual(
            sorted(second.item_ids.mapped("item_type")),
            ["gocardless_fee", "payment_charged_back", "surcharge_fee"],
        )
        self._assert_balanced(second.move_id)
        self.assertAlmostEqual(second.bank_move_line_id.amount_currency, -50.80)
        self.assertEqual(
            second.bank_move_line_id.account_id,
            self.gocardless._gocardless_bank_account(
                self.gocardless._gocardless_payout_journal(), inbound=False
            ),
        )
        # The charge-back's debit settles the first payout's credit for that payment, which
        # cancelling the payment left open: the clearing account is even for the payment.
        charged_back = second.item_ids.filtered(
            lambda item: item.item_type == "payment_charged_back"
        )
        self.assertEqual(charged_back.transaction_id, tx)
        self.assertAlmostEqual(charged_back.move_line_id.amount_currency, 50.0)
        self.assertTrue(charged_back.move_line_id.reconciled)
        self.assertTrue(first_clearing.reconciled)
        self.assertEqual(
            charged_back.move_line_id.full_reconcile_id, first_clearing.full_reconcile_id
        )

    def test_fractions_negative_fees_and_app_fees_round_to_the_payout_amount(self):
        self._eur_bank_journal()
        invoice = self._create_customer_invoice(amount=100.0)
        with mute_logger(TX_LOGGER):
            tx, _response = self._pay_by_redirect(invoice)
        # A negative fee (GoCardless credits 50.5 tenths of cents...) and an app fee.
        self.sandbox.add_payout_item("EUR", "gocardless_fee", 505)
        self.sandbox.add_payout_item("EUR", "app_fee", -1236, payment=tx.provider_reference)
        payout = self._book_payout(tx)
        # 10000.0 - 120.0 + 50.5 - 123.6 = 9806.9 -> 98.07
        self.assertAlmostEqual(payout.amount, 98.07)
        move = payout.move_id
        self._assert_balanced(move)
        # fees (120 - 20) - (50.5 - 8.4) = 57.9 -> 0.58; VAT 20 - 8.4 = 11.6 -> 0.12;
        # app fee 123.6 -> 1.24: 98.07 + 0.58 + 0.12 + 1.24 - 100 = 0.01 too much.
        self.assertAlmostEqual(self._lines(move, "GoCardless fees").amount_currency, 0.58)
        self.assertAlmostEqual(self._lines(move, "VAT on GoCardless fees").amount_currency, 0.12)
        self.assertAlmostEqual(self._lines(move, "App fees").amount_currency, 1.24)
        rounding = self._lines(move, "Rounding of the payout items")
        self.assertAlmostEqual(rounding.amount_currency, -0.01)
        self.assertAlmostEqual(payout.rounding_amount, -0.01)
        self.assertAlmostEqual(payout.bank_move_line_id.amount_currency, 98.07)
        self.assertEqual(
            sorted(payout.item_ids.mapped("amount_exact")),
            sorted(["10000.0", "-120.0", "50.5", "-123.6"]),
        )

    def test_items_are_read_by_pages_of_500(self):
        self._eur_bank_journal()
        for index in range(1100):
            self.sandbox.add_payout_item("EUR", "payment_paid_out", 1000 + index)
        (payout_data,) = self.sandbox.run_payouts(force=True)
        mark = self.sandbox.request_log_mark()
        self._pay_payouts()
        payout = self._payout(payout_data["id"])
        self.assertEqual(payout.state, "booked", payout.message)
        self.assertEqual(payout.item_count, 1100)
        pages = [r for r in self.sandbox.request_log(mark) if r["path"] == "/payout_items"]
        self.assertEqual(len(pages), 3)
        self.assertEqual({tuple(r["query"]["limit"]) for r in pages}, {("500",)})
        self.assertNotIn("after", pages[0]["query"])
        self.assertTrue(all(r["query"].get("after") for r in pages[1:]))
        self.assertEqual(payout.raw_amount, payout_data["amount"])
        self._assert_balanced(payout.move_id)
        self.assertAlmostEqual(payout.bank_move_line_id.amount_currency, payout.amount)

    def test_items_gone_for_an_old_payout_flag_it_and_the_others_go_on(self):
        self._eur_bank_journal()
        self.sandbox.add_payout_item("EUR", "payment_paid_out", 10000)
        (old,) = self.sandbox.run_payouts(force=True)
        self.sandbox.add_payout_item("EUR", "payment_paid_out", 20000)
        (recent,) = self.sandbox.run_payouts(force=True)
        self.sandbox.age_payout(old["id"], 200)
        self._pay_payouts()
        old_payout, recent_payout = self._payout(old["id"]), self._payout(recent["id"])
        self.assertEqual(old_payout.state, "manual")
        self.assertIn("six months", old_payout.message)
        self.assertFalse(old_payout.move_id)
        self.assertEqual(recent_payout.state, "booked")
        events = self.env["gocardless.event"].search([("resource_type", "=", "payouts")])
        self.assertEqual(set(events.mapped("state")), {"processed"})
        # Asked again, the old payout stays for the merchant and is not read again.
        mark = self.sandbox.request_log_mark()
        self.env["gocardless.payout"]._gocardless_fetch(self.gocardless, old["id"])
        self.assertEqual(self.sandbox.request_log(mark), [])

    def test_payout_before_its_payment_is_confirmed_waits_and_is_booked_once(self):
        self._eur_bank_journal()
        invoice = self._create_customer_invoice(amount=80.0)
        with mute_logger(TX_LOGGER):
            tx, _response = self._pay_by_redirect(invoice)
        payout_id = self._pay_out(tx)
        self.sandbox.pay_payouts()
        # The payout is read before Odoo hears of the payment's confirmation.
        payout = self.env["gocardless.payout"]._gocardless_fetch(self.gocardless, payout_id)
        self.assertEqual(tx.state, "pending")
        self.assertEqual(payout.state, "waiting")
        self.assertIn(tx.reference, payout.message)
        self.assertFalse(payout.move_id)
        self.env["gocardless.payout"]._cron_book_waiting_payouts()
        self.assertEqual(payout.state, "waiting")

        with mute_logger(TX_LOGGER):
            self._deliver_and_apply()  # payment confirmed, paid out, then the payout paid
        self.assertEqual(tx.state, "done")
        self.assertEqual(payout.state, "booked", payout.message)
        self.assertEqual(self.env["account.move"].search_count([("ref", "like", payout_id)]), 1)
        self.env["gocardless.payout"]._cron_book_waiting_payouts()
        self.assertEqual(self.env["account.move"].search_count([("ref", "like", payout_id)]), 1)

    def test_same_payout_from_webhook_and_catch_up_is_booked_once(self):
        self._eur_bank_journal()
        _tx, payout = self._booked_payout(30.0)
        payout_id = payout.name
        move = payout.move_id

        client = self._sandbox_client()
        (raw,) = [
            event.attributes
            for event in client.events.list(params={"resource_type": "payouts"}).records
            if event.attributes["links"].get("payout") == payout_id
        ]
        event_model = self.env["gocardless.event"]
        # The catch-up reads the same event: the ledger knows it.
        mark = self.sandbox.request_log_mark()
        new_count, _transient = event_model._gocardless_import_events(self.gocardless, [raw])
        self.assertEqual(new_count, 0)
        # Another event about the same payout (e.g. sent again by GoCardless): not booked twice,
        # and its items are not read again.
        again = dict(raw, id="EV_PAYOUT_AGAIN")
        new_count, _transient = event_model._gocardless_import_events(self.gocardless, [again])
        self.assertEqual(new_count, 1)
        self.assertEqual(
            event_model.search([("event_id", "=", "EV_PAYOUT_AGAIN")]).state, "processed"
        )
        self.assertFalse(
            [r for r in self.sandbox.request_log(mark) if r["path"] == "/payout_items"]
        )
        self.assertEqual(self.env["gocardless.payout"].search_count([("name", "=", payout_id)]), 1)
        self.assertEqual(payout.move_id, move)
        self.assertEqual(self.env["account.move"].search_count([("ref", "like", payout_id)]), 1)

    def test_payouts_are_read_only_for_invoicing_users(self):
        user = self.env["res.users"].create(
            {
                "name": "Billing",
                "login": "gocardless_billing",
                "groups_id": [(6, 0, [self.env.ref("account.group_account_invoice").id])],
            }
        )
        payout = (
            self.env["gocardless.payout"]
            .sudo()
            .create({"name": "PO_RO", "provider_id": self.gocardless.id})
        )
        self.assertEqual(payout.with_user(user).read(["name"])[0]["name"], "PO_RO")
        with self.assertRaises(AccessError), mute_logger("odoo.models"):
            payout.with_user(user).write({"reference": "X"})

    def test_payout_with_a_payment_failed_in_odoo_is_booked_and_shown(self):
        """A payment paid out into a pending payout fails late before the payout is paid: the
        payout is booked all the same, the item shown, the merchant told; the later payout
        taking the money back evens the clearing account."""
        self.gocardless.action_gocardless_create_clearing_journal()
        self._eur_bank_journal()
        clearing = self.gocardless._gocardless_clearing_account()
        with mute_logger(TX_LOGGER):
            tx = self._collect_by_redirect(70.0)
        first_id = self._pay_out(tx)
        self._simulate("payment_late_failure", tx.provider_reference)
        with mute_logger(TX_LOGGER, EVENT_LOGGER):
            self._deliver_and_apply()
        self.assertEqual(tx.state, "cancel")

        with mute_logger(TX_LOGGER, EVENT_LOGGER):
            self._pay_payouts()
        first = self._payout(first_id)
        self.assertEqual(first.state, "booked", first.message)
        self._assert_balanced(first.move_id)
        paid_out = first.item_ids.filtered(lambda item: item.item_type == "payment_paid_out")
        self.assertIn("Failed or charged back in Odoo", paid_out.note)
        self.assertIn(tx.reference, first.message)
        self.assertEqual(paid_out.move_line_id.account_id, clearing)
        activities = self.gocardless.activity_ids.filtered(
            lambda activity: first_id in (activity.summary or "")
        )
        self.assertEqual(len(activities), 1)
        self.assertIn(tx.reference, str(activities.note))

        # GoCardless takes the money back in a later payout: the clearing account is even.
        (second_id,) = self._new_payouts("payment_late_failure_settled", tx)
        with mute_logger(TX_LOGGER, EVENT_LOGGER):
            self._pay_payouts()
        second = self._payout(second_id)
        self.assertEqual(second.state, "booked", second.message)
        self.assertFalse(second.item_ids.filtered("note"))
        self.assertTrue(paid_out.move_line_id.reconciled)
        self.assertAlmostEqual(self._clearing_balance(clearing), 0.0)

    def test_payout_arriving_in_a_locked_period_is_booked_on_the_first_open_day(self):
        self._eur_bank_journal()
        with mute_logger(TX_LOGGER):
            tx = self._collect_by_redirect(40.0)
        payout_id = self._pay_out(tx)
        self.sandbox.pay_payouts()
        arrival = fields.Date.to_date(self._sandbox_client().payouts.get(payout_id).arrival_date)
        self.env.company.fiscalyear_lock_date = arrival
        with mute_logger(TX_LOGGER, EVENT_LOGGER):
            self._deliver_and_apply()
        payout = self._payout(payout_id)
        self.assertEqual(payout.state, "booked", payout.message)
        self.assertEqual(payout.arrival_date, arrival)
        self.assertEqual(payout.move_id.date, arrival + timedelta(days=1))
        self.assertEqual(payout.move_id.state, "posted")
        self.assertIn("locked period", payout.message)

    def test_clearing_journal_sets_up_a_fees_account_and_the_deductible_vat(self):
        self.gocardless.gocardless_fee_account_id = False
        self.gocardless.gocardless_fee_tax_account_id = False
        bank_fees = self.gocardless._gocardless_bank_fees_account()
        self.assertEqual(bank_fees.account_type, "expense")
        self.assertNotIn("Discount", bank_fees.name)
        self.gocardless.action_gocardless_create_clearing_journal()
        fees = self.gocardless.gocardless_fee_account_id
        self.assertEqual(fees.name, "GoCardless fees")
        self.assertEqual(fees.account_type, "expense")
        self.assertEqual(fees.code[:-1], bank_fees.code[:-1])
        self.assertEqual(self.gocardless._gocardless_fee_account(), fees)
        purchase_tax = self.env.company.account_purchase_tax_id
        vat = purchase_tax.invoice_repartition_line_ids.filtered(
            lambda line: line.repartition_type == "tax"
        ).account_id[:1]
        self.assertTrue(vat)
        self.assertEqual(self.gocardless.gocardless_fee_tax_account_id, vat)
        # Set up again, the merchant's choice stays.
        other = fees.copy({"code": self.env["account.account"]._search_new_account_code(fees.code)})
        self.gocardless.gocardless_fee_account_id = other
        self.gocardless._gocardless_set_up_fee_accounts()
        self.assertEqual(self.gocardless.gocardless_fee_account_id, other)

    def test_each_currency_is_paid_out_to_its_own_bank_journal(self):
        eur_bank = self._eur_bank_journal()
        gbp = self.setup_other_currency("GBP", rates=[("2016-01-01", 0.8)])
        gbp_bank = self.env["account.journal"].create(
            {"name": "Bank GBP", "code": "BGBP", "type": "bank", "currency_id": gbp.id}
        )
        self.gocardless.gocardless_payout_journal_ids = gbp_bank
        self.assertEqual(self.gocardless._gocardless_payout_journal(gbp), gbp_bank)
        self.assertEqual(self.gocardless._gocardless_payout_journal(self.currency_euro), eur_bank)
        self.assertEqual(self.gocardless._gocardless_payout_journal(), eur_bank)
        other_gbp = gbp_bank.copy({"name": "Bank GBP 2", "code": "BGB2"})
        with self.assertRaises(ValidationError):
            self.gocardless.gocardless_payout_journal_ids = gbp_bank | other_gbp
