import math

from odoo.exceptions import ValidationError
from odoo.http import request, route
from odoo.tools import float_round

from odoo.addons.account_payment.controllers import payment as account_payment_payment
from odoo.addons.account_payment.controllers import portal as account_payment_portal
from odoo.addons.payment.controllers import post_processing

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


def _is_logged_in_customer(customer):
    """Return whether the logged-in user belongs to ``customer`` (its commercial entity).

    :param res.partner customer: The invoices' customer.
    :rtype: bool
    """
    user = request.env.user
    return (
        not user._is_public()
        and user.partner_id.commercial_partner_id == customer.sudo().commercial_partner_id
    )


def _keep_mandates_for_customer(values, customer):
    """Offer saved GoCardless mandates only to the logged-in customer.

    Anyone holding an invoice's link sees its payment form; a saved mandate takes money from
    the customer's bank account without GoCardless's pages, so it is offered only to the
    customer logged in (as Odoo offers a user only their own tokens).

    :param dict values: The rendering values of the payment form; changed in place.
    :param res.partner customer: The invoices' customer.
    :return: None
    """
    if values.get("tokens_sudo") and not _is_logged_in_customer(customer):
        values["tokens_sudo"] = values["tokens_sudo"].filtered(
            lambda t: t.provider_id.code != const.PROVIDER_CODE
        )


class PortalAccount(account_payment_portal.PortalAccount):
    def _invoice_get_page_view_values(self, invoice, access_token, payment=False, **kwargs):
        # EXTENDS account_payment: offer GoCardless only where the invoice allows it.
        values = super()._invoice_get_page_view_values(
            invoice, access_token, payment=payment, **kwargs
        )
        # The page is the invoice's company's (name and logo), whoever opens it: a customer
        # following the email's link is not logged in (Odoo would show the public user's).
        values["res_company"] = invoice.sudo().company_id
        if not invoice.sudo()._gocardless_is_payable():
            _drop_gocardless(values)
            return values
        _keep_mandates_for_customer(values, invoice.sudo().partner_id)
        if values.get("tokens_sudo"):
            # A mandate collects one currency (a Bacs mandate can't pay an EUR invoice).
            currency = invoice.currency_id
            values["tokens_sudo"] = values["tokens_sudo"].filtered(
                lambda t: (
                    t.provider_id.code != const.PROVIDER_CODE
                    or not t.payment_method_id.supported_currency_ids
                    or currency in t.payment_method_id.supported_currency_ids
                )
            )
        return values

    def _overdue_invoices_get_page_view_values(self, overdue_invoices, **kwargs):
        # EXTENDS account_payment: one debit pays the overdue invoices of one customer in one
        # currency, each offered for direct debit (see
        # `payment.transaction._gocardless_check_debit`); otherwise not offered.
        values = super()._overdue_invoices_get_page_view_values(overdue_invoices, **kwargs)
        invoices_sudo = overdue_invoices.sudo()
        if (
            not invoices_sudo
            or len(invoices_sudo.commercial_partner_id) != 1
            or len(invoices_sudo.currency_id) != 1
            or not all(invoice._gocardless_is_payable() for invoice in invoices_sudo)
        ):
            _drop_gocardless(values)
        else:
            _keep_mandates_for_customer(values, invoices_sudo.commercial_partner_id)
        return values


# Parameters of the transaction routes holding a record id, and whether they may be empty.
ID_PARAMETERS = {"provider_id": False, "payment_method_id": True, "token_id": True}


