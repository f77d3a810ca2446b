import math

from odoo.exceptions import AccessError, MissingError, ValidationError
from odoo.http import request, route
from odoo.tools import float_compare, float_round

from odoo.addons.account_payment.controllers import payment as account_payment_payment
from odoo.addons.account_payment.controllers import portal as account_payment_portal

from .. import const


def _drop_gocardless(values):
    """Remove GoCardless providers, payment methods and tokens from a payment form context.

    :param dict values: The rendering values of the payment form; changed in place.
    :return: None
    """
    providers_sudo = values.get("providers_sudo")
    if not providers_sudo:
        return
    gocardless_sudo = providers_sudo.filtered(lambda p: p.code == const.PROVIDER_CODE)
    if not gocardless_sudo:
        return
    values["providers_sudo"] = providers_sudo - gocardless_sudo
    if values.get("payment_methods_sudo"):
        # A method shared with another provider (e.g. SEPA) stays for that provider.
        values["payment_methods_sudo"] = values["payment_methods_sudo"].filtered(
            lambda m: m.provider_ids & values["providers_sudo"]
        )
    if values.get("tokens_sudo"):
        values["tokens_sudo"] = values["tokens_sudo"].filtered(
            lambda t: t.provider_id not in gocardless_sudo
        )


class PortalAccount(account_payment_portal.PortalAccount):
    def _invoice_get_page_view_values(self, invoice, access_token, payment=False, **kwargs):
        # EXTENDS account_payment: offer GoCardless only where the invoice allows it.
        values = super()._invoice_get_page_view_values(
            invoice, access_token, payment=payment, **kwargs
        )
        if not invoice.sudo()._gocardless_is_payable():
            _drop_gocardless(values)
        return values

    def _overdue_invoices_get_page_view_values(self, overdue_invoices, **kwargs):
        # EXTENDS account_payment: a batch payment is not offered by direct debit unless every
        # invoice is, as the transaction route refuses it otherwise.
        values = super()._overdue_invoices_get_page_view_values(overdue_invoices, **kwargs)
        invoices_sudo = overdue_invoices.sudo()
        if not invoices_sudo or not all(inv._gocardless_is_payable() for inv in invoices_sudo):
            _drop_gocardless(values)
        return values


class PaymentPortal(account_payment_payment.PaymentPortal):
    @route()
    def invoice_transaction(self, invoice_id, access_token, **kwargs):
        """Override of `account_payment` to guard direct debit payments of an invoice.

        GoCardless is refused unless the invoice offers it, and its amount must be positive and
        not above the amount due. Nothing is created when refused.
        """
        provider_sudo = self._gocardless_get_route_provider(kwargs)
        if provider_sudo.code == const.PROVIDER_CODE:
            try:
                invoice_sudo = self._document_check_access("account.move", invoice_id, access_token)
            except MissingError:
                raise
            except AccessError as error:
                raise ValidationError(request.env._("The access token is invalid.")) from error
            if not invoice_sudo._gocardless_is_payable():
                raise ValidationError(
                    request.env._(
                        "GoCardless: direct debit is not offered for the invoice %(invoice)s.",
                        invoice=invoice_sudo.name,
                    )
                )
            kwargs["amount"] = self._gocardless_check_amount(invoice_sudo, kwargs.get("amount"))
        return super().invoice_transaction(invoice_id, access_token, **kwargs)

    @route()
    def overdue_invoices_transaction(self, payment_reference, **kwargs):
        """Override of `account_payment` to refuse GoCardless for a batch of overdue invoices.

        Overdue invoices are paid by direct debit one at a time, from each invoice's page.
        """
        if self._gocardless_get_route_provider(kwargs).code == const.PROVIDER_CODE:
            raise ValidationError(
                request.env._("GoCardless: pay each invoice by direct debit from its own page.")
            )
        return super().overdue_invoices_transaction(payment_reference, **kwargs)

    @staticmethod
    def _gocardless_get_route_provider(kwargs):
        """Return the provider a transaction route is asked to use, in sudo mode.

        A token's provider prevails over the posted `provider_id`.
        """
        env = request.env
        token_id = PaymentPortal._cast_as_int(kwargs.get("token_id"))
        if token_id:
            token_sudo = env["payment.token"].sudo().browse(token_id).exists()
            if token_sudo:
                return token_sudo.provider_id
        provider_id = PaymentPortal._cast_as_int(kwargs.get("provider_id"))
        return env["payment.provider"].sudo().browse(provider_id).exists()

    @staticmethod
    def _gocardless_check_amount(invoice_sudo, amount):
        """Return the amount to collect, rounded, after checking it against the amount due.

        :param account.move invoice_sudo: The invoice.
        :param amount: The amount posted by the payment form.
        :return: The amount rounded to the invoice's currency.
        :rtype: float
        :raise ValidationError: If the amount is not a positive number up to the amount due.
        """
        env = request.env
        currency = invoice_sudo.currency_id
        try:
            value = float(amount)
            if not math.isfinite(value):
                raise ValueError(amount)
        except (TypeError, ValueError) as error:
            raise ValidationError(
                env._("GoCardless: the amount to pay is not a valid number.")
            ) from error
        value = float_round(value, precision_rounding=currency.rounding)
        if float_compare(value, 0.0, precision_rounding=currency.rounding) <= 0:
            raise ValidationError(env._("GoCardless: the amount to pay must be positive."))
        if (
            float_compare(value, invoice_sudo.amount_residual, precision_rounding=currency.rounding)
            > 0
        ):
            raise ValidationError(
                env._(
                    "GoCardless: the amount to pay (%(amount)s) is above the amount due on "
                    "the invoice (%(due)s).",
                    amount=currency.format(value),
                    due=currency.format(invoice_sudo.amount_residual),
                )
            )
        return value
