# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Connecting a GoCardless account (OAuth connect or pasted token), webhook set-up help and the
health panel (the catch-up of missed webhooks is the ledger's: `gocardless_event_catchup.py`)."""

import logging
import time
from datetime import timedelta

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

from .. import const, utils
from ..controllers.main import GoCardlessController
from ..controllers.oauth import GoCardlessOAuthController
from ..gocardless_core import oauth
from ..gocardless_core import schemes as gc_schemes
from ..gocardless_core.errors import GoCardlessCoreError

_logger = logging.getLogger(__name__)

# System parameters holding the integrator's GoCardless partner app (set once, for every
# company): https://manage.gocardless.com/developers/partners (sandbox and live apps differ).


# Kept apart from payment_provider.py, which holds the payment flow: this file is the account
# connection and its health.
class PaymentProvider(models.Model):
    _inherit = "payment.provider"  # pylint: disable=consider-merging-classes-inherited

    gocardless_organisation_id = fields.Char(
        string="GoCardless Organisation ID",
        help="The GoCardless account (OR...) connected through GoCardless's connect pages; its "
        "partner webhooks are routed to this provider. Empty for a pasted access token.",
        readonly=True,
        copy=False,
        index="btree_not_null",
        groups="base.group_system",
    )
    gocardless_creditor_name = fields.Char(string="GoCardless Account", readonly=True, copy=False)
    gocardless_account_id = fields.Char(
        string="GoCardless Creditor ID",
        help="The GoCardless account (creditor CR...) whose mandates the provider holds; kept "
        "when disconnected, so that reconnecting the same account keeps its saved mandates.",
        readonly=True,
        copy=False,
        groups="base.group_system",
    )
    gocardless_creditor_identifiers = fields.Char(
        string="Creditor Identifiers",
        help="The creditor identifier of the GoCardless account in each scheme (e.g. SEPA's "
        "creditor identifier), told to customers in direct debit pre-notifications.",
        readonly=True,
        copy=False,
    )
    gocardless_schemes = fields.Char(
        string="Direct Debit Schemes",
        help="The schemes the GoCardless account can collect with.",
        readonly=True,
        copy=False,
    )
    gocardless_schemes_display = fields.Char(
        string="Schemes",
        help="The schemes the GoCardless account can collect with, and their currency.",
        compute="_compute_gocardless_schemes_display",
    )
    gocardless_publish_on_reconnect = fields.Boolean(
        string="Publish When Connected Again",
        help="The provider was published when it was disconnected: connecting a GoCardless "
        "account again publishes it again.",
        readonly=True,
        copy=False,
    )
    gocardless_is_connected = fields.Boolean(
        string="Connected to GoCardless", compute="_compute_gocardless_is_connected"
    )
    gocardless_connect_message = fields.Char(string="Connection Message", readonly=True, copy=False)
    gocardless_connect_message_type = fields.Selection(
        string="Connection Message Type",
        selection=[("success", "Success"), ("danger", "Error")],
        readonly=True,
        copy=False,
    )
    gocardless_oauth_client_id = fields.Char(
        string="Partner App Client ID",
        help="The client id of the GoCardless partner app used by the Connect buttons, for every "
        "company of the database.",
        compute="_compute_gocardless_oauth_app",
        inverse="_inverse_gocardless_oauth_client_id",
        groups="base.group_system",
    )
    gocardless_oauth_client_secret = fields.Char(
        string="Partner App Client Secret",
        compute="_compute_gocardless_oauth_app",
        inverse="_inverse_gocardless_oauth_client_secret",
        groups="base.group_system",
    )
    gocardless_has_partner_app = fields.Boolean(
        string="Partner App Set", compute="_compute_gocardless_has_partner_app"
    )
    gocardless_token_help_url = fields.Char(
        string="Create an Access Token",
        help="GoCardless's dashboard page where an access token is created.",
        compute="_compute_gocardless_dashboard_urls",
    )
    gocardless_webhook_help_url = fields.Char(
        string="Create a Webhook Endpoint",
        help="GoCardless's dashboard page where a webhook endpoint is created.",
        compute="_compute_gocardless_dashboard_urls",
    )
    gocardless_webhook_url = fields.Char(
        string="Webhook URL",
        help="The URL to give GoCardless for the webhook endpoint of this database.",
        compute="_compute_gocardless_webhook_url",
    )
    gocardless_events_synced_at = fields.Datetime(
        string="Events Synchronised Until",
        help="The creation date of the newest event read from GoCardless's event list.",
        readonly=True,
        copy=False,
    )
    # Health panel, over the last 7 days.
    gocardless_last_webhook_at = fields.Datetime(
        string="Last Webhook Received", compute="_compute_gocardless_health"
    )
    gocardless_events_processed_count = fields.Integer(
        string="Events Processed",
        help="Events applied or found to need nothing, over the last 7 days.",
        compute="_compute_gocardless_health",
    )
    gocardless_events_duplicate_count = fields.Integer(
        string="Redeliveries (normal)",
        help="Events GoCardless delivered again, over the last 7 days: it resends an event until "
        "Odoo's answer reaches it. Each was acknowledged and applied once: nothing to do.",
        compute="_compute_gocardless_health",
    )
    gocardless_events_failed_count = fields.Integer(
        string="Events Failed",
        help="Events that could not be applied, over the last 7 days: they need action (see the "
        "event log for the reason).",
        compute="_compute_gocardless_health",
    )
    gocardless_signatures_rejected_count = fields.Integer(
        string="Signatures Rejected",
        help="Webhooks refused over the last 7 days because no provider's secret verifies their "
        "signature (counted for every provider: such a webhook names none).",
        compute="_compute_gocardless_health",
    )
    gocardless_events_waiting_count = fields.Integer(
        string="Events Waiting",
        help="Events received and not applied yet; the cron applies them.",
        compute="_compute_gocardless_health",
    )

    # === COMPUTE METHODS === #

    @api.depends("gocardless_schemes")
    @api.depends_context("lang")
    def _compute_gocardless_schemes_display(self):
        labels = self._gocardless_scheme_labels()
        for provider in self:
            names = set()
            for name in filter(None, (provider.gocardless_schemes or "").split(", ")):
                scheme = next(iter(gc_schemes.collectable_schemes([name])), None)
                if scheme:
                    names.add(f"{labels[scheme]} ({gc_schemes.SCHEMES[scheme].currency})")
                else:
                    names.add(name)  # a scheme this module doesn't know, as GoCardless says
            provider.gocardless_schemes_display = ", ".join(sorted(names))

    @api.depends("code")
    @api.depends_context("uid")
    def _compute_gocardless_is_connected(self):
        for provider in self:
            provider.gocardless_is_connected = bool(
                provider.code == const.PROVIDER_CODE and provider.sudo().gocardless_access_token
            )

    def _compute_gocardless_oauth_app(self):
        params = self.env["ir.config_parameter"].sudo()
        client_id = params.get_param(const.PARAM_CLIENT_ID) or False
        client_secret = params.get_param(const.PARAM_CLIENT_SECRET) or False
        for provider in self:
            provider.gocardless_oauth_client_id = client_id
            provider.gocardless_oauth_client_secret = client_secret

    def _compute_gocardless_has_partner_app(self):
        params = self.env["ir.config_parameter"].sudo()
        has_app = bool(
            params.get_param(const.PARAM_CLIENT_ID) and params.get_param(const.PARAM_CLIENT_SECRET)
        )
        for provider in self:
            provider.gocardless_has_partner_app = has_app

    @api.depends("code", "state", "gocardless_api_url")
    @api.depends_context("uid")
    def _compute_gocardless_dashboard_urls(self):
        for provider in self:
            if provider.code != const.PROVIDER_CODE:
                provider.gocardless_token_help_url = provider.gocardless_webhook_help_url = False
                continue
            api_url = provider.sudo().gocardless_api_url
            if api_url:  # another GoCardless API, such as the local sandbox: its dashboard
                dashboard = f"{api_url.rstrip('/')}/sandbox/dashboard"
                provider.gocardless_token_help_url = dashboard
                provider.gocardless_webhook_help_url = dashboard
                continue
            dashboard = (
                "https://manage.gocardless.com"
                if provider.state == "enabled"
                else "https://manage-sandbox.gocardless.com"
            )
            provider.gocardless_token_help_url = f"{dashboard}/developers/access-tokens/create"
            provider.gocardless_webhook_help_url = (
                f"{dashboard}/developers/webhook-endpoints/create"
            )

    def _inverse_gocardless_oauth_client_id(self):
        self._gocardless_check_system_user()
        for provider in self:
            self.env["ir.config_parameter"].sudo().set_param(
                const.PARAM_CLIENT_ID, (provider.gocardless_oauth_client_id or "").strip()
            )

    def _inverse_gocardless_oauth_client_secret(self):
        self._gocardless_check_system_user()
        for provider in self:
            self.env["ir.config_parameter"].sudo().set_param(
                const.PARAM_CLIENT_SECRET, (provider.gocardless_oauth_client_secret or "").strip()
            )

    @api.depends("code", "company_id")
    def _compute_gocardless_webhook_url(self):
        for provider in self:
            provider.gocardless_webhook_url = (
                f"{provider.get_base_url().rstrip('/')}{GoCardlessController._webhook_url}"
                if provider.code == const.PROVIDER_CODE
                else False
            )

    def _compute_gocardless_health(self):
        health_fields = {
            "gocardless_last_webhook_at": False,
            "gocardless_events_processed_count": 0,
            "gocardless_events_duplicate_count": 0,
            "gocardless_events_failed_count": 0,
            "gocardless_signatures_rejected_count": 0,
            "gocardless_events_waiting_count": 0,
        }
        self.update(health_fields)
        providers = self.filtered(lambda p: p.code == const.PROVIDER_CODE and p.id)
        if not providers:
            return
        since = fields.Datetime.now() - timedelta(days=7)
        Event = self.env["gocardless.event"].sudo()
        outcomes = {
            (provider.id, state): count
            for provider, state, count in Event._read_group(
                [
                    ("provider_id", "in", providers.ids),
                    "|",
                    ("state", "=", "received"),
                    "&",
                    ("state", "in", ("processed", "ignored", "failed")),
                    ("processed_date", ">=", since),
                ],
                ["provider_id", "state"],
                ["__count"],
            )
        }
        totals, rejected = self.env["gocardless.webhook.stat"].sudo()._gocardless_totals(providers)
        for provider in providers:
            total = totals.get(provider.id, {})
            provider.update(
                {
                    "gocardless_last_webhook_at": total.get("last_received_at") or False,
                    "gocardless_events_processed_count": outcomes.get((provider.id, "processed"), 0)
                    + outcomes.get((provider.id, "ignored"), 0),
                    "gocardless_events_duplicate_count": total.get("duplicates", 0),
                    "gocardless_events_failed_count": outcomes.get((provider.id, "failed"), 0),
                    "gocardless_signatures_rejected_count": rejected,
                    "gocardless_events_waiting_count": outcomes.get((provider.id, "received"), 0),
                }
            )

    # === CONSTRAINT METHODS === #

    @api.constrains("gocardless_organisation_id")
    def _check_gocardless_organisation_id(self):
        for provider in self.sudo().filtered("gocardless_organisation_id"):
            other = provider.search(
                [
                    ("id", "!=", provider.id),
                    ("code", "=", const.PROVIDER_CODE),
                    ("gocardless_organisation_id", "=", provider.gocardless_organisation_id),
                ],
                limit=1,
            )
            if other:
                raise ValidationError(
                    self.env._(
                        "GoCardless: this GoCardless account is already connected to the "
                        "provider %(provider)s of %(company)s.",
                        provider=other.name,
                        company=other.company_id.name,
                    )
                )

    # === CRUD METHODS === #

    def write(self, vals):
        """Forget the connected account's details when an access token is pasted by hand.

        A message about an earlier connection attempt is outdated then too. Disabling the
        provider keeps its saved mandates (see `_archive_linked_tokens`).
        """
        if "gocardless_access_token" in vals and not self.env.context.get("gocardless_connecting"):
            vals = {
                "gocardless_organisation_id": False,
                "gocardless_creditor_name": False,
                "gocardless_creditor_identifiers": False,
                "gocardless_schemes": False,
                "gocardless_connect_message": False,
                **vals,
            }
        providers = self
        if vals.get("state") == "disabled":
            providers = self.with_context(gocardless_keep_tokens=True)
        return super(PaymentProvider, providers).write(vals)

    # === ACTION METHODS - CONNECTION === #

    def action_gocardless_connect(self):
        """Send the administrator to GoCardless to connect an existing account."""
        return self._gocardless_start_connect(signup=False)

    def action_gocardless_signup(self):
        """Send the administrator to GoCardless to create an account, prefilled."""
        return self._gocardless_start_connect(signup=True)

    def action_gocardless_disconnect(self):
        """Forget the access token and the connected account; the provider is disabled."""
        self.ensure_one()
        self._gocardless_check_system_user()
        provider = self.sudo()
        if provider.gocardless_organisation_id and provider.gocardless_access_token:
            self._gocardless_revoke_token()
        values = {
            "gocardless_access_token": False,
            "gocardless_connect_message": self.env._("Disconnected from GoCardless."),
            "gocardless_connect_message_type": "success",
            # Odoo unpublishes a provider switched back to test mode: connecting again
            # publishes it again if it was.
            "gocardless_publish_on_reconnect": provider.is_published,
        }
        if provider.state != "disabled":
            # A provider in test or enabled state needs a token (`required_if_provider`).
            values["state"] = "disabled"
        provider.write(values)
        return True

    def action_gocardless_test_connection(self):
        """Read the connected account from GoCardless and tell whether it worked."""
        self.ensure_one()
        self._gocardless_check_system_user()
        try:
            creditor = self._gocardless_refresh_creditor()
        except utils.GoCardlessRequestError as error:
            message = self.env._(
                "GoCardless refused the connection: %(error)s",
                error=error.api_error.description,
            )
            self._gocardless_set_connect_message(message)
            return self._gocardless_notification(message, "danger")
        except ValidationError as error:
            self._gocardless_set_connect_message(error.args[0])
            return self._gocardless_notification(error.args[0], "danger")
        # The banner tells the current state: an earlier failure is over.
        message = self._gocardless_connected_message(creditor.get("name") or creditor.get("id"))
        self._gocardless_set_connect_message(message, "success")
        return self._gocardless_notification(message, "success")

    def action_gocardless_sync_events(self):
        """Import the events GoCardless has and the ledger lacks (missed webhooks) now."""
        self.ensure_one()
        self._gocardless_check_system_user()
        try:
            result = self.env["gocardless.event"]._gocardless_catch_up(
                self, deadline=time.monotonic() + const.CATCH_UP_TIME_BUDGET
            )
        except utils.GoCardlessRequestError as error:
            return self._gocardless_notification(
                self.env._(
                    "The events could not be read from GoCardless: %(error)s",
                    error=error.api_error.description,
                ),
                "danger",
            )
        except ValidationError as error:
            return self._gocardless_notification(error.args[0], "danger")
        return self._gocardless_notification(
            self.env._("%(count)s missed event(s) imported from GoCardless.", count=result.new),
            "success",
        )

    # === BUSINESS METHODS - CONNECTION === #

    def _gocardless_check_system_user(self):
        """Raise unless the current user is a system administrator of the providers' company."""
        if not self.env.su and not self.env.user._is_system():
            raise AccessError(
                self.env._(
                    "GoCardless: only system administrators can manage the GoCardless connection."
                )
            )
        utils.check_merchant_rights(self)

    def _gocardless_get_oauth_app(self):
        """Return the partner app's client id and secret.

        :rtype: tuple[str, str]
        :raise UserError: If they are not set.
        """
        params = self.env["ir.config_parameter"].sudo()
        client_id = params.get_param(const.PARAM_CLIENT_ID)
        client_secret = params.get_param(const.PARAM_CLIENT_SECRET)
        if not client_id or not client_secret:
            raise UserError(
                self.env._(
                    "GoCardless: set the client id and secret of your GoCardless partner app "
                    "first (Partner App section, system administrators)."
                )
            )
        return client_id, client_secret

    def _gocardless_get_connect_url(self):
        """Return the GoCardless connect host of this provider (its state decides).

        Note: self.ensure_one()
        """
        self.ensure_one()
        return oauth.connect_url(self.state, self.sudo().gocardless_api_url)

    def _gocardless_get_form_url(self):
        """Return the back-office URL of this provider's form."""
        self.ensure_one()
        return f"/odoo/action-payment.action_payment_provider/{self.id}"

    def _gocardless_start_connect(self, signup=False):
        """Record a connect request and return the action sending the browser to GoCardless.

        :param bool signup: Open GoCardless's sign-up view, prefilled with the company.
        :rtype: dict
        """
        self.ensure_one()
        self._gocardless_check_system_user()
        if self.code != const.PROVIDER_CODE:
            raise UserError(self.env._("GoCardless: this is not a GoCardless provider."))
        client_id, _secret = self._gocardless_get_oauth_app()
        connect_url = self._gocardless_get_connect_url()
        redirect_uri = (
            f"{self.get_base_url().rstrip('/')}{GoCardlessOAuthController._oauth_callback_url}"
        )
        state = self.env["gocardless.oauth.state"]._gocardless_issue(
            self, connect_url, redirect_uri
        )
        prefill = None
        if signup:
            company = self.company_id
            prefill = {
                "email": company.email,
                "organisation_name": company.name,
                "country_code": company.country_id.code,
            }
        self.sudo().write({"gocardless_connect_message": False})
        return {
            "type": "ir.actions.act_url",
            "url": oauth.authorize_url(
                connect_url, client_id, redirect_uri, state, signup=signup, prefill=prefill
            ),
            "target": "self",
        }

    def _gocardless_set_connect_message(self, message, message_type="danger"):
        self.sudo().write(
            {"gocardless_connect_message": message, "gocardless_connect_message_type": message_type}
        )

    def _gocardless_oauth_denied(self, error, description=None):
        """Tell on the provider form that GoCardless did not connect the account."""
        self.ensure_one()
        if error == "access_denied":
            message = self.env._(
                "GoCardless: the connection was refused on GoCardless's page; nothing was changed."
            )
        else:
            message = self.env._(
                "GoCardless: the connection failed (%(error)s); nothing was changed.",
                error=" ".join(filter(None, (str(error), description))),
            )
        self._gocardless_set_connect_message(message)

    def _gocardless_oauth_complete(self, code, connect_url, redirect_uri):
        """Exchange the authorisation code and connect the account it grants access to.

        Note: self.ensure_one()

        :param str code: The code GoCardless sent back.
        :param str connect_url: The connect host the request was sent to.
        :param str redirect_uri: The redirect URI of the request.
        :return: Whether the account is connected.
        :rtype: bool
        """
        self.ensure_one()
        provider = self.sudo()
        try:
            client_id, client_secret = provider._gocardless_get_oauth_app()
            answer = oauth.exchange_code(connect_url, client_id, client_secret, code, redirect_uri)
        except UserError as error:
            provider._gocardless_set_connect_message(error.args[0])
            return False
        except oauth.OAuthError as error:
            _logger.warning(
                "gocardless: code exchange failed for provider %s: %s", provider.id, error
            )
            provider._gocardless_set_connect_message(
                self.env._(
                    "GoCardless: the connection could not be completed (%(error)s); nothing was "
                    "changed.",
                    error=error.description or error.code,
                )
            )
            return False
        values = {
            "gocardless_access_token": answer["access_token"],
            "gocardless_organisation_id": answer["organisation_id"],
            "gocardless_creditor_name": False,
            "gocardless_creditor_identifiers": False,
            "gocardless_schemes": False,
            # An account connected again catches up from the newest event seen before (the
            # events of the time it was disconnected are recovered); a first connection starts
            # now: the account's old events are not imported (another account: see
            # `_gocardless_refresh_creditor`).
            "gocardless_events_synced_at": provider.gocardless_events_synced_at
            or fields.Datetime.now(),
        }
        if provider.state == "disabled":
            # The sandbox connect host was used: the token is a sandbox one.
            values["state"] = "test"
        try:
            with self.env.cr.savepoint():
                provider.with_context(gocardless_connecting=True).write(values)
        except ValidationError as error:
            provider._gocardless_set_connect_message(error.args[0])
            return False
        _logger.info(
            "gocardless: provider %s connected to organisation %s",
            provider.id,
            answer["organisation_id"],
        )
        try:
            creditor = provider._gocardless_refresh_creditor()
        except utils.GoCardlessRequestError as error:
            provider._gocardless_set_connect_message(
                self.env._(
                    "Connected to GoCardless, but the account could not be read: %(error)s",
                    error=error.api_error.description,
                )
            )
            return True
        provider._gocardless_set_connect_message(
            provider._gocardless_connected_message(
                creditor.get("name") or answer["organisation_id"]
            ),
            "success",
        )
        return True

    def _gocardless_connected_message(self, creditor):
        """Publish the provider again if it was published when disconnected; say what customers
        see of it.

        Note: self.ensure_one()

        :param str creditor: The connected account's name.
        :return: The message telling the merchant the account is connected, and whether
                 customers are offered direct debit (or why not).
        :rtype: str
        """
        self.ensure_one()
        provider = self.sudo()
        message = self.env._("Connected to GoCardless as %(creditor)s.", creditor=creditor)
        if provider.state == "disabled":
            return " ".join(
                (
                    message,
                    self.env._(
                        "The provider is disabled: customers are not offered direct debit "
                        "until it is in Test Mode or Enabled, and published."
                    ),
                )
            )
        if provider.is_published:
            provider.gocardless_publish_on_reconnect = False
            return message
        if provider.gocardless_publish_on_reconnect:
            provider.write({"is_published": True, "gocardless_publish_on_reconnect": False})
            return " ".join(
                (
                    message,
                    self.env._(
                        "The provider is published again: customers are offered direct debit."
                    ),
                )
            )
        return " ".join(
            (
                message,
                self.env._(
                    "The provider is not published: customers are not offered direct debit "
                    "until it is."
                ),
            )
        )

    def _gocardless_refresh_creditor(self):
        """Read the account's creditor; keep its name and schemes, and offer only those.

        The provider's payment methods become those of the schemes the creditor can collect
        with (a creditor without any known scheme leaves them as they are). The first account
        read is remembered; when a different account is connected later, the saved mandates of
        the previous one are archived (they can't be charged through the new account).

        Note: self.ensure_one()

        :return: The creditor, as GoCardless returns it.
        :rtype: dict
        :raise ValidationError: If the provider has no access token.
        """
        self.ensure_one()
        provider = self.sudo()
        page = provider._gocardless_make_request("creditors", "list", params={"limit": 1})
        creditor = next(iter(page.get("creditors") or ()), None) or {}
        schemes = sorted(
            {
                identifier.get("scheme")
                for identifier in creditor.get("scheme_identifiers") or ()
                if isinstance(identifier, dict) and identifier.get("scheme")
            }
        )
        identifiers = sorted(
            {
                f"{identifier['scheme']}: {identifier['reference']}"
                for identifier in creditor.get("scheme_identifiers") or ()
                if isinstance(identifier, dict)
                and isinstance(identifier.get("scheme"), str)
                and isinstance(identifier.get("reference"), str)
                and identifier["reference"]
            }
        )
        values = {
            "gocardless_creditor_name": creditor.get("name") or False,
            "gocardless_schemes": ", ".join(schemes) or False,
            "gocardless_creditor_identifiers": "; ".join(identifiers) or False,
        }
        collectable = gc_schemes.collectable_schemes(schemes)
        if collectable:
            methods = (
                self.env["payment.method"]
                .with_context(active_test=False)
                .search([("code", "in", [gc_schemes.payment_method_code(s) for s in collectable])])
            )
            values["payment_method_ids"] = [Command.set(methods.ids)]
            # Only the currencies the account collects in, not all of GoCardless's.
            currencies = (
                self.env["res.currency"]
                .with_context(active_test=False)
                .search([("name", "in", [gc_schemes.SCHEMES[s].currency for s in collectable])])
            )
            values["available_currency_ids"] = [Command.set(currencies.ids)]
        account = creditor.get("id")
        if account:
            if provider.gocardless_account_id and provider.gocardless_account_id != account:
                provider._gocardless_archive_mandates()
                # The previous account's events are not this one's: its catch-up starts now.
                values["gocardless_events_synced_at"] = fields.Datetime.now()
            values["gocardless_account_id"] = account
        provider.with_context(gocardless_connecting=True).write(values)
        return creditor

    @api.model
    def _gocardless_scheme_labels(self):
        """Return the name of each GoCardless scheme, in the language of the context.

        :return: The names by scheme code (``sepa_core``...).
        :rtype: dict
        """
        return {
            "sepa_core": self.env._("SEPA Direct Debit"),
            "bacs": self.env._("Bacs Direct Debit"),
            "ach": self.env._("ACH Debit"),
            "becs": self.env._("BECS Direct Debit"),
            "becs_nz": self.env._("BECS NZ Direct Debit"),
            "pad": self.env._("Pre-Authorized Debit"),
            "autogiro": self.env._("Autogiro"),
            "betalingsservice": self.env._("Betalingsservice"),
        }

    def _gocardless_archive_mandates(self):
        """Archive the saved mandates (tokens) of the provider: another account is connected."""
        self.ensure_one()
        tokens = self.env["payment.token"].sudo().search([("provider_id", "=", self.id)])
        if tokens:
            _logger.info(
                "gocardless: provider %s connected to another account; %s saved mandate(s) "
                "archived",
                self.id,
                len(tokens),
            )
            tokens.write({"active": False})

    def _archive_linked_tokens(self):
        """Override of `payment`: disabling a GoCardless provider keeps its saved mandates.

        They are mandates of the GoCardless account, not of the connection: when the same
        account is connected again they work again; connecting another account archives them
        (see `_gocardless_refresh_creditor`). A disabled provider offers none meanwhile.
        Switching between test and live still archives them (two different accounts).
        """
        providers = self
        if self.env.context.get("gocardless_keep_tokens"):
            providers = self.filtered(lambda p: p.code != const.PROVIDER_CODE)
        return super(PaymentProvider, providers)._archive_linked_tokens()

    def _gocardless_ensure_creditor_identifiers(self):
        """Read the creditor once if its identifiers are not known yet (pre-notifications).

        A failure is only logged: the debit is made, the identifier is read another time.
        """
        self.ensure_one()
        provider = self.sudo()
        if provider.code != const.PROVIDER_CODE or provider.gocardless_creditor_identifiers:
            return
        try:
            provider._gocardless_refresh_creditor()
        except ValidationError as error:
            _logger.info("gocardless: creditor of %s not read: %s", provider.name, error)

    def _gocardless_creditor_identifier(self, payment_method):
        """Return the creditor identifier of the scheme of ``payment_method``, or "".

        :param payment.method payment_method: The mandate's payment method.
        :rtype: str
        """
        self.ensure_one()
        try:
            scheme = gc_schemes.scheme_from_payment_method_code(payment_method.code)
        except GoCardlessCoreError:
            return ""
        for item in (self.sudo().gocardless_creditor_identifiers or "").split("; "):
            name, _sep, reference = item.partition(": ")
            if name == scheme and reference:
                return reference
        return ""

    def _gocardless_revoke_token(self):
        """Revoke the OAuth access token at GoCardless, if possible; failures are only logged."""
        self.ensure_one()
        provider = self.sudo()
        params = self.env["ir.config_parameter"].sudo()
        client_id = params.get_param(const.PARAM_CLIENT_ID)
        client_secret = params.get_param(const.PARAM_CLIENT_SECRET)
        if not client_id or not client_secret:
            return
        try:
            oauth.revoke_token(
                provider._gocardless_get_connect_url(),
                client_id,
                client_secret,
                provider.gocardless_access_token,
            )
        except oauth.OAuthError as error:
            _logger.warning(
                "gocardless: could not revoke the token of provider %s: %s", provider.id, error
            )

    @api.model
    def _gocardless_notification(self, message, notification_type):
        """Return the client action showing ``message`` and reloading the form."""
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("GoCardless"),
                "message": message,
                "type": notification_type,
                "sticky": notification_type == "danger",
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }
