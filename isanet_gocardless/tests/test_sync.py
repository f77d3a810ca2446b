# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import json
from datetime import timedelta
from unittest.mock import patch

from gocardless_pro.services.events_service import EventsService

from odoo.tests import tagged
from odoo.tools import mute_logger

from ..gocardless_core import webhooks
from .common import (
    GoCardlessFlowCommon,
)

CONTROLLER_LOGGER = "odoo.addons.isanet_gocardless.controllers.main"


@tagged("post_install", "-at_install")
class TestSync(GoCardlessFlowCommon):
    """Missed webhooks are recovered from GoCardless's event list into the same ledger."""

    def setUp(self):
        super().setUp()
        self._use_own_sandbox()  # the events of the other tests stay out of the event list
        # Only this provider is caught up by the cron.
        self.env["payment.provider"].sudo().search(
            [("code", "=", "gocardless"), ("id", "!=", self.gocardless.id)]
        ).write({"state": "disabled"})

    def _sandbox_event_ids(self):
        client = self.gocardless._gocardless_make_client()
        return {event.id for event in client.events.all(params={"limit": 500})}

    def _catch_up(self):
        return self.env["gocardless.event"]._gocardless_catch_up(self.gocardless)

    def _ledger(self):
        self.env.invalidate_all()
        return self.env["gocardless.event"].search([("provider_id", "=", self.gocardless.id)])

    def _paid_invoice_with_missed_webhooks(self):
        """Pay an invoice by direct debit; GoCardless confirms it; no webhook reaches Odoo."""
        invoice, tx, _response = self._pending_by_redirect(55.0)
        self._simulate("payment_confirmed", tx.provider_reference)
        self.assertFalse(self._ledger(), "No webhook was delivered.")
        return invoice, tx

    def _received_messages(self, invoice):
        return invoice.message_ids.filtered(lambda m: "Direct debit received" in (m.body or ""))

    def test_recovery_cron_imports_missed_events_exactly_once(self):
        invoice, tx = self._paid_invoice_with_missed_webhooks()
        sandbox_events = self._sandbox_event_ids()
        self.assertTrue(sandbox_events)

        self.env.ref("isanet_gocardless.cron_sync_gocardless_events").sudo().method_direct_trigger()
        ledger = self._ledger()
        self.assertEqual(set(ledger.mapped("event_id")), sandbox_events)
        self.assertEqual(len(ledger), len(sandbox_events))
        self.assertFalse(ledger.filtered(lambda e: e.state in ("received", "failed")))
        self.assertEqual(tx.state, "done")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertEqual(len(self._received_messages(invoice)), 1)
        self.assertTrue(self.gocardless.gocardless_events_synced_at)

        # Running again imports nothing new and applies nothing twice.
        new_count = self._catch_up().new
        self.assertEqual(new_count, 0)
        self.assertEqual(self._ledger(), ledger)

        # The missed webhooks arrive late: acknowledged as duplicates, applied once.
        deliveries = self._deliver_webhooks()
        self.assertEqual({hook["response_code"] for hook in deliveries}, {204})
        self.assertEqual(self._ledger(), ledger)
        self.assertEqual(len(self._received_messages(invoice)), 1)
        self.assertEqual(len(tx.payment_id), 1)
        self.gocardless.invalidate_recordset()
        self.assertEqual(self.gocardless.gocardless_events_duplicate_count, len(sandbox_events))
        self.assertEqual(self.gocardless.gocardless_events_processed_count, len(sandbox_events))
        self.assertTrue(self.gocardless.gocardless_last_webhook_at)

    def test_recovery_cron_goes_on_past_failing_providers(self):
        """One provider refused, one failing in an unforeseen way: the third is caught up and
        its events applied, in cursors of their own, without an error logged."""
        invoice, tx = self._paid_invoice_with_missed_webhooks()
        refused = self.gocardless.copy({"name": "GoCardless (refused)", "sequence": -2})
        broken = self.gocardless.copy({"name": "GoCardless (broken)", "sequence": -1})
        refused.write({"gocardless_access_token": "unknown_token", "state": "test"})
        broken.write({"gocardless_access_token": self.sandbox_token, "state": "test"})
        provider_class = type(self.env["payment.provider"])
        make_request = provider_class._gocardless_make_request

        def break_one(provider, *args, **kwargs):
            if provider.id == broken.id:
                raise RuntimeError("unforeseen answer")
            return make_request(provider, *args, **kwargs)

        cron = self.env.ref("isanet_gocardless.cron_sync_gocardless_events").sudo()
        with (
            patch.object(provider_class, "_gocardless_make_request", break_one),
            self.assertLogs("odoo.addons.isanet_gocardless", level="WARNING") as logs,
        ):
            cron.method_direct_trigger()
        self.assertEqual(
            [record.levelname for record in logs.records], ["WARNING", "WARNING"], logs.output
        )
        self.assertIn(f"provider {refused.id} could not be caught up", logs.output[0])
        self.assertIn(
            f"provider {broken.id} could not be caught up: unforeseen answer", logs.output[1]
        )
        self.assertEqual(set(self._ledger().mapped("event_id")), self._sandbox_event_ids())
        self.assertEqual(tx.state, "done")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertTrue(self.gocardless.gocardless_events_synced_at)
        self.assertFalse(refused.gocardless_events_synced_at or broken.gocardless_events_synced_at)

    def test_webhook_arriving_during_the_sync_is_applied_once(self):
        invoice, tx = self._paid_invoice_with_missed_webhooks()
        sandbox_events = self._sandbox_event_ids()
        list_events = EventsService.list
        test = self

        def list_then_deliver(service, *args, **kwargs):
            page = list_events(service, *args, **kwargs)
            # Between the sync's reading of the events and its recording of them, GoCardless
            # delivers the same events by webhook.
            deliveries = test._deliver_webhooks()
            test.assertEqual({hook["response_code"] for hook in deliveries}, {204})
            return page

        with patch.object(EventsService, "list", list_then_deliver):
            result = self._catch_up()
        new_count, transient = result.new, result.transient
        self.assertEqual(new_count, 0, "The webhook recorded every event first.")
        self.assertFalse(transient)
        ledger = self._ledger()
        self.assertEqual(set(ledger.mapped("event_id")), sandbox_events)
        self.assertEqual(len(ledger), len(sandbox_events))
        self.assertFalse(ledger.filtered(lambda e: e.state in ("received", "failed")))
        self.assertEqual(tx.state, "done")
        self.assertEqual(len(self._received_messages(invoice)), 1)
        self.assertEqual(len(tx.payment_id), 1)

    def test_sync_now_reads_only_events_after_the_last_one_seen(self):
        _invoice, tx = self._paid_invoice_with_missed_webhooks()
        action = self.gocardless.action_gocardless_sync_events()
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn("imported", action["params"]["message"])
        self.assertEqual(tx.state, "done")
        synced_at = self.gocardless.gocardless_events_synced_at

        list_events = EventsService.list
        seen_params = []

        def spy(service, *args, params=None, **kwargs):
            seen_params.append(dict(params or {}))
            return list_events(service, *args, params=params, **kwargs)

        with patch.object(EventsService, "list", spy):
            self._catch_up()
        self.assertEqual(seen_params[0]["limit"], 500)
        since = seen_params[0]["created_at[gt]"]
        self.assertLess(since, synced_at.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        earliest = synced_at - timedelta(minutes=11)
        self.assertGreater(since, earliest.strftime("%Y-%m-%dT%H:%M:%S.000Z"))

    def test_sync_error_is_reported_in_plain_words(self):
        self.gocardless.gocardless_access_token = "unknown_token"
        action = self.gocardless.action_gocardless_sync_events()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("could not be read from GoCardless", action["params"]["message"])

    def test_health_panel_counts_webhooks(self):
        self.gocardless.gocardless_webhook_secret = "webhook-secret"
        url = self._build_url("/payment/gocardless/webhook")
        event = {
            "id": "EVHEALTH1",
            "created_at": "2026-01-15T10:00:00.000Z",
            "resource_type": "creditors",
            "action": "updated",
            "links": {"creditor": "CR1"},
            "details": {"origin": "gocardless", "cause": "creditor_updated"},
        }
        body = json.dumps({"events": [event], "meta": {"webhook_id": "WB1"}}).encode()
        headers = {"Content-Type": "application/json"}
        for secret in ("webhook-secret", "webhook-secret", "wrong-secret"):
            with mute_logger(CONTROLLER_LOGGER):
                self.url_open(
                    url,
                    data=body,
                    headers={**headers, "Webhook-Signature": webhooks.sign(body, secret)},
                )
        self._drain_ledger()
        self.gocardless.invalidate_recordset()
        self.assertRecordValues(
            self.gocardless,
            [
                {
                    "gocardless_events_processed_count": 1,
                    "gocardless_events_duplicate_count": 1,
                    "gocardless_events_failed_count": 0,
                    "gocardless_signatures_rejected_count": 1,
                    "gocardless_events_waiting_count": 0,
                }
            ],
        )
        self.assertTrue(self.gocardless.gocardless_last_webhook_at)
