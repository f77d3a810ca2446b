# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""One pipeline for state: whatever the door (webhook of each resource type, return and exit
routes, saved mandate, refund), a transaction's state changes only inside Odoo's
`_handle_notification_data`; mandate events keep the token's status current."""

from contextlib import contextmanager
from unittest.mock import patch

import requests

from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .common import (
    EVENT_LOGGER,
    GoCardlessFlowMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
    GoCardlessWebhookCommon,
)

TX_LOGGER = "odoo.addons.payment.models.payment_transaction"


class PipelineSpyMixin:
    @contextmanager
    def _pipeline_spy(self):
        """Record each state change of a transaction, inside or outside the pipeline.

        :return: Two lists of ``(references, target state)``: changes made while
                 `_handle_notification_data` runs, and changes made outside it. The resource
                 each outermost call names (`gocardless_resource_type`, None for another door)
                 is kept in ``self.pipeline_doors``.
        """
        Tx = self.env.registry["payment.transaction"]
        handle, update = Tx._handle_notification_data, Tx._update_state
        depth, inside, outside = [0], [], []
        self.pipeline_doors = []

        def spy_handle(tx, provider_code, notification_data):
            if not depth[0]:
                self.pipeline_doors.append(notification_data.get("gocardless_resource_type"))
            depth[0] += 1
            try:
                return handle(tx, provider_code, notification_data)
            finally:
                depth[0] -= 1

        def spy_update(txs, allowed_states, target_state, state_message):
            changed = update(txs, allowed_states, target_state, state_message)
            if changed:
                (inside if depth[0] else outside).append(
                    (tuple(changed.mapped("reference")), target_state)
                )
            return changed

        with (
            patch.object(Tx, "_handle_notification_data", spy_handle),
            patch.object(Tx, "_update_state", spy_update),
        ):
            yield inside, outside


@tagged("post_install", "-at_install")
class TestPipelineOfEvents(PipelineSpyMixin, GoCardlessWebhookCommon):
    """Each GoCardless resource type changes its transaction through the pipeline."""

    def test_payment_events_go_through_the_pipeline(self):
        with self._pipeline_spy() as (inside, outside):
            for status in ("submitted", "confirmed", "failed"):
                self._set_payment(status)
                self._receive([self._payment_event(status)])
        self.assertEqual(self.tx.state, "cancel")
        self.assertEqual(
            [target for _refs, target in inside], ["done", "cancel"], "pending was already set"
        )
        self.assertEqual(outside, [])

    def _assert_through_the_pipeline(self, tx, event, state):
        """Receiving ``event`` makes ``tx`` ``state``, inside the pipeline and nowhere else,
        through one call of the pipeline naming the event's resource."""
        with self._pipeline_spy() as (inside, outside):
            self._receive([event])
        self.assertEqual(tx.state, state)
        self.assertEqual(inside, [((tx.reference,), state)])
        self.assertEqual(outside, [])
        self.assertEqual(self.pipeline_doors, [event["resource_type"]])

    def test_each_event_of_a_transaction_enters_the_pipeline_once(self):
        with self._pipeline_spy() as (inside, outside):
            for status in ("submitted", "confirmed"):
                self._set_payment(status)
                self._receive([self._payment_event(status)])
        self.assertEqual(self.pipeline_doors, ["payments", "payments"])
        self.assertEqual(inside, [((self.tx.reference,), "done")])
        self.assertEqual(outside, [])

    def test_event_of_an_unknown_payment_is_ignored_by_the_pipeline(self):
        self.api_resources[("payments", "PM999")] = {"id": "PM999", "status": "confirmed"}
        event = self._event("payments", "confirmed", "PM999", event_id="EV1", odoo_ref=False)
        with self._pipeline_spy() as (inside, outside):
            self._receive([event])
        self.assertEqual(self.pipeline_doors, ["payments"])
        self.assertEqual((inside, outside), ([], []))
        self.assertEqual(self._ledger("EV1").state, "ignored")
        self.assertIn("PM999", self._ledger("EV1").error_message)
        self.assertEqual(self.tx.state, "pending")

    def test_billing_request_events_go_through_the_pipeline(self):
        tx = self._billing_request_tx("cancelled")
        event = self._event("billing_requests", "cancelled", "BRQ123")
        self._assert_through_the_pipeline(tx, event, "cancel")

    def test_refund_events_go_through_the_pipeline(self):
        refund_tx = self._refund_tx("R-INV-GC-1", "RF123", "paid")
        event = self._event("refunds", "paid", "RF123")
        self._assert_through_the_pipeline(refund_tx, event, "done")

    def test_a_gocardless_outage_stops_the_batch_and_loses_nothing(self):
        """The first read-back that can't reach GoCardless ends the batch: the other events
        wait for the retry instead of each waiting for nothing."""
        self.api_resources[("payments", "PM123")] = requests.ConnectionError("unreachable")
        with mute_logger(EVENT_LOGGER):
            retry = self._receive(
                [
                    self._payment_event("submitted", event_id="EV1"),
                    self._payment_event("confirmed", event_id="EV2"),
                ]
            )
        self.assertTrue(retry)
        self.assertEqual(self.api_reads, [("payments", "PM123")])
        self.assertEqual(self._ledger("EV1").state, "received")
        self.assertEqual(self._ledger("EV2").state, "received")
        self._set_payment("confirmed")
        self._drain_ledger(include_waiting=True)
        self.assertEqual(set(self._ledger().mapped("state")), {"processed"})
        self.assertEqual(self.tx.state, "done")


