import logging

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .. import const
from ..gocardless_core import client as gc_client

_logger = logging.getLogger(__name__)


class PaymentProvider(models.Model):
    _inherit = "payment.provider"

    code = fields.Selection(
        selection_add=[(const.PROVIDER_CODE, "GoCardless")],
        ondelete={const.PROVIDER_CODE: "set default"},
    )
    gocardless_access_token = fields.Char(
        string="GoCardless Access Token",
        help="The access token of the GoCardless account: a sandbox token when the provider "
        "is in test mode, a live token when it is enabled.",
        required_if_provider=const.PROVIDER_CODE,
        groups="base.group_system",
        copy=False,
    )
    gocardless_webhook_secret = fields.Char(
        string="GoCardless Webhook Secret",
        help="The secret of the webhook endpoint created in the GoCardless dashboard; every "
        "webhook is checked against it.",
        groups="base.group_system",
        copy=False,
    )
    gocardless_api_url = fields.Char(
        string="GoCardless API URL",
        help="Leave empty to use GoCardless's official endpoints (sandbox in test mode, live "
        "when enabled). Set it to reach another GoCardless API, such as the local sandbox.",
        groups="base.group_system",
    )

    # === COMPUTE METHODS === #

    def _compute_feature_support_fields(self):  # pylint: disable=missing-return
        """Override of `payment` to enable additional features."""
        super()._compute_feature_support_fields()
        self.filtered(lambda p: p.code == const.PROVIDER_CODE).update(
            {
                "support_tokenization": True,
                "support_refund": "partial",
            }
        )

    # === CONSTRAINT METHODS === #

    @api.constrains("gocardless_api_url")
    def _check_gocardless_api_url(self):
        for provider in self.filtered("gocardless_api_url"):
            if not provider.gocardless_api_url.startswith(("http://", "https://")):
                raise ValidationError(
                    self.env._("GoCardless: the API URL must start with http:// or https://.")
                )

    # === BUSINESS METHODS === #

    def _get_supported_currencies(self):
        """Override of `payment` to return the currencies GoCardless collects in."""
        supported_currencies = super()._get_supported_currencies()
        if self.code == const.PROVIDER_CODE:
            supported_currencies = supported_currencies.filtered(
                lambda c: c.name in const.SUPPORTED_CURRENCIES
            )
        return supported_currencies

    def _get_default_payment_method_codes(self):
        """Override of `payment` to return the default payment method codes."""
        default_codes = super()._get_default_payment_method_codes()
        if self.code != const.PROVIDER_CODE:
            return default_codes
        return const.DEFAULT_PAYMENT_METHOD_CODES

    def _should_build_inline_form(self, is_validation=False):
        """Override of `payment`: GoCardless's payer pages are hosted, the flow redirects."""
        if self.code != const.PROVIDER_CODE:
            return super()._should_build_inline_form(is_validation=is_validation)
        return False

    def _gocardless_get_api_url(self):
        """Return the base URL of the GoCardless API this provider talks to.

        Note: self.ensure_one()

        :return: The configured URL, else the official sandbox URL in test mode and the
                 official live URL otherwise.
        :rtype: str
        """
        self.ensure_one()
        if self.gocardless_api_url:
            return self.gocardless_api_url.rstrip("/")
        return gc_client.SANDBOX_URL if self.state == "test" else gc_client.LIVE_URL

    def _gocardless_make_client(self):
        """Return an official GoCardless SDK client for this provider's account.

        Note: self.ensure_one()

        :return: The client, bound to the provider's token and API URL, with a finite timeout.
        :rtype: gocardless_pro.Client
        :raise ValidationError: If the provider has no access token.
        """
        self.ensure_one()
        if not self.gocardless_access_token:
            raise ValidationError(
                self.env._(
                    "GoCardless: no access token is set on the provider %(provider)s.",
                    provider=self.name,
                )
            )
        return gc_client.make_client(
            self.gocardless_access_token, base_url=self._gocardless_get_api_url()
        )
