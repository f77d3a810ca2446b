from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import format_amount, format_date

from .. import const


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

    gocardless_debit_status = fields.Selection(
        string="Direct Debit",
        selection=[
            ("scheduled", "Scheduled"),
            ("submitted", "Submitted"),
            ("collected", "Collected"),
            ("retrying", "Retrying"),
            ("failed", "Failed"),
            ("cancelled", "Cancelled"),
        ],
        compute="_compute_gocardless_debit",
        store=True,
        index=True,
        copy=False,
        help="The status of the invoice's last GoCardless direct debit: scheduled (waiting for "
        "its charge date), submitted to the bank, collected, retrying (failed, GoCardless "
        "submits it again), failed or cancelled.",
    )
    gocardless_debit_charge_date = fields.Date(
        string="Direct Debit Charge Date",
        compute="_compute_gocardless_debit",
        store=True,
        copy=False,
        help="The date on which GoCardless collects (or collected) the invoice's last debit.",
    )
    gocardless_debit_transaction_id = fields.Many2one(
        string="Direct Debit Transaction",
        comodel_name="payment.transaction",
        compute="_compute_gocardless_debit_transaction_id",
    )
    gocardless_debit_amount = fields.Monetary(
        string="Direct Debit Amount",
        compute="_compute_gocardless_debit_details",
    )
    gocardless_debit_mandate = fields.Char(
        string="Direct Debit Mandate Reference",
        compute="_compute_gocardless_debit_details",
    )
    gocardless_debit_bank_account = fields.Char(
        string="Debited Bank Account",
        compute="_compute_gocardless_debit_details",
    )
    gocardless_debit_summary = fields.Char(
        string="Direct Debit Summary",
        compute="_compute_gocardless_debit_details",
    )
    gocardless_pre_notice = fields.Text(
        string="Direct Debit Pre-notification",
        compute="_compute_gocardless_pre_notice",
        help="What the customer is told of a scheduled debit (SEPA's pre-notification): when "
        "and how much, from which account, under which mandate and creditor identifier.",
    )
    gocardless_auto_collect_state = fields.Selection(
        string="Automatic Collection",
        selection=[
            ("queued", "Queued"),
            ("requested", "Requested"),
            ("refused", "Refused"),
        ],
        readonly=True,
        copy=False,
        index=True,
        help="Queued: GoCardless will be asked to collect the invoice on its due date. "
        "Requested: the debit was created. Refused: see why in the chatter.",
    )

    # === COMPUTE METHODS === #

    @api.depends(
        "transaction_ids.provider_reference",
        "transaction_ids.gocardless_payment_status",
        "transaction_ids.gocardless_retrying",
        "transaction_ids.gocardless_charge_date",
    )
    def _compute_gocardless_debit(self):
        for move in self:
            tx = move._gocardless_last_debit()
            status = False
            if tx:
                status = const.DEBIT_STATUS_BY_PAYMENT_STATUS.get(tx.gocardless_payment_status)
                if tx.gocardless_retrying and status in ("scheduled", "failed"):
                    status = "retrying"
            move.gocardless_debit_status = status
            move.gocardless_debit_charge_date = tx.gocardless_charge_date if tx else False

    # Not through the debit's status: a relational field depending on GoCardless's status
    # would have Odoo search the invoices twice (before and after) at each status written.
    @api.depends("transaction_ids", "transaction_ids.provider_reference")
    def _compute_gocardless_debit_transaction_id(self):
        for move in self:
            move.gocardless_debit_transaction_id = move._gocardless_last_debit()

    @api.depends("gocardless_debit_status", "gocardless_debit_charge_date")
    def _compute_gocardless_debit_details(self):
        for move in self:
            tx = move._gocardless_last_debit()
            token = tx.token_id
            move.gocardless_debit_amount = tx.amount if tx else 0.0
            move.gocardless_debit_mandate = (
                token.gocardless_mandate_reference or token.provider_ref if token else False
            )
            move.gocardless_debit_bank_account = token.payment_details if token else False
            move.gocardless_debit_summary = move._gocardless_debit_summary_text(tx)

    def _gocardless_debit_summary_text(self, tx):
        """Return the merchant's one line on a debit on its way, or False."""
        self.ensure_one()
        status = self.gocardless_debit_status
        if status not in ("scheduled", "submitted", "retrying"):
            return False
        values = {
            "amount": format_amount(self.env, tx.amount, tx.currency_id),
            "date": format_date(self.env, tx.gocardless_charge_date) or "?",
            "account": tx.token_id.payment_details or "?",
            "mandate": self.gocardless_debit_mandate or "?",
        }
        if status == "scheduled":
            return self.env._(
                "Direct debit scheduled: %(amount)s on %(date)s from %(account)s (mandate "
                "%(mandate)s).",
                **values,
            )
        if status == "submitted":
            return self.env._(
                "Direct debit submitted to the bank: %(amount)s on %(date)s from %(account)s "
                "(mandate %(mandate)s).",
                **values,
            )
        return self.env._(
            "Direct debit being retried by GoCardless: %(amount)s on %(date)s from %(account)s "
            "(mandate %(mandate)s).",
            **values,
        )

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
        # Invoices of one customer, company and currency share their mandate: one search.
        found = {}
        for move in self:
            token = Token
            if move._gocardless_is_payable() and not move._gocardless_has_pending_debit():
                key = (
                    move.company_id.id,
                    move.partner_id.commercial_partner_id.id,
                    move.currency_id.id,
                )
                if key in found:
                    move.gocardless_token_id = found[key]
                    continue
                token = found[key] = Token.search(
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

    @api.depends("gocardless_debit_status", "gocardless_debit_charge_date", "transaction_ids.state")
    @api.depends_context("lang")
    def _compute_gocardless_pre_notice(self):
        for move in self:
            move.gocardless_pre_notice = move._gocardless_pre_notice_text()

    def _gocardless_pre_notice_text(self):
        """Return the pre-notification of the invoice's scheduled debit, or False.

        Note: self.ensure_one()

        :rtype: str | bool
        """
        self.ensure_one()
        if self.gocardless_debit_status not in ("scheduled", "retrying"):
            return False
        tx = self._gocardless_last_debit()
        if not tx.gocardless_charge_date or tx.state not in const.DEBIT_UNDER_WAY_STATES:
            return False
        token = tx.token_id
        provider = tx.provider_id
        return self.env._(
            "Direct debit pre-notification: %(amount)s will be debited on %(date)s from the "
            "bank account %(account)s under the mandate %(mandate)s, in favour of %(creditor)s "
            "(creditor identifier %(identifier)s).",
            amount=format_amount(self.env, tx.amount, tx.currency_id),
            date=format_date(self.env, tx.gocardless_charge_date),
            account=token.payment_details or "?",
            mandate=token.gocardless_mandate_reference or token.provider_ref or "?",
            creditor=provider.gocardless_creditor_name or self.company_id.name,
            identifier=provider._gocardless_creditor_identifier(token.payment_method_id) or "?",
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
        res = super().write(vals)
        if "gocardless_offered" in vals and not vals["gocardless_offered"]:
            # Direct debit no longer offered: nothing is due by direct debit any more.
            self._gocardless_keep_debits_within_due()
        return res

    # === BUSINESS METHODS === #

    def _get_invoice_in_payment_state(self):
        """Override of `account` to keep an invoice *In Payment* until its debit is paid out.

        Odoo asks this only of an invoice settled by a payment that is not matched yet. A
        GoCardless debit of a provider that pays invoices at payout waits on the clearing
        account until the payout carrying it empties its line (which matches the payment):
        until then the invoice is *In Payment*, then Odoo's own computation says *Paid*.
        """
        if len(self) == 1 and self._gocardless_waits_for_payout():
            return "in_payment"
        return super()._get_invoice_in_payment_state()

    def _gocardless_waits_for_payout(self):
        """Return whether a GoCardless debit settling the invoice waits for its payout.

        Note: self.ensure_one()

        :rtype: bool
        """
        self.ensure_one()
        if not self.is_sale_document(include_receipts=True):
            return False
        transactions = self.sudo().transaction_ids
        if not any(tx.provider_id._gocardless_pays_at_payout() for tx in transactions):
            return False
        return any(
            tx.operation in const.DEBIT_OPERATIONS
            and tx.provider_id._gocardless_pays_at_payout()
            and tx.payment_id.payment_type == "inbound"
            and tx.payment_id.state == "in_process"
            and not tx.payment_id.is_matched
            for tx in transactions
        )

    def _post(self, soft=True):
        """Override of `account` to offer direct debit on customer invoices by default, and to
        queue the automatic collection of those whose customer has a mandate."""
        posted = super()._post(soft=soft)
        to_offer = posted.filtered(
            lambda m: m.move_type == "out_invoice" and not m.gocardless_offered
        )
        Provider = self.env["payment.provider"]
        for company, moves in to_offer.grouped("company_id").items():
            provider = Provider._gocardless_get_for_company(company)
            if provider.gocardless_offer_by_default:
                moves.with_context(gocardless_offer_auto=True).gocardless_offered = True
        posted._gocardless_queue_auto_collect()
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
            and self.payment_state in const.UNPAID_PAYMENT_STATES
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