@tagged("post_install", "-at_install")
class TestMandateLifecycle(GoCardlessWebhookCommon):
    """Every mandate event updates the status of the mandate's token the merchant sees."""

    def setUp(self):
        super().setUp()
        self.token = self._create_token(
            provider_ref="MD123",
            payment_method_id=self.sepa.id,
            gocardless_mandate_status="pending_submission",
        )

    def _mandate_event(self, action, status, **links):
        self.api_resources[("mandates", "MD123")] = {"id": "MD123", "status": status}
        self._receive([self._event("mandates", action, "MD123", **links)])
        self.token.invalidate_recordset()

    def test_active_event_shows_the_mandate_active(self):
        self._mandate_event("submitted", "submitted")
        self.assertEqual(self.token.gocardless_mandate_status, "submitted")
        self._mandate_event("active", "active")
        self.assertEqual(self.token.gocardless_mandate_status, "active")
        self.assertTrue(self.token.active)

    def test_each_event_shows_the_status_read_back(self):
        """Events arrive out of order: the status shown is GoCardless's current one."""
        self._mandate_event("created", "active")
        self.assertEqual(self.token.gocardless_mandate_status, "active")

    def test_failed_cancelled_and_expired_mandates_archive_the_token(self):
        for action in ("failed", "cancelled", "expired"):
            with self.subTest(action=action):
                self.token.write({"active": True, "gocardless_mandate_status": "active"})
                self._mandate_event(action, action)
                self.assertFalse(self.token.active)
                self.assertEqual(self.token.gocardless_mandate_status, action)

    def test_reinstated_mandate_restores_its_token(self):
        self._mandate_event("cancelled", "cancelled")
        self.assertFalse(self.token.active)
        self._mandate_event("reinstated", "active")
        self.assertTrue(self.token.active)
        self.assertEqual(self.token.gocardless_mandate_status, "active")

    def test_replaced_mandate_shows_the_new_mandates_status(self):
        self.api_resources[("mandates", "MD456")] = {"id": "MD456", "status": "active"}
        self._receive([self._event("mandates", "replaced", "MD123", new_mandate="MD456")])
        self.assertEqual(self.token.provider_ref, "MD456")
        self.assertEqual(self.token.gocardless_mandate_status, "active")


