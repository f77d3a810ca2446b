from odoo import api, fields, models
from odoo.exceptions import UserError

from .. import const

# Payment states of an invoice that still has something to pay.
UNPAID_PAYMENT_STATES = ("not_paid", "partial")


class AccountMove(models.Model):
    _inherit = "account.move"

    gocardless_offered = fields.Boolean(
        string="Offer Direct Debit",
        help="Let the customer pay this invoice by GoCardless direct debit from the invoice's "
        "portal link. Set when the invoice is posted if the GoCardless provider offers direct "
        "debit on all invoices.",
        tracking=True,
        copy=False,
    )
    gocardless_offer_editable = fields.Boolean(
        string="Direct Debit Offer Editable",
        compute="_compute_gocardless_offer_editable",
    )

    # === COMPUTE METHODS === #

    @api.depends("move_type", "state", "payment_state", "company_id")
    def _compute_gocardless_offer_editable(self):
        Provider = self.env["payment.provider"]
        for move in self:
            move.gocardless_offer_editable = bool(
                move._gocardless_is_open_customer_invoice()
                and Provider._gocardless_get_for_company(move.company_id)
            )

    # === CRUD METHODS === #

    def write(self, vals):
        if "gocardless_offered" in vals and not self.env.context.get("gocardless_offer_auto"):
            changed = self.filtered(
                lambda m: m.gocardless_offered != bool(vals["gocardless_offered"])
            )
            if any(not move.gocardless_offer_editable for move in changed):
                raise UserError(
                    self.env._(
                        "GoCardless: direct debit can only be offered on a posted, unpaid "
                        "customer invoice of a company with a GoCardless provider."
                    )
                )
        return super().write(vals)

    # === BUSINESS METHODS === #

    def _post(self, soft=True):
        """Override of `account` to offer direct debit on customer invoices by default."""
        posted = super()._post(soft=soft)
        to_offer = posted.filtered(
            lambda m: m.move_type == "out_invoice" and not m.gocardless_offered
        )
        Provider = self.env["payment.provider"]
        for company, moves in to_offer.grouped("company_id").items():
            provider = Provider._gocardless_get_for_company(company)
            if provider.gocardless_offer_by_default:
                moves.with_context(gocardless_offer_auto=True).gocardless_offered = True
        return posted

    def _gocardless_is_open_customer_invoice(self):
        """Return whether the move is a posted customer invoice with an amount left to pay.

        Note: self.ensure_one()

        :rtype: bool
        """
        self.ensure_one()
        return (
            self.move_type == "out_invoice"
            and self.state == "posted"
            and self.payment_state in UNPAID_PAYMENT_STATES
            and not self.currency_id.is_zero(self.amount_residual)
        )

    def _gocardless_is_payable(self):
        """Return whether the customer may pay the invoice by GoCardless direct debit now.

        The offer must be on, the invoice open and its currency one GoCardless collects in.

        Note: self.ensure_one()

        :rtype: bool
        """
        self.ensure_one()
        return bool(
            self.gocardless_offered
            and self._gocardless_is_open_customer_invoice()
            and self.currency_id.name in const.SUPPORTED_CURRENCIES
        )

    def _gocardless_get_payment_url(self):
        """Return the absolute portal URL where the customer pays the invoice.

        Note: self.ensure_one()

        :rtype: str
        """
        self.ensure_one()
        return self.get_base_url() + self.get_portal_url(
            anchor="portal_pay", query_string="&payment=True"
        )
