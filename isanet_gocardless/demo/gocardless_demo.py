"""Helpers of the module's demo data (``demo/gocardless_demo.xml``), on the demo company.

They go through the addon's own code paths: the provider is copied for the company as Odoo
does for a new company, and the demo direct debits are applied as a GoCardless payment webhook
is, from a ``payments`` resource.
"""

from datetime import timedelta

from odoo import Command, fields, models
from odoo.tools import SQL

from .. import const
from ..gocardless_core import amounts


class ResCompany(models.Model):
    _inherit = "res.company"

    def _gocardless_demo_setup_accounting(self, iban):
        """Give the company French, its chart of accounts, taxes and journals, a bank account.

        The French chart (Odoo Community's ``l10n_fr_account``, with French VAT) when it is
        installed, else Odoo's generic chart; the company stays in EUR. The bank account is set
        on the company's bank journal: invoices carry it (payment instructions, Factur-X).

        Note: self.ensure_one()

        :param str iban: The company's IBAN.
        :return: The chart template loaded.
        :rtype: str
        """
        self.ensure_one()
        self.partner_id.lang = "fr_FR"  # the company's notices (chatter, activities) in French
        french = self.env["ir.module.module"].search_count(
            [("name", "=", "l10n_fr_account"), ("state", "=", "installed")]
        )
        chart = "fr" if french else "generic_coa"
        # `_load` rather than `try_loading`, which warns before the registry is fully loaded.
        self.env["account.chart.template"]._load(chart, self, False)
        # The generic chart sets the currency of its fiscal country (USD): back to EUR, before
        # any accounting entry.
        self.currency_id = self.env.ref("base.EUR")
        # Not trusted (`allow_out_payment`): trust is for paying suppliers out, and Odoo locks
        # a trusted account's number, which the document layout dialog of the first *Print &
        # Send* writes back.
        bank_account = self.env["res.partner.bank"].create(
            {"acc_number": iban, "partner_id": self.partner_id.id}
        )
        journal = self.env["account.journal"].search(
            [*self.env["account.journal"]._check_company_domain(self), ("type", "=", "bank")],
            limit=1,
        )
        journal.bank_account_id = bank_account
        return chart

    def _gocardless_demo_card_provider(self, template_id, names):
        """Give the company a card provider beside GoCardless, in test mode and published.

        A card processor stands for the other ways to pay: Odoo's demo provider (module
        ``payment_demo``) offline.

        Note: self.ensure_one()

        :param int template_id: The provider to copy for the company, if it has none of its code.
        :param dict names: The provider's name by language code.
        :return: The company's card provider's id.
        :rtype: int
        """
        self.ensure_one()
        Provider = self.env["payment.provider"].sudo()
        template = Provider.browse(template_id)
        provider = Provider.search(
            [("code", "=", template.code), ("company_id", "=", self.id)], limit=1
        ) or template.copy({"company_id": self.id})
        card = self.env.ref("payment.payment_method_card")
        brands = (
            self.env["payment.method"]
            .with_context(active_test=False)
            .search(
                [
                    ("primary_payment_method_id", "=", card.id),
                    ("code", "in", ("visa", "mastercard")),
                ]
            )
        )
        journal = self.env["account.journal"].search(
            [*self.env["account.journal"]._check_company_domain(self), ("type", "=", "bank")],
            limit=1,
        )
        provider.write(
            {
                "state": "test",
                "is_published": True,
                "journal_id": journal.id,
                "payment_method_ids": [Command.set((card | brands).ids)],
            }
        )
        (card | brands).active = True  # once a provider supports them
        for lang, name in names.items():
            provider.with_context(lang=lang).name = name
        return provider.id

    def _gocardless_demo_translate_provider(self):
        """Give the company's GoCardless provider the translations of the module's one.

        The copy is made while the module's data loads, before its translations are: its
        customer-facing messages (before, pending, done...) take them from the module's
        provider afterwards.

        :return: The company's GoCardless provider's id.
        :rtype: int
        """
        self.ensure_one()
        template = self.env.ref("isanet_gocardless.payment_provider_gocardless").sudo()
        provider = (
            self.env["payment.provider"]
            .sudo()
            .search([("code", "=", const.PROVIDER_CODE), ("company_id", "=", self.id)], limit=1)
        )
        messages = ("pre_msg", "pending_msg", "auth_msg", "done_msg", "cancel_msg")
        # Every language's text at once (writing them one language at a time through the ORM
        # would let the source text reset the others).
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                "UPDATE payment_provider AS copy SET %s FROM payment_provider AS source "
                "WHERE copy.id = %s AND source.id = %s",
                SQL(", ").join(
                    SQL("%s = source.%s", SQL.identifier(name), SQL.identifier(name))
                    for name in messages
                ),
                provider.id,
                template.id,
            )
        )
        provider.invalidate_recordset(list(messages))
        return provider.id

    def _gocardless_demo_apply_sales_tax(self, invoice_ids):
        """Put the company's default sales tax (VAT) on the lines of draft invoices.

        Note: self.ensure_one()

        :param list invoice_ids: The company's draft customer invoices.
        """
        self.ensure_one()
        tax = self.account_sale_tax_id
        invoices = self.env["account.move"].browse(invoice_ids)
        invoices.invoice_line_ids.filtered(lambda line: line.display_type == "product").write(
            {"tax_ids": [Command.set(tax.ids)]}
        )

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
        self, invoice_id, payment_id, status, cause="", reason_code="", token_id=False
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
        :param str cause: Why the payment failed: GoCardless's cause code.
        :param str reason_code: The bank's reason code of the failure.
        :param int token_id: The `payment.token` (mandate) the payment was collected on.
        :return: The transaction's id.
        :rtype: int
        """
        self.ensure_one()
        invoice = self.env["account.move"].browse(invoice_id)
        reason = cause and self.env["gocardless.event"]._gocardless_reason_text(cause, reason_code)
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
