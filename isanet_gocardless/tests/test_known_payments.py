# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Every payment at GoCardless is known to Odoo: a create whose answer is lost leaves one
tracked transaction and an honest message, what GoCardless returns for a key is checked
before it is linked, a refused set-up keeps its reason, a payment Odoo cannot match reaches
the merchant, and a webhook nesting too deeply is refused. Against the local sandbox."""

from unittest.mock import patch

from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .. import utils
from ..gocardless_core import webhooks
from ..gocardless_core.errors import ApiCallError
from .common import (
    GoCardlessAttemptMixin,
    GoCardlessFlowMixin,
    GoCardlessMandateMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
    GoCardlessWebhookCommon,
)

LOGGERS = (
    "odoo.http",
    "odoo.addons.payment.models.payment_transaction",
    "odoo.addons.isanet_gocardless.controllers.main",
    "odoo.addons.isanet_gocardless.models.account_move_debits",
    "odoo.addons.isanet_gocardless.models.payment_provider",
    "odoo.addons.isanet_gocardless.models.payment_transaction",
    "odoo.addons.isanet_gocardless.models.payment_transaction_attempt",
)
LOST_ANSWER = "could not be confirmed"
NOTHING_CHARGED = "Nothing was charged"


@tagged("post_install", "-at_install")
class TestKnownPayments(
    GoCardlessAttemptMixin,
    GoCardlessFlowMixin,
    GoCardlessMandateMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
    PaymentHttpCommon,
):
    def setUp(self):
        super().setUp()
        self.token, self.mandate = self._sandbox_mandate_token()
        self.client = self.gocardless._gocardless_make_client()

    # === HELPERS === #

    def _payments(self):
        """The payments GoCardless holds on the test's mandate, newest first."""
        return self.client.payments.list(params={"mandate": self.mandate["id"]}).records

    def _pay_with_the_saved_mandate(self, invoice):
        """The customer pays ``invoice`` from its portal page with the saved mandate."""
        with mute_logger(*LOGGERS):
            answer = self._call_invoice_transaction(
                invoice,
                **self._invoice_transaction_values(invoice, token_id=self.token.id, flow="token"),
            )
        self.env.invalidate_all()
        return answer

    def _error_message(self, answer):
        self.assertIn("error", answer, answer.get("result"))
        return answer["error"]["data"]["message"]

    def _lose_the_next_payment_answer(self):
        """GoCardless creates the next payment, and its answer never reaches Odoo."""
        self.sandbox.set_fault("hang_after", "/payments", count=1, method="POST", hang_timeout=30)
        self.addCleanup(self.sandbox.clear_fault)

    # === A LOST ANSWER === #

    def test_a_saved_mandate_payment_whose_answer_is_lost_is_tracked_once_and_told_honestly(self):
        invoice = self._create_customer_invoice(amount=80.0)
        self._lose_the_next_payment_answer()
        message = self._error_message(self._pay_with_the_saved_mandate(invoice))
        self.sandbox.clear_fault()
        self.assertIn(LOST_ANSWER, message)
        self.assertNotIn(NOTHING_CHARGED, message)
        created = self._payments()
        self.assertEqual(len(created), 1)  # GoCardless did take it
        # Tracked: the transaction was committed before the create was sent.
        tx = invoice.transaction_ids
        self.assertEqual(len(tx), 1)
        self.assertEqual(tx.state, "draft")
        self.assertEqual(tx.token_id, self.token)
        self.assertFalse(tx.provider_reference)
        self.assertTrue(tx.gocardless_idempotency_key)

        # The customer clicks again: the payment is found and followed, no second one.
        mark = self.sandbox.request_log_mark()
        message = self._error_message(self._pay_with_the_saved_mandate(invoice))
        self.assertIn("already under way", message)
        self.assertEqual([payment.id for payment in self._payments()], [created[0].id])
        creates = [
            entry
            for entry in self.sandbox.request_log(mark)
            if (entry["method"], entry["path"]) == ("POST", "/payments")
        ]
        self.assertFalse(creates)
        self.assertEqual((tx.state, tx.provider_reference), ("pending", created[0].id))
        refused = invoice.transaction_ids - tx
        self.assertEqual(len(refused), 1)
        self.assertEqual(refused.state, "error")
        self.assertIn("already under way", refused.state_message)
        self.assertFalse(refused.provider_reference)

    def test_the_cron_links_the_payment_whose_answer_was_lost(self):
        invoice = self._create_customer_invoice(amount=45.0)
        self._lose_the_next_payment_answer()
        self._pay_with_the_saved_mandate(invoice)
        self.sandbox.clear_fault()
        tx = invoice.transaction_ids
        self.assertEqual(len(tx), 1)
        self.assertEqual(tx.state, "draft")
        created = self._payments()
        # A fresh attempt may still be under way: left alone.
        self.assertEqual(self._check_unconfirmed(), 0)
        self.assertFalse(tx.provider_reference)
        self._age(tx, 5)
        self.assertEqual(self._check_unconfirmed(), 1)
        self.assertEqual((tx.state, tx.provider_reference), ("pending", created[0].id))
        self.assertTrue(
            invoice.message_ids.filtered(lambda m: created[0].id in (m.body or "")),
            "the merchant is told the debit was found",
        )
        self.assertEqual(len(self._payments()), 1)

    def test_the_merchant_collect_after_a_lost_answer_says_it_will_be_checked(self):
        invoice = self._create_customer_invoice(amount=64.0)
        self._lose_the_next_payment_answer()
        with mute_logger(*LOGGERS), self.assertRaisesRegex(ValidationError, LOST_ANSWER) as caught:
            invoice.action_gocardless_collect()
        self.sandbox.clear_fault()
        self.assertNotIn(NOTHING_CHARGED, str(caught.exception))
        tx = invoice.transaction_ids
        self.assertEqual((tx.state, tx.provider_reference), ("draft", False))
        # Meanwhile the customer may not pay it a second time from the portal.
        other = self._create_invoice_transaction(
            invoice, "token", "PORTAL", 64.0, token_id=self.token.id
        )
        with mute_logger(*LOGGERS), self.assertRaisesRegex(ValidationError, "already under way"):
            other._send_payment_request()
        self.assertEqual(len(self._payments()), 1)

    def test_an_attempt_gocardless_never_received_is_closed_by_the_cron(self):
        invoice = self._create_customer_invoice(amount=30.0)
        self.sandbox.set_fault("503", "/payments", count=1)
        self.addCleanup(self.sandbox.clear_fault)
        with mute_logger(*LOGGERS), self.assertRaisesRegex(ValidationError, "GoCardless"):
            invoice.action_gocardless_collect()
        tx = invoice.transaction_ids
        self.assertEqual(tx.state, "draft")
        self._age(tx, 30)
        self.assertEqual(self._check_unconfirmed(), 0)
        self.assertEqual(tx.state, "error")
        self.assertIn("nothing was charged", tx.state_message)
        self.assertFalse(self._payments())

    def test_a_retry_whose_answer_is_lost_never_says_nothing_was_charged(self):
        invoice = self._create_customer_invoice(amount=33.0)
        with mute_logger(*LOGGERS):
            invoice.action_gocardless_collect()
        tx = invoice.transaction_ids
        with mute_logger(*LOGGERS):
            self._sandbox_outcome(tx, "payment_failed")
        self.assertEqual(tx.state, "error")
        retry_path = f"/payments/{tx.provider_reference}/actions/retry"
        self.sandbox.set_fault("hang_after", retry_path, count=1, hang_timeout=30)
        self.addCleanup(self.sandbox.clear_fault)
        with (
            mute_logger(*LOGGERS),
            self.assertRaisesRegex(ValidationError, "may have carried the request out") as caught,
        ):
            invoice.action_gocardless_retry_debit()
        self.sandbox.clear_fault()
        self.assertNotIn(NOTHING_CHARGED, str(caught.exception))
        # GoCardless did submit it again: its webhook brings the transaction along.
        payment = self._sandbox_payment(tx.provider_reference)
        self.assertEqual(payment["status"], "pending_submission")

    # === WHAT GOCARDLESS RETURNS FOR A KEY === #

    def _payment_under_key(self, tx, amount_minor):
        """Have GoCardless hold a payment of ``amount_minor`` created with ``tx``'s key, as
        when a key is reused; return it."""
        return self.client.payments.create(
            params={
                "amount": amount_minor,
                "currency": "EUR",
                "links": {"mandate": self.mandate["id"]},
                "metadata": {"odoo_reference": tx.reference},
            },
            headers={"Idempotency-Key": tx._gocardless_idempotency_key("payment")},
        )

    def test_a_reused_key_with_another_amount_is_refused_and_not_linked(self):
        invoice = self._create_customer_invoice(amount=60.0)
        tx = invoice._gocardless_new_collect_transaction()
        earlier = self._payment_under_key(tx, 10000)
        with mute_logger(*LOGGERS), self.assertRaisesRegex(ValidationError, earlier.id):
            invoice.action_gocardless_collect()
        self.assertEqual(invoice.transaction_ids, tx)
        self.assertEqual(tx.state, "error")
        self.assertFalse(tx.provider_reference)
        self.assertIn(earlier.id, tx.state_message)
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertEqual([payment.id for payment in self._payments()], [earlier.id])

    def test_a_portal_payment_answered_with_another_payment_is_refused_and_told(self):
        invoice = self._create_customer_invoice(amount=60.0)
        invoice.invoice_user_id = self.env.ref("base.user_admin")
        tx = self._create_invoice_transaction(invoice, "token", "X", 60.0, token_id=self.token.id)
        earlier = self._payment_under_key(tx, 6001)
        with mute_logger(*LOGGERS), self.assertRaisesRegex(ValidationError, earlier.id):
            tx._send_payment_request()
        self.assertEqual(tx.state, "error")
        self.assertFalse(tx.provider_reference)
        activity = invoice.activity_ids.filtered(
            lambda a: a.summary == "GoCardless payment not linked"
        )
        self.assertEqual(len(activity), 1)
        self.assertIn(earlier.id, str(activity.note))

    def test_the_next_transaction_reusing_a_reference_gets_another_key(self):
        invoice = self._create_customer_invoice(amount=20.0)
        first = invoice._gocardless_new_collect_transaction()
        reference = first.reference
        key = first._gocardless_idempotency_key("payment")
        first.write({"state": "error", "reference": f"{reference}-gone"})
        # As after a rolled-back attempt: the next transaction gets the same reference.
        second = invoice._gocardless_new_collect_transaction()
        second.reference = reference
        self.assertNotEqual(second._gocardless_idempotency_key("payment"), key)
        # A transaction keeps its key whatever its reference becomes.
        second_key = second._gocardless_idempotency_key("payment")
        second.reference = f"{reference}-renamed"
        self.assertEqual(second._gocardless_idempotency_key("payment"), second_key)

    # === A REFUSED SET-UP === #

    def test_a_refused_billing_request_keeps_its_transaction_in_error_with_the_reason(self):
        invoice = self._create_customer_invoice(amount=70.0)
        Provider = self.env.registry["payment.provider"]
        original = Provider._gocardless_make_request

        def refuse_billing_requests(provider, resource, action, *args, **kwargs):
            if (resource, action) == ("billing_requests", "create"):
                api_error = ApiCallError(
                    "Validation failed: mandate_request scheme is not enabled for the creditor",
                    "validation",
                    False,
                    status=422,
                )
                raise utils.GoCardlessRequestError(
                    provider._gocardless_error_message(api_error), api_error
                )
            return original(provider, resource, action, *args, **kwargs)

        with patch.object(Provider, "_gocardless_make_request", refuse_billing_requests):
            with mute_logger(*LOGGERS):
                answer = self._call_invoice_transaction(
                    invoice, **self._invoice_transaction_values(invoice)
                )
        self.env.invalidate_all()
        self.assertIn("scheme is not enabled", self._error_message(answer))
        tx = invoice.transaction_ids
        self.assertEqual(len(tx), 1)
        self.assertEqual(tx.state, "error")
        self.assertIn("scheme is not enabled", tx.state_message)


