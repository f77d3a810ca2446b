from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import mute_logger

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .common import GoCardlessInvoiceCommon, GoCardlessPortalMixin

FLOW_URL = "https://pay.example.com/flow/BRF000TEST?lang=en"


@tagged("post_install", "-at_install")
class TestPortal(GoCardlessPortalMixin, GoCardlessInvoiceCommon, PaymentHttpCommon):
    def _patch_flow(self):
        Transaction = self.env.registry["payment.transaction"]
        return patch.object(
            Transaction, "_gocardless_create_billing_request_flow", return_value=FLOW_URL
        )

    def _transactions(self, invoice):
        return self.env["payment.transaction"].sudo().search([("invoice_ids", "in", invoice.ids)])

    # === INVOICE PAGE === #

    def test_invoice_page_offers_gocardless_and_other_providers_when_offered(self):
        invoice = self._create_customer_invoice()
        codes = self._invoice_page_provider_codes(invoice)
        self.assertIn("gocardless", codes)
        self.assertIn("none", codes)

    def test_invoice_page_hides_gocardless_when_not_offered(self):
        invoice = self._create_customer_invoice()
        invoice.gocardless_offered = False
        codes = self._invoice_page_provider_codes(invoice)
        self.assertNotIn("gocardless", codes)
        self.assertIn("none", codes)

    def test_invoice_page_hides_gocardless_in_unsupported_currency(self):
        currency = self.setup_other_currency("CHF")
        self.dummy_provider.available_currency_ids |= currency
        invoice = self._create_customer_invoice(currency=currency)
        self.assertFalse(invoice._gocardless_is_payable())
        codes = self._invoice_page_provider_codes(invoice)
        self.assertNotIn("gocardless", codes)
        self.assertIn("none", codes)

    def test_invoice_page_hides_gocardless_tokens_when_not_offered(self):
        invoice = self._create_customer_invoice()
        token = self._create_token(
            provider_id=self.gocardless.id, payment_method_id=self.sepa.id, provider_ref="MD1"
        )
        self._log_in_as_customer(invoice.partner_id)
        html = self.url_open(
            f"/my/invoices/{invoice.id}?access_token={invoice._portal_ensure_token()}"
        ).text
        self.assertIn(f'data-payment-option-id="{token.id}"', html)
        invoice.gocardless_offered = False
        html = self.url_open(
            f"/my/invoices/{invoice.id}?access_token={invoice._portal_ensure_token()}"
        ).text
        self.assertNotIn(f'data-payment-option-id="{token.id}"', html)

    def test_saved_mandates_are_offered_only_to_the_logged_in_customer(self):
        invoice = self._create_customer_invoice()
        mandate = self._create_token(
            provider_id=self.gocardless.id, payment_method_id=self.sepa.id, provider_ref="MD1"
        )
        card = self._create_token(provider_id=self.dummy_provider.id)
        stranger = self.env["res.partner"].create({"name": "Stranger", "email": "s@example.com"})
        strangers_mandate = self._create_token(
            provider_id=self.gocardless.id,
            payment_method_id=self.sepa.id,
            partner_id=stranger.id,
            provider_ref="MD2",
        )
        # A visitor holding the invoice's link: Odoo's own tokens as Odoo offers them, no
        # mandate; GoCardless itself still offered (its pages ask the payer for a mandate).
        self.authenticate(None, None)
        self.assertEqual(self._invoice_page_token_ids(invoice, as_customer=False), {card.id})
        self.assertIn("gocardless", self._invoice_page_provider_codes(invoice))
        # Another customer logged in: not even their own mandate (not this invoice's).
        self._log_in_as_customer(stranger)
        self.assertNotIn(strangers_mandate.id, self._invoice_page_token_ids(invoice, False))
        self.assertNotIn(mandate.id, self._invoice_page_token_ids(invoice, False))
        # The customer logged in: their mandate.
        self.assertIn(mandate.id, self._invoice_page_token_ids(invoice))
        # The generic payment page of the customer's link: no mandate for a visitor either.
        self.authenticate(None, None)
        url = (
            f"/payment/pay?amount={invoice.amount_residual}&currency_id={invoice.currency_id.id}"
            f"&partner_id={invoice.partner_id.id}&company_id={invoice.company_id.id}"
            "&access_token="
            + self._generate_test_access_token(
                invoice.partner_id.id, invoice.amount_residual, invoice.currency_id.id
            )
        )
        html = self.url_open(url).text
        self.assertIn(f'data-payment-option-id="{card.id}"', html)
        self.assertNotIn(f'data-payment-option-id="{mandate.id}"', html)

    def test_paid_invoice_is_not_payable_by_direct_debit(self):
        invoice = self._create_customer_invoice()
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=invoice.ids
        ).create({})._create_payments()
        self.assertFalse(invoice._gocardless_is_payable())
        self.assertNotIn("gocardless", self._invoice_page_provider_codes(invoice))

    def test_payment_pay_route_hides_gocardless_for_an_invoice_not_offering_it(self):
        invoice = self._create_customer_invoice()
        for offered in (False, True):
            invoice.gocardless_offered = offered
            providers = self.env["payment.provider"]._get_compatible_providers(
                self.company.id,
                self.partner.id,
                100.0,
                currency_id=self.currency_euro.id,
                invoice_id=invoice.id,
            )
            self.assertEqual(self.gocardless in providers, offered)

    # === TRANSACTION ROUTE === #

    def test_transaction_route_redirects_to_gocardless_when_offered(self):
        invoice = self._create_customer_invoice()
        with self._patch_flow():
            answer = self._call_invoice_transaction(
                invoice, **self._invoice_transaction_values(invoice)
            )
        self.assertIn("result", answer, answer.get("error"))
        form = self._extract_values_from_html_form(answer["result"]["redirect_form_html"])
        self.assertEqual(form["action"], "https://pay.example.com/flow/BRF000TEST")
        self.assertEqual(form["method"], "get")
        self.assertEqual(form["inputs"], {"lang": "en"})
        tx = self._transactions(invoice)
        self.assertEqual(tx.provider_id, self.gocardless)
        self.assertEqual(tx.amount, invoice.amount_residual)

    @mute_logger("odoo.http")
    def test_transaction_route_refuses_gocardless_when_not_offered(self):
        invoice = self._create_customer_invoice()
        invoice.gocardless_offered = False
        with self._patch_flow() as flow:
            answer = self._call_invoice_transaction(
                invoice, **self._invoice_transaction_values(invoice)
            )
        self.assertIn("direct debit is not offered", answer["error"]["data"]["message"])
        flow.assert_not_called()
        self.assertFalse(self._transactions(invoice))

    def test_transaction_route_still_accepts_other_providers_when_not_offered(self):
        invoice = self._create_customer_invoice()
        invoice.gocardless_offered = False
        answer = self._call_invoice_transaction(
            invoice,
            **self._invoice_transaction_values(invoice, provider=self.dummy_provider),
        )
        self.assertIn("result", answer, answer.get("error"))

    @mute_logger("odoo.http")
    def test_transaction_route_refuses_an_amount_above_the_amount_due(self):
        invoice = self._create_customer_invoice()
        for amount in (invoice.amount_residual + 0.01, 0.0, -5.0, "abc", "nan"):
            with self._patch_flow():
                answer = self._call_invoice_transaction(
                    invoice, **self._invoice_transaction_values(invoice, amount=amount)
                )
            self.assertIn("error", answer, amount)
            self.assertIn("GoCardless: the amount to pay", answer["error"]["data"]["message"])
        self.assertFalse(self._transactions(invoice))

    def test_transaction_route_rounds_a_partial_amount(self):
        invoice = self._create_customer_invoice()
        with self._patch_flow():
            answer = self._call_invoice_transaction(
                invoice, **self._invoice_transaction_values(invoice, amount=40.004)
            )
        self.assertIn("result", answer, answer.get("error"))
        self.assertEqual(self._transactions(invoice).amount, 40.0)

    @mute_logger("odoo.http")
    def test_transaction_route_refuses_a_wrong_access_token(self):
        invoice = self._create_customer_invoice()
        with self._patch_flow():
            answer = self._call_invoice_transaction(
                invoice, **self._invoice_transaction_values(invoice, access_token="wrong")
            )
        self.assertIn("access token is invalid", answer["error"]["data"]["message"])
        self.assertFalse(self._transactions(invoice))

    @mute_logger("odoo.http")
    def test_transaction_route_refuses_another_partners_invoice(self):
        mine = self._create_customer_invoice()
        other_partner = self.partner.copy({"name": "Other Buyer"})
        theirs = self._create_customer_invoice(partner=other_partner)
        values = self._invoice_transaction_values(theirs, access_token=mine._portal_ensure_token())
        with self._patch_flow():
            answer = self._call_invoice_transaction(theirs, **values)
        self.assertIn("error", answer)
        self.assertFalse(self._transactions(theirs))

    @mute_logger("odoo.http")
    def test_transaction_route_refuses_a_token_when_not_offered(self):
        invoice = self._create_customer_invoice()
        invoice.gocardless_offered = False
        token = self._create_token(
            provider_id=self.gocardless.id, payment_method_id=self.sepa.id, provider_ref="MD1"
        )
        values = self._invoice_transaction_values(
            invoice, provider=self.dummy_provider, token_id=token.id, flow="token"
        )
        answer = self._call_invoice_transaction(invoice, **values)
        self.assertIn("direct debit is not offered", answer["error"]["data"]["message"])
        self.assertFalse(self._transactions(invoice))
