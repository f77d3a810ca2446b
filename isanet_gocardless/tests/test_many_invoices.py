# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""One debit for several invoices of one customer in one currency (the portal's "pay overdue
invoices"): one GoCardless payment reconciled with all of them, within the same guard and its
sum rule (not above what is due on them less the debits under way)."""

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import GoCardlessMandateCommon

LOGGERS = (
    "odoo.addons.isanet_gocardless.models.payment_transaction",
    "odoo.addons.payment.models.payment_transaction",
)


@tagged("post_install", "-at_install")
class TestManyInvoicesOneDebit(GoCardlessMandateCommon):
    def setUp(self):
        super().setUp()
        self.mark = self.sandbox.request_log_mark()

    def _tx(self, invoices, amount, reference="OVERDUE-1", currency=None):
        return self.env["payment.transaction"].create(
            {
                "provider_id": self.gocardless.id,
                "payment_method_id": self.sepa.id,
                "reference": reference,
                "amount": amount,
                "currency_id": (currency or invoices[0].currency_id).id,
                "partner_id": self.partner.id,
                "token_id": self.token.id,
                "operation": "online_token",
                "invoice_ids": [Command.set(invoices.ids)],
            }
        )

    def _creates(self):
        return [e for e in self.sandbox.request_log(self.mark) if e["path"] == "/payments"]

    def test_one_debit_pays_two_invoices_of_one_customer(self):
        first = self._create_customer_invoice(amount=30.0)
        second = self._create_customer_invoice(amount=45.5)
        tx = self._tx(first | second, 75.5)
        tx._send_payment_request()
        payment = self._sandbox_payment(tx.provider_reference)
        self.assertEqual(payment["amount"], 7550)
        self.assertIn(first.name, payment["description"])
        self.assertIn(second.name, payment["description"])
        self.assertEqual(len(self._creates()), 1)
        self.assertEqual(first.gocardless_debit_status, "scheduled")
        self.assertEqual(second.gocardless_debit_status, "scheduled")
        with mute_logger(*LOGGERS):
            self._sandbox_outcome(tx, "payment_confirmed")
            tx._post_process()
        self.assertEqual(tx.state, "done")
        for invoice in (first, second):
            self.assertIn(invoice.payment_state, ("paid", "in_payment"), invoice.name)
        self.assertEqual(len(tx.payment_id), 1)

    def test_more_than_the_invoices_owe_is_refused(self):
        first = self._create_customer_invoice(amount=30.0)
        second = self._create_customer_invoice(amount=45.5)
        with self.assertRaisesRegex(ValidationError, "above what is left"):
            self._tx(first | second, 75.51)._send_payment_request()
        self.assertFalse(self._creates())

    def test_a_debit_under_way_on_one_of_them_counts(self):
        first = self._create_customer_invoice(amount=30.0)
        second = self._create_customer_invoice(amount=45.5)
        first.action_gocardless_collect()
        self.mark = self.sandbox.request_log_mark()
        with self.assertRaisesRegex(ValidationError, "above what is left"):
            self._tx(first | second, 75.5, reference="OVERDUE-ALL")._send_payment_request()
        self.assertFalse(self._creates())
        tx = self._tx(first | second, 45.5, reference="OVERDUE-REST")
        tx._send_payment_request()
        self.assertEqual(self._sandbox_payment(tx.provider_reference)["amount"], 4550)

    def test_invoices_of_two_customers_or_two_currencies_are_refused(self):
        mine = self._create_customer_invoice(amount=30.0)
        stranger = self.env["res.partner"].create({"name": "Stranger"})
        theirs = self._create_customer_invoice(amount=20.0, partner=stranger)
        with self.assertRaisesRegex(ValidationError, "one customer in one currency"):
            self._tx(mine | theirs, 50.0)._send_payment_request()
        pounds = self._create_customer_invoice(
            amount=20.0, currency=self.setup_other_currency("GBP")
        )
        with self.assertRaisesRegex(ValidationError, "one customer in one currency"):
            self._tx(mine | pounds, 50.0, reference="OVERDUE-GBP")._send_payment_request()
        self.assertFalse(self._creates())

    def test_one_paid_invoice_among_them_is_refused(self):
        first = self._create_customer_invoice(amount=30.0)
        second = self._create_customer_invoice(amount=45.5)
        self.env["account.payment.register"].with_context(
            active_model="account.move", active_ids=second.ids
        ).create({"journal_id": self.company_data["default_journal_bank"].id})._create_payments()
        with self.assertRaisesRegex(ValidationError, "not a posted customer invoice waiting"):
            self._tx(first | second, 30.0)._send_payment_request()
        self.assertFalse(self._creates())
