# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The customer's mandates in their portal: the list (their own only) and Cancel, which
cancels the mandate at GoCardless, and the debits scheduled on it with it."""

import json

from lxml import etree

from odoo.tests import new_test_user, tagged
from odoo.tests.common import JsonRpcException
from odoo.tools import mute_logger

from .common import (
    GoCardlessMandatePortalCommon,
)

LOGGERS = (
    "odoo.addons.isanet_gocardless.controllers.portal_mandates",
    "odoo.addons.isanet_gocardless.models.payment_provider",
    "odoo.addons.payment.models.payment_transaction",
    "odoo.addons.isanet_gocardless.models.payment_transaction",
)


@tagged("post_install", "-at_install")
class TestPortalMandates(GoCardlessMandatePortalCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls.env["res.partner"].create(
            {"name": "Mandate Holder SA", "email": "holder@example.com", "is_company": True}
        )
        cls.contact = cls.env["res.partner"].create(
            {"name": "Ada Holder", "email": "ada@example.com", "parent_id": cls.customer.id}
        )
        cls.portal_user = new_test_user(
            cls.env,
            login="gc-mandate-portal",
            groups="base.group_portal",
            partner_id=cls.contact.id,
        )
        cls.stranger = cls.env["res.partner"].create(
            {"name": "Someone Else", "email": "else@example.com", "is_company": True}
        )

    def setUp(self):
        super().setUp()
        # The company's mandate, and one of another customer.
        self.token, self.mandate = self._sandbox_mandate_token(self.customer)
        self.other_token, _other = self._sandbox_mandate_token(self.stranger)
        self.env.flush_all()
        self.authenticate(self.portal_user.login, self.portal_user.login)

    def _sandbox_mandate_status(self, mandate_id):
        return self._sandbox_client().mandates.get(mandate_id).status

    def _counters(self):
        response = self.make_jsonrpc_request(
            "/my/counters", {"counters": ["gocardless_mandate_count"]}
        )
        return response["gocardless_mandate_count"]

    def test_the_customer_lists_their_own_mandates_with_a_counter_on_the_portal_home(self):
        ended = self._create_token(
            provider_id=self.gocardless.id,
            payment_method_id=self.sepa.id,
            partner_id=self.customer.id,
            provider_ref="MD000ENDED",
            payment_details="•••• 99",
            gocardless_mandate_status="cancelled",
            gocardless_mandate_reference="ENDED-REF",
            active=False,
        )
        response, tree = self._mandates_page()
        self.assertEqual(response.status_code, 200)
        listed, cancellable = self._listed_mandate_ids(tree)
        self.assertEqual(sorted(listed), sorted([self.token.id, ended.id]))
        self.assertEqual(cancellable, [self.token.id])
        row = tree.xpath(f"//tr[@data-mandate-id='{self.token.id}']")[0]
        text = " ".join(" ".join(row.itertext()).split())
        for expected in (self.mandate["reference"], "SEPA", "34", "Being set up"):
            self.assertIn(expected, text)
        ended_text = " ".join(tree.xpath(f"//tr[@data-mandate-id='{ended.id}']")[0].itertext())
        self.assertIn("Cancelled", ended_text)
        self.assertEqual(self._counters(), 1)
        home = self.url_open("/my/home")
        self.assertEqual(home.status_code, 200)
        self.assertIn("/my/direct_debit_mandates", home.text)
        self.assertIn("Direct debit mandates", home.text)

    def test_the_payment_methods_page_links_to_the_mandates(self):
        page = self.url_open("/my/payment_method")
        self.assertEqual(page.status_code, 200)
        tree = etree.fromstring(page.text, parser=etree.HTMLParser())
        self.assertEqual(
            tree.xpath("//p[contains(@class, 'o_gocardless_mandates_link')]/a/@href"),
            [self.mandates_url],
        )
        self.token.active = False  # no saved mandate left: no link
        self.env.flush_all()
        page = self.url_open("/my/payment_method")
        self.assertNotIn("o_gocardless_mandates_link", page.text)

    def test_cancel_cancels_the_mandate_at_gocardless_and_the_debits_scheduled_on_it(self):
        invoice = self._create_customer_invoice(amount=70.0, partner=self.customer)
        with mute_logger(*LOGGERS):
            invoice.action_gocardless_collect()
        tx = invoice.gocardless_debit_transaction_id
        self.assertEqual(tx.state, "pending")
        self.env.flush_all()
        _response, tree = self._mandates_page()
        self.assertIn("1 debit(s) scheduled", " ".join(" ".join(tree.itertext()).split()))
        csrf = self._csrf_token()
        mark = self.sandbox.request_log_mark()
        with mute_logger(*LOGGERS):
            response = self._post_cancel({"mandate_id": str(self.token.id)}, csrf=csrf)
        self.assertEqual(response.status_code, 303, response.text[:500])
        self.assertTrue(
            response.headers["Location"].endswith(f"?cancelled={self.token.id}"),
            response.headers["Location"],
        )
        sent = [(entry["method"], entry["path"]) for entry in self.sandbox.request_log(mark)]
        self.assertEqual(sent, [("POST", f"/mandates/{self.mandate['id']}/actions/cancel")])
        self.assertEqual(self._sandbox_mandate_status(self.mandate["id"]), "cancelled")
        self.token.invalidate_recordset()
        self.assertFalse(self.token.active)
        self.assertEqual(self.token.gocardless_mandate_status, "cancelled")
        page, tree = self._mandates_page(f"?cancelled={self.token.id}")
        self.assertEqual(page.status_code, 200)
        notices = tree.xpath("//div[contains(@class, 'o_gocardless_mandate_cancelled')]")
        self.assertEqual(len(notices), 1)
        notice = " ".join(" ".join(notices[0].itertext()).split())
        self.assertIn(self.mandate["reference"], notice)
        self.assertIn("debits scheduled on it", notice)
        self.assertEqual(self._listed_mandate_ids(tree)[1], [])
        self.assertEqual(self._counters(), 0)
        # GoCardless cancelled the scheduled payment with the mandate; its events reach Odoo.
        self.assertEqual(self._sandbox_payment(tx.provider_reference)["status"], "cancelled")
        with mute_logger(*LOGGERS):
            self._deliver_webhooks()
        tx.invalidate_recordset()
        self.assertEqual(tx.state, "cancel")
        self.assertEqual(invoice.payment_state, "not_paid")
        # The same form posted again (back button, double click): nothing more is sent.
        mark = self.sandbox.request_log_mark()
        response = self._post_cancel({"mandate_id": str(self.token.id)}, csrf=csrf)
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self.sandbox.request_log(mark), [])

    def test_a_mandate_already_cancelled_at_gocardless_is_cancelled_here_too(self):
        self._sandbox_client().mandates.cancel(self.mandate["id"])
        with mute_logger(*LOGGERS):
            response = self._post_cancel({"mandate_id": str(self.token.id)})
        self.assertEqual(response.status_code, 303, response.text[:500])
        self.token.invalidate_recordset()
        self.assertFalse(self.token.active)
        self.assertEqual(self.token.gocardless_mandate_status, "cancelled")

    def test_hostile_requests_are_refused_and_nothing_reaches_gocardless(self):
        csrf = self._csrf_token()
        mark = self.sandbox.request_log_mark()
        cases = [
            ({"mandate_id": str(self.other_token.id)}, 404),
            ({"mandate_id": "999999"}, 404),
            ({}, 400),
            ({"mandate_id": ""}, 400),
            ({"mandate_id": "abc"}, 400),
            ({"mandate_id": "-1"}, 400),
            ({"mandate_id": "0"}, 400),
            ({"mandate_id": f"{self.token.id}\x00"}, 400),
            ({"mandate_id": "2147483648"}, 400),
            ({"mandate_id": "9" * 400}, 400),
            ({"mandate_id": "١٢"}, 400),
            ({"mandate_id": f"{self.token.id}.0"}, 400),
            ({"mandate_id": f"[{self.token.id}]"}, 400),
            ([("mandate_id", str(self.token.id)), ("mandate_id", str(self.other_token.id))], 400),
        ]
        for data, status in cases:
            with self.subTest(data=data):
                response = self._post_cancel(data, csrf=csrf)
                self.assertEqual(response.status_code, status, response.text[:300])
                self.assertIn("o_gocardless_mandate_error", response.text)
        # Without the CSRF token, or with another one.
        for token in (None, "forged"):
            with mute_logger("odoo.http"):
                response = self._post_cancel({"mandate_id": str(self.token.id)}, csrf=token)
            self.assertEqual(response.status_code, 400)
        # A GET does not cancel.
        response = self.url_open(
            f"{self.mandates_url}/cancel?mandate_id={self.token.id}", allow_redirects=False
        )
        self.assertEqual(response.status_code, 405)
        # The page's own `cancelled` parameter shows nothing for another customer's mandate.
        for query in (f"?cancelled={self.other_token.id}", "?cancelled=%00", "?cancelled=x"):
            page, tree = self._mandates_page(query)
            self.assertEqual(page.status_code, 200)
            self.assertFalse(
                tree.xpath("//div[contains(@class, 'o_gocardless_mandate_cancelled')]")
            )
        self.assertEqual(self.sandbox.request_log(mark), [])
        for token in (self.token, self.other_token):
            token.invalidate_recordset()
            self.assertTrue(token.active)
        # Someone not logged in is sent to the login page.
        self.authenticate(None, None)
        response = self._post_cancel({"mandate_id": str(self.token.id)}, csrf=csrf)
        self.assertIn(response.status_code, (303, 400))
        self.assertEqual(self.sandbox.request_log(mark), [])

    def test_gocardless_unavailable_or_refusing_leaves_the_mandate_unchanged(self):
        for mode in ("503", "500", "refuse"):
            with self.subTest(mode=mode):
                csrf = self._csrf_token()
                self.sandbox.set_fault(mode, path_prefix="/mandates")
                try:
                    with mute_logger(*LOGGERS):
                        response = self._post_cancel({"mandate_id": str(self.token.id)}, csrf=csrf)
                finally:
                    self.sandbox.clear_fault()
                self.assertEqual(response.status_code, 502, response.text[:300])
                self.assertIn("could not be cancelled now, it is unchanged", response.text)
                self.token.invalidate_recordset()
                self.assertTrue(self.token.active)
                self.assertEqual(self.token.gocardless_mandate_status, self.mandate["status"])
                self.assertNotEqual(self._sandbox_mandate_status(self.mandate["id"]), "cancelled")

    # === DELETING A SAVED PAYMENT METHOD === #

    def _archive_token(self, token):
        """POST Odoo's `/payment/archive_token` as the payment form's *Delete* does."""
        with mute_logger(*LOGGERS, "odoo.http"):
            response = self.url_open(
                "/payment/archive_token",
                data=json.dumps(
                    {"jsonrpc": "2.0", "method": "call", "id": 0, "params": {"token_id": token.id}}
                ).encode(),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
        self.assertEqual(response.status_code, 200)
        return response.json()

    def test_deleting_a_saved_mandate_cancels_it_at_gocardless_after_saying_so(self):
        # The confirmation the payment form shows before deleting says so.
        info = self.make_jsonrpc_request(
            "/web/dataset/call_kw/payment.token/get_linked_records_info",
            {
                "model": "payment.token",
                "method": "get_linked_records_info",
                "args": [self.token.id],
                "kwargs": {},
            },
        )
        text = " ".join(entry["name"] for entry in info)
        self.assertIn("cancels its direct debit mandate", text)
        self.assertIn(self.mandate["reference"], text)
        self.assertIn(self.mandates_url, [entry["url"] for entry in info])
        # Another customer's mandate: not even its description.
        with self.assertRaises(JsonRpcException), mute_logger("odoo.http"):
            self.make_jsonrpc_request(
                "/web/dataset/call_kw/payment.token/get_linked_records_info",
                {
                    "model": "payment.token",
                    "method": "get_linked_records_info",
                    "args": [self.other_token.id],
                    "kwargs": {},
                },
            )
        answer = self._archive_token(self.token)
        self.assertNotIn("error", answer)
        self.token.invalidate_recordset()
        self.assertFalse(self.token.active)
        self.assertEqual(self.token.gocardless_mandate_status, "cancelled")
        self.assertEqual(self._sandbox_mandate_status(self.mandate["id"]), "cancelled")
        # The mandates page tells it is over, without Cancel.
        _response, tree = self._mandates_page()
        listed, cancellable = self._listed_mandate_ids(tree)
        self.assertIn(self.token.id, listed)
        self.assertNotIn(self.token.id, cancellable)
        row = tree.xpath(f"//tr[@data-mandate-id='{self.token.id}']")[0]
        self.assertIn("Cancelled", " ".join(row.itertext()))
        self.assertEqual(self._counters(), 0)

    def test_a_deletion_gocardless_refuses_deletes_nothing(self):
        self.sandbox.set_fault("503", path_prefix="/mandates")
        try:
            answer = self._archive_token(self.token)
        finally:
            self.sandbox.clear_fault()
        self.assertIn("error", answer)
        self.token.invalidate_recordset()
        self.assertTrue(self.token.active)
        self.assertNotEqual(self._sandbox_mandate_status(self.mandate["id"]), "cancelled")
        # Another customer's mandate: neither deleted nor cancelled.
        mark = self.sandbox.request_log_mark()
        self._archive_token(self.other_token)
        self.other_token.invalidate_recordset()
        self.assertTrue(self.other_token.active)
        # A token archived otherwise (the back end, a provider disabled) leaves the mandate
        # to the customer.
        self.token.action_archive()
        self.assertEqual(self.sandbox.request_log(mark), [])
        self.assertNotEqual(self._sandbox_mandate_status(self.mandate["id"]), "cancelled")

    def test_a_removed_mandate_still_live_is_not_listed_as_active_and_can_be_cancelled(self):
        # Removed from the payment methods while GoCardless still holds it live (deleted
        # before deleting cancelled it).
        self.token.with_context(gocardless_mandate_ended=True).active = False
        self.env.flush_all()
        _response, tree = self._mandates_page()
        listed, cancellable = self._listed_mandate_ids(tree)
        self.assertIn(self.token.id, listed)
        self.assertIn(self.token.id, cancellable)
        row = tree.xpath(f"//tr[@data-mandate-id='{self.token.id}']")[0]
        text = " ".join(" ".join(row.itertext()).split())
        self.assertIn("Removed from your payment methods, not cancelled", text)
        self.assertNotIn("Active", text.replace("Removed", ""))
        with mute_logger(*LOGGERS):
            response = self._post_cancel({"mandate_id": str(self.token.id)})
        self.assertEqual(response.status_code, 303)
        self.assertEqual(self._sandbox_mandate_status(self.mandate["id"]), "cancelled")
