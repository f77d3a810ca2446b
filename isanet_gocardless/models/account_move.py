from odoo import Command, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_amount, format_date

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
    gocardless_token_id = fields.Many2one(
        string="Direct Debit Mandate",
        comodel_name="payment.token",
        compute="_compute_gocardless_token_id",
        help="The customer's saved GoCardless mandate on which the invoice can be collected "
        "without the customer coming back.",
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

    @api.depends("partner_id", "company_id", "state", "payment_state", "transaction_ids.state")
    def _compute_gocardless_token_id(self):
        Token = self.env["payment.token"].sudo()
        for move in self:
            token = Token
            if move._gocardless_is_payable() and not move._gocardless_has_pending_debit():
                token = Token.search(
                    [
                        ("provider_id.code", "=", const.PROVIDER_CODE),
                        ("provider_id.state", "in", ("enabled", "test")),
                        ("provider_id.company_id", "=", move.company_id.id),
                        ("partner_id", "child_of", move.partner_id.commercial_partner_id.id),
                        ("payment_method_id.supported_currency_ids", "in", move.currency_id.ids),
                        (
                            "gocardless_mandate_status",
                            "not in",
                            sorted(const.MANDATE_ENDED_STATUSES),
                        ),
                    ],
                    order="id desc",
                    limit=1,
                )
            move.gocardless_token_id = token

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

    # === ACTION METHODS === #

    def action_gocardless_collect(self):
        """Collect what is left to pay on the invoice with the customer's saved mandate.

        The merchant's side of a reused mandate: a GoCardless payment is created at once on the
        mandate (the customer does nothing), its transaction waits `pending` for GoCardless's
        webhooks, which mark the invoice paid.

        Note: self.ensure_one()

        :return: None
        :raise UserError: If the invoice can't be collected by direct debit now.
        """
        self.ensure_one()
        token = self.gocardless_token_id
        if not token:
            raise UserError(
                self.env._(
                    "GoCardless: the invoice %(invoice)s cannot be collected by direct debit: it "
                    "must be posted, unpaid, offered for direct debit, without a debit under way, "
                    "and its customer must have a saved mandate.",
                    invoice=self.display_name,
                )
            )
        Transaction = self.env["payment.transaction"].sudo()
        invoice_ids = [Command.set(self.ids)]
        tx = Transaction.create(
            {
                "provider_id": token.provider_id.id,
                "payment_method_id": token.payment_method_id.id,
                "reference": Transaction._compute_reference(
                    token.provider_id.code, invoice_ids=invoice_ids
                ),
                "amount": self.amount_residual,
                "currency_id": self.currency_id.id,
                "partner_id": token.partner_id.id,
                "token_id": token.id,
                "operation": "offline",
                "invoice_ids": invoice_ids,
            }
        )
        tx._send_payment_request()
        self.message_post(
            body=self.env._(
                "Direct debit of %(amount)s requested on the mandate %(mandate)s: GoCardless "
                "collects it on %(date)s.",
                amount=format_amount(self.env, tx.amount, tx.currency_id),
                mandate=token.provider_ref,
                date=format_date(self.env, tx.gocardless_charge_date) or "?",
            )
        )

    # === BUSINESS METHODS === #

    def _gocardless_has_pending_debit(self):
        """Return whether a GoCardless debit of the invoice is under way.

        Note: self.ensure_one()

        :rtype: bool
        """
        self.ensure_one()
        return any(
            tx.provider_code == const.PROVIDER_CODE and tx.state in ("pending", "authorized")
            for tx in self.sudo().transaction_ids
        )

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
