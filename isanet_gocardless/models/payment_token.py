from odoo import fields, models


class PaymentToken(models.Model):
    _inherit = "payment.token"

    # `provider_ref` holds the GoCardless mandate id (MD...).
    gocardless_mandate_status = fields.Char(
        string="GoCardless Mandate Status",
        help="The status of the GoCardless mandate when it was last read.",
        readonly=True,
    )
