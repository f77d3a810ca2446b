from odoo import models


class AccountMoveLine(models.Model):
    _inherit = "account.move.line"

    def reconcile(self):
        """Override of `account` to keep the invoices' debits to what they still owe.

        A credit note, a bank transfer, a write-off or any other payment matched with an
        invoice lowers what is due: its GoCardless debits under way are brought back to it
        (`account.move._gocardless_keep_debits_within_due`).
        """
        res = super().reconcile()
        self.move_id._gocardless_debit_invoices()._gocardless_keep_debits_within_due()
        return res

    def remove_move_reconcile(self):
        """Override of `account` to keep the invoices' debits to what they owe once unmatched."""
        moves = self.move_id | self.matched_debit_ids.debit_move_id.move_id
        moves |= self.matched_credit_ids.credit_move_id.move_id
        res = super().remove_move_reconcile()
        moves._gocardless_debit_invoices()._gocardless_keep_debits_within_due()
        return res
