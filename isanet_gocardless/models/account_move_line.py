from odoo import models

from .. import const


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    def reconcile(self):
        """Override of `account` to cancel the debits of invoices paid or credited otherwise.

        A credit note, a bank transfer or any other payment that settles an invoice makes its
        scheduled GoCardless debit useless: it is cancelled at GoCardless while it can be.
        """
        res = super().reconcile()
        invoices = self.move_id.filtered(
            lambda m: (
                m.move_type == "out_invoice"
                and any(tx.provider_code == const.PROVIDER_CODE for tx in m.sudo().transaction_ids)
            )
        )
        if invoices:
            invoices._gocardless_cancel_obsolete_debits()
        return res
