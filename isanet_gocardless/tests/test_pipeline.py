# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""One pipeline for state: whatever the door (webhook of each resource type, return and exit
routes, saved mandate, refund, a debit refused from *Collect*, the automatic collection or a
replacement debit), a transaction's state changes only inside Odoo's
`_handle_notification_data`; one method creates GoCardless payments; mandate events keep the
token's status current."""

import ast
import sys
from contextlib import contextmanager
from pathlib import Path
from unittest.mock import patch

import requests

from odoo import models
from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .. import utils
from ..gocardless_core.errors import ApiCallError
from .common import (
    EVENT_LOGGER,
    GoCardlessFlowMixin,
    GoCardlessMandateMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
    GoCardlessWebhookCommon,
)

TX_LOGGER = "odoo.addons.payment.models.payment_transaction"
DEBIT_LOGGERS = (
    "odoo.http",
    TX_LOGGER,
    "odoo.addons.isanet_gocardless.models.account_move",
    "odoo.addons.isanet_gocardless.models.account_move_debits",
    "odoo.addons.isanet_gocardless.models.payment_provider",
    "odoo.addons.isanet_gocardless.models.payment_transaction",
    "odoo.addons.isanet_gocardless.models.payment_transaction_attempt",
)
ADDON_DIR = Path(__file__).resolve().parent.parent
TESTS_DIR = Path(__file__).resolve().parent
# The one method that asks GoCardless to create a payment.
PAYMENT_CREATOR = "_gocardless_send_payment_create"


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

    @contextmanager
    def _notification_spy(self, model):
        """Record each call of ``model``'s `_gocardless_handle_notification`: its arguments,
        and what it returned or raised."""
        Model = self.env.registry[model]
        original = Model._gocardless_handle_notification
        calls = []

        def spy(records, *args, **kwargs):
            call = {"args": args, "kwargs": kwargs}
            calls.append(call)
            try:
                call["result"] = original(records, *args, **kwargs)
            except Exception as error:
                call["error"] = error
                raise
            return call["result"]

        with patch.object(Model, "_gocardless_handle_notification", spy):
            yield calls

    def _assert_only_the_notification(self, call, resource_type, resource_id):
        """The model was handed one notification, naming the resource, the company and the
        provider of the event: no ledger row, no event object."""
        self.assertEqual(call["kwargs"], {})
        self.assertEqual(len(call["args"]), 1)
        notification = call["args"][0]
        self.assertIsInstance(notification, dict)
        self.assertEqual(notification["gocardless_resource_type"], resource_type)
        self.assertEqual(notification["gocardless_resource_id"], resource_id)
        self.assertEqual(notification["gocardless_company_id"], self.gocardless.company_id.id)
        self.assertEqual(notification["gocardless_provider_id"], self.gocardless.id)
        for value in notification.values():
            self.assertNotIsInstance(value, models.BaseModel)

    def test_a_mandate_event_hands_the_token_its_notification_once(self):
        self.api_resources[("mandates", "MD123")] = {"id": "MD123", "status": "cancelled"}
        with self._notification_spy("payment.token") as calls:
            self._receive([self._event("mandates", "cancelled", "MD123", event_id="EV1")])
        self.assertEqual(len(calls), 1)
        self._assert_only_the_notification(calls[0], "mandates", "MD123")
        self.assertEqual(calls[0]["args"][0]["gocardless_outcome"], "mandate_ended")
        self.assertEqual(calls[0]["result"], ("processed", None, self.token))
        self.assertEqual(self._ledger("EV1").state, "processed")
        self.assertFalse(self.token.active)

    def test_an_unknown_mandate_is_a_dedicated_refusal_recorded_as_ignored(self):
        with self._notification_spy("payment.token") as calls:
            self._receive([self._event("mandates", "cancelled", "MD999", event_id="EV1")])
        self.assertEqual(len(calls), 1)
        self.assertIsInstance(calls[0].get("error"), utils.GoCardlessUnknownResource)
        self.assertEqual(self._ledger("EV1").state, "ignored")
        self.assertIn("MD999", self._ledger("EV1").error_message)
        self.assertFalse(self._ledger("EV1").transaction_id)
        self.assertTrue(self.token.active)

    def test_a_payout_event_hands_the_payout_its_notification_once(self):
        fetched = []

        def fetch(payouts, provider, payout_id):
            fetched.append((provider, payout_id))
            return payouts.browse()

        Payout = self.env.registry["gocardless.payout"]
        with (
            self._notification_spy("gocardless.payout") as calls,
            patch.object(Payout, "_gocardless_fetch", fetch),
        ):
            self._receive([self._event("payouts", "paid", "PO123", event_id="EV1")])
        self.assertEqual(len(calls), 1)
        self._assert_only_the_notification(calls[0], "payouts", "PO123")
        self.assertEqual(fetched, [(self.gocardless, "PO123")])
        self.assertEqual(self._ledger("EV1").state, "processed")

    def test_a_payout_no_provider_received_is_an_unknown_resource(self):
        with self.assertRaisesRegex(utils.GoCardlessUnknownResource, "No GoCardless provider"):
            self.env["gocardless.payout"]._gocardless_handle_notification(
                {"gocardless_resource_type": "payouts", "gocardless_resource_id": "PO123"}
            )


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


