from lxml import etree

from odoo.tests import HttpCase, tagged


@tagged("post_install", "-at_install")
class TestDemoData(HttpCase):
    """The demo data: a French company in EUR, its GoCardless invoices, payments and mandate."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.env.ref("isanet_gocardless.demo_company_fr", raise_if_not_found=False)
        if cls.company:
            cls.provider = cls.env["payment.provider"]._gocardless_get_for_company(cls.company)

    def setUp(self):
        super().setUp()
        if not self.company:
            self.skipTest("the database has no demo data")

    def _ref(self, name):
        return self.env.ref(f"isanet_gocardless.{name}")

    def _invoice(self, name):
        return self._ref(f"demo_invoice_{name}")

    def _in_company_language(self, text):
        """``text`` as the company's notices say it (they are in the company's language)."""
        env = self.env(context=dict(self.env.context, lang=self.company.partner_id.lang))
        return env._(text)

    def test_company_in_eur_with_a_chart_a_bank_journal_and_the_admin(self):
        self.assertEqual(self.company.currency_id, self.env.ref("base.EUR"))
        self.assertEqual(self.company.country_id, self.env.ref("base.fr"))
        self.assertTrue(self.company.chart_template)
        self.assertIn(self.company, self.env.ref("base.user_admin").company_ids)
        self.assertTrue(
            self.env["account.journal"].search_count(
                [("company_id", "=", self.company.id), ("type", "=", "bank")]
            )
        )

    def test_company_and_customers_ready_for_french_invoices(self):
        self.assertEqual(self.company.vat, "FR65912345675")
        self.assertTrue(self.company.phone and self.company.email and self.company.zip)
        journal = self.env["account.journal"].search(
            [("company_id", "=", self.company.id), ("type", "=", "bank")], limit=1
        )
        bank_account = journal.bank_account_id
        self.assertEqual(bank_account.sanitized_acc_number, "FR7630006000011234567890189")
        self.assertEqual(bank_account.partner_id, self.company.partner_id)
        self.assertTrue(self.env["res.lang"]._lang_get("fr_FR").active)
        for name in ("boulangerie", "atelier", "cafe"):
            partner = self._ref(f"demo_partner_{name}")
            self.assertEqual(partner.lang, "fr_FR")
            self.assertTrue(partner.vat.startswith("FR"))

    def test_invoices_carry_vat_the_bank_account_and_french_lines(self):
        names = ("boulangerie_paid", "boulangerie_open", "atelier_failed", "cafe_open")
        for invoice in (self._invoice(name) for name in names):
            self.assertTrue(invoice.amount_tax > 0, "The company's sales tax applies.")
            self.assertTrue(all(line.tax_ids for line in invoice.invoice_line_ids))
            self.assertEqual(invoice.partner_bank_id.partner_id, self.company.partner_id)
        self.assertIn("Hébergement", self._invoice("boulangerie_paid").invoice_line_ids.name)

    def test_print_and_send_emails_the_invoice_with_the_direct_debit_offer_first(self):
        invoice = self._invoice("cafe_open").with_company(self.company)
        wizard = (
            self.env["account.move.send.wizard"]
            .with_company(self.company)
            .with_context(active_model="account.move", active_ids=invoice.ids)
            .create({})
        )
        blocking = {
            key: alert
            for key, alert in (wizard.alerts or {}).items()
            if alert.get("level") == "danger"
        }
        self.assertFalse(blocking, "Nothing stops Print & Send (bank account, VAT, taxes).")
        self.assertEqual(wizard.mail_lang, "fr_FR")
        self.assertTrue(str(wizard.mail_body).startswith('<div class="o_gocardless_mail_cta"'))
        wizard.action_send_and_print()
        self.assertTrue(invoice.is_move_sent)
        self.assertTrue(invoice.invoice_pdf_report_id, "The invoice's PDF is generated and kept.")
        sent = invoice.message_ids.filtered(
            lambda m: m.message_type == "comment" and "o_gocardless_mail_cta" in (m.body or "")
        )
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent.partner_ids, invoice.partner_id)
        self.assertTrue(sent.attachment_ids)

    def test_provider_messages_to_customers_in_every_language(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        template = self._ref("payment_provider_gocardless")
        template.pending_msg = "<p>Thanks: direct debit set up.</p>"
        french = {"Thanks: direct debit set up.": "Merci : prélèvement en place."}
        template.update_field_translations("pending_msg", {"fr_FR": french})
        self.provider.pending_msg = "<p>Old text</p>"
        self.assertEqual(self.company._gocardless_demo_translate_provider(), self.provider.id)
        self.assertIn("prélèvement en place", self.provider.with_context(lang="fr_FR").pending_msg)
        self.assertIn("direct debit set up", self.provider.with_context(lang="en_US").pending_msg)
        self.assertNotIn("Old text", self.provider.with_context(lang="fr_FR").pending_msg)
        self.assertEqual(
            self.provider.with_context(lang="fr_FR").pre_msg,
            template.with_context(lang="fr_FR").pre_msg,
        )

    def test_card_provider_beside_direct_debit(self):
        template = self.env["payment.provider"].create({"name": "Card processor", "code": "none"})
        provider_id = self.company._gocardless_demo_card_provider(
            template.id, {"en_US": "Card (demo)", "fr_FR": "Carte bancaire (démo)"}
        )
        provider = self.env["payment.provider"].browse(provider_id)
        self.assertNotEqual(provider, template)
        self.assertEqual(provider.company_id, self.company)
        self.assertEqual((provider.state, provider.is_published), ("test", True))
        self.assertEqual(provider.journal_id.company_id, self.company)
        self.assertIn("card", provider.payment_method_ids.mapped("code"))
        self.assertTrue(all(provider.payment_method_ids.mapped("active")))
        self.assertEqual(provider.with_context(lang="fr_FR").name, "Carte bancaire (démo)")
        self.assertEqual(provider.with_context(lang="en_US").name, "Card (demo)")
        # Again: the company's card provider is reused, not copied twice.
        self.assertEqual(
            self.company._gocardless_demo_card_provider(template.id, {"en_US": "Card"}),
            provider_id,
        )

        providers, _tokens = self._portal_payment_options(self._invoice("cafe_open"))
        self.assertEqual(providers, {str(self.provider.id), str(provider.id)})

    def test_provider_of_the_company_in_test_mode_offering_direct_debit(self):
        main_provider = self._ref("payment_provider_gocardless")
        self.assertTrue(self.provider)
        self.assertNotEqual(self.provider, main_provider)
        self.assertEqual(self.provider.company_id, self.company)
        self.assertEqual(self.provider.state, "test")
        self.assertTrue(self.provider.gocardless_offer_by_default)
        self.assertEqual(self.provider.journal_id.company_id, self.company)
        self.assertEqual(self.provider.journal_id.type, "bank")

    def test_invoices_are_posted_in_eur_with_the_offer(self):
        names = ("boulangerie_paid", "boulangerie_open", "atelier_failed", "cafe_open")
        for invoice in (self._invoice(name) for name in names):
            self.assertEqual(invoice.company_id, self.company)
            self.assertEqual(invoice.move_type, "out_invoice")
            self.assertEqual(invoice.state, "posted")
            self.assertEqual(invoice.currency_id.name, "EUR")
            self.assertEqual(invoice.partner_id.country_id.code, "FR")
            self.assertTrue(invoice.partner_id.email)
            self.assertTrue(invoice.gocardless_offered)

    def test_paid_invoice_has_a_done_transaction_and_a_reconciled_payment(self):
        invoice = self._invoice("boulangerie_paid")
        self.assertIn(invoice.payment_state, ("paid", "in_payment"))
        tx = invoice.transaction_ids
        self.assertEqual(len(tx), 1)
        self.assertEqual(tx.provider_id, self.provider)
        self.assertEqual(tx.state, "done")
        self.assertEqual(tx.provider_reference, "PM000DEMO00001")
        self.assertEqual(tx.token_id, self._ref("demo_token_boulangerie"))
        self.assertEqual(tx.payment_id.state, "paid")
        self.assertTrue(tx.payment_id.is_reconciled)
        self.assertEqual(tx.payment_id.amount, invoice.amount_total)
        received = self._in_company_language(
            "Direct debit received: GoCardless collected %(amount)s (payment %(payment)s, "
            "transaction %(reference)s)."
        ).split("%(amount)s")[0]
        self.assertTrue(invoice.message_ids.filtered(lambda m: received in (m.body or "")))
        self.assertFalse(invoice._gocardless_is_payable())

    def test_failed_invoice_is_open_with_its_reason(self):
        invoice = self._invoice("atelier_failed")
        self.assertEqual(invoice.payment_state, "not_paid")
        self.assertEqual(invoice.transaction_ids.state, "error")
        self.assertFalse(invoice.transaction_ids.payment_id)
        notice = self._in_company_language("Direct debit failed")
        failed = invoice.message_ids.filtered(lambda m: notice in (m.body or ""))
        self.assertEqual(len(failed), 1)
        reason = self._in_company_language("The customer's account had insufficient funds.")
        reason = reason.rstrip(".")
        self.assertIn(f"{reason} (AM04)", failed.body)
        self.assertTrue(invoice._gocardless_is_payable())

    def test_customer_with_a_saved_mandate_and_an_invoice_to_pay(self):
        token = self._ref("demo_token_boulangerie")
        self.assertEqual(token.provider_id, self.provider)
        self.assertEqual(token.partner_id, self._ref("demo_partner_boulangerie"))
        self.assertTrue(token.provider_ref.startswith("MD"))
        self.assertEqual(token.payment_method_id.code, "sepa_direct_debit")
        self.assertTrue(token.active)
        invoice = self._invoice("boulangerie_open")
        self.assertEqual(invoice.partner_id, token.partner_id)
        self.assertTrue(invoice._gocardless_is_payable())

    def _portal_payment_options(self, invoice):
        response = self.url_open(invoice.get_portal_url())
        self.assertEqual(response.status_code, 200)
        tree = etree.fromstring(response.text, parser=etree.HTMLParser())
        self.assertIn(invoice.name, response.text)
        providers = {
            node.get("data-provider-id")
            for node in tree.xpath("//input[@name='o_payment_radio']")
            if node.get("data-payment-option-type") == "payment_method"
        }
        tokens = {
            node.get("data-payment-option-id")
            for node in tree.xpath("//input[@name='o_payment_radio']")
            if node.get("data-payment-option-type") == "token"
        }
        return providers, tokens

    def test_portal_offers_direct_debit_and_the_saved_mandate(self):
        providers, tokens = self._portal_payment_options(self._invoice("cafe_open"))
        self.assertIn(str(self.provider.id), providers)
        self.assertFalse(tokens)

        providers, tokens = self._portal_payment_options(self._invoice("boulangerie_open"))
        self.assertIn(str(self.provider.id), providers)
        self.assertEqual(tokens, {str(self._ref("demo_token_boulangerie").id)})
