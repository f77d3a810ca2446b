# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from odoo import api, models


class AccountBankStatementLine(models.Model):
    _inherit = "account.bank.statement.line"

    @api.model_create_multi
    def create(self, vals_list):
        """Override of `account` to reconcile a GoCardless payout's bank line as it arrives.

        A line (imported or typed) carrying a booked payout's reference and net amount is
        reconciled with the payout's entry, when that is unambiguous.
        """
        lines = super().create(vals_list)
        payout_model = self.env["gocardless.payout"].sudo()
        if payout_model.search_count([("state", "=", "booked")], limit=1):
            payout_model._gocardless_match_statement_lines(lines)
        return lines
