"""Helpers of the module's demo data (``demo/gocardless_demo.xml``), on the demo company.

They go through the addon's own code paths: the provider is copied for the company as Odoo
does for a new company, and the demo direct debits are applied as a GoCardless payment webhook
is, from a ``payments`` resource.
"""

from datetime import timedelta

from odoo import Command, fields, models

from .. import const
from ..gocardless_core import amounts


class ResCompany(models.Model):
    _inherit = "res.company"

    def _gocardless_demo_copy_provider(self, values):
        """Give the company its own copy of the module's GoCardless provider, configured.

        Note: self.ensure_one()

        :param dict values: The values written on the copy (state, credentials, options).
        :return: The id of the copy.
        :rtype: int
        """
        self.ensure_one()
        provider = self.env.ref("isanet_gocardless.payment_provider_gocardless")
        # The module's post-init hook creates the provider's accounting payment method after
        # the demo data is loaded; the copy's journal needs it now (the hook then skips it).
        provider._setup_provider(provider.code)
        journal = self.env["account.journal"].search(
            [*self.env["account.journal"]._check_company_domain(self), ("type", "=", "bank")],
            limit=1,
        )
        copy = provider.copy({"company_id": self.id})
        copy.write({**values, "journal_id": journal.id})
        return copy.id

    def _gocardless_demo_direct_debit(
        self, invoice_id, payment_id, status, reason="", token_id=False
    ):
        """Record a GoCardless direct debit of an invoice of the company, as webhooks do.

        A transaction is created for the amount due, then the ``payments`` resource
        ``payment_id`` is applied to it as GoCardless reports it: first pending submission,
        then ``status``. The transaction is post-processed (a payment posted and reconciled
        when it is done) and the merchant is told on the invoice, as the webhook processing
        does.

        Note: self.ensure_one()

        :param int invoice_id: The customer invoice.
        :param str payment_id: The GoCardless payment id (PM...).
        :param str status: The final payment status, e.g. ``confirmed`` or ``failed``.
        :param str reason: Why the payment failed, as GoCardless explains it.
        :param int token_id: The `payment.token` (mandate) the payment was collected on.
        :return: The transaction's id.
        :rtype: int
        """
        self.ensure_one()
        invoice = self.env["account.move"].browse(invoice_id)
        provider = self.env["payment.provider"]._gocardless_get_for_company(self)
        token = self.env["payment.token"].browse(token_id)
        Tx = self.env["payment.transaction"].sudo()
        values = {
            "provider_id": provider.id,
            "payment_method_id": self.env.ref("payment.payment_method_sepa_direct_debit").id,
            "amount": invoice.amount_residual,
            "currency_id": invoice.currency_id.id,
            "partner_id": invoice.partner_id.id,
            "operation": "online_token" if token else "online_redirect",
            "token_id": token.id,
            "invoice_ids": [Command.set(invoice.ids)],
        }
        tx = Tx.create({**values, "reference": Tx._compute_reference(provider.code, **values)})
        charge_date = fields.Date.context_today(self) - timedelta(days=3)
        payment = {
            "id": payment_id,
            "amount": amounts.to_minor_units(tx.amount, tx.currency_id.name),
            "currency": tx.currency_id.name,
            "charge_date": fields.Date.to_string(charge_date),
            "metadata": {"odoo_reference": tx.reference},
            "links": {"mandate": token.provider_ref or None},
        }
        for payment_status in ("pending_submission", status):
            tx._handle_notification_data(
                const.PROVIDER_CODE,
                {
                    "reference": tx.reference,
                    "gocardless_payment": dict(payment, status=payment_status),
                    "reason": reason if payment_status == status else "",
                },
            )
        # Odoo's post-processing pays or reopens the invoice and notifies the merchant.
        tx._post_process()
        return tx.id
