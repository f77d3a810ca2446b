import logging
import threading

from odoo import api, fields, models
from odoo.exceptions import AccessError, ValidationError

from odoo.addons.payment import utils as payment_utils

from .. import const, utils
from ..gocardless_core import client as gc_client
from ..gocardless_core import events, pacing
from ..gocardless_core.errors import ApiCallError

_logger = logging.getLogger(__name__)

# The rate-limit state of each provider's GoCardless account, per process: the background
# batches of all the workers' threads of this process wait on it.
_PACERS = {}
_PACERS_LOCK = threading.Lock()


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
    gocardless_offer_by_default = fields.Boolean(
        string="Offer direct debit on all invoices",
        help="When a customer invoice is posted, offer the customer to pay it by GoCardless "
        "direct debit from the invoice's portal link. The offer can still be turned on or off "
        "on each invoice.",
    )
    gocardless_auto_collect = fields.Boolean(
        string="Collect automatically from customers with an active mandate",
        help="When a customer invoice offered for direct debit is posted and its customer has a "
        "direct debit mandate, GoCardless collects it on its due date (or as soon as the "
        "mandate allows, if later), without anyone clicking.",
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

    # === ACTION METHODS === #

    def action_gocardless_import_mandates(self):
        """Import the mandates that already exist in the GoCardless account as tokens.

        :return: A notification action saying how many were imported, known or unmatched, and
                 listing the mandates left unattached because several customers match them.
        :rtype: dict
        """
        self.ensure_one()
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(self.env._("GoCardless: only administrators can import mandates."))
        utils.check_merchant_rights(self)
        counts = self.with_context(
            gocardless_request_profile="background"
        )._gocardless_import_mandates()
        ambiguous = counts.pop("ambiguous_mandates")
        message = self.env._(
            "%(imported)s mandate(s) imported, %(known)s already known, %(unmatched)s "
            "without a matching customer (by GoCardless customer id or email), "
            "%(ended)s ended.",
            **counts,
        )
        if ambiguous:
            listing = self.env._(
                "%(count)s mandate(s) not attached: several customers match them, attach "
                "each by hand to its customer (set its GoCardless customer id) and import "
                "again: %(mandates)s",
                count=len(ambiguous),
                mandates="; ".join(ambiguous),
            )
            message = f"{message}\n{listing}"
            self.sudo().message_post(body=listing)
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("GoCardless mandates"),
                "message": message,
                "type": "success" if not (counts["unmatched"] or ambiguous) else "warning",
                "sticky": bool(counts["unmatched"] or ambiguous),
            },
        }

    # === BUSINESS METHODS === #

    def _gocardless_import_mandates(self):
        """Save the account's mandates as tokens of the partners they belong to.

        A mandate is attached only to the one customer it surely belongs to (see
        `_gocardless_mandate_partner`): the commercial partner holding its GoCardless customer
        id in the provider's company, else the only one whose email is the customer's (whose
        customer id is then kept). Ended mandates and those already held by a token are
        skipped; those several customers match are listed, not attached.

        Note: self.ensure_one()

        :return: Counts: ``imported``, ``known``, ``unmatched``, ``ended``, and
                 ``ambiguous_mandates``: the descriptions of the mandates several customers
                 match.
        :rtype: dict
        """
        self.ensure_one()
        provider = self.sudo()
        Token = self.env["payment.token"].sudo().with_context(active_test=False)
        Partner = self.env["res.partner"].sudo().with_company(provider.company_id)
        counts = {"imported": 0, "known": 0, "unmatched": 0, "ended": 0, "ambiguous_mandates": []}
        after = None
        while True:
            params = {"limit": gc_client.MAX_PAGE_SIZE}
            if after:
                params["after"] = after
            page = provider._gocardless_make_request("mandates", "list", params=params)
            for mandate in page.get("mandates") or ():
                if not isinstance(mandate, dict) or not mandate.get("id"):
                    continue
                outcome = events.mandate_outcome_from_status(mandate.get("status"))
                if outcome == events.MANDATE_ENDED:
                    counts["ended"] += 1
                    continue
                if Token.search_count(
                    [("provider_id", "=", provider.id), ("provider_ref", "=", mandate["id"])]
                ):
                    counts["known"] += 1
                    continue
                partner, ambiguity = provider._gocardless_mandate_partner(mandate, Partner)
                if ambiguity:
                    counts["ambiguous_mandates"].append(ambiguity)
                elif partner and provider._gocardless_import_mandate(mandate, partner):
                    counts["imported"] += 1
                else:
                    counts["unmatched"] += 1
            after = ((page.get("meta") or {}).get("cursors") or {}).get("after")
            if not after:
                return counts

    def _gocardless_mandate_partner(self, mandate, Partner):
        """Return the one customer a mandate surely belongs to.

        Its GoCardless customer id held by commercial partners of the provider's company,
        else the customer's email on partners of that company (or shared): exactly one
        commercial partner must match, else the mandate is not attached to anyone.

        :param dict mandate: The `mandates` resource.
        :param res.partner Partner: The partner model, sudoed, in the provider's company.
        :return: The commercial partner (empty if none or several), and, when several match,
                 a description of the mandate and of the partners matching it for the merchant
                 (else an empty string).
        :rtype: tuple[res.partner, str]
        """
        customer_id = (mandate.get("links") or {}).get("customer")
        if not isinstance(customer_id, str) or not customer_id:
            return Partner.browse(), ""
        matches = Partner.search(
            [("gocardless_customer_id", "=", customer_id)]
        ).commercial_partner_id
        key = customer_id
        if not matches:
            customer = self._gocardless_make_request("customers", "get", customer_id)
            email = (customer.get("email") or "").strip()
            if not email:
                return Partner.browse(), ""
            matches = Partner.search(
                [("email", "=ilike", email), ("company_id", "in", (False, self.company_id.id))]
            ).commercial_partner_id
            key = email
        if len(matches) > 1:
            return Partner.browse(), self.env._(
                "%(mandate)s (%(key)s: %(partners)s)",
                mandate=mandate["id"],
                key=key,
                partners=", ".join(matches.sorted("id").mapped("display_name")),
            )
        if matches and not matches.gocardless_customer_id:
            matches.gocardless_customer_id = customer_id
        return matches, ""

    def _gocardless_import_mandate(self, mandate, partner):
        """Save one mandate as a token of its customer; return the token (empty if its scheme
        is unknown).

        :param dict mandate: The `mandates` resource.
        :param res.partner partner: Its customer (a commercial partner).
        :rtype: payment.token
        """
        return self.env["payment.token"]._gocardless_save_mandate(self, partner, mandate)

    @api.model
    def _get_compatible_providers(self, *args, invoice_id=None, report=None, **kwargs):
        """Override of `payment` to hide GoCardless for invoices where it is not offered.

        `invoice_id` is only passed in the `/payment/pay` flow of an invoice; the invoice's
        portal page is filtered by the portal controller.
        """
        providers = super()._get_compatible_providers(
            *args, invoice_id=invoice_id, report=report, **kwargs
        )
        if invoice_id:
            invoice = self.env["account.move"].sudo().browse(int(invoice_id)).exists()
            if invoice and not invoice._gocardless_is_payable():
                unfit = providers.filtered(lambda p: p.code == const.PROVIDER_CODE)
                if unfit:
                    providers -= unfit
                    payment_utils.add_to_report(
                        report,
                        unfit,
                        available=False,
                        reason=self.env._("direct debit not offered on this invoice"),
                    )
        return providers

    @api.model
    def _gocardless_get_for_company(self, company):
        """Return the GoCardless provider of a company in test or enabled state, if any.

        :param res.company company: The company.
        :return: The provider, in sudo mode, or an empty recordset.
        :rtype: payment.provider
        """
        return (
            self.env["payment.provider"]
            .sudo()
            .search(
                [
                    *self.env["payment.provider"]._check_company_domain(company),
                    ("code", "=", const.PROVIDER_CODE),
                    ("state", "in", ("enabled", "test")),
                ],
                limit=1,
            )
        )

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

    def _is_tokenization_required(self, **kwargs):
        """Override of `payment`: a GoCardless mandate is always saved.

        The payer sets up a direct debit mandate on GoCardless's page, which by nature lets the
        merchant collect the payer's next invoices; Odoo then asks no "save my payment details"
        question that would make no difference.
        """
        if len(self) == 1 and self.code == const.PROVIDER_CODE:
            return True
        return super()._is_tokenization_required(**kwargs)

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

    def _gocardless_make_client(self, timeout=gc_client.DEFAULT_TIMEOUT):
        """Return an official GoCardless SDK client for this provider's account.

        Note: self.ensure_one()

        :param timeout: Seconds, or a ``(connect, read)`` pair, each call may wait.
        :return: The client, bound to the provider's token and API URL, with a finite timeout.
        :rtype: gocardless_pro.Client
        :raise ValidationError: If the provider has no access token.
        """
        self.ensure_one()
        provider = self.sudo()
        if not provider.gocardless_access_token:
            raise ValidationError(
                self.env._(
                    "GoCardless: no access token is set on the provider %(provider)s.",
                    provider=provider.name,
                )
            )
        return gc_client.make_client(
            provider.gocardless_access_token,
            base_url=provider._gocardless_get_api_url(),
            timeout=timeout,
        )

    def _gocardless_make_request(
        self, resource, action, *args, params=None, idempotency_key=None, profile=None
    ):
        """Call the GoCardless API: the one way this module talks to GoCardless.

        The call waits as long as its profile allows (``interactive`` by default: a person is
        waiting; the context key ``gocardless_request_profile`` or ``profile`` choose
        ``background`` for a cron); its failure is classified once by the core and raised as a
        translated :class:`~..utils.GoCardlessRequestError`.

        Note: self.ensure_one()

        :param str resource: The SDK service, e.g. ``"payments"``.
        :param str action: The service's method: ``"get"``, ``"create"``, ``"list"``...
        :param args: The resource id, for calls on one resource.
        :param dict params: The request's parameters.
        :param str idempotency_key: The ``Idempotency-Key`` of a create.
        :param str profile: A profile of ``gocardless_core.client.PROFILES``.
        :return: The resource's attributes (the response body for lists).
        :rtype: dict
        :raise GoCardlessRequestError: If GoCardless can't be reached, or refuses the call.
        :raise ValidationError: If the provider has no access token.
        """
        self.ensure_one()
        profile = profile or self.env.context.get(
            "gocardless_request_profile", gc_client.DEFAULT_PROFILE
        )
        settings = gc_client.profile_settings(profile)
        client = self._gocardless_make_client(timeout=settings["timeout"])
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        try:
            result = gc_client.perform(
                client,
                resource,
                action,
                *args,
                params=params,
                headers=headers,
                tries=settings["tries"],
                # Background batches wait under the rate limit; a person never does.
                pacer=self._gocardless_pacer() if profile == "background" else None,
            )
        except ApiCallError as error:
            # The caller shows or records the failure (translated error, ledger, notice).
            _logger.info(
                "GoCardless call %s.%s %s failed (%s, %s): %s",
                resource,
                action,
                " ".join(str(arg) for arg in args),
                error.kind,
                "transient" if error.transient else "permanent",
                error.description,
            )
            cause = error.__cause__ or error
            moves_money = (resource, action) in const.MONEY_MOVING_CALLS
            raise utils.GoCardlessRequestError(
                self._gocardless_error_message(error, moves_money=moves_money), error
            ) from cause
        if self.gocardless_reconnect_needed:
            self._gocardless_clear_reconnect()
        return result

    def _gocardless_pacer(self):
        """Return the rate-limit pacer of this provider's GoCardless account, in this process.

        Note: self.ensure_one()

        :rtype: gocardless_core.pacing.RateLimitPacer
        """
        self.ensure_one()
        key = (self.env.cr.dbname, self.id, self.sudo()._gocardless_get_api_url())
        with _PACERS_LOCK:
            pacer = _PACERS.get(key)
            if pacer is None:
                pacer = _PACERS[key] = pacing.RateLimitPacer()
        return pacer

    def _gocardless_error_message(self, error, moves_money=False):
        """Return the translated sentence telling a person why a GoCardless call failed.

        :param gocardless_core.errors.ApiCallError error: The classified failure.
        :param bool moves_money: Whether the call takes or gives money (a payment created or
                                 retried, a refund): its lost answer may hide that it did.
        :rtype: str
        """
        if moves_money and error.uncertain:
            return self.env._(
                "GoCardless: no answer came back, and GoCardless may have carried the request "
                "out. It will be checked; please do not repeat it meanwhile."
            )
        if error.kind in ("timeout", "unreachable", "unreadable", "internal"):
            return self.env._(
                "GoCardless: the direct debit service can't be reached right now. Nothing "
                "was charged; please try again in a few minutes."
            )
        if error.kind == "rate_limited":
            return self.env._(
                "GoCardless: too many requests right now. Nothing was charged; please try "
                "again in a minute."
            )
        if error.kind == "authentication":
            return self.env._(
                "GoCardless: the access token was refused. The GoCardless account needs to "
                "be connected again."
            )
        return self.env._("GoCardless: %(error)s", error=error.description)
