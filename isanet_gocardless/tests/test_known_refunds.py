# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Every refund at GoCardless is known to Odoo: a refund whose answer is lost is tracked,
told honestly, and holds the next refund of its payment until it is resolved (by the next
click, its event or the cron), so that a merchant asking again never refunds twice. Against
the local sandbox."""

import json
from types import SimpleNamespace
from unittest.mock import patch

from odoo.exceptions import UserError, ValidationError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .common import (
    GoCardlessAttemptMixin,
    GoCardlessFlowMixin,
    GoCardlessMandateMixin,
    GoCardlessSandboxCommon,
)

LOGGERS = (
    "odoo.addons.payment.models.payment_transaction",
    "odoo.addons.isanet_gocardless.models.account_move_debits",
    "odoo.addons.isanet_gocardless.models.gocardless_event",
    "odoo.addons.isanet_gocardless.models.payment_provider",
    "odoo.addons.isanet_gocardless.models.payment_transaction",
    "odoo.addons.isanet_gocardless.models.payment_transaction_attempt",
)
LOST_ANSWER = "could not be confirmed"


@tagged("post_install", "-at_install")
class TestKnownRefunds(
    GoCardlessAttemptMixin,
    GoCardlessFlowMixin,
    GoCardlessMandateMixin,
    GoCardlessSandboxCommon,
    PaymentHttpCommon,
):
    def setUp(self):
        super().setUp()
        self._use_own_sandbox()
        self.token, self.mandate = self._sandbox_mandate_token()
        self.client = self.gocardless._gocardless_make_client()

    # === HELPERS === #

    def _collected(self, amount):
        """A debit of a new invoice collected by GoCardless: its transaction, done."""
        invoice = self._create_customer_invoice(amount=amount)
        with mute_logger(*LOGGERS):
            invoice.action_gocardless_collect()
            tx = invoice.transaction_ids
            self._sandbox_outcome(tx, "payment_confirmed")
            tx._post_process()
        self.assertEqual(tx.state, "done")
        return tx

    def _refunds(self, tx):
        """The refunds GoCardless holds on the payment of ``tx``, newest first."""
        return self.client.refunds.list(params={"payment": tx.provider_reference}).records

    def _refund_creates(self, mark):
        return [
            entry
            for entry in self.sandbox.request_log(mark)
            if (entry["method"], entry["path"]) == ("POST", "/refunds")
        ]

    def _refund(self, tx, amount):
        with mute_logger(*LOGGERS):
            refund_tx = tx._send_refund_request(amount_to_refund=amount)
        self.env.invalidate_all()
        return refund_tx

    def _lose_the_next_refund_answer(self):
        """GoCardless makes the next refund, and its answer never reaches Odoo."""
        self.sandbox.set_fault("hang_after", "/refunds", count=1, method="POST", hang_timeout=30)
        self.addCleanup(self.sandbox.clear_fault)

    def _refund_with_a_lost_answer(self, tx, amount):
        """Ask for a refund whose answer is lost: return the error and the refund transaction."""
        self._lose_the_next_refund_answer()
        with mute_logger(*LOGGERS), self.assertRaisesRegex(ValidationError, LOST_ANSWER) as caught:
            tx._send_refund_request(amount_to_refund=amount)
        self.sandbox.clear_fault()
        self.env.invalidate_all()
        refund_tx = tx.child_transaction_ids
        self.assertEqual(len(refund_tx), 1)
        return caught.exception, refund_tx

    def _merchant(self, login):
        """A billing user of the provider's company."""
        return new_test_user(
            self.env,
            login=login,
            groups="account.group_account_invoice",
            company_id=self.gocardless.company_id.id,
        )

    def _refund_by_the_merchant(self, tx, amount):
        """The merchant refunds ``tx`` from Odoo's *Refund* (`action_refund`), in a request of
        its own: what the request does not commit is undone when it fails, as in production.

        :return: The JSON-RPC answer.
        """
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 0,
            "params": {
                "model": "payment.transaction",
                "method": "action_refund",
                "args": [[tx.id]],
                "kwargs": {"amount_to_refund": amount},
            },
        }
        self.env.flush_all()
        with mute_logger("odoo.http", *LOGGERS):
            response = self.url_open(
                "/web/dataset/call_button",
                data=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
        self.assertEqual(response.status_code, 200)
        self.env.invalidate_all()
        return response.json()

    # === A LOST ANSWER === #

    def test_a_refund_whose_answer_is_lost_is_made_once_and_told_honestly(self):
        tx = self._collected(100.0)
        error, refund_tx = self._refund_with_a_lost_answer(tx, 40.0)
        self.assertNotIn("nothing", str(error).lower())
        made = self._refunds(tx)
        self.assertEqual([refund.amount for refund in made], [4000])  # GoCardless did make it
        # Tracked: the refund transaction was committed before the create was sent.
        self.assertEqual(refund_tx.state, "draft")
        self.assertEqual(refund_tx.amount, -40.0)
        self.assertFalse(refund_tx.provider_reference)
        self.assertTrue(refund_tx.gocardless_idempotency_key)

        # The merchant asks again: the lost refund is found and followed, none is sent.
        mark = self.sandbox.request_log_mark()
        with (
            mute_logger(*LOGGERS),
            self.assertRaisesRegex(UserError, "had made the refund") as held,
        ):
            tx._send_refund_request(amount_to_refund=40.0)
        self.assertIn(made[0].id, str(held.exception))
        self.assertIn("No other refund of this payment was sent", str(held.exception))
        self.env.invalidate_all()
        self.assertFalse(self._refund_creates(mark))
        self.assertEqual(len(self._refunds(tx)), 1)
        self.assertEqual(self.client.payments.get(tx.provider_reference).amount_refunded, 4000)
        self.assertEqual((refund_tx.state, refund_tx.provider_reference), ("pending", made[0].id))
        self.assertEqual(tx.child_transaction_ids, refund_tx)  # nothing more recorded
        self.assertTrue(
            tx.invoice_ids.message_ids.filtered(lambda m: made[0].id in (m.body or "")),
            "the merchant is told the refund was found",
        )

        # Asked once more, knowingly: that refund is made.
        third = self._refund(tx, 10.0)
        self.assertEqual(third.state, "pending")
        self.assertEqual(sorted(refund.amount for refund in self._refunds(tx)), [1000, 4000])
        self.assertEqual(self.client.payments.get(tx.provider_reference).amount_refunded, 5000)

    def test_a_refund_never_made_holds_the_next_until_the_cron_closes_it(self):
        tx = self._collected(60.0)
        # The request never gets an answer, and GoCardless never made the refund.
        self.sandbox.set_fault("hang", "/refunds", count=1, method="POST", hang_timeout=30)
        self.addCleanup(self.sandbox.clear_fault)
        with mute_logger(*LOGGERS), self.assertRaisesRegex(ValidationError, LOST_ANSWER):
            tx._send_refund_request(amount_to_refund=60.0)
        self.sandbox.clear_fault()
        self.env.invalidate_all()
        refund_tx = tx.child_transaction_ids
        self.assertEqual((refund_tx.state, refund_tx.provider_reference), ("draft", False))

        # Unresolved: a new refund is held, not sent.
        mark = self.sandbox.request_log_mark()
        with mute_logger(*LOGGERS), self.assertRaisesRegex(UserError, LOST_ANSWER):
            tx._send_refund_request(amount_to_refund=60.0)
        self.assertFalse(self._refund_creates(mark))
        self.assertFalse(self._refunds(tx))
        # A fresh attempt may still be under way: the cron leaves it; an old one is closed.
        self.assertEqual(self._check_unconfirmed(), 0)
        self.assertEqual(refund_tx.state, "draft")
        self._age(refund_tx, 30)
        self.assertEqual(self._check_unconfirmed(), 0)
        self.assertEqual(refund_tx.state, "error")
        self.assertIn("nothing was refunded", refund_tx.state_message)

        # Closed: the way is free, and the refund is made once.
        made = self._refund(tx, 60.0)
        self.assertEqual(made.state, "pending")
        self.assertEqual([refund.amount for refund in self._refunds(tx)], [6000])

    def test_the_cron_links_the_refund_whose_answer_was_lost(self):
        tx = self._collected(50.0)
        _error, refund_tx = self._refund_with_a_lost_answer(tx, 20.0)
        made = self._refunds(tx)
        self.assertEqual(self._check_unconfirmed(), 0)  # fresh: left alone
        self.assertFalse(refund_tx.provider_reference)
        self._age(refund_tx, 5)
        self.assertEqual(self._check_unconfirmed(), 1)
        self.assertEqual((refund_tx.state, refund_tx.provider_reference), ("pending", made[0].id))
        self.assertTrue(
            tx.payment_id.message_ids.filtered(lambda m: made[0].id in (m.body or "")),
            "the refund found is told on the debit's payment",
        )
        self.assertEqual(len(self._refunds(tx)), 1)

    def test_the_refund_event_links_the_refund_whose_answer_was_lost(self):
        tx = self._collected(70.0)
        _error, refund_tx = self._refund_with_a_lost_answer(tx, 70.0)
        made = self._refunds(tx)
        with mute_logger(*LOGGERS):
            deliveries = self._deliver_webhooks()
        self.assertEqual((refund_tx.state, refund_tx.provider_reference), ("pending", made[0].id))
        event = self.env["gocardless.event"].search(
            [("resource_type", "=", "refunds"), ("resource_id", "=", made[0].id)]
        )
        self.assertEqual(event.state, "processed")
        # GoCardless delivers the webhook again: acknowledged, nothing recorded or told twice.
        told = tx.invoice_ids.message_ids
        (hook,) = [hook for hook in deliveries if event.event_id in hook["event_ids"]]
        self.assertTrue(self.sandbox.sandbox.dispatcher.retry(hook["id"]))
        with mute_logger(*LOGGERS):
            self.sandbox.flush_webhooks()
            self._drain_ledger()
        self.assertEqual(
            self.env["gocardless.event"].search_count([("resource_id", "=", made[0].id)]), 1
        )
        self.assertEqual(tx.invoice_ids.message_ids, told)
        self.assertEqual(tx.child_transaction_ids, refund_tx)
        # Then the refund's life goes on through its events.
        with mute_logger(*LOGGERS):
            self._simulate("refund_paid", made[0].id)
            self._deliver_webhooks()
        self.assertEqual(refund_tx.state, "done")
        self.assertEqual(len(self._refunds(tx)), 1)

    def test_a_refund_odoo_did_not_ask_for_cannot_claim_its_reference(self):
        tx = self._collected(80.0)
        _error, refund_tx = self._refund_with_a_lost_answer(tx, 30.0)
        made = self._refunds(tx)
        # Someone makes another refund of the payment carrying the same Odoo reference.
        payment = self.client.payments.get(tx.provider_reference)
        other = self.client.refunds.create(
            params={
                "amount": 500,
                "total_amount_confirmation": payment.amount_refunded + 500,
                "links": {"payment": tx.provider_reference},
                "metadata": {"odoo_reference": refund_tx.reference},
            }
        )
        with mute_logger(*LOGGERS):
            self._deliver_webhooks()
        # The refund asked for is linked; the other one is not taken for it.
        self.assertEqual((refund_tx.state, refund_tx.provider_reference), ("pending", made[0].id))
        self.assertEqual(refund_tx.amount, -30.0)
        ignored = self.env["gocardless.event"].search(
            [("resource_type", "=", "refunds"), ("resource_id", "=", other.id)]
        )
        self.assertTrue(ignored)
        self.assertEqual(set(ignored.mapped("state")), {"ignored"})
        self.assertFalse(
            self.env["payment.transaction"].search([("provider_reference", "=", other.id)])
        )

    def test_a_refund_gocardless_answers_with_its_own_error_ends_in_error_holding_nothing(self):
        tx = self._collected(40.0)
        self.sandbox.set_fault("503", "/refunds", count=1, method="POST")
        self.addCleanup(self.sandbox.clear_fault)
        with mute_logger(*LOGGERS), self.assertRaisesRegex(ValidationError, "GoCardless"):
            tx._send_refund_request(amount_to_refund=40.0)
        self.env.invalidate_all()
        # GoCardless answered: nothing was made, and Odoo knows it.
        failed = tx.child_transaction_ids
        self.assertEqual((failed.state, failed.provider_reference), ("error", False))
        self.assertFalse(self._refunds(tx))
        self.assertEqual(self._refund(tx, 40.0).state, "pending")
        self.assertEqual([refund.amount for refund in self._refunds(tx)], [4000])

    def test_a_refund_answered_with_another_refund_is_refused_and_not_linked(self):
        tx = self._collected(50.0)
        earlier = self._refund(tx, 10.0)
        # The next attempt gets the earlier one's key (as a key reused would): GoCardless answers
        # with the earlier refund.
        reused = SimpleNamespace(hex=earlier.gocardless_idempotency_key)
        with (
            patch(
                "odoo.addons.isanet_gocardless.models.payment_transaction_attempt.uuid.uuid4",
                return_value=reused,
            ),
            mute_logger(*LOGGERS),
            self.assertRaisesRegex(ValidationError, earlier.provider_reference),
        ):
            tx._send_refund_request(amount_to_refund=20.0)
        self.env.invalidate_all()
        refused = tx.child_transaction_ids - earlier
        self.assertEqual((refused.state, refused.provider_reference), ("error", False))
        self.assertIn("not linked", refused.state_message)
        self.assertEqual(earlier.state, "pending")
        self.assertEqual([refund.amount for refund in self._refunds(tx)], [1000])

    def test_a_refund_gocardless_refuses_keeps_its_reason(self):
        tx = self._collected(30.0)
        # A refund made in GoCardless's dashboard: Odoo does not know of it.
        payment = self.client.payments.get(tx.provider_reference)
        self.client.refunds.create(
            params={
                "amount": 2500,
                "total_amount_confirmation": payment.amount_refunded + 2500,
                "links": {"payment": tx.provider_reference},
            }
        )
        with mute_logger(*LOGGERS), self.assertRaisesRegex(ValidationError, "GoCardless"):
            tx._send_refund_request(amount_to_refund=20.0)
        self.env.invalidate_all()
        refused = tx.child_transaction_ids
        self.assertEqual((refused.state, refused.provider_reference), ("error", False))
        self.assertTrue(refused.state_message)
        self.assertEqual(self.client.payments.get(tx.provider_reference).amount_refunded, 2500)
        # A refused refund holds nothing: what GoCardless has left is refunded.
        self.assertEqual(self._refund(tx, 5.0).state, "pending")
        self.assertEqual(self.client.payments.get(tx.provider_reference).amount_refunded, 3000)

    def test_a_refund_above_what_is_left_is_refused_before_anything_is_recorded(self):
        tx = self._collected(30.0)
        self._refund(tx, 20.0)
        mark = self.sandbox.request_log_mark()
        for amount, reason in (
            (20.0, "above what is left to refund"),
            (10.01, "above what is left to refund"),
            (-5.0, "must be positive"),
        ):
            with (
                self.subTest(amount=amount),
                mute_logger(*LOGGERS),
                self.assertRaisesRegex(ValidationError, reason),
            ):
                tx._send_refund_request(amount_to_refund=amount)
        self.assertEqual(len(tx.child_transaction_ids), 1)
        self.assertFalse(self.sandbox.request_log(mark))
        # What is left is refunded; then nothing is.
        self.assertEqual(self._refund(tx, 10.0).state, "pending")
        with mute_logger(*LOGGERS), self.assertRaisesRegex(ValidationError, "nothing is left"):
            tx._send_refund_request()
        self.assertEqual(self.client.payments.get(tx.provider_reference).amount_refunded, 3000)

    def test_hostile_refund_amounts_from_the_merchant_door_move_no_money(self):
        merchant = self._merchant("gc-refund-hostile")
        tx = self._collected(25.0)
        self.authenticate(merchant.login, merchant.login)
        mark = self.sandbox.request_log_mark()
        hostile = (
            "abc",
            "25",
            "25\x00",
            "vingt-cinq €",
            [25],
            {"amount": 25},
            True,
            -25,
            25.01,
            10**30,
            1e308,
            "9" * 10000,
        )
        for amount in hostile:
            with self.subTest(amount=str(amount)[:20]):
                answer = self._refund_by_the_merchant(tx, amount)
                self.assertIn("error", answer, answer.get("result"))
                self.assertIn("GoCardless", answer["error"]["data"]["message"])
        # Other people's debit: a billing user of another company, a portal user.
        other_company = self.env["res.company"].create({"name": "GoCardless Refund Stranger"})
        strangers = (
            new_test_user(
                self.env,
                login="gc-refund-other-company",
                groups="account.group_account_invoice",
                company_id=other_company.id,
            ),
            new_test_user(self.env, login="gc-refund-portal", groups="base.group_portal"),
        )
        for stranger in strangers:
            with self.subTest(user=stranger.login):
                self.authenticate(stranger.login, stranger.login)
                answer = self._refund_by_the_merchant(tx, 10.0)
                self.assertIn("error", answer, answer.get("result"))
                self.assertIn("AccessError", answer["error"]["data"]["name"])
        self.assertFalse(self._refund_creates(mark))
        self.assertFalse(self._refunds(tx))
        self.assertFalse(tx.child_transaction_ids)
        self.assertEqual(self.client.payments.get(tx.provider_reference).amount_refunded, 0)

    def test_the_merchant_refund_whose_answer_is_lost_outlives_its_failed_request(self):
        merchant = self._merchant("gc-refund-merchant")
        tx = self._collected(90.0)
        self.authenticate(merchant.login, merchant.login)
        self._lose_the_next_refund_answer()
        answer = self._refund_by_the_merchant(tx, 90.0)
        self.sandbox.clear_fault()
        self.assertIn(LOST_ANSWER, answer["error"]["data"]["message"])
        made = self._refunds(tx)
        self.assertEqual([refund.amount for refund in made], [9000])
        # The request failed and was undone, but the refund was committed before it was sent.
        refund_tx = tx.child_transaction_ids
        self.assertEqual(len(refund_tx), 1)
        self.assertEqual((refund_tx.state, refund_tx.provider_reference), ("draft", False))

        # Asked again: the refund is found and followed (kept, although this request fails too).
        mark = self.sandbox.request_log_mark()
        answer = self._refund_by_the_merchant(tx, 90.0)
        self.assertIn("had made the refund", answer["error"]["data"]["message"])
        self.assertFalse(self._refund_creates(mark))
        self.assertEqual(len(self._refunds(tx)), 1)
        self.assertEqual((refund_tx.state, refund_tx.provider_reference), ("pending", made[0].id))
        self.assertEqual(tx.child_transaction_ids, refund_tx)
