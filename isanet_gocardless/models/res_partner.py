from markupsafe import Markup

from odoo import fields, models
from odoo.exceptions import AccessError, UserError

from .. import const, utils
from ..gocardless_core import schemes
from ..gocardless_core.errors import GoCardlessCoreError


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

    # === ACTION METHODS === #

    def action_gocardless_request_mandate(self):
        """Email the customer a link to set up a direct debit mandate, before any invoice.

        A mandate-only billing request (no payment) is created at GoCardless with its hosted
        flow, through a `validation` transaction: once the customer approves it, the mandate
        is saved as the customer's token and later invoices can be collected on it.

        Note: self.ensure_one()

        :return: A notification action.
        :rtype: dict
        :raise AccessError: If the user may not manage invoices.
        :raise UserError: If the customer or the company can't have a mandate.
        """
        self.ensure_one()
        if not self.env.user.has_group("account.group_account_invoice"):
            raise AccessError(
                self.env._("GoCardless: only invoicing users can request direct debit mandates.")
            )
        utils.check_merchant_rights(self, "read")
        partner = self.commercial_partner_id
        company = self.env.company
        provider = self.env["payment.provider"]._gocardless_get_for_company(company)
        if not provider:
            raise UserError(
                self.env._(
                    "GoCardless: the company %(company)s has no GoCardless provider.",
                    company=company.name,
                )
            )
        if not partner.email:
            raise UserError(
                self.env._(
                    "GoCardless: %(partner)s needs an email address to receive the mandate "
                    "request.",
                    partner=partner.display_name,
                )
            )
        currency, scheme = partner._gocardless_mandate_currency(company.currency_id)
        if not scheme:
            raise UserError(
                self.env._(
                    "GoCardless: direct debit in %(currency)s is not available for a customer "
                    "in %(country)s.",
                    currency=company.currency_id.name,
                    country=partner.country_id.name or self.env._("an unknown country"),
                )
            )
        method_code = schemes.payment_method_code(scheme)
        method = self.env["payment.method"].sudo()._get_from_code(method_code)
        Transaction = self.env["payment.transaction"].sudo()
        tx = Transaction.create(
            {
                "provider_id": provider.id,
                "payment_method_id": method.id,
                "reference": Transaction._compute_reference(provider.code, prefix="MANDATE"),
                "amount": 0.0,
                "currency_id": currency.id,
                "partner_id": partner.id,
                "operation": "validation",
                "tokenize": True,
                "landing_route": "/my",
            }
        )
        url = tx._gocardless_create_billing_request_flow()
        partner.sudo().message_post(
            body=Markup("<p>%(text)s</p><p><a href='%(url)s'>%(label)s</a></p>")
            % {
                "text": self.env._(
                    "%(company)s invites you to set up a direct debit mandate: later invoices "
                    "will be collected from your bank account, each announced beforehand.",
                    company=company.name,
                ),
                "url": url,
                "label": self.env._("Set up my direct debit mandate"),
            },
            subject=self.env._("Direct debit mandate for %(company)s", company=company.name),
            partner_ids=partner.ids,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
        )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Direct debit mandate requested"),
                "message": self.env._(
                    "%(partner)s was emailed a link to set up the mandate at GoCardless.",
                    partner=partner.display_name,
                ),
                "type": "success",
            },
        }

    def _gocardless_mandate_currency(self, preferred):
        """Return the currency and scheme of a mandate for this customer, or (currency, None).

        The company's currency when GoCardless collects it from the customer's country, else
        the currency of the scheme serving that country (SEPA for a Belgian customer).

        Note: self.ensure_one()

        :param res.currency preferred: The company's currency.
        :rtype: tuple
        """
        self.ensure_one()
        country = self.country_id.code or None
        Currency = self.env["res.currency"].with_context(active_test=False)
        for code in [preferred.name, *sorted(const.SUPPORTED_CURRENCIES - {preferred.name})]:
            try:
                scheme = schemes.scheme_for(code, country)
            except GoCardlessCoreError:
                continue
            currency = (
                preferred
                if code == preferred.name
                else Currency.search([("name", "=", code)], limit=1)
            )
            if currency:
                return currency, scheme
        return preferred, None
