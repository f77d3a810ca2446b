# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json
import logging
import time
from unittest.mock import patch

import psycopg2
import requests

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..gocardless_core import webhooks
from .common import (
    CONTROLLER_LOGGER,
    EVENT_LOGGER,
    GoCardlessFlowCommon,
    GoCardlessWebhookCommon,
)

_logger = logging.getLogger(__name__)


@tagged("post_install", "-at_install")
class TestWebhook(GoCardlessWebhookCommon):
    @mute_logger(CONTROLLER_LOGGER)
    def test_unsigned_webhook_is_rejected_with_498(self):
        response = self._post_body(self._body([self._payment_event("confirmed")]), None)
        self.assertEqual(response.status_code, 498)
        self.assertFalse(self._ledger())

    def test_wrongly_signed_webhook_is_rejected_with_498_and_records_nothing(self):
        self._set_payment("confirmed")
        body = self._body([self._payment_event("confirmed")])
        with self.assertLogs(CONTROLLER_LOGGER, level="WARNING") as logs:
            response = self._post_body(body, webhooks.sign(body, "another-secret"))
        self.assertEqual(response.status_code, 498)
        self.assertIn("invalid signature", logs.output[0])
        self.assertNotIn("PM123", logs.output[0], "The body is never echoed in the logs.")
        self.assertFalse(self._ledger())
        self.assertEqual(self.tx.state, "pending")
        self.assertFalse(self.api_reads)

    @mute_logger(CONTROLLER_LOGGER)
    def test_non_ascii_signature_is_rejected_with_498(self):
        body = self._body([self._payment_event("confirmed")])
        response = self._post_body(body, "é" * 64)
        self.assertEqual(response.status_code, 498)

    @mute_logger(CONTROLLER_LOGGER)
    def test_signed_malformed_json_is_rejected_with_400(self):
        for body in (b'{"events": [', b'{"no_events": []}', b'{"events": [{"action": "x"}]}'):
            response = self._post_body(body, webhooks.sign(body, "webhook-secret"))
            self.assertEqual(response.status_code, 400, body)
        self.assertFalse(self._ledger())

    def test_confirmed_payment_webhook_is_acknowledged_and_pays_the_invoice(self):
        self._set_payment("confirmed")
        response = self._post_events([self._payment_event("confirmed", event_id="EV1")])
        self.assertEqual(response.status_code, 204)
        event = self._ledger("EV1")
        self.assertRecordValues(
            event,
            [
                {
                    "state": "processed",
                    "resource_type": "payments",
                    "action": "confirmed",
                    "resource_id": "PM123",
                    "webhook_id": "WB123",
                    "provider_id": self.gocardless.id,
                    "company_id": self.gocardless.company_id.id,
                    "transaction_id": self.tx.id,
                }
            ],
        )
        self.assertEqual(json.loads(event.raw)["id"], "EV1")
        self.assertEqual(self.tx.state, "done")
        self.assertIn(self.invoice.payment_state, ("paid", "in_payment"))

    def test_duplicate_event_is_acknowledged_and_applied_once(self):
        self._set_payment("confirmed")
        events = [self._payment_event("confirmed", event_id="EV1")]
        self.assertEqual(self._post_events(events).status_code, 204)
        self.assertEqual(self._post_events(events).status_code, 204)
        # Also twice in the same webhook.
        self.assertEqual(self._post_events(events * 2).status_code, 204)
        self.assertEqual(len(self._ledger("EV1")), 1)
        self.assertEqual(self.api_reads, [("payments", "PM123")])
        self.assertEqual(len(self.tx.payment_id), 1)
        payments = self.env["account.payment"].search([("payment_transaction_id", "=", self.tx.id)])
        self.assertEqual(len(payments), 1)
        self.assertEqual(len(self._messages("Direct debit received")), 1)

    def test_unknown_event_is_acknowledged_and_recorded_as_ignored(self):
        events = [
            self._event("creditors", "updated", "CR123", event_id="EV1"),
            self._event("payments", "teleported", "PM123", event_id="EV2"),
        ]
        response = self._post_events(events)
        self.assertEqual(response.status_code, 204)
        self.assertEqual(self._ledger("EV1").state, "ignored")
        self.assertEqual(self._ledger("EV2").state, "ignored")
        self.assertIn("payments/teleported", self._ledger("EV2").error_message)
        self.assertEqual(self.tx.state, "pending")

    def test_webhook_of_a_second_provider_is_verified_with_its_own_secret(self):
        other_company = self.env["res.company"].create({"name": "GoCardless Other Company"})
        other = self._prepare_provider(
            "gocardless",
            company=other_company,
            update_values={
                "gocardless_access_token": "other_token",
                "gocardless_webhook_secret": "other-secret",
            },
        )
        response = self._post_events(
            [self._event("creditors", "updated", "CR1", event_id="EV1")], secret="other-secret"
        )
        self.assertEqual(response.status_code, 204)
        self.assertEqual(self._ledger("EV1").provider_id, other)
        self.assertEqual(self._ledger("EV1").company_id, other_company)

    def test_batch_of_250_events_is_answered_fast(self):
        self._set_payment("confirmed")
        events = [self._payment_event("confirmed")]
        events += [
            self._event("payments", "submitted", f"PMX{i}", odoo_ref=False) for i in range(150)
        ]
        events += [self._event("creditors", "updated", "CR123") for _i in range(99)]
        self.assertEqual(len(events), 250)
        start = time.monotonic()
        response = self._post_events(events, drain=False)
        elapsed = time.monotonic() - start
        _logger.info("gocardless webhook: 250 events answered in %.2f s", elapsed)
        self.assertEqual(response.status_code, 204)
        self.assertLess(elapsed, 8.0, "GoCardless gives up after 10 seconds.")
        self.assertEqual(len(self._ledger()), 250)
        self._drain_ledger()
        self.assertFalse(self._ledger().filtered(lambda e: e.state == "received"))
        self.assertEqual(self.tx.state, "done")

    def test_webhook_records_and_answers_then_the_cron_applies(self):
        """Nothing is applied before the answer: no call to GoCardless, no email."""
        self._set_payment("confirmed")
        cron = self.env.ref("isanet_gocardless.cron_process_gocardless_events")
        triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)])
        response = self._post_events(
            [self._payment_event("confirmed", event_id="EV1")], drain=False
        )
        self.assertEqual(response.status_code, 204)
        self.assertEqual(self._ledger("EV1").state, "received")
        self.assertEqual(self.api_reads, [])
        self.assertEqual(self.tx.state, "pending")
        new_triggers = self.env["ir.cron.trigger"].search([("cron_id", "=", cron.id)]) - triggers
        self.assertTrue(new_triggers, "The cron is woken at once.")
        cron.sudo().method_direct_trigger()
        self.assertEqual(self._ledger("EV1").state, "processed")
        self.assertEqual(self.tx.state, "done")

    @mute_logger(EVENT_LOGGER)
    def test_transient_error_keeps_the_event_waiting_then_the_retry_applies_once(self):
        """GoCardless unreachable: the webhook was answered, the event waits with a backoff,
        a redelivery does not apply it twice, the retry applies it once."""
        self.api_resources[("payments", "PM123")] = requests.ConnectionError("API unreachable")
        events = [self._payment_event("confirmed", event_id="EV1")]
        response = self._post_events(events)
        self.assertEqual(response.status_code, 204)
        event = self._ledger("EV1")
        self.assertEqual(event.state, "received", "A temporary error loses nothing.")
        self.assertEqual(event.attempt_count, 1)
        self.assertIn("API unreachable", event.error_message)
        self.assertTrue(event.next_attempt_at)
        self.assertEqual(self.tx.state, "pending")

        self._set_payment("confirmed")
        self.assertEqual(self._post_events(events).status_code, 204)
        self.assertEqual(self._ledger("EV1").state, "received", "not due before its backoff")
        self._drain_ledger(include_waiting=True)
        self.assertEqual(self._post_events(events).status_code, 204)
        self.assertEqual(self._ledger("EV1").state, "processed")
        self.assertEqual(self.tx.state, "done")
        self.assertEqual(len(self._messages("Direct debit received")), 1)
        self.assertEqual(len(self.api_reads), 2)

    @mute_logger(EVENT_LOGGER)
    def test_database_error_while_applying_keeps_the_event_waiting(self):
        self._set_payment("confirmed")
        error = psycopg2.errors.SerializationFailure("conflict")
        with patch.object(
            self.env.registry["payment.transaction"],
            "_handle_notification_data",
            side_effect=error,
        ):
            response = self._post_events([self._payment_event("confirmed", event_id="EV1")])
        self.assertEqual(response.status_code, 204)
        self.assertEqual(self._ledger("EV1").state, "received")
        self.assertEqual(self.tx.state, "pending")

    def test_concurrent_delivery_of_the_same_event_is_recorded_again_not_refused(self):
        """Another delivery of the event committed after this request's snapshot: the
        insert meets a serialization failure, the recording is run again in a new snapshot."""

        class Conflict(psycopg2.errors.SerializationFailure):
            pgcode = "40001"

        record = self.env.registry["gocardless.event"]._gocardless_record
        calls = []

        def record_after_a_conflict(model, *args, **kwargs):
            calls.append([event.id for event in args[1]])
            if len(calls) == 1:
                raise Conflict("could not serialize access due to concurrent update")
            return record(model, *args, **kwargs)

        with patch.object(
            self.env.registry["gocardless.event"], "_gocardless_record", record_after_a_conflict
        ):
            response = self._post_events(
                [self._event("creditors", "updated", "CR1", event_id="EV1")], drain=False
            )
        self.assertEqual(response.status_code, 204)
        self.assertEqual(calls, [["EV1"], ["EV1"]])
        self.assertEqual(self._ledger("EV1").state, "received")

    @mute_logger(CONTROLLER_LOGGER)
    def test_lost_database_answers_503_so_gocardless_retries(self):
        error = psycopg2.OperationalError("server closed the connection unexpectedly")
        with patch.object(
            self.env.registry["gocardless.event"], "_gocardless_record", side_effect=error
        ):
            response = self._post_events([self._payment_event("confirmed", event_id="EV1")])
        self.assertEqual(response.status_code, 503)
        self.assertFalse(self._ledger("EV1"))


