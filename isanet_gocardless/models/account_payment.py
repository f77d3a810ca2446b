from odoo import api, models
from odoo.exceptions import UserError

from .. import const, utils


class AccountPayment(models.Model):
    _inherit = "account.payment"

    def action_post(self):
        """Override of `account_payment` to refuse registering a GoCardless payment by hand.

        A direct debit is collected by GoCardless days later: a payment registered with the
        GoCardless method (*Register Payment*, import, RPC) would mark the invoice paid while
        nothing was collected. Payments of GoCardless transactions are posted as usual.
        """
        utils.check_merchant_rights(self)
        for payment in self:
            provider = payment.payment_method_line_id.sudo().payment_provider_id
            if provider.code == const.PROVIDER_CODE and not payment.payment_transaction_id:
                raise UserError(
                    self._gocardless_register_refusal(
                        payment.payment_token_id, partner=payment.partner_id, provider=provider
                    )
                )
        return super().action_post()

    @api.model
    def _gocardless_register_refusal(self, token=None, partner=None, provider=None):
        """Return why a GoCardless payment can't be registered, and what to do instead.

        :param payment.token token: The mandate the payment would be collected on, if any.
        :param res.partner partner: The customer, to look for an active mandate.
        :param payment.provider provider: The GoCardless provider.
        :rtype: str
        """
        if not token and partner:
            token = (
                self.env["payment.token"]
                .sudo()
                .search(
                    [
                        ("provider_id", "=", provider.id if provider else False),
                        ("partner_id", "child_of", partner.commercial_partner_id.id),
                        (
                            "gocardless_mandate_status",
                            "not in",
                            sorted(const.MANDATE_ENDED_STATUSES),
                        ),
                    ],
                    limit=1,
                )
            )
        if token:
            return self.env._(
                "GoCardless: a direct debit is collected by GoCardless a few days after it is "
                "requested, so it can't be registered as a payment. Use the invoice's "
                '"Collect by Direct Debit" button: it charges the customer\'s mandate '
                "%(mandate)s and the invoice is paid when GoCardless confirms the collection.",
                mandate=token.provider_ref,
            )
        return self.env._(
            "GoCardless: %(partner)s has no active direct debit mandate, so nothing can be "
            "collected and no payment can be registered. Send the invoice to the customer: "
            "they set up a mandate and pay from the invoice's link, and the invoice is paid "
            "when GoCardless confirms the collection.",
            partner=partner.display_name if partner else "?",
        )
