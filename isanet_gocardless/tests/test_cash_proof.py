# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The cash proof against the local sandbox: each kind of drift made, listed, then mended;
the month's proof of a sandbox month balances to the cent; who may prove."""

import io
import zipfile
from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .common import (
    EVENT_LOGGER,
    TX_LOGGER,
    GoCardlessCashProofMixin,
    GoCardlessFlowMixin,
    GoCardlessMandateMixin,
    GoCardlessPayoutMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
    company_user,
)


@tagged("post_install", "-at_install")
class TestCashProof(
    GoCardlessCashProofMixin,
    GoCardlessPayoutMixin,
    GoCardlessFlowMixin,
    GoCardlessPortalMixin,
    GoCardlessMandateMixin,
    GoCardlessSandboxCommon,
    PaymentHttpCommon,
):
    def setUp(self):
        super().setUp()
        self.bank = self._eur_bank_journal()

    # === Tests === #

    def test_balanced_when_everything_is_booked(self):
        _tx, payout = self._booked_payout(100.0)
        self._bank_line(self.bank, payout.reference, payout.amount)
        self.assertEqual(payout.state, "reconciled")
        proof = self._prove()
        self.assertEqual(proof.state, "balanced", proof.drift_ids.mapped("name"))
        self.assertEqual(proof.payment_count, 1)
        self.assertEqual(proof.payout_count, 1)
        self.assertIn("EUR: balance 0.0, GoCardless holds 0.0.", proof.clearing_summary)

    def test_orphan_payment_listed_then_linked(self):
        """A payment created at GoCardless that Odoo never heard of: listed, then given its
        transaction through the pipeline (confirmed, its accounting payment posted)."""
        token, mandate = self._sandbox_mandate_token()
        client = self._sandbox_client()
        payment = client.payments.create(
            params={"amount": 4210, "currency": "EUR", "links": {"mandate": mandate["id"]}}
        )
        self._simulate("payment_confirmed", payment.id)
        Tx = self.env["payment.transaction"]
        self.assertFalse(Tx.search([("provider_reference", "=", payment.id)]))

        proof = self._prove()
        self.assertEqual(proof.state, "drifts")
        orphan = self._drifts(proof, "payment_orphan")
        self.assertEqual(orphan.gocardless_ref, payment.id)
        self.assertEqual(orphan.gocardless_status, "confirmed")
        self.assertAlmostEqual(orphan.amount, 42.10)
        self.assertEqual(orphan.mend, "link")
        # The clearing account lacks the collected money.
        clearing = self._drifts(proof, "clearing")
        self.assertAlmostEqual(clearing.amount, -42.10)

        self._mend(orphan)
        tx = Tx.search([("provider_reference", "=", payment.id)])
        self.assertEqual(len(tx), 1)
        self.assertEqual(orphan.transaction_id, tx)
        self.assertEqual((tx.state, tx.token_id, tx.partner_id), ("done", token, self.partner))
        self.assertEqual(tx.payment_id.state, "in_process")
        self.assertAlmostEqual(self._clearing_balance(), 42.10)

        again = self._prove()
        self.assertEqual(again.state, "balanced", again.drift_ids.mapped("name"))
        # Mended once: a second click changes nothing.
        orphan.action_gocardless_mend()
        self.assertEqual(Tx.search_count([("provider_reference", "=", payment.id)]), 1)

    def test_orphan_payment_of_an_unknown_mandate_gets_an_activity(self):
        """A payment on a mandate Odoo does not hold: no customer to give it to, a person looks."""
        mandate = self._sandbox_mandate()
        payment = self._sandbox_client().payments.create(
            params={"amount": 777, "currency": "EUR", "links": {"mandate": mandate["id"]}}
        )
        proof = self._prove()
        orphan = self._drifts(proof, "payment_orphan")
        self.assertEqual(orphan.gocardless_ref, payment.id)
        orphan.action_gocardless_mend()
        self.assertEqual(orphan.state, "activity")
        self.assertIn(mandate["id"], orphan.message)
        self.assertTrue(proof.activity_ids.filtered(lambda a: orphan.name in (a.note or "")))
        self.assertFalse(
            self.env["payment.transaction"].search([("provider_reference", "=", payment.id)])
        )

    def test_lost_answer_payment_linked_to_its_transaction(self):
        """GoCardless created the payment but its answer was lost: the orphan is linked to the
        transaction waiting for it (its reference in the payment's metadata)."""
        token, mandate = self._sandbox_mandate_token()
        tx = self._create_transaction(
            "token",
            reference="LOST-ANSWER-1",
            amount=25.0,
            currency_id=self.currency_euro.id,
            partner_id=self.partner.id,
            payment_method_id=self.sepa.id,
            token_id=token.id,
            state="draft",
        )
        payment = self._sandbox_client().payments.create(
            params={
                "amount": 2500,
                "currency": "EUR",
                "links": {"mandate": mandate["id"]},
                "metadata": {"odoo_reference": "LOST-ANSWER-1"},
            }
        )
        proof = self._prove()
        orphan = self._drifts(proof, "payment_orphan")
        self.assertEqual(orphan.transaction_id, tx)
        self._mend(orphan)
        self.assertEqual(tx.provider_reference, payment.id)
        self.assertEqual(tx.state, "pending")
        self.assertFalse(self._drifts(self._prove(), "payment_orphan"))

    def test_missed_payout_listed_then_booked(self):
        with mute_logger(TX_LOGGER):
            tx = self._collect_by_redirect(100.0)
        payout_id = self._pay_out(tx)
        # GoCardless pays the payout; its webhook never reaches Odoo.
        self.sandbox.pay_payouts()
        self.assertFalse(self._payout(payout_id))

        proof = self._prove()
        missed = self._drifts(proof, "payout_missed")
        self.assertEqual(missed.gocardless_ref, payout_id)
        self.assertEqual(missed.mend, "book")
        self.assertAlmostEqual(missed.amount, 98.80)
        # Paid out at GoCardless, still on the clearing account in Odoo.
        self.assertAlmostEqual(self._drifts(proof, "clearing").amount, 100.0)

        self._mend(missed)
        payout = self._payout(payout_id)
        self.assertEqual(missed.payout_id, payout)
        self.assertEqual(payout.state, "booked")
        self.assertAlmostEqual(self._clearing_balance(), 0.0)
        again = self._prove()
        self.assertEqual(again.state, "balanced", again.drift_ids.mapped("name"))

    def test_payout_with_charged_back_item_listed_then_booked(self):
        """A payment charged back and its charge-back paid out while Odoo heard nothing: the
        payout is listed with the payment, read again, and booked."""
        tx, _first = self._booked_payout(50.0)
        (second_id,) = self._new_payouts("payment_chargeback_settled", tx)
        self.sandbox.pay_payouts()  # no webhook reaches Odoo
        self.assertEqual(tx.state, "done")

        proof = self._prove()
        state = self._drifts(proof, "payment_state")
        self.assertEqual(state.transaction_id, tx)
        self.assertEqual((state.gocardless_status, state.odoo_state), ("charged_back", "done"))
        item = self._drifts(proof, "payout_item")
        self.assertEqual(item.gocardless_ref, second_id)
        self.assertEqual(item.related_refs, tx.provider_reference)
        self.assertIn(tx.provider_reference, item.name)

        self._mend(item)
        self.assertEqual(tx.state, "cancel")
        self.assertEqual(tx.payment_id.state, "canceled")
        second = self._payout(second_id)
        self.assertEqual(second.state, "booked", second.message)
        self.assertAlmostEqual(self._clearing_balance(), 0.0)
        again = self._prove()
        self.assertEqual(again.state, "balanced", again.drift_ids.mapped("name"))

    def test_payment_state_read_again(self):
        """A payment confirmed at GoCardless, its webhook lost: read again in one click."""
        invoice = self._create_customer_invoice(amount=30.0)
        tx, _response = self._pay_by_redirect(invoice)
        self._simulate("payment_confirmed", tx.provider_reference)  # webhook not delivered
        self.assertEqual(tx.state, "pending")
        drift = self._drifts(self._prove(), "payment_state")
        self.assertEqual((drift.gocardless_status, drift.odoo_state), ("confirmed", "pending"))
        self.assertEqual(drift.mend, "read")
        self._mend(drift)
        self.assertEqual(tx.state, "done")
        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(self._prove().state, "balanced")

    def test_refund_state_read_again_and_clearing_holds_the_refund(self):
        """A refund GoCardless paid, its webhook lost: listed, read again; the clearing account
        then holds the payment less the refund, as GoCardless does."""
        with mute_logger(TX_LOGGER):
            tx = self._collect_by_redirect(100.0)
            refund_tx = tx._send_refund_request(amount_to_refund=40.0)
        self.assertEqual(refund_tx.state, "pending")
        self._simulate("refund_paid", refund_tx.provider_reference)  # webhook not delivered

        proof = self._prove()
        drift = self._drifts(proof, "refund_state")
        self.assertEqual(drift.transaction_id, refund_tx)
        self.assertEqual((drift.gocardless_status, drift.odoo_state), ("paid", "pending"))
        self.assertAlmostEqual(drift.amount, 40.0)
        self.assertEqual(proof.refund_count, 1)

        self._mend(drift)
        self.assertEqual(refund_tx.state, "done")
        self.assertAlmostEqual(self._clearing_balance(), 60.0)
        again = self._prove()
        self.assertEqual(again.state, "balanced", again.drift_ids.mapped("name"))
        self.assertIn("GoCardless holds 60.0", again.clearing_summary)

    def test_bank_line_of_another_amount_listed_then_mended(self):
        _tx, payout = self._booked_payout(100.0)
        line = self._bank_line(self.bank, payout.reference, 98.00)  # the bank says 98.00
        self.assertEqual(payout.state, "booked")

        # The daily job proves and asks the provider's responsible to look.
        self.env["gocardless.cash.proof"]._cron_gocardless_cash_proof()
        proof = self.env["gocardless.cash.proof"].search(
            [("provider_id", "=", self.gocardless.id)], limit=1
        )
        drift = self._drifts(proof, "bank_amount")
        self.assertEqual(drift.statement_line_id, line)
        self.assertEqual(drift.payout_id, payout)
        self.assertAlmostEqual(drift.amount, -0.80)
        self.assertFalse(drift.mend)  # not safe in one click: a person looks
        self.assertTrue(
            proof.activity_ids.filtered(lambda a: drift.name in (a.note or "")),
            "the daily proof plans an activity for the drift",
        )
        drift.action_gocardless_mend()
        self.assertEqual(drift.state, "activity")
        # The next day's proof replaces the to-do: one per provider.
        self.env["gocardless.cash.proof"]._cron_gocardless_cash_proof()
        summary = "GoCardless cash proof: drifts to look at"
        todos = self.env["mail.activity"].search(
            [("res_model", "=", "gocardless.cash.proof"), ("summary", "=", summary)]
        )
        self.assertEqual(len(todos), 1)
        self.assertNotEqual(todos.res_id, proof.id)

        # The accountant corrects the bank line; the payout matches it; the proof balances.
        line.amount = 98.80
        payout.action_gocardless_match_bank_line()
        self.assertEqual(payout.state, "reconciled")
        again = self._prove()
        self.assertEqual(again.state, "balanced", again.drift_ids.mapped("name"))

    def test_month_proof_balances_to_the_cent(self):
        """A sandbox month: three debits, their payouts (fees and VAT), one charged back into a
        later payout, one collected not yet paid out. The month's proof adds up to the cent,
        its closing balance is the clearing account's, and it prints and exports."""
        _tx1, first = self._booked_payout(100.0)
        tx2, second = self._booked_payout(33.33)
        with mute_logger(TX_LOGGER):
            self._collect_by_redirect(12.34)  # collected, not paid out yet
        (third_id,) = self._new_payouts("payment_chargeback_settled", tx2)
        with mute_logger(TX_LOGGER, EVENT_LOGGER):
            self._pay_payouts()
        third = self._payout(third_id)
        self.assertEqual(third.state, "booked", third.message)
        payouts = first | second | third

        today = fields.Date.context_today(self.gocardless)
        proof = self._prove(today - timedelta(days=40), today + timedelta(days=40))
        self.assertEqual(proof.state, "balanced", proof.drift_ids.mapped("name"))
        (values,) = proof._gocardless_month_figures()
        self.assertEqual(values["currency"], self.currency_euro)
        self.assertEqual(values["opening"], 0.0)
        # Payment 2 was charged back: its payment cancelled, out of the books' collected.
        self.assertAlmostEqual(values["collected"], 112.34, places=2)
        self.assertAlmostEqual(values["paid_out"], -133.33, places=2)
        self.assertAlmostEqual(values["charged_back"], 33.33, places=2)
        self.assertAlmostEqual(values["closing"], 12.34, places=2)
        self.assertAlmostEqual(values["closing"], self._clearing_balance(), places=2)
        self.assertEqual(values["difference"], 0.0)
        self.assertEqual(values["payout_count"], 3)
        self.assertAlmostEqual(values["net"], sum(payouts.mapped("amount")), places=2)
        self.assertAlmostEqual(
            values["fees"] + values["vat"], sum(payouts.mapped("deducted_fees")), places=2
        )
        self.assertAlmostEqual(values["vat"], sum(payouts.mapped("fee_tax_amount")), places=2)
        # The books tie to GoCardless: what it holds is the closing balance.
        self.assertAlmostEqual(values["held"], 12.34, places=2)
        # What the payouts carried (net, fees, VAT, rounding) is what they moved off the
        # clearing account.
        rows = dict(proof._gocardless_payout_rows(values))
        self.assertAlmostEqual(
            rows["Carried by the payouts (gross)"],
            -(values["paid_out"] + values["charged_back"] + values["payout_refunds"]),
            places=2,
        )
        self.assertAlmostEqual(rows["Carried by the payouts (gross)"], 100.0, places=2)
        self.assertEqual(values["other"], 0.0)

        html = (
            self.env["ir.actions.report"]
            ._render_qweb_html("isanet_gocardless.report_gocardless_cash_proof", proof.ids)[0]
            .decode()
        )
        self.assertIn("Closing balance = clearing account", html)
        self.assertIn("Difference with GoCardless", html)
        self.assertIn("12.34", html)
        action = proof.action_gocardless_month_xlsx()
        attachment = self.env["ir.attachment"].browse(int(action["url"].split("/")[3][:-14]))
        with zipfile.ZipFile(io.BytesIO(attachment.raw)) as book:
            strings = book.read("xl/sharedStrings.xml").decode()
            sheet = book.read("xl/worksheets/sheet1.xml").decode()
        self.assertIn("Closing balance = clearing account", strings)
        self.assertIn("<v>12.34</v>", sheet)

    def test_outage_leaves_a_proof_not_proved(self):
        """GoCardless unavailable: the proof says so, lists no drift, and nothing half-read
        stays behind (its temporary tables are gone)."""
        self.sandbox.set_fault("503", path_prefix="/payments")
        self.env.flush_all()
        today = fields.Date.context_today(self.gocardless)
        proof = self.env["gocardless.cash.proof"]._gocardless_prove(
            self.gocardless, today.replace(day=1), today
        )
        self.sandbox.clear_fault()
        self.assertEqual(proof.state, "failed")
        self.assertIn("GoCardless could not be read", proof.message)
        self.assertFalse(proof.drift_ids)
        self.env.cr.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'gc_proof_%'")
        self.assertEqual(self.env.cr.fetchone()[0], 0)
        self.assertEqual(self._prove().state, "balanced")

    def test_rate_limited_page_read_again_after_the_window(self):
        """A page refused for the rate limit: the proof waits for the window the refusal names
        (the background pacer), reads it again, and proves."""
        self._booked_payout(20.0)
        pacer = self.gocardless._gocardless_pacer()
        slept = []
        self.patch(pacer, "_sleep", slept.append)
        self.sandbox.set_fault("429", path_prefix="/payments", count=1)
        mark = self.sandbox.request_log_mark()
        proof = self._prove()
        self.assertEqual(proof.state, "balanced", proof.drift_ids.mapped("name"))
        self.assertEqual(proof.payment_count, 1)
        self.assertEqual(len(slept), 1)
        self.assertGreater(slept[0], 0)
        payments = [r for r in self.sandbox.request_log(mark) if r["path"] == "/payments"]
        self.assertEqual([r["status"] for r in payments], [429, 200])

    def test_only_accounting_managers_prove_and_mend(self):
        company = self.env.company
        accountant = company_user(
            self.env, "gc-invoicing", "account.group_account_invoice", company
        )
        manager = company_user(
            self.env, "gc-manager", "account.group_account_manager,base.group_system", company
        )
        mark = self.sandbox.request_log_mark()
        with self.assertRaises(AccessError):
            self.gocardless.with_user(accountant).action_gocardless_prove_cash()
        self.assertFalse(self.sandbox.request_log(mark), "refused before any call")

        _token, mandate = self._sandbox_mandate_token()
        self._sandbox_client().payments.create(
            params={"amount": 1000, "currency": "EUR", "links": {"mandate": mandate["id"]}}
        )
        action = self.gocardless.with_user(manager).action_gocardless_prove_cash()
        proof = self.env["gocardless.cash.proof"].browse(action["res_id"])
        orphan = self._drifts(proof, "payment_orphan")
        self.assertTrue(orphan)
        # The invoicing user reads the proof and exports the month's, but may not mend it.
        self.assertEqual(orphan.with_user(accountant).name, orphan.name)
        export = proof.with_user(accountant).action_gocardless_month_xlsx()
        self.assertTrue(export["url"].endswith("?download=true"))
        mark = self.sandbox.request_log_mark()
        with self.assertRaises(AccessError):
            orphan.with_user(accountant).action_gocardless_mend()
        self.assertFalse(self.sandbox.request_log(mark))
        self.assertEqual(orphan.state, "open")
        # An accounting manager who is not an administrator proves again and mends.
        bookkeeper = company_user(
            self.env, "gc-bookkeeper", "account.group_account_manager", company
        )
        action = proof.with_user(bookkeeper).action_gocardless_run_again()
        again = self.env["gocardless.cash.proof"].browse(action["res_id"])
        self.assertEqual(again.provider_id, self.gocardless)
        with mute_logger(TX_LOGGER):
            self._drifts(again, "payment_orphan").with_user(bookkeeper).action_gocardless_mend()
        self.assertEqual(self._drifts(again, "payment_orphan").state, "mended")
        # Another company's manager neither.
        other = self.env["res.company"].create({"name": "Other company"})
        stranger = company_user(self.env, "gc-stranger", "account.group_account_manager", other)
        mark = self.sandbox.request_log_mark()
        with self.assertRaises(AccessError):
            self.gocardless.with_user(stranger).action_gocardless_prove_cash()
        with self.assertRaises(AccessError):
            orphan.with_user(stranger).action_gocardless_mend()
        with self.assertRaises(AccessError):
            proof.with_user(stranger).action_gocardless_run_again()
        self.assertFalse(self.sandbox.request_log(mark))
