# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Never lose, never stall: the ledger under faults (refused token, long outage, redeliveries),
hostile bodies and junk parameters; notices for the merchant in their language."""

import json
import random
from datetime import timedelta
from urllib.parse import urlencode

import requests
from gocardless_pro import errors as gc_errors

from odoo import fields
from odoo.tests import tagged
from odoo.tools import mute_logger

from ..controllers.main import GoCardlessController
from ..gocardless_core import webhooks
from .common import CONTROLLER_LOGGER, EVENT_LOGGER, GoCardlessWebhookCommon


def _refused_token():
    return gc_errors.AuthenticationError(
        {
            "message": "Access token not active",
            "type": "invalid_api_usage",
            "code": 401,
            "errors": [{"reason": "access_token_not_active", "message": "not active"}],
            "request_id": "RQ401",
        }
    )


@tagged("post_install", "-at_install")
class TestLedgerFaults(GoCardlessWebhookCommon):
    # === NOTHING LOST === #

    @mute_logger(EVENT_LOGGER)
    def test_a_refused_token_keeps_events_waiting_flags_the_provider_once(self):
        self.api_resources[("payments", "PM123")] = _refused_token()
        events = [self._payment_event(action, event_id=f"EV{i}") for i, action in
                  enumerate(("submitted", "confirmed", "paid_out"))]  # fmt: skip
        for _round in range(3):
            self._receive(events)
            self._drain_ledger(include_waiting=True)
        ledger = self._ledger()
        self.assertEqual(set(ledger.mapped("state")), {"received"}, "nothing is given up")
        self.assertTrue(self.gocardless.gocardless_reconnect_needed)
        todo = self.gocardless.activity_ids
        self.assertEqual(len(todo), 1, "one activity, not one per event")
        self.assertEqual(todo.summary, "Reconnect GoCardless")

        # The merchant pastes a new token: the flag and the activity go, the events apply.
        self._set_payment("confirmed")
        self.gocardless.gocardless_access_token = "new_token"
        self.assertFalse(self.gocardless.gocardless_reconnect_needed)
        self.assertFalse(self.gocardless.activity_ids)
        self._drain_ledger(include_waiting=True)
        self.assertEqual(set(self._ledger().mapped("state")), {"processed"})
        self.assertEqual(self.tx.state, "done")
        self.assertEqual(len(self._messages("Direct debit received")), 1)

    @mute_logger(EVENT_LOGGER)
    def test_a_long_outage_then_recovery_applies_every_event_once(self):
        self.api_resources[("payments", "PM123")] = requests.ConnectionError("down")
        events = [self._payment_event("confirmed", event_id="EVOUT")]
        for _attempt in range(30):  # far beyond any former limit of attempts
            response = self._post_events(events, drain=False)  # GoCardless redelivers
            self.assertEqual(response.status_code, 204)
            self._drain_ledger(include_waiting=True)
        event = self._ledger("EVOUT")
        self.assertEqual(event.state, "received")
        self.assertEqual(event.attempt_count, 30)
        self.assertLessEqual(event.next_attempt_at, fields.Datetime.now() + timedelta(hours=1))
        self._set_payment("confirmed")
        self._drain_ledger(include_waiting=True)
        self._post_events(events)
        self.assertEqual(self._ledger("EVOUT").state, "processed")
        self.assertEqual(len(self.tx.payment_id), 1)
        self.assertEqual(len(self._messages("Direct debit received")), 1)

    def test_backoff_grows_and_is_capped(self):
        self.api_resources[("payments", "PM123")] = requests.ConnectionError("down")
        with mute_logger(EVENT_LOGGER):
            self._receive([self._payment_event("confirmed", event_id="EVB")])
        event = self._ledger("EVB")
        first = event.next_attempt_at - fields.Datetime.now()
        for _attempt in range(12):
            with mute_logger(EVENT_LOGGER):
                self._drain_ledger(include_waiting=True)
        last = event.next_attempt_at - fields.Datetime.now()
        self.assertLessEqual(first, timedelta(minutes=1, seconds=5))
        self.assertGreater(last, first)
        self.assertLessEqual(last, timedelta(hours=1, seconds=5))

    @mute_logger(EVENT_LOGGER)
    def test_catch_up_applies_failed_and_waiting_events_again(self):
        self.api_resources[("payments", "PM123")] = gc_errors.InvalidApiUsageError(
            {"message": "Resource not found", "type": "invalid_api_usage", "code": 404}
        )
        event = self._payment_event("confirmed", event_id="EVF")
        self._receive([event])
        self.assertEqual(self._ledger("EVF").state, "failed")
        self._set_payment("confirmed")
        new_count, _outage = self.env["gocardless.event"]._gocardless_import_events(
            self.gocardless, [event]
        )
        self.assertEqual(new_count, 0)
        self.assertEqual(self._ledger("EVF").state, "processed")
        self.assertEqual(self.tx.state, "done")

    def test_concurrent_deliveries_of_one_event_record_and_apply_it_once(self):
        """GoCardless retries while the first delivery is still being answered: the unique
        event id records it once, the row lock applies it once."""
        self._set_payment("confirmed")
        event = self._payment_event("confirmed", event_id="EVC")
        for _delivery in range(3):
            self._post_events([event, event], drain=False)
        self.assertEqual(len(self._ledger("EVC")), 1)
        self._drain_ledger()
        self._drain_ledger()
        self.assertEqual(self.api_reads, [("payments", "PM123")])
        self.assertEqual(len(self._messages("Direct debit received")), 1)

    # === BAD INPUT === #

    @mute_logger(CONTROLLER_LOGGER)
    def test_signed_malformed_bodies_are_refused_with_400(self):
        good = {"id": "EV1", "resource_type": "payments", "action": "confirmed", "links": {}}
        bodies = [
            {"events": [good], "meta": {"webhook_id": {"nested": "object"}}},
            {"events": [good], "meta": {"webhook_id": ["WB1"]}},
            {"events": [dict(good, id="E" * 3000)]},
            {"events": [dict(good, id="EV\x00")]},
            {"events": [dict(good, action="conf\x00irmed")]},
            {"events": [dict(good, id="EV\ud800")]},
            {"events": [dict(good, links={"payment": {"id": "PM1"}})]},
            {"events": [dict(good, links={"payment": "PM\x00"})]},
        ]
        codes = []
        for document in bodies:
            body = json.dumps(document).encode()
            codes.append(self._post_body(body, webhooks.sign(body, "webhook-secret")).status_code)
        deep = b'{"events": [' + b"[" * 50000 + b"]" * 50000 + b"]}"
        codes.append(self._post_body(deep, webhooks.sign(deep, "webhook-secret")).status_code)
        # A malformed webhook id is only dropped; the others are refused.
        self.assertEqual(codes[0:2], [204, 204])
        self.assertEqual(set(codes[2:]), {400})
        self.assertEqual(self._ledger().mapped("webhook_id"), [False])

    @mute_logger(CONTROLLER_LOGGER, EVENT_LOGGER)
    def test_fuzz_1000_bodies_never_get_a_server_error(self):
        rng = random.Random(20261129)
        atoms = ["", "EV1", "PM123", "\x00", "\ud800", "é", "x" * 3000, 0, -1, 10**30, 1.5,
                 None, True, [], {}]  # fmt: skip
        keys = ["id", "resource_type", "action", "links", "details", "metadata", "created_at",
                "resource_metadata", "payment", "organisation", "webhook_id"]  # fmt: skip

        def value(depth=0):
            roll = rng.random()
            if depth > 3 or roll < 0.5:
                return rng.choice(atoms)
            if roll < 0.75:
                return [value(depth + 1) for _i in range(rng.randint(0, 3))]
            return {rng.choice(keys): value(depth + 1) for _i in range(rng.randint(0, 4))}

        def event():
            base = {
                "id": rng.choice(["EV1", "EV2", rng.choice(atoms)]),
                "resource_type": rng.choice(["payments", "mandates", value()]),
                "action": rng.choice(["confirmed", "created", value()]),
                "links": rng.choice([{"payment": "PM123"}, value()]),
                "details": value(),
                "resource_metadata": value(),
            }
            for _i in range(rng.randint(0, 2)):
                base[rng.choice(keys)] = value()
            return base

        codes = {}
        for index in range(1000):
            kind = index % 4
            if kind == 0:
                document = {"events": [event() for _i in range(rng.randint(0, 3))]}
            elif kind == 1:
                document = {"events": value(), "meta": value()}
            elif kind == 2:
                document = value()
            else:
                document = {"events": [event()], "meta": {"webhook_id": value()}}
            try:
                body = json.dumps(document).encode()
            except (TypeError, ValueError):
                body = repr(document).encode("utf-8", "surrogatepass")
            if rng.random() < 0.1:
                body = body[: rng.randint(0, len(body))]
            signature = webhooks.sign(body, "webhook-secret") if index % 5 else "forged"
            status = self._post_body(body, signature).status_code
            codes[status] = codes.get(status, 0) + 1
        self.assertEqual(sum(codes.values()), 1000)
        self.assertLessEqual(set(codes), {204, 400, 498}, codes)
        self.assertTrue({204, 400, 498} <= set(codes), codes)

    @mute_logger(CONTROLLER_LOGGER, "odoo.http")
    def test_return_and_exit_routes_answer_junk_with_the_status_page(self):
        for url in (GoCardlessController._return_url, GoCardlessController._exit_url):
            for params in (
                {"reference": "INV-GC-1\x00", "access_token": "x"},
                {"reference": "INV-GC-1", "access_token": "é" * 10},
                {"reference": "INV-GC-1", "access_token": "\x00"},
                {"reference": "R" * 5000, "access_token": "x"},
                {"reference": ["INV-GC-1", "other"], "access_token": ["a", "b"]},
                {},
            ):
                with self.subTest(url=url, params=params):
                    response = self.url_open(f"{url}?{urlencode(params, doseq=True)}")
                    self.assertEqual(response.status_code, 200)
                    self.assertTrue(response.url.endswith("/payment/status"), response.url)
        self.assertEqual(self.tx.state, "pending")

    # === NOTICES FOR THE MERCHANT === #

    def test_notices_are_in_the_language_of_who_follows_the_invoice(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"]._load_module_terms(["isanet_gocardless"], ["fr_FR"])
        self.salesperson.lang = "fr_FR"
        self._set_payment("failed")
        self._receive([self._payment_event("failed")])
        activity = self._activities("Prélèvement échoué")
        self.assertEqual(len(activity), 1, self.invoice.activity_ids.mapped("summary"))
        self.assertIn("Prélèvement échoué :", activity.note)

    def test_collected_debits_are_summed_up_in_a_daily_digest(self):
        self._set_payment("confirmed")
        self._receive([self._payment_event("confirmed")])
        self.assertFalse(self.invoice.activity_ids)
        self.gocardless.gocardless_digest_sent_at = fields.Datetime.now() - timedelta(days=1)
        count = self.gocardless._gocardless_send_digest(
            now=fields.Datetime.now() + timedelta(seconds=1)
        )
        self.assertEqual(count, 1)
        digest = self.gocardless.message_ids[:1]
        self.assertIn("Direct debits collected by GoCardless", digest.body)
        self.assertIn(self.invoice.name, digest.body)
        # Nothing new: no message the next day.
        self.assertEqual(
            self.gocardless._gocardless_send_digest(now=fields.Datetime.now() + timedelta(days=1)),
            0,
        )
