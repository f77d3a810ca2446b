from odoo import fields, models


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
