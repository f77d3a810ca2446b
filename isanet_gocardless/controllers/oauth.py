# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
import logging

from markupsafe import Markup, escape
from werkzeug.exceptions import Forbidden

from odoo import http
from odoo.exceptions import UserError
from odoo.http import request

_logger = logging.getLogger(__name__)


class GoCardlessOAuthController(http.Controller):
    _oauth_callback_url = "/payment/gocardless/oauth/callback"

    @http.route(_oauth_callback_url, type="http", auth="user", methods=["GET"])
    def gocardless_oauth_callback(self, state=None, code=None, error=None, **data):
        """Finish connecting a GoCardless account: check ``state``, exchange ``code``.

        GoCardless sends the administrator back here from its connect pages, with ``code`` and
        ``state``, or ``error`` (``access_denied`` when the merchant refused). The ``state``
        must be one this user was given for a provider of an allowed company, less than 30
        minutes ago and not used yet. The outcome is shown on the provider form.

        :param str state: The anti-forgery token issued when the connection started.
        :param str code: The authorisation code, exchanged for the access token.
        :param str error: GoCardless's error code.
        :param dict data: Other parameters (``error_description``...).
        :return: A redirection to the provider form, or a 400 page for an invalid ``state``.
        """
        if not request.env.user._is_system():
            raise Forbidden()
        try:
            connect_request = request.env["gocardless.oauth.state"]._gocardless_consume(state)
        except UserError as invalid:
            _logger.info("gocardless: connection callback refused: %s", invalid.args[0])
            return self._gocardless_error_page(invalid.args[0])
        provider = connect_request["provider"]
        if error or not code:
            provider._gocardless_oauth_denied(
                error or "no_code", str(data.get("error_description") or "") or None
            )
        else:
            provider._gocardless_oauth_complete(
                code, connect_request["connect_url"], connect_request["redirect_uri"]
            )
        return request.redirect(provider._gocardless_get_form_url())

    @staticmethod
    def _gocardless_error_page(message):
        """Return a plain 400 page explaining ``message``, with a way back."""
        body = Markup(
            "<!DOCTYPE html><html><head><meta charset='utf-8'/><title>%s</title></head>"
            "<body><p id='gocardless-error'>%s</p><p><a href='%s'>%s</a></p></body></html>"
        ) % (
            request.env._("GoCardless"),
            escape(message),
            "/odoo/action-payment.action_payment_provider",
            request.env._("Back to the payment providers"),
        )
        return request.make_response(
            str(body), headers=[("Content-Type", "text/html; charset=utf-8")], status=400
        )
