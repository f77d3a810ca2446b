from odoo import fields, models

from .. import const


class ResPartner(models.Model):
    _inherit = "res.partner"

    # Company-dependent: each company has its own GoCardless account. Stored on the commercial
    # partner. If the account behind the company's provider changes (sandbox to live), a
    # stale id is detected when it is used and replaced by a new customer.
    gocardless_customer_id = fields.Char(
        string="GoCardless Customer ID",
        help="The id (CU...) of the GoCardless customer paying for this partner.",
        company_dependent=True,
        copy=False,
        groups="base.group_system",
    )
    gocardless_mandate_ids = fields.Many2many(
        string="Direct Debit Mandates",
        comodel_name="payment.token",
        compute="_compute_gocardless_mandate_ids",
        context={"active_test": False},
        help="The GoCardless direct debit mandates of the customer and its contacts, ended "
        "ones included.",
    )

    def _compute_gocardless_mandate_ids(self):
        Token = self.env["payment.token"].with_context(active_test=False)
        for partner in self:
            if not partner.id:
                partner.gocardless_mandate_ids = Token
                continue
            partner.gocardless_mandate_ids = Token.search(
                [
                    ("provider_id.code", "=", const.PROVIDER_CODE),
                    ("partner_id", "child_of", partner.commercial_partner_id.id),
                ],
                order="active desc, id desc",
            )
