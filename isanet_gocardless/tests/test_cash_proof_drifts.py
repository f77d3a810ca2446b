# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The cash proof's drifts as they happen in real life, against the local sandbox: a debit
collected on an invoice cancelled meanwhile, a collected debit whose accounting payment is
gone, the events of a disconnection missed; each listed, mended, and the proof balanced. A
past month's proof against what GoCardless held at its end."""

from datetime import timedelta

from freezegun import freeze_time

from odoo import fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from ..gocardless_core import catchup
from .common import (
    CLIENT_ID,
    CLIENT_SECRET,
    EVENT_LOGGER,
    GoCardlessCashProofMixin,
    GoCardlessConnectMixin,
    GoCardlessFlowMixin,
    GoCardlessPayoutMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
    assert_booked_as_credit,
)

LOGGERS = (
    "odoo.addons.payment.models.payment_transaction",
    "odoo.addons.isanet_gocardless.models.payment_transaction",
    "odoo.addons.isanet_gocardless.models.account_move_debits",
    EVENT_LOGGER,
)


@tagged("post_install", "-at_install")
class TestCashProofDrifts(
    GoCardlessCashProofMixin,
    GoCardlessPayoutMixin,
    GoCardlessFlowMixin,
    GoCardlessPortalMixin,
    GoCardlessConnectMixin,
    GoCardlessSandboxCommon,
    PaymentHttpCommon,
):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls._setup_partner_app()

    # === HELPERS === #

    def _submitted_debit(self, amount):
        """Pay a new invoice by direct debit; GoCardless submits it (webhooks applied)."""
        invoice = self._create_customer_invoice(amount=amount)
        tx, _response = self._pay_by_redirect(invoice)
        self._simulate("payment_submitted", tx.provider_reference)
        with mute_logger(*LOGGERS):
            self._deliver_and_apply()
        self.assertEqual((tx.state, tx.gocardless_payment_status), ("pending", "submitted"))
        return invoice, tx

    def _charge_date(self, payment_id):
        return fields.Date.to_date(self._sandbox_client().payments.get(payment_id).charge_date)

    def _orphan(self, tx, amount):
        """A payment GoCardless collects on ``tx``'s mandate, which Odoo never hears of."""
        payment = self._sandbox_client().payments.create(
            params={
                "amount": amount,
                "currency": "EUR",
                "links": {"mandate": tx.token_id.provider_ref},
            }
        )
        self._simulate("payment_confirmed", payment.id)
        return payment.id

    def _past_month(self, missing_from_the_books=0, collected_after=0):
        """A month of GoCardless: two debits collected and booked, one paid out in a payout of
        the month; after the month's end GoCardless pays the other out. ``missing_from_the_books``
        (minor units): a payment GoCardless collected in the month on the same mandate, which
        Odoo never heard of; ``collected_after`` (minor units): one GoCardless collects after
        the month's end, which Odoo never hears of either.

        :return: the month's proof, proved the day after the month's end, and its figures.
        """
        today = fields.Date.context_today(self.gocardless)
        with mute_logger(*LOGGERS):
            tx_a = self._collect_by_redirect(100.0)
            tx_b = self._collect_by_redirect(33.33)
        payout_a = self._pay_out(tx_a)
        with mute_logger(*LOGGERS):
            self._pay_payouts()
        payment_ids = [tx_a.provider_reference, tx_b.provider_reference]
        if missing_from_the_books:
            payment_ids.append(self._orphan(tx_b, missing_from_the_books))
        # The month ends once GoCardless charged every payment of it.
        end = max(today, *(self._charge_date(payment_id) for payment_id in payment_ids))
        # GoCardless moves on past the month: the second debit is paid out after its end.
        self.sandbox.advance_clock(days=(end - today).days + 2)
        if self._sandbox_client().payments.get(tx_b.provider_reference).status != "paid_out":
            self._simulate("payment_paid_out", tx_b.provider_reference)
        if collected_after:
            later = self._orphan(tx_b, collected_after)
            self.assertGreater(self._charge_date(later), end)
        with mute_logger(*LOGGERS):
            self._pay_payouts()
        first = self._payout(payout_a)
        second = self._payout(
            self._sandbox_client().payments.get(tx_b.provider_reference).links.payout
        )
        self.assertEqual((first.state, second.state), ("booked", "booked"), second.message)
        self.assertLessEqual(first.arrival_date, end)
        self.assertGreater(second.arrival_date, end, "paid out after the month's end")

        # Proved the day after the month's end (GoCardless's own clock keeps running).
        self.env.flush_all()
        with freeze_time(end + timedelta(days=1), ignore=["gocardless_sandbox"]):
            proof = self.env["gocardless.cash.proof"]._gocardless_prove(
                self.gocardless, today - timedelta(days=40), end
            )
            self.assertNotEqual(proof.state, "failed", proof.message)
            self.assertLess(proof.date_to, fields.Date.context_today(proof, proof.run_at))
            (values,) = proof._gocardless_month_figures()
        return proof, values

    def _notices(self, record, text):
        return record.message_ids.filtered(lambda message: text in str(message.body))

    # === TESTS === #

    def test_collected_on_a_cancelled_invoice_listed_then_booked_as_credit(self):
        """The debit is submitted, the invoice cancelled (GoCardless can't stop it any more),
        GoCardless collects it and its webhook is lost: the proof lists the payment in another
        state and the clearing account short of it; read again, it is booked as the
        customer's credit, the merchant told; the proof balances. The late webhook then
        changes nothing."""
        invoice, tx = self._submitted_debit(80.0)
        with mute_logger(*LOGGERS):
            invoice.button_cancel()
        self.assertEqual(invoice.state, "cancel")
        self._simulate("payment_confirmed", tx.provider_reference)  # webhook not delivered
        self.assertEqual(tx.state, "pending")

        proof = self._prove()
        drift = self._drifts(proof, "payment_state")
        self.assertEqual(drift.transaction_id, tx)
        self.assertEqual((drift.gocardless_status, drift.odoo_state), ("confirmed", "pending"))
        self.assertAlmostEqual(drift.amount, 80.0)
        self.assertEqual(drift.mend, "read")
        # GoCardless holds the money; the clearing account does not.
        self.assertAlmostEqual(self._drifts(proof, "clearing").amount, -80.0)

        self._mend(drift)
        self.assertEqual(tx.state, "done")
        payment = tx.payment_id
        self.assertTrue(payment, "the collected debit is booked")
        self.assertEqual(payment.state, "in_process")
        self.assertAlmostEqual(payment.amount, 80.0)
        assert_booked_as_credit(self, invoice, payment, 80.0)
        self.assertEqual(len(self._notices(invoice, "was collected although the invoice")), 1)
        self.assertEqual(
            len(
                invoice.activity_ids.filtered(
                    lambda a: a.summary == "Direct debit collected on an invoice no longer posted"
                )
            ),
            1,
        )
        self.assertAlmostEqual(self._clearing_balance(), 80.0)
        again = self._prove()
        self.assertEqual(again.state, "balanced", again.drift_ids.mapped("name"))
        self.assertIn("EUR: balance 80.0, GoCardless holds 80.0.", again.clearing_summary)

        # The lost webhook arrives at last: nothing is booked twice, nobody told twice.
        with mute_logger(*LOGGERS):
            self._deliver_and_apply()
        self.assertEqual(tx.payment_id, payment)
        self.assertEqual(
            self.env["account.payment"].search_count([("payment_transaction_id", "=", tx.id)]), 1
        )
        self.assertEqual(len(self._notices(invoice, "was collected although the invoice")), 1)
        self.assertAlmostEqual(self._clearing_balance(), 80.0)

    def test_collected_without_an_accounting_payment_listed_then_booked(self):
        """The payment of a collected debit deleted by mistake: the proof lists the debit
        collected without an accounting payment; booked again in one click (as its
        post-processing books it), the invoice is paid again and the proof balances."""
        invoice = self._create_customer_invoice(amount=64.0)
        tx, _response = self._pay_by_redirect(invoice)
        self._simulate("payment_confirmed", tx.provider_reference)
        with mute_logger(*LOGGERS):
            self._deliver_and_apply()
        self.assertEqual(tx.state, "done")
        self.assertEqual(invoice.payment_state, "paid")
        with mute_logger(*LOGGERS):
            tx.payment_id.action_draft()
            tx.payment_id.unlink()
        self.assertFalse(tx.payment_id)
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertTrue(tx.is_post_processed)

        proof = self._prove()
        drift = self._drifts(proof, "payment_unbooked")
        self.assertEqual(drift.transaction_id, tx)
        self.assertEqual(drift.gocardless_ref, tx.provider_reference)
        self.assertAlmostEqual(drift.amount, 64.0)
        self.assertEqual(drift.mend, "book_payment")
        self.assertAlmostEqual(self._drifts(proof, "clearing").amount, -64.0)
        # Collected and not booked: a debit under way, no new debit of the invoice.
        self.assertEqual(invoice.transaction_ids, tx)

        self._mend(drift)
        payment = tx.payment_id
        self.assertTrue(payment)
        self.assertEqual(payment.move_id.state, "posted")
        self.assertEqual(payment.journal_id, self.gocardless.journal_id)
        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(len(self._notices(invoice, "the cash proof booked it")), 1)
        self.assertAlmostEqual(self._clearing_balance(), 64.0)
        again = self._prove()
        self.assertEqual(again.state, "balanced", again.drift_ids.mapped("name"))
        # Mended once: a second click books nothing more.
        drift.action_gocardless_mend()
        self.assertEqual(
            self.env["account.payment"].search_count([("payment_transaction_id", "=", tx.id)]), 1
        )

    def test_unbooked_debit_charged_back_meanwhile_is_not_booked(self):
        """A debit collected then charged back before its payment is booked again: the mend
        reads it first and follows its status; no payment is made for money taken back."""
        invoice = self._create_customer_invoice(amount=45.0)
        tx, _response = self._pay_by_redirect(invoice)
        self._simulate("payment_confirmed", tx.provider_reference)
        with mute_logger(*LOGGERS):
            self._deliver_and_apply()
            tx.payment_id.action_draft()
            tx.payment_id.unlink()
        drift = self._drifts(self._prove(), "payment_unbooked")
        self.assertTrue(drift)
        self._simulate("payment_charged_back", tx.provider_reference)  # webhook not delivered

        self._mend(drift)
        self.assertEqual(tx.gocardless_payment_status, "charged_back")
        self.assertIn(tx.state, ("cancel", "error"))
        self.assertFalse(tx.payment_id)
        self.assertAlmostEqual(self._clearing_balance(), 0.0)
        again = self._prove()
        self.assertEqual(again.state, "balanced", again.drift_ids.mapped("name"))

    def test_events_missed_across_a_reconnection(self):
        """Connected, a debit submitted, the events caught up; the account disconnected;
        GoCardless collects the debit meanwhile (its event never reaches Odoo); the same
        account connected again. The proof lists the payment in another state; the catch-up
        reads the events from the newest one seen before the disconnection, recovers the
        missed one (in the ledger) and pays the invoice; the drift is mended, the proof
        balanced."""
        self.sandbox.sandbox.oauth_clients[CLIENT_ID] = CLIENT_SECRET
        self.authenticate("admin", "admin")
        self._connect(email="proof@example.com", name="Proof Ltd")
        organisation = self.gocardless.gocardless_organisation_id
        self.assertTrue(organisation)
        self.authenticate(None, None)  # the customer pays from the invoice's portal page
        invoice, tx = self._submitted_debit(70.0)
        admin = self._as_admin(self.gocardless)
        admin.action_gocardless_sync_events()
        seen = self.gocardless.gocardless_events_synced_at
        self.assertTrue(seen)

        with mute_logger(*LOGGERS):
            admin.action_gocardless_disconnect()
        self.assertFalse(self.gocardless.gocardless_access_token)
        # GoCardless collects the debit while Odoo is disconnected.
        self.sandbox._simulate("payment_confirmed", "payments", tx.provider_reference)
        self.authenticate("admin", "admin")
        with mute_logger(*LOGGERS):
            self._connect(email="proof@example.com", name="Proof Ltd")
        self.assertEqual(self.gocardless.gocardless_organisation_id, organisation)
        self.assertEqual(self.gocardless.gocardless_events_synced_at, seen)
        self.assertEqual(tx.state, "pending")

        proof = self._prove()
        drift = self._drifts(proof, "payment_state")
        self.assertEqual(drift.transaction_id, tx)
        self.assertEqual((drift.gocardless_status, drift.odoo_state), ("confirmed", "pending"))

        # The catch-up (Sync now, as the hourly job) reads from before the disconnection.
        mark = self.sandbox.request_log_mark()
        with mute_logger(*LOGGERS):
            admin.action_gocardless_sync_events()
        listing = next(r for r in self.sandbox.request_log(mark) if r["path"] == "/events")
        self.assertEqual(
            listing["query"]["created_at[gt]"],
            [catchup.format_timestamp(seen - catchup.OVERLAP)],
        )
        self.env.invalidate_all()
        confirmed = self.env["gocardless.event"].search(
            [
                ("provider_id", "=", self.gocardless.id),
                ("resource_id", "=", tx.provider_reference),
                ("action", "=", "confirmed"),
            ]
        )
        self.assertEqual(len(confirmed), 1, "the missed event is recovered into the ledger")
        self.assertEqual(confirmed.state, "processed")
        self.assertEqual(tx.state, "done")
        self.assertTrue(tx.payment_id)
        self.assertEqual(invoice.payment_state, "paid")

        # The drift listed before is mended: its transaction is now in the expected state.
        self._mend(drift)
        again = self._prove()
        self.assertEqual(again.state, "balanced", again.drift_ids.mapped("name"))
        self.assertAlmostEqual(self._clearing_balance(), 70.0)

    def test_past_month_proof_balances_with_gocardless_at_its_end(self):
        """A month over before the day of its proof: its closing balance (what was collected
        less the payout of the month) is proved against what GoCardless held at the month's
        end, from its own dates (charge dates, payouts paid by then), not against what it holds
        on the day of the proof; to the cent. A payment GoCardless collected after the month's
        end is not the month's."""
        proof, values = self._past_month(collected_after=500)
        self.assertAlmostEqual(values["collected"], 133.33, places=2)
        self.assertAlmostEqual(values["paid_out"], -100.0, places=2)
        self.assertAlmostEqual(values["closing"], 33.33, places=2)
        self.assertEqual(values["payout_count"], 1, "the later payout is not the month's")
        self.assertEqual(values["held"], 33.33)
        self.assertEqual(values["difference"], 0.0)
        # On the day of the proof GoCardless holds only the later payment: both debits of the
        # month are paid out.
        self.assertEqual(proof.clearing_held, {"EUR": 500})
        self.assertTrue(proof.drift_ids.filtered(lambda drift: drift.kind == "payment_orphan"))
        self.assertEqual(proof.clearing_held_end, {"EUR": 3333})
        rows = {label: amount for label, amount, _total in proof._gocardless_month_rows(values)}
        self.assertEqual(rows["Held by GoCardless: collected, not paid out yet"], 33.33)
        self.assertEqual(rows["Difference with GoCardless"], 0.0)

    def test_past_month_proof_shows_a_payment_missing_from_the_books(self):
        """GoCardless collected in the month a payment Odoo never booked: the past month's
        proof shows the difference, the payment's amount."""
        _proof, values = self._past_month(missing_from_the_books=1234)
        self.assertAlmostEqual(values["closing"], 33.33, places=2)
        self.assertAlmostEqual(values["held"], 45.67, places=2)
        self.assertAlmostEqual(values["difference"], -12.34, places=2)
        self.assertNotEqual(values["difference"], 0.0)
