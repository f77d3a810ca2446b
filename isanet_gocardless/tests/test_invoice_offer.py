from lxml import etree

from odoo.exceptions import UserError
from odoo.tests import Form, tagged

from .common import GoCardlessInvoiceCommon


@tagged("post_install", "-at_install")
class TestInvoiceOffer(GoCardlessInvoiceCommon):
    def test_offer_follows_the_provider_setting_when_posting(self):
        invoice = self._create_customer_invoice()
        self.assertTrue(invoice.gocardless_offered)

        self.gocardless.gocardless_offer_by_default = False
        invoice = self._create_customer_invoice()
        self.assertFalse(invoice.gocardless_offered)

    def test_offer_is_not_set_without_an_active_provider(self):
        self.gocardless.state = "disabled"
        invoice = self._create_customer_invoice()
        self.assertFalse(invoice.gocardless_offered)
        self.assertFalse(invoice.gocardless_offer_editable)

    def test_offer_is_not_set_on_bills_refunds_or_drafts(self):
        bill = self.init_invoice("in_invoice", amounts=[100.0], post=True)
        refund = self.init_invoice("out_refund", amounts=[100.0], post=True)
        draft = self._create_customer_invoice(post=False)
        for move in bill | refund | draft:
            self.assertFalse(move.gocardless_offered)
            self.assertFalse(move.gocardless_offer_editable)

    def test_toggle_is_editable_on_posted_unpaid_invoices_only(self):
        invoice = self._create_customer_invoice()
        self.assertTrue(invoice.gocardless_offer_editable)
        invoice.gocardless_offered = False
        invoice.gocardless_offered = True
        self.assertTrue(invoice.gocardless_offered)

        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({})._create_payments()
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        self.assertFalse(invoice.gocardless_offer_editable)
        with self.assertRaises(UserError):
            invoice.gocardless_offered = False

    def test_toggle_is_refused_on_bills_and_drafts(self):
        bill = self.init_invoice("in_invoice", amounts=[100.0], post=True)
        draft = self._create_customer_invoice(post=False)
        for move in bill | draft:
            with self.assertRaises(UserError):
                move.gocardless_offered = True
            self.assertFalse(move.gocardless_offered)

    def test_each_change_is_tracked_in_the_chatter(self):
        invoice = self._create_customer_invoice().with_context(
            tracking_disable=False, mail_notrack=False
        )
        field = self.env["ir.model.fields"]._get("account.move", "gocardless_offered")

        def tracked_values():
            self.env.flush_all()
            self.env.cr.precommit.run()  # tracking values are written before commit
            return self.env["mail.tracking.value"].search(
                [("mail_message_id", "in", invoice.message_ids.ids), ("field_id", "=", field.id)]
            )

        before = tracked_values()
        invoice.gocardless_offered = False
        tracked_values()
        invoice.gocardless_offered = True
        tracked = tracked_values() - before
        self.assertEqual(len(tracked), 2)
        self.assertEqual(
            sorted((t.old_value_integer, t.new_value_integer) for t in tracked),
            [(0, 1), (1, 0)],
        )

    def test_form_shows_the_toggle_on_posted_invoices_only(self):
        arch = self.env["account.move"].get_view(
            self.env.ref("isanet_gocardless.view_move_form_gocardless").inherit_id.id
        )["arch"]
        node = etree.fromstring(arch).xpath("//field[@name='gocardless_offered']")[0]
        self.assertIn("move_type != 'out_invoice'", node.get("invisible"))
        self.assertIn("state != 'posted'", node.get("invisible"))
        self.assertEqual(node.get("readonly"), "not gocardless_offer_editable")

        invoice = self._create_customer_invoice()
        with Form(invoice) as form:
            form.gocardless_offered = False
        self.assertFalse(invoice.gocardless_offered)

    def test_provider_form_shows_the_setting(self):
        arch = self.env["payment.provider"].get_view(
            self.env.ref("payment.payment_provider_form").id
        )["arch"]
        self.assertTrue(
            etree.fromstring(arch).xpath("//field[@name='gocardless_offer_by_default']")
        )

    # === EMAIL === #

    def _get_mail_body(self, invoice):
        send = self.env["account.move.send"]
        template = invoice._get_mail_template()
        lang = send._get_default_mail_lang(invoice, template)
        return str(send._get_default_mail_body(invoice, template, lang))

    def test_email_carries_the_direct_debit_call_to_action_when_offered(self):
        invoice = self._create_customer_invoice()
        body = self._get_mail_body(invoice)
        self.assertIn("Pay by direct debit", body)
        self.assertIn(f"/my/invoices/{invoice.id}", body)
        self.assertIn(f"access_token={invoice.access_token}", body)

    def test_email_opens_with_the_call_to_action_above_the_transfer_instructions(self):
        invoice = self._create_customer_invoice()
        invoice.payment_reference = "INV-REF-42"
        self.env.user.signature = "<p>Merchant signature</p>"
        invoice.invoice_user_id = self.env.user
        body = self._get_mail_body(invoice)
        cta = body.index("Pay by direct debit")
        self.assertLess(cta, body.index("INV-REF-42"), "Above the bank transfer instruction.")
        self.assertLess(cta, body.index("Merchant signature"), "Above the signature.")
        self.assertTrue(body.startswith('<div class="o_gocardless_mail_cta"'))

    def test_email_call_to_action_speaks_the_customer_language(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"]._load_module_terms(["isanet_gocardless"], ["fr_FR"])
        invoice = self._create_customer_invoice()
        invoice.partner_id.lang = "fr_FR"
        body = self._get_mail_body(invoice)
        self.assertIn("Payer par prélèvement", body)
        self.assertIn("Vous pouvez payer cette facture par prélèvement", body)
        self.assertNotIn("Pay by direct debit", body)
        self.assertTrue(body.startswith('<div class="o_gocardless_mail_cta"'))

    def test_email_has_no_call_to_action_when_not_offered(self):
        invoice = self._create_customer_invoice()
        invoice.gocardless_offered = False
        self.assertNotIn("Pay by direct debit", self._get_mail_body(invoice))

    def test_email_has_no_call_to_action_in_unsupported_currency(self):
        currency = self.setup_other_currency("CHF")
        invoice = self._create_customer_invoice(currency=currency)
        self.assertNotIn("Pay by direct debit", self._get_mail_body(invoice))

    def test_send_wizard_body_carries_the_call_to_action(self):
        invoice = self._create_customer_invoice()
        wizard = (
            self.env["account.move.send.wizard"]
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({})
        )
        self.assertIn("Pay by direct debit", str(wizard.mail_body))