class PaymentPortal(account_payment_payment.PaymentPortal):
    """The invoice transaction routes: parameters checked for type, then Odoo's flow.

    Whether GoCardless may debit is decided by `payment.transaction._gocardless_check_debit`,
    for every door; these routes only turn malformed parameters into a clear error.
    """

    @route()
    def invoice_transaction(self, invoice_id, access_token, **kwargs):
        """Override of `account_payment` to refuse malformed parameters with a clear error."""
        self._gocardless_check_transaction_kwargs(kwargs)
        if self._gocardless_is_route_provider(kwargs):
            invoice_sudo = request.env["account.move"].sudo().browse(invoice_id).exists()
            kwargs["amount"] = self._gocardless_parse_amount(
                kwargs.get("amount"), invoice_sudo.currency_id
            )
        elif kwargs.get("amount") is not None:
            kwargs["amount"] = self._gocardless_parse_amount(kwargs["amount"], gocardless=False)
        return super().invoice_transaction(invoice_id, access_token, **kwargs)

    @route()
    def overdue_invoices_transaction(self, payment_reference, **kwargs):
        """Override of `account_payment` to refuse malformed parameters with a clear error."""
        self._gocardless_check_transaction_kwargs(kwargs)
        if kwargs.get("amount") is not None or self._gocardless_is_route_provider(kwargs):
            kwargs["amount"] = self._gocardless_parse_amount(
                kwargs.get("amount"), gocardless=self._gocardless_is_route_provider(kwargs)
            )
        return super().overdue_invoices_transaction(payment_reference, **kwargs)

    @route()
    def archive_token(self, token_id):
        """Override of `payment`: deleting a saved mandate cancels it at GoCardless first (see
        `payment.token._handle_archiving`); if GoCardless refuses, nothing is deleted."""
        request.update_context(gocardless_cancel_mandate_on_archive=True)
        return super().archive_token(token_id)

    @staticmethod
    def _gocardless_check_transaction_kwargs(kwargs):
        """Refuse ids that are not integers, and flows or routes that are not text.

        :param dict kwargs: The parameters of a transaction route.
        :return: None
        :raise ValidationError: If a parameter has the wrong type or value.
        """
        for name, optional in ID_PARAMETERS.items():
            value = kwargs.get(name)
            if value is None and optional:
                continue
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not 0 < value <= const.MAX_ID
            ):
                raise ValidationError(
                    request.env._("The payment request is invalid (%(parameter)s).", parameter=name)
                )
        for name in ("flow", "landing_route"):
            value = kwargs.get(name)
            if value is not None and (not isinstance(value, str) or "\x00" in value):
                raise ValidationError(
                    request.env._("The payment request is invalid (%(parameter)s).", parameter=name)
                )

    @staticmethod
    def _gocardless_is_route_provider(kwargs):
        """Return whether a (checked) transaction route is asked to use GoCardless.

        A token's provider prevails over the posted `provider_id`, as in Odoo's flow.
        """
        env = request.env
        if kwargs.get("token_id"):
            token_sudo = env["payment.token"].sudo().browse(kwargs["token_id"]).exists()
            if token_sudo:
                return token_sudo.provider_id.code == const.PROVIDER_CODE
        provider_sudo = env["payment.provider"].sudo().browse(kwargs.get("provider_id")).exists()
        return provider_sudo.code == const.PROVIDER_CODE

    @staticmethod
    def _gocardless_parse_amount(amount, currency=None, gocardless=True):
        """Return the posted amount as a number, rounded to the currency.

        Whether it may be debited is the transaction's decision; this only refuses what is not
        a finite number.

        :param amount: The amount posted by the payment form.
        :param res.currency currency: The invoice's currency, to round the amount.
        :param bool gocardless: Whether GoCardless is asked, for the wording of the error.
        :rtype: float
        :raise ValidationError: If the amount is not a finite number.
        """
        try:
            if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
                raise TypeError(amount)
            if isinstance(amount, str) and not amount.isascii():
                raise ValueError(amount)  # float() reads other scripts' digits too
            value = float(amount)
            if not math.isfinite(value):
                raise ValueError(amount)
        except (TypeError, ValueError, OverflowError) as error:
            if not gocardless:
                raise ValidationError(
                    request.env._("The amount to pay is not a valid number.")
                ) from error
            raise ValidationError(
                request.env._("GoCardless: the amount to pay is not a valid number.")
            ) from error
        if currency:
            value = float_round(value, precision_rounding=currency.rounding)
        return value


class PaymentPostProcessing(post_processing.PaymentPostProcessing):
    @route()
    def display_status(self, **kwargs):
        """The payment status page, as the company of the transaction (name and logo).

        The customer coming back from GoCardless's page is usually not logged in: Odoo would
        show the public user's company.
        """
        response = super().display_status(**kwargs)
        tx_sudo = self._get_monitored_transaction()
        if tx_sudo and getattr(response, "qcontext", None) is not None:
            response.qcontext["res_company"] = tx_sudo.company_id.sudo()
        return response