@tagged("post_install", "-at_install")
class TestUnknownPayments(GoCardlessWebhookCommon):
    """What a webhook tells that Odoo cannot apply reaches the merchant, or is refused."""

    def _unknown_payment_activities(self):
        return self.gocardless.activity_ids.filtered(
            lambda a: a.summary == "Unknown GoCardless payment"
        )

    def test_a_payment_odoo_cannot_match_gives_the_merchant_one_activity(self):
        with mute_logger(*LOGGERS):
            self._post_events([self._event("payments", "created", "PM999", odoo_ref=False)])
        self.assertEqual(self._ledger().state, "ignored")
        activities = self._unknown_payment_activities()
        self.assertEqual(len(activities), 1)
        self.assertIn("PM999", str(activities.note))
        self.assertTrue(activities.user_id)
        self.assertTrue(self.gocardless.message_ids.filtered(lambda m: "PM999" in (m.body or "")))
        # Its next events add nothing; another payment has its own.
        with mute_logger(*LOGGERS):
            self._post_events([self._event("payments", "submitted", "PM999", odoo_ref=False)])
            self._post_events([self._event("payments", "created", "PM998", odoo_ref=False)])
        activities = self._unknown_payment_activities()
        self.assertEqual(len(activities), 2)
        self.assertEqual(len(activities.filtered(lambda a: "PM999" in str(a.note))), 1)

    def test_the_activity_stays_open_when_the_account_is_reconnected(self):
        with mute_logger(*LOGGERS):
            self._post_events([self._event("payments", "created", "PM999", odoo_ref=False)])
        self.gocardless._gocardless_flag_reconnect()
        self.assertEqual(len(self.gocardless.activity_ids), 2)
        self.gocardless._gocardless_clear_reconnect()
        self.assertEqual(self.gocardless.activity_ids, self._unknown_payment_activities())
        self.assertEqual(len(self.gocardless.activity_ids), 1)

    def test_a_payment_found_by_reference_but_not_the_transactions_gives_an_activity(self):
        self.tx.provider_reference = False
        self.tx.state = "draft"
        self._set_payment("pending_submission", payment_id="PM777")
        with mute_logger(*LOGGERS):
            self._post_events([self._event("payments", "created", "PM777")])
        self.assertFalse(self.tx.provider_reference)
        self.assertEqual(len(self._unknown_payment_activities()), 1)

    def test_a_signed_webhook_nesting_deeper_than_accepted_is_answered_400(self):
        # 600 levels pass JSON's own parser and broke what walks the event next (a 500);
        # 1,000 break the parser itself on some Pythons, not on others.
        for levels in (600, 1000):
            metadata = '{"a": ' * levels + '"x"' + "}" * levels
            event = (
                f'{{"id": "EV{levels}DEEP", "created_at": "2026-01-15T10:00:00.000Z", '
                '"resource_type": "payments", "action": "created", '
                '"links": {"payment": "PM123"}, "details": {}, "resource_metadata": {}, '
                f'"metadata": {metadata}}}'
            )
            body = f'{{"events": [{event}], "meta": {{"webhook_id": "WB1"}}}}'.encode()
            with self.subTest(levels=levels), mute_logger(*LOGGERS):
                response = self._post_body(body, webhooks.sign(body, "webhook-secret"))
                self.assertEqual(response.status_code, 400)
                self.assertFalse(self._ledger(f"EV{levels}DEEP"))
        # Refused before anything reads it: a sound webhook is recorded right after.
        with mute_logger(*LOGGERS):
            response = self._post_events([self._payment_event("submitted")], drain=False)
        self.assertEqual(response.status_code, 204)
