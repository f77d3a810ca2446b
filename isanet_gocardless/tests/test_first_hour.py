# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""What a new user meets in the first hour: the demo's invoice sent from its form, the
connection kept or retired, the merchant's notices and screens in their language."""

import base64
import json
from datetime import datetime, timedelta
from unittest.mock import patch

from lxml import etree

from odoo import Command, fields
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools import file_open, mute_logger

from ..gocardless_core import catchup
from .common import (
    GoCardlessConnectCommon,
    GoCardlessMandatePortalCommon,
    GoCardlessPortalMixin,
)

# Logged while debits move on; not a problem here.
LOGGERS = (
    "odoo.addons.isanet_gocardless.controllers.portal_mandates",
    "odoo.addons.isanet_gocardless.models.account_move_debits",
    "odoo.addons.isanet_gocardless.models.payment_provider",
    "odoo.addons.isanet_gocardless.models.payment_token",
    "odoo.addons.isanet_gocardless.models.payment_transaction",
    "odoo.addons.payment.models.payment_transaction",
)


@tagged("post_install", "-at_install")
class TestFirstHourDemo(HttpCase):
    """The demo data, as the merchant and their customers meet it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.ref("isanet_gocardless.demo_company_fr", raise_if_not_found=False)

    def setUp(self):
        super().setUp()
        if not self.company:
            self.fail("The demo data is not installed: these tests are about it.")

    def test_print_and_send_from_the_invoice_form_through_the_layout_dialog(self):
        admin = self.env.ref("base.user_admin")
        admin.write({"company_ids": [Command.link(self.company.id)], "company_id": self.company.id})
        # The first Print & Send of a company opens Odoo's document layout dialog first.
        self.company.external_report_layout_id = False
        invoice = self.env.ref("isanet_gocardless.demo_invoice_cafe_open")
        self.assertFalse(invoice.is_move_sent)
        self.start_tour(
            f"/odoo/action-account.action_move_out_invoice_type/{invoice.id}",
            "isanet_gocardless_print_and_send",
            login="admin",
        )
        invoice.invalidate_recordset()
        self.assertTrue(invoice.is_move_sent)
        self.assertTrue(self.company.external_report_layout_id, "The layout was saved.")
        sent = invoice.message_ids.filtered(
            lambda m: m.message_type == "comment" and "o_gocardless_mail_cta" in (m.body or "")
        )
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent.partner_ids, invoice.partner_id)
        self.assertTrue(sent.attachment_ids, "The invoice's PDF goes with the email.")

    def test_customers_see_the_demo_company_on_the_portal_and_in_its_emails(self):
        invoice = self.env.ref("isanet_gocardless.demo_invoice_cafe_open")
        self.assertEqual(
            self.env.ref("base.public_user").company_id, self.env.ref("base.main_company")
        )
        # The email's link, logged out.
        response = self.url_open(invoice.get_portal_url())
        self.assertEqual(response.status_code, 200)
        tree = etree.fromstring(response.text, parser=etree.HTMLParser())
        logos = tree.xpath("//img[starts-with(@src, '/logo.png?company=')]")
        self.assertTrue(logos)
        self.assertEqual(
            {logo.get("src") for logo in logos}, {f"/logo.png?company={self.company.id}"}
        )
        self.assertEqual({logo.get("title") for logo in logos}, {"Isanet Démo SARL"})
        self.assertNotIn(self.env.ref("base.main_company").name, response.text)
        default_logo = base64.b64encode(
            file_open("base/static/img/res_company_logo.png", "rb").read()
        )
        self.assertNotEqual(self.company.logo, default_logo, "The demo company has its logo.")
        # Its emails: sent and signed by its accountant, the invoices' salesperson.
        admin = self.env.ref("base.user_admin")
        self.assertEqual(
            self.env.ref("isanet_gocardless.demo_invoice_cafe_open").invoice_user_id, admin
        )
        for name in ("boulangerie_paid", "boulangerie_open", "atelier_failed"):
            invoice_user = self.env.ref(f"isanet_gocardless.demo_invoice_{name}").invoice_user_id
            self.assertEqual(invoice_user, admin)
        template = self.env.ref("account.email_template_edi_invoice")
        email_from = template._render_field("email_from", invoice.ids)[invoice.id]
        self.assertIn("isanet-demo.example.com", email_from)
        self.assertNotIn("OdooBot", email_from)
        body = template._render_field("body_html", invoice.ids)[invoice.id]
        self.assertIn(admin.name, body)
        self.assertIn("Isanet Démo SARL", body)
        self.assertNotIn("System", body)
        self.assertNotIn(admin.name, ("Mitchell Admin", "Administrator", "OdooBot"))


@tagged("post_install", "-at_install")
class TestFirstHourConnect(GoCardlessPortalMixin, GoCardlessConnectCommon):
    """Disconnect, connect again (the same account or another), with a pasted token too."""

    def _alone(self):
        """Disable the other providers of the provider's payment methods: disabling it then
        deactivates its methods, as in a database with one GoCardless provider."""
        methods = self.gocardless.with_context(active_test=False).payment_method_ids
        others = (methods.provider_ids - self.gocardless).filtered(lambda p: p.state != "disabled")
        others.write({"state": "disabled"})

    def _mandate(self, provider_ref="MD000FIRSTHOUR"):
        return self.env["payment.token"].create(
            {
                "provider_id": self.gocardless.id,
                "payment_method_id": self.sepa.id,
                "partner_id": self.partner.id,
                "provider_ref": provider_ref,
                "payment_details": "•••• 06",
                "gocardless_mandate_status": "active",
            }
        )

    def test_disconnect_keeps_the_mandates_and_the_same_account_makes_them_usable(self):
        self._alone()
        self._connect(email="same@example.com", name="Same Ltd")
        mandate = self._mandate()
        invoice = self._create_customer_invoice(amount=120.0)
        self.assertEqual(invoice.gocardless_token_id, mandate)

        self._as_admin(self.gocardless).action_gocardless_disconnect()
        self.assertEqual(self.gocardless.state, "disabled")
        self.assertFalse(self.sepa.active, "Odoo deactivates the methods of disabled providers.")
        self.assertTrue(mandate.active, "The saved mandate is kept while disconnected.")

        self._connect(email="same@example.com", name="Same Ltd")
        self.assertEqual(self.gocardless.state, "test")
        self.assertTrue(self.sepa.active)
        self.assertTrue(mandate.active)
        invoice.invalidate_recordset()
        self.assertEqual(invoice.gocardless_token_id, mandate, "The mandate collects again.")

    def test_connecting_another_account_retires_the_kept_mandates(self):
        self._alone()
        self._connect(email="first@example.com", name="First Ltd")
        mandate = self._mandate()
        self._as_admin(self.gocardless).action_gocardless_disconnect()
        self.assertTrue(mandate.active)
        self._connect(email="second@example.com", name="Second Ltd")
        self.assertFalse(mandate.active, "Another account can't charge these mandates.")

    def _connect_read_and_disconnect(self, email, name):
        """Connect the provider alone to the account of ``email``, its events read until 5
        hours ago, then disconnect it; return when the events were read until."""
        self._alone()
        self._connect(email=email, name=name)
        seen = (fields.Datetime.now() - timedelta(hours=5)).replace(microsecond=0)
        self.gocardless.gocardless_events_synced_at = seen
        self._as_admin(self.gocardless).action_gocardless_disconnect()
        return seen

    def test_connecting_the_same_account_again_catches_up_from_the_last_event_seen(self):
        seen = self._connect_read_and_disconnect(email="same@example.com", name="Same Ltd")
        self.assertEqual(self.gocardless.gocardless_events_synced_at, seen)

        self._connect(email="same@example.com", name="Same Ltd")
        self.assertEqual(self.gocardless.gocardless_events_synced_at, seen)
        # The missed events are read from before the disconnection, not from now.
        params = catchup.first_params(
            self.gocardless.gocardless_events_synced_at, fields.Datetime.now()
        )
        self.assertEqual(params["created_at[gt]"], catchup.format_timestamp(seen - catchup.OVERLAP))

        # A token pasted for the same account keeps it too.
        self._as_admin(self.gocardless).action_gocardless_disconnect()
        self.gocardless.write({"gocardless_access_token": self.sandbox_token, "state": "test"})
        self.assertEqual(self.gocardless.gocardless_events_synced_at, seen)

    def test_connecting_another_account_catches_up_from_now(self):
        self._connect_read_and_disconnect(email="first@example.com", name="First Ltd")
        before = fields.Datetime.now().replace(microsecond=0)
        self._connect(email="second@example.com", name="Second Ltd")
        self.assertGreaterEqual(self.gocardless.gocardless_events_synced_at, before)

    def test_a_pasted_token_connects_again_and_publishes_the_provider_again(self):
        self.assertTrue(self.gocardless.is_published)
        self._as_admin(self.gocardless).action_gocardless_disconnect()
        # What the provider form saves: a pasted token, Test Mode, and Odoo's own onchange
        # unpublishing a provider that is not enabled.
        self.gocardless.write(
            {
                "gocardless_access_token": self.sandbox_token,
                "state": "test",
                "is_published": False,
            }
        )
        action = self._as_admin(self.gocardless).action_gocardless_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.assertTrue(self.gocardless.is_published, "Published again, as before.")
        self.assertIn("published again", action["params"]["message"])
        self.assertIn("published again", self.gocardless.gocardless_connect_message)

    def test_a_pasted_token_says_why_customers_do_not_see_direct_debit(self):
        self._as_admin(self.gocardless).action_gocardless_disconnect()
        self.gocardless.gocardless_access_token = self.sandbox_token
        action = self._as_admin(self.gocardless).action_gocardless_test_connection()
        self.assertIn("Sandbox Creditor Ltd", action["params"]["message"])
        self.assertIn("disabled", action["params"]["message"])

        # Never published by the merchant: it stays so, and the merchant is told.
        self.gocardless.write({"state": "test", "is_published": False})
        self.gocardless.gocardless_publish_on_reconnect = False
        action = self._as_admin(self.gocardless).action_gocardless_test_connection()
        self.assertFalse(self.gocardless.is_published)
        self.assertIn("not published", action["params"]["message"])

    def test_only_the_currencies_and_schemes_of_the_connected_account_in_words(self):
        self.assertEqual(len(self.gocardless.available_currency_ids), 8)
        self._connect(email="schemes@example.com", name="Schemes Ltd")
        self.assertEqual(set(self.gocardless.available_currency_ids.mapped("name")), {"EUR", "GBP"})
        self.assertEqual(
            self.gocardless.gocardless_schemes_display,
            "Bacs Direct Debit (GBP), SEPA Direct Debit (EUR)",
        )
        french = self.gocardless.with_context(lang="fr_FR")
        french.invalidate_recordset(["gocardless_schemes_display"])
        self.assertEqual(
            french.gocardless_schemes_display, "Prélèvement Bacs (GBP), Prélèvement SEPA (EUR)"
        )
        # A scheme this module doesn't know is shown as GoCardless names it.
        page = {"creditors": [{"id": "CR1", "scheme_identifiers": [{"scheme": "faster_pay"}]}]}
        with patch.object(
            self.env.registry["payment.provider"], "_gocardless_make_request", return_value=page
        ):
            self.gocardless._gocardless_refresh_creditor()
        self.assertEqual(self.gocardless.gocardless_schemes_display, "faster_pay")


@tagged("post_install", "-at_install")
class TestFirstHourNotices(GoCardlessMandatePortalCommon):
    """The merchant's notices and screens in the company's language (French here), with
    words instead of GoCardless's codes, written by the crons as by a person."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("fr_FR")
        cls.env.company.partner_id.lang = "fr_FR"
        cls.admin_user = cls.env.ref("base.user_admin")
        cls.admin_user.company_ids = [Command.link(cls.env.company.id)]
        cls.customer = cls.env["res.partner"].create(
            {"name": "Titulaire SA", "email": "titulaire@example.com", "is_company": True}
        )
        cls.portal_user = new_test_user(
            cls.env, login="gc-first-hour-portal", groups="base.group_portal"
        )
        cls.portal_user.partner_id.parent_id = cls.customer

    def setUp(self):
        super().setUp()
        self.token, self.mandate = self._sandbox_mandate_token(self.customer)
        # The provider knows its creditor already (read when it was connected).
        self.gocardless.gocardless_creditor_identifiers = "sepa_core: SBX-SEPA_CORE"

    def _french(self, text):
        return self.env(context=dict(self.env.context, lang="fr_FR"))._(text)

    def _prefix(self, text):
        """The French of ``text`` up to its first placeholder."""
        prefix = self._french(text).split("%(")[0]
        self.assertNotEqual(prefix, text.split("%(")[0], "fr.po translates it.")
        return prefix

    def _collect_and_deliver(self, invoice, scenario):
        """Collect ``invoice``, run ``scenario`` on its debit and deliver the webhooks; return
        the debit's transaction."""
        with mute_logger(*LOGGERS):
            invoice.action_gocardless_collect()
        tx = invoice.gocardless_debit_transaction_id
        self._simulate(scenario, tx.provider_reference)
        with mute_logger(*LOGGERS):
            self._deliver_webhooks()
        return tx

    def _mandate_cancelled_notes(self):
        """The customer's notes telling the merchant a mandate was cancelled from the portal."""
        told = self._prefix(
            "The customer cancelled their direct debit mandate %(mandate)s (%(scheme)s, "
            "%(account)s) from their portal: their invoices are no longer collected on it."
        )
        return self.customer.message_ids.filtered(lambda m: told in (m.body or ""))

    def test_automatic_collection_writes_the_invoice_chatter_in_the_company_language(self):
        self.gocardless.gocardless_auto_collect = True
        invoice = self._create_customer_invoice(amount=90.0, partner=self.customer)
        self.assertEqual(invoice.gocardless_auto_collect_state, "queued")
        self.assertNotEqual(self.env.lang, "fr_FR", "The cron runs in English.")
        with mute_logger(*LOGGERS):
            self.env["account.move"]._cron_gocardless_auto_collect()
        self.assertEqual(invoice.gocardless_auto_collect_state, "requested")
        requested = self._prefix(
            "Direct debit of %(amount)s requested on the mandate %(mandate)s: GoCardless "
            "collects it on %(date)s."
        )
        self.assertTrue(invoice.message_ids.filtered(lambda m: requested in (m.body or "")))

    def test_a_failure_is_told_in_words_in_the_company_language(self):
        invoice = self._create_customer_invoice(amount=80.0, partner=self.customer)
        tx = self._collect_and_deliver(invoice, "payment_failed")
        self.assertEqual(tx.state, "error")
        reason = self._french("The customer's account had insufficient funds.").rstrip(".")
        self.assertNotIn("insufficient", reason)
        self.assertEqual(tx.gocardless_failure_reason, f"{reason} (AM04)")
        failed = invoice.message_ids.filtered(lambda m: reason in (m.body or ""))
        self.assertTrue(failed)
        self.assertNotIn("insufficient_funds", failed[0].body)
        # A cause this module doesn't know keeps GoCardless's own words.
        Event = self.env["gocardless.event"].with_context(lang="fr_FR")
        self.assertEqual(Event._gocardless_reason_text("new_cause", "X1", "As said"), "As said")

    def test_the_merchant_is_told_when_a_customer_cancels_a_mandate_from_the_portal(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        csrf = self._csrf_token()
        with mute_logger(*LOGGERS):
            response = self._post_cancel({"mandate_id": str(self.token.id)}, csrf=csrf)
        self.assertEqual(response.status_code, 303, response.text[:500])
        self.token.invalidate_recordset()
        self.assertEqual(self.token.gocardless_mandate_status, "cancelled")
        notes = self._mandate_cancelled_notes()
        self.assertEqual(len(notes), 1)
        self.assertIn(self.mandate["reference"], notes.body)
        self.assertIn(self._french("SEPA Direct Debit"), notes.body)
        self.assertIn(self.admin_user.partner_id, notes.partner_ids, "Notified to the merchant.")
        # The same form posted again (back button): no second notice.
        with mute_logger(*LOGGERS):
            self.assertEqual(
                self._post_cancel({"mandate_id": str(self.token.id)}, csrf=csrf).status_code, 303
            )
        self.assertEqual(len(self._mandate_cancelled_notes()), 1)

    def test_the_merchant_is_told_when_a_customer_deletes_a_saved_mandate(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)
        with mute_logger(*LOGGERS):
            response = self.url_open(
                "/payment/archive_token",
                data=json.dumps(
                    {
                        "jsonrpc": "2.0",
                        "method": "call",
                        "id": 0,
                        "params": {"token_id": self.token.id},
                    }
                ).encode(),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
        self.assertNotIn("error", response.json())
        self.token.invalidate_recordset()
        self.assertFalse(self.token.active)
        self.assertEqual(self.token.gocardless_mandate_status, "cancelled")
        notes = self._mandate_cancelled_notes()
        self.assertEqual(len(notes), 1)
        self.assertIn(self.admin_user.partner_id, notes.partner_ids)

    def test_labels_and_statuses_in_words(self):
        # The scheme of a mandate, on the customer's form and portal.
        french_token = self.token.with_context(lang="fr_FR")
        self.assertEqual(french_token.gocardless_scheme_label, "Prélèvement SEPA")
        bacs = self.env.ref("payment.payment_method_bacs_direct_debit")
        self.token.payment_method_id = bacs
        self.assertEqual(
            self.token.with_context(lang="fr_FR").gocardless_scheme_label, "Prélèvement Bacs"
        )
        # A payout's status at GoCardless.
        payout = (
            self.env["gocardless.payout"]
            .sudo()
            .create(
                {
                    "name": "PO000FIRSTHOUR",
                    "provider_id": self.gocardless.id,
                    "gocardless_status": "paid",
                }
            )
        )
        self.assertEqual(payout.with_context(lang="fr_FR").gocardless_status_label, "Payé")
        # A label without a question mark (Odoo adds its own beside a label with help).
        self.env["ir.module.module"]._load_module_terms(
            ["isanet_gocardless"], ["fr_FR"], overwrite=True
        )
        for lang in ("en_US", "fr_FR"):
            label = (
                self.env["payment.provider"]
                .with_context(lang=lang)
                .fields_get(["gocardless_invoice_paid"])["gocardless_invoice_paid"]["string"]
            )
            self.assertNotIn("?", label)
        self.assertEqual(label, "Facture payée")

    def test_the_digest_dates_in_the_user_language_and_time_zone(self):
        self.admin_user.write({"lang": "fr_FR", "tz": "Europe/Paris"})
        invoice = self._create_customer_invoice(amount=60.0, partner=self.customer)
        tx = self._collect_and_deliver(invoice, "payment_confirmed")
        self.assertEqual(tx.state, "done")
        since = datetime(2026, 1, 15, 23, 30)
        self.gocardless.gocardless_digest_sent_at = since
        self.assertEqual(self.gocardless._gocardless_send_digest(), 1)
        digest = self.gocardless.message_ids[:1]
        self.assertNotIn("2026-01-15", digest.body, "Not an ISO date.")
        self.assertIn("16 janv. 2026", digest.body, "In French, in Paris (00:30 the 16th).")
        self.assertIn("00:30", digest.body)

    def test_the_customer_pages_logged_out_show_the_company_of_the_invoice(self):
        invoice = self._create_customer_invoice(amount=50.0)
        # Back from GoCardless's page, the browser's session follows the transaction.
        self._pay_by_redirect(invoice)
        # The public user (customers following an email's link) in another company.
        other = self.env["res.company"].create({"name": "Société Publique"})
        self.env.ref("base.public_user").sudo().write(
            {"company_ids": [Command.link(other.id)], "company_id": other.id}
        )
        logo = f"/logo.png?company={invoice.company_id.id}"
        for url in (invoice.get_portal_url(), "/payment/status"):
            page = self.url_open(url)
            self.assertEqual(page.status_code, 200)
            self.assertIn(logo, page.text, url)
            self.assertNotIn(other.name, page.text, url)

    def test_odoo_direct_debit_methods_named_in_french(self):
        bacs = self.env.ref("payment.payment_method_bacs_direct_debit")
        sepa = self.env.ref("payment.payment_method_sepa_direct_debit")
        sepa.with_context(lang="fr_FR").name = "Prélèvement SEPA (Odoo)"
        bacs.with_context(lang="fr_FR").name = "BACS Direct Debit"  # as Odoo leaves it
        self.env["payment.method"]._gocardless_translate_scheme_names()
        self.assertEqual(bacs.with_context(lang="fr_FR").name, "Prélèvement Bacs")
        self.assertEqual(bacs.with_context(lang="en_US").name, "BACS Direct Debit")
        self.assertEqual(sepa.with_context(lang="fr_FR").name, "Prélèvement SEPA (Odoo)")