@tagged("post_install", "-at_install")
class TestPipelineOfDebits(
    PipelineSpyMixin,
    GoCardlessFlowMixin,
    GoCardlessMandateMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
    PaymentHttpCommon,
):
    """The merchant's and the cron's debits: refused, they end in error through the pipeline;
    made, they are created by one method."""

    REFUSAL = "Validation failed: the mandate cannot be charged"

    def setUp(self):
        super().setUp()
        self.token, self.mandate = self._sandbox_mandate_token()
        # The provider knows its creditor already (read when it was connected).
        self.gocardless.gocardless_creditor_identifiers = "sepa_core: SBX-SEPA_CORE"
        self.bank = self.company_data["default_journal_bank"]

    # === HELPERS === #

    @contextmanager
    def _gocardless_refuses_payments(self):
        """GoCardless refuses every payment create (a final refusal, not an outage)."""
        Provider = self.env.registry["payment.provider"]
        original = Provider._gocardless_make_request

        def refuse(provider, resource, action, *args, **kwargs):
            if (resource, action) == ("payments", "create"):
                api_error = ApiCallError(self.REFUSAL, "validation", False, status=422)
                raise utils.GoCardlessRequestError(
                    provider._gocardless_error_message(api_error), api_error
                )
            return original(provider, resource, action, *args, **kwargs)

        with patch.object(Provider, "_gocardless_make_request", refuse):
            yield

    @contextmanager
    def _payment_create_spy(self):
        """Record, for each payment create sent to GoCardless, the addon's methods on the call
        stack (innermost first), by flow: ``self.flow`` names the flow under way."""
        Provider = self.env.registry["payment.provider"]
        original = Provider._gocardless_make_request
        creates = []

        def spy(provider, resource, action, *args, **kwargs):
            if (resource, action) == ("payments", "create"):
                names, frame = [], sys._getframe(1)
                while frame:
                    path = Path(frame.f_code.co_filename).resolve()
                    if ADDON_DIR in path.parents and TESTS_DIR not in path.parents:
                        names.append(frame.f_code.co_name)
                    frame = frame.f_back
                creates.append((self.flow, names))
            return original(provider, resource, action, *args, **kwargs)

        with patch.object(Provider, "_gocardless_make_request", spy):
            yield creates

    def _pay(self, invoice, amount):
        with mute_logger(*DEBIT_LOGGERS):
            self.env["account.payment.register"].with_context(
                active_model="account.move", active_ids=invoice.ids
            ).create({"journal_id": self.bank.id, "amount": amount})._create_payments()

    def _assert_refused_in_the_pipeline(self, tx, inside, outside):
        """``tx`` ended in error with GoCardless's refusal, each change inside the pipeline."""
        self.assertEqual(tx.state, "error")
        self.assertIn(self.REFUSAL, tx.state_message)
        self.assertEqual(inside, [((tx.reference,), "error")])
        self.assertEqual(outside, [])
        self.assertEqual(self.pipeline_doors, [None])

    # === REFUSED === #

    def test_collect_refused_by_gocardless_ends_in_error_through_the_pipeline(self):
        invoice = self._create_customer_invoice(amount=40.0)
        with (
            self._pipeline_spy() as (inside, outside),
            self._gocardless_refuses_payments(),
            mute_logger(*DEBIT_LOGGERS),
            # (`assertRaisesRegex`: Odoo's `assertRaises` would roll the refusal back.)
            self.assertRaisesRegex(ValidationError, "mandate cannot be charged"),
        ):
            invoice.action_gocardless_collect()
        self._assert_refused_in_the_pipeline(invoice.transaction_ids, inside, outside)

    def test_collect_refused_by_the_guard_ends_in_error_through_the_pipeline(self):
        invoice = self._create_customer_invoice(amount=64.0)
        # Part of the invoice was paid meanwhile: the draft's amount is refused by the guard.
        draft = self._collection_interrupted_then_part_paid(invoice, 14.0, self.bank)
        mark = self.sandbox.request_log_mark()
        with (
            self._pipeline_spy() as (inside, outside),
            mute_logger(*DEBIT_LOGGERS),
            self.assertRaisesRegex(ValidationError, "GoCardless"),
        ):
            invoice.action_gocardless_collect()
        self.assertEqual(draft.state, "error")
        self.assertFalse(self.sandbox.request_log(mark))
        # The guard's own end of the attempt is undone with the savepoint of the collection;
        # Collect ends it again: every change made inside the pipeline, by one call each.
        self.assertTrue(inside)
        self.assertEqual(set(inside), {((draft.reference,), "error")})
        self.assertEqual(len(self.pipeline_doors), len(inside))
        self.assertEqual(outside, [])

    def test_automatic_collection_refused_ends_in_error_through_the_pipeline(self):
        self.gocardless.gocardless_auto_collect = True
        invoice = self._create_customer_invoice(amount=55.0)
        self.assertEqual(invoice.gocardless_auto_collect_state, "queued")
        with (
            self._pipeline_spy() as (inside, outside),
            self._gocardless_refuses_payments(),
            mute_logger(*DEBIT_LOGGERS),
        ):
            self.env["account.move"]._cron_gocardless_auto_collect()
        self.assertEqual(invoice.gocardless_auto_collect_state, "refused")
        self._assert_refused_in_the_pipeline(invoice.transaction_ids, inside, outside)
        self.assertIn(
            "Automatic direct debit not requested",
            "\n".join(invoice.message_ids.mapped("body")),
        )

    def test_replacement_debit_refused_ends_in_error_through_the_pipeline(self):
        invoice = self._create_customer_invoice(amount=100.0)
        with mute_logger(*DEBIT_LOGGERS):
            invoice.action_gocardless_collect()
        old_tx = invoice.gocardless_debit_transaction_id
        self.assertEqual(old_tx.state, "pending")
        with (
            self._pipeline_spy() as (inside, outside),
            self._gocardless_refuses_payments(),
        ):
            self._pay(invoice, 40.0)  # the debit is above what is due: replaced
        self.assertEqual(old_tx.state, "cancel")
        new_tx = invoice.transaction_ids - old_tx
        self.assertEqual(len(new_tx), 1)
        self.assertEqual(new_tx.amount, 60.0)
        self.assertEqual(new_tx.state, "error")
        self.assertIn(self.REFUSAL, new_tx.state_message)
        self.assertEqual(inside, [((old_tx.reference,), "cancel"), ((new_tx.reference,), "error")])
        self.assertEqual(outside, [])
        self.assertEqual(self.pipeline_doors, [None, None])
        self.assertIn("could not be scheduled again", "\n".join(invoice.message_ids.mapped("body")))

    # === ONE METHOD CREATES PAYMENTS === #

    def test_every_flow_creates_its_payment_through_one_method(self):
        """Portal saved mandate, *Collect*, automatic collection, replacement debit, billing
        request fulfilled: each payment create comes from the one method."""
        portal, collect, by_redirect = (
            self._create_customer_invoice(amount=amount) for amount in (21.0, 100.0, 34.0)
        )
        with self._payment_create_spy() as creates, mute_logger(*DEBIT_LOGGERS):
            self.flow = "portal saved mandate"
            answer = self._call_invoice_transaction(
                portal,
                **self._invoice_transaction_values(portal, token_id=self.token.id, flow="token"),
            )
            self.assertIn("result", answer, answer.get("error"))
            self.flow = "collect"
            collect.action_gocardless_collect()
            self.flow = "automatic collection"
            self.gocardless.gocardless_auto_collect = True
            automatic = self._create_customer_invoice(amount=55.0)
            self.env["account.move"]._cron_gocardless_auto_collect()
            self.flow = "replacement"
            self._pay(collect, 40.0)
            self.flow = "billing request fulfilled"
            self._pay_by_redirect(by_redirect)
        self.env.invalidate_all()
        for invoice in (portal, collect, automatic, by_redirect):
            self.assertEqual(invoice.gocardless_debit_status, "scheduled", invoice.name)
        self.assertEqual(collect.gocardless_debit_transaction_id.amount, 60.0)
        flows = [flow for flow, _names in creates]
        self.assertEqual(
            sorted(set(flows)),
            sorted(
                [
                    "automatic collection",
                    "billing request fulfilled",
                    "collect",
                    "portal saved mandate",
                    "replacement",
                ]
            ),
        )
        for flow, names in creates:
            with self.subTest(flow=flow):
                callers = [name for name in names if name != "_gocardless_request"]
                self.assertEqual(callers[0], PAYMENT_CREATOR, names)
                self.assertEqual(names.count(PAYMENT_CREATOR), 1, names)

    def test_one_function_of_the_addon_sends_a_payment_create(self):
        """Read in the source: a call naming ``"payments", "create"`` appears in one function."""
        places = set()
        for path in sorted(ADDON_DIR.rglob("*.py")):
            if TESTS_DIR in path.parents:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for function in ast.walk(tree):
                if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for node in ast.walk(function):
                    if not isinstance(node, ast.Call):
                        continue
                    words = [
                        arg.value
                        for arg in node.args[:2]
                        if isinstance(arg, ast.Constant) and isinstance(arg.value, str)
                    ]
                    if words == ["payments", "create"]:
                        places.add((str(path.relative_to(ADDON_DIR)), function.name))
        self.assertEqual(places, {("models/payment_transaction.py", PAYMENT_CREATOR)})

    def _addon_functions(self):
        """Yield each function of the addon's code (tests aside): (file, function node)."""
        for path in sorted(ADDON_DIR.rglob("*.py")):
            if TESTS_DIR in path.parents:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield str(path.relative_to(ADDON_DIR)), node

    def test_transactions_are_looked_up_by_gocardless_id_in_one_place(self):
        """A domain naming `provider_reference` only tells whether there is one (False): the
        search by GoCardless id is `_gocardless_find_by_resource_ids`, which
        `_get_tx_from_notification_data` uses."""
        leaves, users = set(), set()
        for path, function in self._addon_functions():
            for node in ast.walk(function):
                if (
                    isinstance(node, (ast.Tuple, ast.List))
                    and len(node.elts) == 3
                    and all(isinstance(elt, ast.Constant) for elt in node.elts[:2])
                    and node.elts[0].value == "provider_reference"
                    and node.elts[1].value in ("=", "in", "=like", "like", "ilike", "=ilike")
                    and not (isinstance(node.elts[2], ast.Constant) and node.elts[2].value is False)
                ):
                    leaves.add((path, function.name, ast.unparse(node)))
                if (
                    isinstance(node, ast.Attribute)
                    and node.attr == "_gocardless_find_by_resource_ids"
                    and function.name == "_get_tx_from_notification_data"
                ):
                    users.add(path)
        self.assertEqual(leaves, set())
        self.assertEqual(users, {"models/payment_transaction.py"})

    def test_the_ledger_and_the_transactions_know_each_other_only_by_the_pipeline(self):
        """The transaction's files never call into the ledger; the ledger imports no other
        model's file."""
        models_dir = ADDON_DIR / "models"
        for path in sorted(models_dir.glob("payment_transaction*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = {
                node.value
                for node in ast.walk(tree)
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
            }
            self.assertNotIn("gocardless.event", names, path.name)
        tree = ast.parse((models_dir / "gocardless_event.py").read_text(encoding="utf-8"))
        imported = {
            (node.level, node.module)
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level
        }
        self.assertTrue(all(level == 2 for level, _module in imported), imported)
