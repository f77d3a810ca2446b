# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""What a new user meets in the first hour: the demo's invoice sent from its form, the
connection kept or retired, the merchant's notices and screens in their language."""

from odoo import Command
from odoo.tests import HttpCase, tagged


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
