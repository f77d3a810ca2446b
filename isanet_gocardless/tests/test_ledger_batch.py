# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The ledger applies its events in batches: the payments of the debits one batch confirms are
made together, as Odoo makes each one, and nothing is lost or doubled when a batch goes wrong."""

from unittest.mock import patch

import requests
from gocardless_pro import errors as gc_errors

from odoo import SUPERUSER_ID, Command, api, sql_db
from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..gocardless_core import webhooks
from ..models import gocardless_event
from .common import EVENT_LOGGER, GC_TX_LOGGER, GoCardlessWebhookCommon

BATCH_LOGGER = "odoo.addons.isanet_gocardless.models.payment_transaction_batch"


@tagged("post_install", "-at_install")
class TestLedgerBatch(GoCardlessWebhookCommon):
    def setUp(self):
        super().setUp()
        self.Transaction = self.env.registry["payment.transaction"]
        self.made_together = []
        original = self.Transaction._gocardless_create_payments

        def spy(records):
            self.made_together.append(records.ids)
            return original(records)

        patcher = patch.object(self.Transaction, "_gocardless_create_payments", spy)
        patcher.start()
        self.addCleanup(patcher.stop)

    def _debits(self, count, start=1):
        """``count`` invoices, each with its pending GoCardless transaction PMB<n> (from
        ``start``)."""
        txs = self.env["payment.transaction"]
        for index in range(start, start + count):
            invoice = self._create_customer_invoice(amount=100.0 + index, partner=self.partner_a)
            txs |= self._create_transaction(
                "redirect",
                reference=f"INV-GC-B{index}",
                amount=invoice.amount_total,
                currency_id=invoice.currency_id.id,
                partner_id=self.partner_a.id,
                payment_method_id=self.sepa.id,
                provider_reference=f"PMB{index}",
                invoice_ids=[Command.set(invoice.ids)],
                state="pending",
            )
        return txs

    def _resource(self, tx, status):
        return {
            "id": tx.provider_reference,
            "amount": int(round(tx.amount * 100)),
            "currency": tx.currency_id.name,
            "charge_date": "2026-01-15",
            "status": status,
            "links": {"mandate": "MD123", "creditor": "CR123"},
            "metadata": {"odoo_reference": tx.reference},
        }

    def _confirm(self, tx):
        self.api_resources[("payments", tx.provider_reference)] = self._resource(tx, "confirmed")
        return self._event("payments", "confirmed", tx.provider_reference, odoo_ref=False)

    def _assert_paid_once(self, txs):
        for tx in txs:
            payments = self.env["account.payment"].search([("payment_transaction_id", "=", tx.id)])
            self.assertEqual(len(payments), 1, tx.reference)
            self.assertEqual(tx.payment_id, payments)
            self.assertIn(payments.state, ("in_process", "paid"))
            self.assertEqual(payments.invoice_ids, tx.invoice_ids)
            self.assertIn(tx.invoice_ids.payment_state, ("paid", "in_payment"), tx.reference)
            self.assertTrue(tx.is_post_processed)
            messages = tx.invoice_ids.message_ids.mapped("body")
            self.assertEqual(sum("Direct debit received" in (m or "") for m in messages), 1)
            self.assertEqual(sum("has been posted" in (m or "") for m in messages), 1)
            # Told once: Odoo's message of the confirmed transaction is the merchant's notice.
            self.assertFalse([m for m in messages if "has been confirmed" in (m or "")])

    def test_debits_confirmed_in_one_batch_get_their_payments_made_together(self):
        txs = self._debits(5)
        self._receive([self._confirm(tx) for tx in txs])
        self.assertEqual(set(self._ledger().mapped("state")), {"processed"})
        self.assertEqual(self.made_together, [txs.ids])
        self._assert_paid_once(txs)

    def test_payments_made_together_are_the_ones_odoo_makes_one_by_one(self):
        txs = self._debits(3)
        # Odoo's own path (`account_payment._create_payment`), as the ledger runs it.
        own = txs[0].with_user(SUPERUSER_ID)._gocardless_in_company_context()
        own._set_done()
        own._post_process()
        self._receive([self._confirm(tx) for tx in txs[1:]])
        self.assertEqual(self.made_together, [txs[1:].ids])

        def shape(tx):
            payment = tx.payment_id
            lines = payment.move_id.line_ids.sorted("balance")
            return {
                "amount": payment.amount / tx.amount,
                "payment_type": payment.payment_type,
                "partner_type": payment.partner_type,
                "partner": payment.partner_id,
                "journal": payment.journal_id,
                "method_line": payment.payment_method_line_id,
                "token": payment.payment_token_id,
                "state": payment.state,
                "memo": payment.memo.replace(tx.reference, "REF").replace(
                    tx.provider_reference, "PM"
                ),
                "accounts": lines.mapped("account_id"),
                "balances": [line.balance / tx.amount for line in lines],
                "reconciled_with_invoice": bool(
                    payment.move_id.line_ids.matched_debit_ids.debit_move_id.move_id
                    & tx.invoice_ids
                )
                or not payment.move_id,
                "invoice_state": tx.invoice_ids.payment_state,
                "residual": tx.invoice_ids.amount_residual,
            }

        expected = shape(own)
        for tx in txs[1:]:
            self.assertEqual(shape(tx), expected, tx.reference)
        self._assert_paid_once(txs)

    def test_a_transaction_changed_twice_in_a_batch_is_paid_then_reopened(self):
        tx = self._debits(1)
        invoice = tx.invoice_ids
        self.api_resources[("payments", "PMB1")] = [
            self._resource(tx, "confirmed"),
            self._resource(tx, "charged_back"),
        ]
        self._receive(
            [
                self._event("payments", "confirmed", "PMB1", odoo_ref=False),
                self._event("payments", "charged_back", "PMB1", odoo_ref=False),
            ]
        )
        self.assertEqual(set(self._ledger().mapped("state")), {"processed"})
        self.assertEqual(tx.state, "cancel")
        # Paid first (a payment made and posted), then reversed: the invoice is open again.
        self.assertEqual(tx.payment_id.state, "canceled")
        self.assertEqual(invoice.payment_state, "not_paid")
        bodies = invoice.message_ids.mapped("body")
        self.assertTrue(any("Direct debit received" in (b or "") for b in bodies))
        self.assertTrue(any("Direct debit reversed" in (b or "") for b in bodies))

    @mute_logger(EVENT_LOGGER)
    def test_an_event_failing_in_a_batch_loses_no_other_payment(self):
        first, second = self._debits(2)
        self.api_resources[("payments", "PMB1")] = [
            self._resource(first, "confirmed"),
            self._resource(first, "charged_back"),
        ]
        confirmed_second = self._confirm(second)
        process = self.Transaction._gocardless_process_payment

        def fail_on_charge_back(tx, payment, *args, **kwargs):
            if payment.get("status") == "charged_back":
                raise RuntimeError("broken while applying the charge-back")
            return process(tx, payment, *args, **kwargs)

        with patch.object(self.Transaction, "_gocardless_process_payment", fail_on_charge_back):
            self._receive(
                [
                    self._event("payments", "confirmed", "PMB1", odoo_ref=False, event_id="EVB1"),
                    self._event(
                        "payments", "charged_back", "PMB1", odoo_ref=False, event_id="EVB2"
                    ),
                    confirmed_second,
                ]
            )
        # The charge-back failed (its savepoint undone, the catch-up and *Process again* apply
        # it later); the confirmation before it, post-processed within that savepoint, is
        # post-processed again at the end of the batch: its invoice is paid, once.
        self.assertEqual(self._ledger("EVB1").state, "processed")
        self.assertEqual(self._ledger("EVB2").state, "failed")
        self.assertEqual(self._ledger(confirmed_second["id"]).state, "processed")
        self.assertEqual(first.state, "done")
        self._assert_paid_once(first | second)

    def test_payments_are_made_one_by_one_when_making_them_together_fails(self):
        txs = self._debits(3)

        def broken(records):
            raise RuntimeError("cannot make these payments together")

        with (
            patch.object(self.Transaction, "_gocardless_create_payments", broken),
            self.assertLogs(BATCH_LOGGER, level="ERROR") as logs,
        ):
            self._receive([self._confirm(tx) for tx in txs])
        self.assertIn("made one by one", logs.output[0])
        self.assertEqual(set(self._ledger().mapped("state")), {"processed"})
        self._assert_paid_once(txs)

    def test_a_post_processing_failing_in_a_batch_leaves_only_its_own_to_the_cron(self):
        first, second, third = self._debits(3)
        post_process = self.Transaction._post_process

        def fail_for_second(records):
            if second in records:
                raise RuntimeError("broken while post-processing")
            return post_process(records)

        with (
            patch.object(self.Transaction, "_post_process", fail_for_second),
            self.assertLogs("odoo.addons.isanet_gocardless.models", level="WARNING") as logs,
        ):
            self._receive([self._confirm(tx) for tx in (first, second, third)])
        # Together under one savepoint first: undone, then each under its own.
        together = [line for line in logs.output if "each done on its own" in line]
        self.assertEqual(len(together), 1)
        self.assertTrue(together[0].startswith(f"WARNING:{BATCH_LOGGER}:"))
        errors = [line for line in logs.output if line.startswith("ERROR:")]
        self.assertEqual(len(errors), 1)
        self.assertTrue(errors[0].startswith(f"ERROR:{GC_TX_LOGGER}:"))
        self.assertIn(f"{second.reference} failed, left to the cron", errors[0])
        self.assertEqual(set(self._ledger().mapped("state")), {"processed"})
        self.assertEqual(self.made_together, [[first.id, second.id, third.id]])
        self._assert_paid_once(first | third)
        # The payment made together is kept; Odoo's cron post-processes the rest.
        self.assertEqual(second.state, "done")
        self.assertFalse(second.is_post_processed)
        self.assertEqual(len(second.payment_id), 1)
        second.with_user(SUPERUSER_ID)._gocardless_in_company_context()._post_process()
        self._assert_paid_once(second)

    def test_a_single_confirmed_debit_keeps_odoos_own_path(self):
        tx = self._debits(1)
        self._receive([self._confirm(tx)])
        self.assertEqual(self.made_together, [])
        self._assert_paid_once(tx)

    def test_a_payout_in_the_same_batch_finds_the_payments_made(self):
        txs = self._debits(2)
        seen = []

        def payout_handler(model, notification):
            seen.append([bool(tx.payment_id) for tx in txs])
            return "ignored", "seen", model

        Payout = self.env.registry["gocardless.payout"]
        with patch.object(Payout, "_gocardless_handle_notification", payout_handler):
            self._receive(
                [
                    *[self._confirm(tx) for tx in txs],
                    self._event("payouts", "paid", "PO123", odoo_ref=False),
                ]
            )
        self.assertEqual(seen, [[True, True]])
        self._assert_paid_once(txs)

    @mute_logger(EVENT_LOGGER)
    def test_an_outage_in_a_batch_keeps_what_was_applied_and_the_rest_waits(self):
        first, second, third = self._debits(3)
        events = [self._confirm(first), self._confirm(second), self._confirm(third)]
        self.api_resources[("payments", "PMB2")] = requests.ConnectionError("unreachable")
        self.assertTrue(self._receive(events))
        states = [self._ledger(event["id"]).state for event in events]
        self.assertEqual(states, ["processed", "received", "received"])
        self.assertTrue(self._ledger(events[1]["id"]).next_attempt_at)
        self.assertFalse(self._ledger(events[2]["id"]).next_attempt_at)
        self._assert_paid_once(first)
        self.assertEqual((second | third).mapped("state"), ["pending", "pending"])
        # GoCardless is back: the next run applies the rest, once.
        self._confirm(second)
        self.assertFalse(self._drain_ledger(include_waiting=True))
        self._assert_paid_once(first | second | third)

    def test_batches_hold_a_bounded_number_of_events(self):
        txs = self._debits(5)
        sizes = []
        lock = self.env.registry["gocardless.event"]._gocardless_lock_due

        def spy(model, limit=gocardless_event.LOCK_BATCH_SIZE, event_ids=None):
            batch = lock(model, limit, event_ids)
            sizes.append(len(batch))
            return batch

        with (
            patch.object(gocardless_event, "LOCK_BATCH_SIZE", 2),
            patch.object(self.env.registry["gocardless.event"], "_gocardless_lock_due", spy),
        ):
            self._receive([self._confirm(tx) for tx in txs])
        self.assertEqual(sizes, [2, 2, 1, 0])
        self.assertEqual(self.made_together, [txs[:2].ids, txs[2:4].ids])
        self._assert_paid_once(txs)

    def test_the_payments_of_a_batch_are_read_in_one_request(self):
        txs = self._debits(4)
        elsewhere = self._debits(1, start=5)  # pending, its payment in the page, no event of it
        self.api_resources[("payments", "PMB5")] = self._resource(elsewhere, "failed")
        events = [self._confirm(tx) for tx in txs]
        self._receive(events)
        self.assertEqual(self.api_reads, [("events", "list")])
        self.assertEqual(
            self.api_lists,
            [
                {
                    "resource_type": "payments",
                    "include": "payment",
                    "action": "confirmed",
                    "created_at[gte]": "2026-01-15T10:00:00.000Z",
                    "after": events[-1]["id"],  # the page just older than the newest event
                    "limit": 50,
                }
            ],
        )
        self.assertEqual(self.made_together, [txs.ids])
        self._assert_paid_once(txs)
        # A payment of the page no event of the batch names is not followed.
        self.assertEqual(elsewhere.state, "pending")

    def test_a_payment_the_page_does_not_hold_is_read_on_its_own(self):
        txs = self._debits(3)
        events = [self._confirm(tx) for tx in txs]
        # Given as a list, the fake leaves it out of the page (as a page of another window).
        self.api_resources[("payments", "PMB2")] = [self._resource(txs[1], "confirmed")]
        self._receive(events)
        self.assertEqual(self.api_reads, [("events", "list"), ("payments", "PMB2")])
        self._assert_paid_once(txs)

    def test_events_of_one_payment_read_it_on_its_own(self):
        tx = self._debits(1)
        self._confirm(tx)
        events = [
            self._event("payments", action, "PMB1", odoo_ref=False)
            for action in ("submitted", "confirmed")
        ]
        self._receive(events)
        self.assertEqual(self.api_reads, [("payments", "PMB1"), ("payments", "PMB1")])
        self._assert_paid_once(tx)

    @mute_logger(EVENT_LOGGER)
    def test_gocardless_failing_the_read_together_leaves_each_payment_read_on_its_own(self):
        failures = {
            "refusal": gc_errors.InvalidApiUsageError(
                {"message": "Invalid include", "type": "invalid_api_usage", "code": 422}
            ),
            "outage": requests.ConnectionError("unreachable"),
            "hang": requests.Timeout("read timed out"),
        }
        for name, error in failures.items():
            with self.subTest(name):
                self.api_reads.clear()
                txs = self._debits(4, start=10 * (len(self.api_lists) + 1))
                self.api_resources[("events", "list")] = error
                # Two batches in the run: the read together is tried once.
                with patch.object(gocardless_event, "LOCK_BATCH_SIZE", 2):
                    self.assertFalse(self._receive([self._confirm(tx) for tx in txs]))
                reads = [("payments", ref) for ref in txs.mapped("provider_reference")]
                self.assertEqual(self.api_reads, [("events", "list"), *reads])
                self._assert_paid_once(txs)
                self.assertEqual(set(self._ledger().mapped("state")), {"processed"})
                self._ledger().unlink()

    def test_a_payment_read_through_another_account_is_not_taken(self):
        tx = self._debits(1)
        event = self._confirm(tx)
        other = self.dummy_provider  # another provider of the database
        # Another account's read of the same id says otherwise: it is not this account's.
        forged = self._resource(tx, "failed")
        with patch.object(
            self.env.registry["gocardless.event"],
            "_gocardless_read_payments",
            lambda _events: {(other.id, "PMB1"): forged},
        ):
            self._receive([event])
        self.assertEqual(self.api_reads, [("payments", "PMB1")])
        self._assert_paid_once(tx)

    @mute_logger(EVENT_LOGGER)
    def test_a_provider_left_without_access_token_fails_each_event_as_before(self):
        txs = self._debits(2)
        events = [self._confirm(tx) for tx in txs]
        no_token = ValidationError("GoCardless: no access token is set on the provider.")
        with patch.object(
            self.env.registry["payment.provider"], "_gocardless_make_client", side_effect=no_token
        ):
            self.assertFalse(self._receive(events))
        for event in events:
            self.assertEqual(self._ledger(event["id"]).state, "failed")
            self.assertIn("no access token", self._ledger(event["id"]).error_message)
        self.assertEqual(txs.mapped("state"), ["pending", "pending"])

    def test_a_webhook_wakes_every_worker_of_the_ledger(self):
        """Odoo runs one cron in one worker at a time: each of the ledger's crons is one
        worker, and a webhook wakes them all."""
        crons = self.env["ir.cron"].browse(
            [self.env.ref(xmlid).id for xmlid in gocardless_event.LEDGER_CRONS]
        )
        self.assertEqual(len(crons), 2)
        self.assertEqual(set(crons.mapped("code")), {"model._cron_process_received_events()"})
        Trigger = self.env["ir.cron.trigger"]
        before = Trigger.search([("cron_id", "in", crons.ids)])
        tx = self._debits(1)
        body = self._body([self._confirm(tx)])
        self.env["gocardless.event"].with_user(SUPERUSER_ID)._gocardless_receive_webhook(
            body, webhooks.sign(body, "webhook-secret")
        )
        woken = Trigger.search([("cron_id", "in", crons.ids)]) - before
        self.assertEqual(woken.cron_id, crons)

    def test_two_workers_lock_different_events_without_waiting(self):
        """Two cron workers (or two Odoo servers) claiming events at the same time each get
        their own: the rows the first locked are skipped by the second, which never waits."""
        db = sql_db.db_connect(self.env.cr.dbname)
        ids = []
        # Rows other connections see: committed, by their cursor's end (`with`).
        with db.cursor() as cr:
            for index in range(4):
                cr.execute(
                    "INSERT INTO gocardless_event (event_id, resource_type, action, resource_id,"
                    " created_at, state, attempt_count) VALUES (%s, 'payments', 'confirmed',"
                    " %s, now() at time zone 'UTC' - interval '1 hour', 'received', 0)"
                    " RETURNING id",
                    [f"EVSKIPLOCKED{index}", f"PMSKIPLOCKED{index}"],
                )
                ids.append(cr.fetchone()[0])

        def clean():
            with db.cursor() as cr:
                cr.execute("DELETE FROM gocardless_event WHERE id IN %s", [tuple(ids)])

        self.addCleanup(clean)
        with db.cursor() as cr_one, db.cursor() as cr_two, db.cursor() as cr_three:
            workers = []
            for cr in (cr_one, cr_two, cr_three):
                # A worker that waited for another's locks would fail here, not hang.
                cr.execute("SET LOCAL lock_timeout = '2s'")
                workers.append(api.Environment(cr, SUPERUSER_ID, {})["gocardless.event"])
            first = workers[0]._gocardless_lock_due(limit=2, event_ids=ids)
            second = workers[1]._gocardless_lock_due(limit=3, event_ids=ids)
            self.assertEqual(first.ids, ids[:2], "The oldest events, first.")
            self.assertEqual(second.ids, ids[2:], "The others, not those locked.")
            self.assertFalse(workers[2]._gocardless_lock_due(limit=3, event_ids=ids))
            for cr in (cr_one, cr_two, cr_three):
                cr.rollback()

    def test_the_second_worker_only_helps_the_first_one_running(self):
        """With one cron worker the ledger's crons run in turn: the second ends at once (the
        worker's round is not lengthened); while the first runs in another worker, the second
        applies the events with it."""
        first, second = (self.env.ref(xmlid) for xmlid in gocardless_event.LEDGER_CRONS)
        txs = self._debits(2)
        body = self._body([self._confirm(txs[0])])
        Event = self.env["gocardless.event"].with_user(SUPERUSER_ID)
        Event._gocardless_receive_webhook(body, webhooks.sign(body, "webhook-secret"))
        helper = Event.with_context(cron_id=second.id, gocardless_request_profile="background")
        helper._cron_process_received_events()
        self.assertEqual(self._ledger().mapped("state"), ["received"], "The first is free.")
        self.assertEqual(txs[0].state, "pending")
        with sql_db.db_connect(self.env.cr.dbname).cursor() as runner_cr:
            # Another cron worker runs the first cron: Odoo's runner holds its row.
            runner_cr.execute("SET LOCAL lock_timeout = '5s'")
            runner_cr.execute("SELECT id FROM ir_cron WHERE id = %s FOR NO KEY UPDATE", [first.id])
            helper._cron_process_received_events()
            self.assertEqual(self._ledger().mapped("state"), ["processed"])
            self.assertEqual(txs[0].state, "done")
            runner_cr.rollback()
        self._assert_paid_once(txs[0])
        # Run without Odoo's runner (by hand), the second works as the first.
        body = self._body([self._confirm(txs[1])])
        Event._gocardless_receive_webhook(body, webhooks.sign(body, "webhook-secret"))
        Event.with_context(gocardless_request_profile="background")._cron_process_received_events()
        self._assert_paid_once(txs[1])
