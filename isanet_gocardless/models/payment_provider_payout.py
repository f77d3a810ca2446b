# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Where the money of a GoCardless provider goes in the books: clearing, payouts, fees.

Collected debits are posted in the provider's journal (`journal_id`), on its GoCardless
payment method's outstanding account: with a GoCardless journal (see
:meth:`action_gocardless_create_clearing_journal`) that account is a clearing account, which
the payouts empty into the merchant's bank, fees and VAT apart.

When is an invoice paid? At confirmation (default): when GoCardless confirms the debit, as any
payment provider. At payout (`gocardless_invoice_paid`): the confirmed debit's payment is
reconciled with the invoice but stays unmatched on the clearing account, so Odoo shows the
invoice *In Payment* (see `account.move._get_invoice_in_payment_state`) until the payout that
carries the payment empties that line; then Odoo's own computation says *Paid*.
"""

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

from .. import const, utils


class PaymentProvider(models.Model):
    _inherit = "payment.provider"  # pylint: disable=consider-merging-classes-inherited

    gocardless_payout_journal_id = fields.Many2one(
        string="Payout Bank Journal",
        comodel_name="account.journal",
        domain="[('type', '=', 'bank'), ('company_id', '=', company_id)]",
        help="The merchant's bank account where GoCardless pays out. Its statement lines are "
        "matched with the payouts. Empty: the provider's journal when it is a bank journal.",
        check_company=True,
    )
    gocardless_payout_journal_ids = fields.Many2many(
        string="Payout Bank Journals by Currency",
        comodel_name="account.journal",
        relation="gocardless_provider_payout_journal_rel",
        domain="[('type', '=', 'bank'), ('company_id', '=', company_id)]",
        help="GoCardless pays each currency out to its own bank account: one bank journal per "
        "currency (the journal's currency, else the company's). A payout in a currency none of "
        "them has goes to the Payout Bank Journal.",
        check_company=True,
    )
    gocardless_fee_account_id = fields.Many2one(
        string="GoCardless Fees Account",
        comodel_name="account.account",
        domain="[('account_type', 'in', ('expense', 'expense_direct_cost'))]",
        help="The expense account of GoCardless's fees and app fees (creating the clearing "
        "journal creates one, under 627 Bank services in the French chart). Empty: the chart's "
        "bank fees account.",
        check_company=True,
    )
    gocardless_fee_tax_account_id = fields.Many2one(
        string="VAT on Fees Account",
        comodel_name="account.account",
        help="The account of the VAT GoCardless charges on its fees (deductible VAT). Empty: "
        "the account of the company's default purchase tax.",
        check_company=True,
    )
    gocardless_invoice_paid = fields.Selection(
        string="Invoice Paid",
        selection=[
            ("confirmation", "When GoCardless confirms the debit"),
            ("payout", "When GoCardless pays the debit out"),
        ],
        default="confirmation",
        required=True,
        help="At confirmation: the invoice is paid when GoCardless confirms the collection. At "
        "payout: it is In Payment until the payout carrying the debit is booked, then Paid "
        "(needs a GoCardless clearing journal). Either way, a debit charged back later "
        "reopens the invoice.",
    )

    # === CONSTRAINT METHODS === #

    @api.constrains("gocardless_invoice_paid")
    def _check_gocardless_invoice_paid(self):
        for provider in self:
            if (
                provider.code == const.PROVIDER_CODE
                and provider.gocardless_invoice_paid == "payout"
                and not provider._gocardless_has_clearing_account()
            ):
                raise ValidationError(
                    self.env._(
                        "GoCardless: an invoice can be paid at payout only when the collected "
                        'debits wait on a clearing account of their own. Click "Create a '
                        'GoCardless clearing journal" first (provider %(provider)s).',
                        provider=provider.name,
                    )
                )

    @api.constrains("gocardless_payout_journal_ids")
    def _check_gocardless_payout_journal_ids(self):
        for provider in self:
            currencies = [
                journal.currency_id or journal.company_id.currency_id
                for journal in provider.gocardless_payout_journal_ids
            ]
            if len(currencies) != len(set(currencies)):
                raise ValidationError(
                    self.env._(
                        "GoCardless: one payout bank journal per currency (provider %(provider)s).",
                        provider=provider.name,
                    )
                )

    # === CRUD METHODS === #

    def write(self, vals):
        """Override of `payment` to bring the invoices waiting for a payout up to date.

        Back to "at confirmation": the invoices *In Payment* by a debit of the provider are
        paid now, as they would have been.
        """
        res = super().write(vals)
        if vals.get("gocardless_invoice_paid") == "confirmation":
            payments = (
                self.env["account.payment"]
                .sudo()
                .search(
                    [
                        ("payment_transaction_id.provider_id", "in", self.ids),
                        ("state", "=", "in_process"),
                    ]
                )
            )
            invoices = payments.reconciled_invoice_ids.filtered(
                lambda move: move.payment_state == "in_payment"
            )
            if invoices:
                self.env.add_to_compute(invoices._fields["payment_state"], invoices)
        return res

    # === BUSINESS METHODS - ACCOUNTS === #

    def _gocardless_has_clearing_account(self):
        """Return whether the collected debits wait on an account that only payouts empty.

        A reconcilable account of the provider's payment method, other than its journal's own
        account and the payout bank's outstanding receipts: the payment's line there is matched
        only by the payout that pays the debit out.
        """
        self.ensure_one()
        account = self._gocardless_payment_method_line().payment_account_id
        if not account or not account.reconcile:
            return False
        payout_journal = self._gocardless_payout_journal()
        return account not in (
            self.journal_id.default_account_id
            | self._gocardless_bank_account(payout_journal, inbound=True)
            | payout_journal.default_account_id
        )

    def _gocardless_pays_at_payout(self):
        """Return whether the provider's invoices are paid only when their debit is paid out."""
        self.ensure_one()
        return self.code == const.PROVIDER_CODE and self.gocardless_invoice_paid == "payout"

    def _gocardless_payment_method_line(self, journal=None):
        """Return the GoCardless payment method line of ``journal`` (the provider's)."""
        self.ensure_one()
        journal = journal or self.journal_id
        return journal.inbound_payment_method_line_ids.filtered(
            lambda line: line.payment_provider_id == self
        )[:1]

    def _gocardless_clearing_account(self):
        """Return the account where collected debits wait for their payout."""
        self.ensure_one()
        line = self._gocardless_payment_method_line()
        # Without an outstanding account, Odoo posts the payments on the journal's own account.
        return line.payment_account_id or self.journal_id.default_account_id

    def _gocardless_outstanding_account(self, inbound=True):
        """Return the company's default outstanding receipts (or payments) account, as Odoo."""
        self.ensure_one()
        company = self.company_id
        chart = self.with_context(allowed_company_ids=company.root_id.ids).env[
            "account.chart.template"
        ]
        ref = (
            "account_journal_payment_debit_account_id"
            if inbound
            else "account_journal_payment_credit_account_id"
        )
        return chart.ref(ref, raise_if_not_found=False) or company.transfer_account_id

    def _gocardless_payout_journal(self, currency=None):
        """Return the merchant's bank journal receiving the payouts (in ``currency``)."""
        self.ensure_one()
        if currency:
            journal = self.gocardless_payout_journal_ids.filtered(
                lambda journal: (journal.currency_id or journal.company_id.currency_id) == currency
            )[:1]
            if journal:
                return journal
        return self.gocardless_payout_journal_id or self.journal_id

    def _gocardless_bank_account(self, journal, inbound=True):
        """Return the outstanding receipts (or payments) account of the bank ``journal``."""
        lines = (
            journal.inbound_payment_method_line_ids
            if inbound
            else (journal.outbound_payment_method_line_ids)
        )
        accounts = lines.filtered(lambda line: not line.payment_provider_id).payment_account_id
        return accounts[:1] or self._gocardless_outstanding_account(inbound=inbound)

    def _gocardless_fee_account(self):
        self.ensure_one()
        return self.gocardless_fee_account_id or self._gocardless_bank_fees_account()

    def _gocardless_bank_fees_account(self):
        """Return the chart's account of bank fees: under 627 (*Services bancaires*) in the
        French chart, *Bank Fees* in the generic one, else the first expense account."""
        self.ensure_one()
        company = self.company_id
        Account = self.env["account.account"].with_company(company)
        domain = [*Account._check_company_domain(company), ("account_type", "=", "expense")]
        chart = self.with_context(allowed_company_ids=company.root_id.ids).env[
            "account.chart.template"
        ]
        return (
            Account.search([*domain, ("code", "=like", "627%")], order="code desc", limit=1)
            or chart.ref("expense_finance", raise_if_not_found=False)
            or Account.search(domain, order="code", limit=1)
        )

    def _gocardless_set_up_fee_accounts(self):
        """Give the provider a *GoCardless fees* expense account beside the chart's bank fees,
        and the deductible VAT account of the company's purchase tax, where none is set."""
        self.ensure_one()
        company = self.company_id
        values = {}
        if not self.gocardless_fee_account_id:
            anchor = self._gocardless_bank_fees_account()
            Account = self.env["account.account"].with_company(company)
            values["gocardless_fee_account_id"] = Account.create(
                {
                    "name": self.env._("GoCardless fees"),
                    "code": Account._search_new_account_code(anchor.code or "6278"),
                    "account_type": "expense",
                }
            ).id
        if not self.gocardless_fee_tax_account_id:
            account = company.account_purchase_tax_id.invoice_repartition_line_ids.filtered(
                lambda line: line.repartition_type == "tax"
            ).account_id[:1]
            if account:
                values["gocardless_fee_tax_account_id"] = account.id
        if values:
            self.write(values)

    def _gocardless_fee_tax_account(self):
        self.ensure_one()
        if self.gocardless_fee_tax_account_id:
            return self.gocardless_fee_tax_account_id
        tax = self.company_id.account_purchase_tax_id
        account = tax.invoice_repartition_line_ids.filtered(
            lambda line: line.repartition_type == "tax"
        ).account_id[:1]
        return account or self._gocardless_fee_account()

    # === ACTION METHODS === #

    def action_gocardless_create_clearing_journal(self):
        """Create a GoCardless journal whose outstanding account is a clearing account.

        The provider's debits are then posted there, and each payout moves its net amount to
        the merchant's bank (the journal used so far becomes the payout bank journal).
        """
        self.ensure_one()
        utils.check_merchant_rights(self, "read", group="account.group_account_manager")
        if self.code != const.PROVIDER_CODE:
            raise UserError(self.env._("Only a GoCardless provider has a clearing journal."))
        company = self.company_id
        account_model = self.env["account.account"].with_company(company)
        clearing = account_model.create(
            {
                "name": self.env._("GoCardless clearing"),
                "code": account_model._search_new_account_code(
                    self._gocardless_outstanding_account().code or "1019"
                ),
                "account_type": "asset_current",
                "reconcile": True,
            }
        )
        journal_model = self.env["account.journal"].with_company(company)
        code = "GOCL"
        index = 1
        while journal_model.search_count(
            [*journal_model._check_company_domain(company), ("code", "=", code)]
        ):
            index += 1
            code = f"GOC{index}"
        journal = journal_model.create(
            {
                "name": self.env._("GoCardless"),
                "code": code,
                "type": "bank",
                "company_id": company.id,
            }
        )
        previous = self.journal_id
        values = {"journal_id": journal.id}
        if previous.type == "bank" and not self.gocardless_payout_journal_id:
            values["gocardless_payout_journal_id"] = previous.id
        self.write(values)
        self._gocardless_set_up_fee_accounts()
        # Odoo moves the provider's payment method line to its new journal.
        self._gocardless_payment_method_line(journal).payment_account_id = clearing
        journal.outbound_payment_method_line_ids.payment_account_id = clearing
        return {
            "type": "ir.actions.act_window",
            "res_model": "account.journal",
            "res_id": journal.id,
            "view_mode": "form",
        }