@tagged("post_install", "-at_install")
class TestPipelineOfFlows(
    PipelineSpyMixin,
    GoCardlessFlowMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
    PaymentHttpCommon,
):
    """The customer's and the merchant's doors change states through the pipeline too."""

    def test_return_from_gocardless_goes_through_the_pipeline(self):
        invoice = self._create_customer_invoice(amount=50.0)
        with self._pipeline_spy() as (inside, outside):
            tx, _response = self._pay_by_redirect(invoice)
        self.assertEqual(tx.state, "pending")
        self.assertIn(((tx.reference,), "pending"), inside)
        self.assertEqual(outside, [])

    def test_leaving_gocardless_goes_through_the_pipeline(self):
        invoice = self._create_customer_invoice(amount=50.0)
        tx, _page = self._start_redirect_flow(invoice)
        with self._pipeline_spy() as (inside, outside), mute_logger(TX_LOGGER):
            tx._gocardless_handle_exit()
        self.assertEqual(tx.state, "cancel")
        self.assertEqual(inside, [((tx.reference,), "cancel")])
        self.assertEqual(outside, [])

    def test_saved_mandate_and_refund_go_through_the_pipeline(self):
        first, _response = self._pay_by_redirect(self._create_customer_invoice(amount=50.0))
        token = first.token_id
        invoice = self._create_customer_invoice(amount=30.0)
        with self._pipeline_spy() as (inside, outside), mute_logger(TX_LOGGER):
            invoice.action_gocardless_collect()
            tx = invoice.transaction_ids
            self.assertEqual(tx.token_id, token)
            self.assertEqual(tx.state, "pending")
            self._simulate("payment_confirmed", tx.provider_reference)
            payment = self._sandbox_client().payments.get(tx.provider_reference).attributes
            tx._handle_notification_data("gocardless", {"gocardless_payment": payment})
            tx._post_process()
            refund_tx = tx._send_refund_request(amount_to_refund=10.0)
        self.assertEqual(refund_tx.state, "pending")
        self.assertEqual(
            inside,
            [
                ((tx.reference,), "pending"),
                ((tx.reference,), "done"),
                ((refund_tx.reference,), "pending"),
            ],
        )
        self.assertEqual(outside, [])

    def test_invoice_transaction_refusal_creates_nothing_and_changes_nothing(self):
        invoice = self._create_customer_invoice(amount=50.0)
        invoice.gocardless_offered = False
        with self._pipeline_spy() as (inside, outside), mute_logger("odoo.http"):
            answer = self._call_invoice_transaction(
                invoice, **self._invoice_transaction_values(invoice)
            )
        self.assertIn("error", answer)
        self.assertEqual((inside, outside), ([], []))
        self.assertFalse(invoice.transaction_ids)
        self.assertFalse(
            self.env["payment.transaction"].search(
                [("invoice_ids", "in", invoice.ids), ("state", "!=", "draft")]
            )
        )

    def _sandbox_payments(self, tx):
        client = self._sandbox_client()
        return client.payments.list(params={"mandate": tx.token_id.provider_ref}).records

    def test_return_then_webhook_of_one_billing_request_create_one_payment(self):
        invoice = self._create_customer_invoice(amount=50.0)
        tx, _response = self._pay_by_redirect(invoice)
        payment_id = tx.provider_reference
        with mute_logger(TX_LOGGER):
            self._deliver_webhooks()  # billing request fulfilled, mandate, payment created
        self.assertEqual(tx.provider_reference, payment_id)
        self.assertEqual([p.id for p in self._sandbox_payments(tx)], [payment_id])
        self.assertFalse(
            self.env["gocardless.event"].search([("state", "in", ("failed", "received"))])
        )

    def test_webhook_then_return_of_one_billing_request_create_one_payment(self):
        invoice = self._create_customer_invoice(amount=50.0)
        tx, page = self._start_redirect_flow(invoice)
        answer = self._approve_mandate(page, allow_redirects=False)
        self.assertIn(answer.status_code, (302, 303))
        with mute_logger(TX_LOGGER):
            self._deliver_webhooks()  # the cron completes the transaction first
        tx.invalidate_recordset()
        payment_id = tx.provider_reference
        self.assertTrue(payment_id)
        with mute_logger(TX_LOGGER):
            response = self.opener.get(answer.headers["Location"], timeout=30)
        self.assertTrue(response.url.startswith(self._build_url("/payment/status")))
        tx.invalidate_recordset()
        self.assertEqual(tx.state, "pending")
        self.assertEqual(tx.provider_reference, payment_id)
        self.assertEqual([p.id for p in self._sandbox_payments(tx)], [payment_id])
