# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""SEPA's pre-notification: once a debit is scheduled, the invoice PDF, its portal page and
its email say when and how much is debited, from which account, under which mandate reference
and creditor identifier."""

from odoo.tests import tagged
from odoo.tools import format_date

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .common import GoCardlessMandateCommon


@tagged("post_install", "-at_install")
class TestPreNotice(GoCardlessMandateCommon, PaymentHttpCommon):
    def _mail_body(self, invoice):
        send = self.env["account.move.send"]
        template = invoice._get_mail_template()
        lang = send._get_default_mail_lang(invoice, template)
        return str(send._get_default_mail_body(invoice, template, lang))

    def _assert_pre_notice(self, text, invoice):
        tx = invoice.gocardless_debit_transaction_id
        self.assertIn("pre-notification", text)
        self.assertIn(format_date(self.env, tx.gocardless_charge_date), text)
        self.assertIn("88.50", text)
        self.assertIn("•••• 34", text)
        self.assertIn(self.mandate["reference"], text)
        self.assertIn("SBX-SEPA_CORE", text)
        self.assertIn("Sandbox Creditor Ltd", text)

    def test_a_scheduled_debit_is_pre_notified_on_the_pdf_the_portal_and_the_email(self):
        invoice = self._create_customer_invoice(amount=88.5)
        self.assertFalse(invoice.gocardless_pre_notice)
        self.assertNotIn("pre-notification", self._mail_body(invoice))
        invoice.action_gocardless_collect()
        # The creditor's identifiers were read once from GoCardless.
        self.assertIn("sepa_core: SBX-SEPA_CORE", self.gocardless.gocardless_creditor_identifiers)
        self._assert_pre_notice(invoice.gocardless_pre_notice, invoice)
        html, _format = self.env["ir.actions.report"]._render_qweb_html(
            "account.account_invoices", invoice.ids
        )
        self._assert_pre_notice(html.decode(), invoice)
        body = self._mail_body(invoice)
        self._assert_pre_notice(body, invoice)
        # The debit is scheduled: no invitation to pay it again.
        self.assertNotIn("Pay by direct debit", body)
        response = self.url_open(
            f"/my/invoices/{invoice.id}?access_token={invoice._portal_ensure_token()}"
        )
        self.assertEqual(response.status_code, 200)
        self._assert_pre_notice(response.text, invoice)

    def test_no_pre_notice_once_the_debit_is_collected_or_cancelled(self):
        invoice = self._create_customer_invoice(amount=88.5)
        invoice.action_gocardless_collect()
        self.assertTrue(invoice.gocardless_pre_notice)
        invoice.action_gocardless_cancel_debit()
        self.assertEqual(invoice.gocardless_debit_status, "cancelled")
        self.assertFalse(invoice.gocardless_pre_notice)
        html, _format = self.env["ir.actions.report"]._render_qweb_html(
            "account.account_invoices", invoice.ids
        )
        self.assertNotIn("pre-notification", html.decode())

    def test_the_pre_notice_follows_the_transaction_state_alone(self):
        """The debit's status is GoCardless's; the pre-notice also needs the transaction under
        way: a transaction ended in Odoo alone (GoCardless's status unchanged) ends it, in the
        same transaction as the read before."""
        invoice = self._create_customer_invoice(amount=88.5)
        invoice.action_gocardless_collect()
        tx = invoice.gocardless_debit_transaction_id
        self.assertTrue(invoice.gocardless_pre_notice)
        tx._set_error("Ended in Odoo")
        self.assertEqual(invoice.gocardless_debit_status, "scheduled")
        self.assertFalse(invoice.gocardless_pre_notice)

    def test_the_debit_status_is_followed_without_a_second_search(self):
        """The invoice's stored debit status follows GoCardless's status of its last debit. No
        relational field depends on that status: Odoo would then search the invoices twice
        (before and after) each time a status is written. The debit itself is still found,
        and still followed when a newer debit is sent."""
        Tx = self.env["payment.transaction"]
        for name in ("gocardless_payment_status", "gocardless_retrying", "gocardless_charge_date"):
            self.assertFalse(self.env.registry.is_modifying_relations(Tx._fields[name]), name)
        invoice = self._create_customer_invoice(amount=42.0)
        invoice.action_gocardless_collect()
        tx = invoice.gocardless_debit_transaction_id
        self.assertTrue(tx.provider_reference)
        tx.gocardless_payment_status = "submitted"
        self.assertEqual(invoice.gocardless_debit_status, "submitted")
        newer = tx.copy({"reference": f"{tx.reference}-2", "provider_reference": False})
        newer.invoice_ids = invoice
        self.assertEqual(invoice.gocardless_debit_transaction_id, tx)
        newer.provider_reference = "PM-NEWER"
        self.assertEqual(invoice.gocardless_debit_transaction_id, newer)
