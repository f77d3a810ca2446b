# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Retries: a failure GoCardless retries by itself shows as "retrying" without alarming the
merchant, who is alerted once, when the failure is final; the merchant can retry a failed
debit while the mandate is active."""

from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from ..controllers.main import GoCardlessController
from .common import (
    GoCardlessFlowMixin,
    GoCardlessMandateCommon,
    GoCardlessMandateMixin,
    GoCardlessSandboxCommon,
    GoCardlessWebhookCommon,
)

RETRY_DETAILS = {
    "origin": "bank",
    "cause": "insufficient_funds",
    "description": "The customer's account had insufficient funds",
    "reason_code": "AM04",
    "will_attempt_retry": True,
}
FINAL_DETAILS = dict(RETRY_DETAILS, will_attempt_retry=False)
LOGGERS = (
    "odoo.addons.isanet_gocardless.models.payment_transaction",
    "odoo.addons.payment.models.payment_transaction",
)


@tagged("post_install", "-at_install")
class TestGoCardlessRetrying(GoCardlessWebhookCommon):
    def test_a_failure_gocardless_retries_shows_retrying_without_alarm(self):
        self._set_payment("failed")
        self._receive([self._payment_event("failed", event_id="EV1", details=RETRY_DETAILS)])
        self.assertEqual(self.tx.state, "pending")
        self.assertTrue(self.tx.gocardless_retrying)
        self.assertEqual(self.invoice.gocardless_debit_status, "retrying")
        self.assertFalse(self._activities("Direct debit failed"))
        self.assertFalse(self._messages("Direct debit failed"))
        # GoCardless submits it again.
        self._set_payment("pending_submission")
        self._receive([self._payment_event("resubmission_requested", event_id="EV2")])
        self.assertEqual(self.tx.state, "pending")
        self.assertEqual(self.invoice.gocardless_debit_status, "retrying")
        self._set_payment("submitted")
        self._receive([self._payment_event("submitted", event_id="EV3")])
        self.assertEqual(self.invoice.gocardless_debit_status, "submitted")
        self._set_payment("confirmed")
        self._receive([self._payment_event("confirmed", event_id="EV4")])
        self.assertEqual(self.tx.state, "done")
        self.assertFalse(self.tx.gocardless_retrying)
        self.assertEqual(self.invoice.gocardless_debit_status, "collected")
        self.assertFalse(self._activities("Direct debit failed"))

    def test_the_merchant_is_alerted_once_when_the_failure_is_final(self):
        self._set_payment("failed")
        self._receive([self._payment_event("failed", event_id="EV1", details=RETRY_DETAILS)])
        self.assertFalse(self._activities("Direct debit failed"))
        self._receive([self._payment_event("failed", event_id="EV2", details=FINAL_DETAILS)])
        self.assertEqual(self.tx.state, "error")
        self.assertFalse(self.tx.gocardless_retrying)
        self.assertEqual(self.invoice.gocardless_debit_status, "failed")
        self.assertEqual(len(self._activities("Direct debit failed")), 1)
        # The same final failure again (GoCardless resends): no second alert.
        self._receive([self._payment_event("failed", event_id="EV3", details=FINAL_DETAILS)])
        self.assertEqual(len(self._activities("Direct debit failed")), 1)

    def test_a_late_event_reads_the_retry_from_the_newest_failure(self):
        self._set_payment("failed")
        self._receive([self._payment_event("failed", event_id="EV1", details=RETRY_DETAILS)])
        # An older event (submitted) arrives late: the payment is still failed, to be retried.
        self._receive([self._payment_event("submitted", event_id="EV0")])
        self.assertEqual(self.tx.state, "pending")
        self.assertEqual(self.invoice.gocardless_debit_status, "retrying")


@tagged("post_install", "-at_install")
class TestMerchantRetry(GoCardlessMandateCommon):
    def setUp(self):
        super().setUp()
        self.client = self.gocardless._gocardless_make_client()

    def _failed_debit(self, amount=33.0):
        invoice = self._create_customer_invoice(amount=amount)
        invoice.action_gocardless_collect()
        tx = invoice.gocardless_debit_transaction_id
        with mute_logger(*LOGGERS):
            self._sandbox_outcome(tx, "payment_failed")
        self.assertEqual(tx.state, "error")
        self.assertEqual(invoice.gocardless_debit_status, "failed")
        return invoice, tx

    def test_the_merchant_retries_a_failed_debit(self):
        invoice, tx = self._failed_debit()
        self.assertNotIn(
            self.client.mandates.get(self.mandate["id"]).status, ("cancelled", "failed")
        )
        with mute_logger(*LOGGERS):
            invoice.action_gocardless_retry_debit()
        payment = self._sandbox_payment(tx.provider_reference)
        self.assertEqual(payment["status"], "pending_submission")
        self.assertEqual(tx.state, "pending")
        self.assertEqual(invoice.gocardless_debit_status, "retrying")
        self.assertEqual(invoice.gocardless_debit_charge_date.isoformat(), payment["charge_date"])
        self.assertIn("submitted again", "\n".join(invoice.message_ids.mapped("body")))
        # Retrying it again while it is under way is refused.
        with self.assertRaises(ValidationError):
            tx._gocardless_retry_debit()

    def test_a_retry_on_an_ended_mandate_is_refused(self):
        invoice, tx = self._failed_debit()
        self.client.mandates.cancel(self.mandate["id"])
        self.token.gocardless_mandate_status = "cancelled"
        mark = self.sandbox.request_log_mark()
        with self.assertRaises(ValidationError), mute_logger(*LOGGERS):
            tx._gocardless_retry_debit()
        self.assertEqual(self.sandbox.request_log(mark), [])
        self.token.active = False
        with self.assertRaises(UserError):
            invoice.action_gocardless_retry_debit()
        self.assertEqual(tx.state, "error")

    def test_a_retry_of_an_invoice_paid_meanwhile_is_refused_by_the_guard(self):
        invoice, tx = self._failed_debit()
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({"journal_id": self.company_data["default_journal_bank"].id})._create_payments()
        mark = self.sandbox.request_log_mark()
        with self.assertRaises(ValidationError), mute_logger(*LOGGERS):
            invoice.action_gocardless_retry_debit()
        self.assertEqual(self.sandbox.request_log(mark), [])
        self.assertEqual(tx.state, "error")
        self.assertEqual(self._sandbox_payment(tx.provider_reference)["status"], "failed")


@tagged("post_install", "-at_install")
class TestSandboxRetrying(
    GoCardlessFlowMixin, GoCardlessMandateMixin, GoCardlessSandboxCommon, PaymentHttpCommon
):
    """The same retries, driven through the local sandbox and its signed webhooks."""

    def setUp(self):
        super().setUp()
        self._use_own_sandbox()
        self.token, _mandate = self._sandbox_mandate_token()
        self.invoice = self._create_customer_invoice(amount=48.0)
        with mute_logger(*LOGGERS):
            self.invoice.action_gocardless_collect()
        self.tx = self.invoice.gocardless_debit_transaction_id
        self.env.flush_all()  # Odoo's webhook requests read the database
        self._deliver()

    def _deliver(self):
        with mute_logger(*LOGGERS):
            self._deliver_webhooks()
        self.invoice.invalidate_recordset()
        self.tx.invalidate_recordset()

    def _alerts(self):
        activities = self.invoice.activity_ids.filtered(
            lambda a: a.summary == "Direct debit failed"
        )
        messages = self.invoice.message_ids.filtered(
            lambda m: "Direct debit failed" in (m.body or "") and not m.mail_activity_type_id
        )
        return activities, messages

    def _failed_events(self):
        client = self._sandbox_client()
        return [
            event
            for event in client.events.all(params={"payment": self.tx.provider_reference})
            if event.action == "failed"
        ]

    def test_retrying_without_alarm_then_the_final_failure_alerts_once(self):
        payment_id = self.tx.provider_reference
        self.sandbox.fail_payment(payment_id, will_attempt_retry=True)
        self.assertTrue(self._failed_events()[0].details.will_attempt_retry)
        self._deliver()
        self.assertEqual(self.tx.state, "pending")
        self.assertTrue(self.tx.gocardless_retrying)
        self.assertEqual(self.invoice.gocardless_debit_status, "retrying")
        self.assertEqual(self._alerts(), (self.env["mail.activity"], self.env["mail.message"]))
        # GoCardless retries it by itself: still "retrying", still no alarm.
        self.sandbox.autoretry_payment(payment_id)
        self._deliver()
        self.assertEqual(self._sandbox_payment(payment_id)["status"], "pending_submission")
        self.assertEqual(self.tx.state, "pending")
        self.assertEqual(self.invoice.gocardless_debit_status, "retrying")
        self.assertEqual(
            self.invoice.gocardless_debit_charge_date.isoformat(),
            self._sandbox_payment(payment_id)["charge_date"],
        )
        self.assertFalse(any(self._alerts()))
        # The retry fails for good: one alert.
        self.sandbox.fail_payment(payment_id)
        self.assertFalse(self._failed_events()[0].details.will_attempt_retry)  # newest first
        self._deliver()
        self.assertEqual(self.tx.state, "error")
        self.assertFalse(self.tx.gocardless_retrying)
        self.assertEqual(self.invoice.gocardless_debit_status, "failed")
        activities, messages = self._alerts()
        self.assertEqual(len(activities), 1)
        self.assertLessEqual(len(messages), 1)
        # GoCardless delivers the same events again: no second alert.
        for hook in self.sandbox.webhook_deliveries():
            body = hook["request_body"]
            answer = self.opener.post(
                self._build_url(GoCardlessController._webhook_url),
                data=body.encode() if isinstance(body, str) else body,
                headers={
                    "Content-Type": "application/json",
                    "Webhook-Signature": hook["signature"],
                },
                timeout=60,
            )
            self.assertIn(answer.status_code, (200, 204))
        with mute_logger(*LOGGERS):
            self._drain_ledger()
        self.invoice.invalidate_recordset()
        self.assertEqual(self._alerts()[0], activities)
        self.assertEqual(len(self._alerts()[1]), len(messages))

    def test_a_retry_that_succeeds_collects_the_invoice_without_any_alarm(self):
        payment_id = self.tx.provider_reference
        self.sandbox.fail_payment(payment_id, will_attempt_retry=True)
        self.sandbox.autoretry_payment(payment_id)
        self._simulate("payment_confirmed", payment_id)
        self._deliver()
        self.assertEqual(self.tx.state, "done")
        self.assertFalse(self.tx.gocardless_retrying)
        self.assertEqual(self.invoice.gocardless_debit_status, "collected")
        self.assertIn(self.invoice.payment_state, ("in_payment", "paid"))
        self.assertFalse(any(self._alerts()))