@tagged("post_install", "-at_install")
class TestWebhookWithSandbox(GoCardlessFlowCommon):
    """End to end: the local GoCardless sandbox sends signed webhooks to Odoo's route."""

    def test_sandbox_webhooks_pay_then_reopen_the_invoice(self):
        invoice, tx, _response = self._pending_by_redirect(42.0)

        self._simulate("payment_confirmed", tx.provider_reference)
        deliveries = self._deliver_webhooks()
        self.assertTrue(deliveries)
        self.assertEqual({hook["response_code"] for hook in deliveries}, {204})
        self.assertEqual(tx.state, "done")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertTrue(
            invoice.message_ids.filtered(lambda m: "Direct debit received" in (m.body or ""))
        )
        ledger = self.env["gocardless.event"].search([])
        self.assertFalse(ledger.filtered(lambda e: e.state in ("received", "failed")))

        # GoCardless sends a webhook again: acknowledged, nothing applied twice.
        self.assertTrue(self.sandbox.sandbox.dispatcher.retry(deliveries[-1]["id"]))
        self.sandbox.flush_webhooks()
        self._drain_ledger()
        self.assertEqual(len(self.env["gocardless.event"].search([])), len(ledger))
        self.assertEqual(
            len(invoice.message_ids.filtered(lambda m: "Direct debit received" in (m.body or ""))),
            1,
        )

        self._simulate("payment_late_failure", tx.provider_reference)
        # Taken back once: no second, refused, change of the cancelled transaction's state.
        with self.assertNoLogs("odoo.addons.payment.models.payment_transaction", "WARNING"):
            deliveries = self._deliver_webhooks()
        self.assertEqual({hook["response_code"] for hook in deliveries}, {204})
        self.assertEqual(tx.state, "cancel")
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertTrue(invoice.activity_ids.filtered(lambda a: a.summary == "Direct debit failed"))

    def _three_confirmed_debits(self):
        """Three invoices paid by redirect, their debits confirmed, their events delivered
        (not applied yet); return the invoices and the sandbox's request log mark."""
        paid = [self._pending_by_redirect(amount) for amount in (31.0, 32.0, 33.0)]
        self._deliver_webhooks()  # the set-up's events
        for _invoice, tx, _response in paid:
            self._simulate("payment_confirmed", tx.provider_reference)
        self.assertTrue(self._deliver_webhooks(drain=False))
        invoices = self.env["account.move"].browse([invoice.id for invoice, _tx, _r in paid])
        return invoices, self.sandbox.request_log_mark()

    def _reads(self, mark):
        """The sandbox's GETs since ``mark``: those of payment events with their payments, and
        those of one payment."""
        log = [entry for entry in self.sandbox.request_log(mark) if entry["method"] == "GET"]
        together = [
            entry
            for entry in log
            if entry["path"] == "/events" and entry["query"].get("include") == ["payment"]
        ]
        alone = [entry for entry in log if entry["path"].startswith("/payments/")]
        return together, alone

    def _assert_paid_once(self, invoices):
        for invoice in invoices:
            self.assertIn(invoice.payment_state, ("paid", "in_payment"))
            self.assertEqual(len(invoice.transaction_ids.payment_id), 1)
            messages = invoice.message_ids.filtered(
                lambda m: "Direct debit received" in (m.body or "")
            )
            self.assertEqual(len(messages), 1)
        ledger = self.env["gocardless.event"].search([])
        self.assertFalse(ledger.filtered(lambda e: e.state in ("received", "failed")))

    def test_sandbox_the_payments_of_a_webhook_are_read_in_one_request(self):
        invoices, mark = self._three_confirmed_debits()
        self._drain_ledger()
        together, alone = self._reads(mark)
        self.assertEqual(len(together), 1)
        self.assertEqual(together[0]["status"], 200)
        self.assertEqual(together[0]["query"]["resource_type"], ["payments"])
        self.assertEqual(alone, [])
        self._assert_paid_once(invoices)

    def test_sandbox_the_read_together_failing_reads_each_payment(self):
        for mode in ("500", "refuse", "hang"):
            with self.subTest(mode):
                invoices, mark = self._three_confirmed_debits()
                self.sandbox.set_fault(mode, "/events", method="GET", hang_timeout=1)
                try:
                    self._drain_ledger()
                finally:
                    self.sandbox.clear_fault()
                together, alone = self._reads(mark)
                self.assertTrue(together)
                self.assertFalse([entry for entry in together if entry["status"] == 200])
                # Each payment read on its own: its submitted and confirmed events.
                self.assertEqual(
                    {entry["path"] for entry in alone},
                    {
                        f"/payments/{ref}"
                        for ref in invoices.transaction_ids.mapped("provider_reference")
                    },
                )
                self._assert_paid_once(invoices)
