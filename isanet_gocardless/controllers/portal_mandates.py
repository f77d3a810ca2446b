import logging
import re

from odoo.exceptions import UserError
from odoo.http import request, route

from odoo.addons.portal.controllers import portal

from .. import const

_logger = logging.getLogger(__name__)

# A record id as a form posts it: ASCII digits only (`int()` reads other scripts' digits).
ID_PATTERN = re.compile(r"[0-9]{1,10}")


class GoCardlessMandatePortal(portal.CustomerPortal):
    """The customer's direct debit mandates in their portal: the list, and cancel one.

    Only the logged-in user's own mandates (those of their commercial entity) are listed or
    cancelled; the cancellation itself is `payment.token._gocardless_cancel_mandate`, as the
    merchant's button on the partner form.
    """

    _mandates_url = "/my/direct_debit_mandates"

    def _prepare_home_portal_values(self, counters):
        # EXTENDS portal: the counter of the "Direct debit mandates" entry.
        values = super()._prepare_home_portal_values(counters)
        if "gocardless_mandate_count" in counters:
            values["gocardless_mandate_count"] = len(
                self._gocardless_portal_mandates().filtered("active")
            )
        return values

    @staticmethod
    def _gocardless_portal_mandates():
        """Return the GoCardless tokens of the user's commercial entity, ended ones included.

        :return: The tokens, sudoed (portal users may not read tokens of their colleagues).
        :rtype: payment.token
        """
        partner = request.env.user.partner_id
        if request.env.user._is_public():
            return request.env["payment.token"].sudo().browse()
        return (
            request.env["payment.token"]
            .sudo()
            .with_context(active_test=False)
            .search(
                [
                    ("provider_id.code", "=", const.PROVIDER_CODE),
                    ("provider_ref", "!=", False),
                    ("partner_id", "child_of", partner.commercial_partner_id.id),
                ],
                order="active desc, id desc",
            )
        )

    @staticmethod
    def _gocardless_parse_id(value):
        """Return a posted record id as an int, or None when it is not one.

        :param value: What the form posted (text; anything else is refused).
        :rtype: int | None
        """
        if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
            return None
        number = int(value)
        return number if 0 < number <= const.MAX_ID else None

    def _gocardless_render_mandates(self, error=None, cancelled=None, status=200):
        """Render the mandates page, with an error or the mandate just cancelled.

        :param str error: A message for the customer, shown as an error.
        :param payment.token cancelled: The mandate just cancelled (its notice is shown).
        :param int status: The HTTP status of the answer.
        """
        mandates = self._gocardless_portal_mandates()
        scheduled = (
            request.env["payment.transaction"]
            .sudo()
            ._read_group(
                [("token_id", "in", mandates.ids), ("state", "in", const.MANDATE_SCHEDULED_STATES)],
                ["token_id"],
                ["__count"],
            )
        )
        values = self._prepare_portal_layout_values()
        values.update(
            {
                "page_name": "gocardless_mandates",
                "mandates": mandates,
                "scheduled_counts": {token.id: count for token, count in scheduled},
                "ended_statuses": const.MANDATE_ENDED_STATUSES,
                "error": error,
                "cancelled": cancelled,
            }
        )
        return request.render(
            "isanet_gocardless.portal_my_gocardless_mandates", values, status=status
        )

    @route(_mandates_url, type="http", auth="user", methods=["GET"], website=True)
    def portal_my_gocardless_mandates(self, cancelled=None, **kwargs):
        """List the customer's mandates; ``cancelled``: the id of the one just cancelled."""
        cancelled_id = self._gocardless_parse_id(cancelled)
        mandates = self._gocardless_portal_mandates()
        cancelled_token = mandates.filtered(lambda token: token.id == cancelled_id)
        return self._gocardless_render_mandates(cancelled=cancelled_token or None)

    @route(f"{_mandates_url}/cancel", type="http", auth="user", methods=["POST"], website=True)
    def portal_gocardless_cancel_mandate(self, mandate_id=None, **kwargs):
        """Cancel one of the customer's mandates, at GoCardless too (CSRF-checked POST)."""
        # One id, as text: a repeated field (a list) is refused, not read as its first value.
        posted = request.httprequest.form.getlist("mandate_id")
        token_id = self._gocardless_parse_id(mandate_id) if len(posted) == 1 else None
        if token_id is None:
            return self._gocardless_render_mandates(
                error=request.env._("This request is invalid: no mandate was cancelled."),
                status=400,
            )
        token = self._gocardless_portal_mandates().filtered(lambda t: t.id == token_id)
        if not token:
            return self._gocardless_render_mandates(
                error=request.env._("This mandate was not found among yours."), status=404
            )
        try:
            token._gocardless_cancel_mandate_by_customer()
        except UserError as error:
            _logger.warning(
                "gocardless: the customer's cancellation of mandate %s failed: %s",
                token.provider_ref,
                error.args[0],
            )
            return self._gocardless_render_mandates(
                error=request.env._(
                    "Your mandate could not be cancelled now, it is unchanged: %(reason)s "
                    "Please try again later.",
                    reason=error.args[0],
                ),
                status=502,
            )
        return request.redirect(f"{self._mandates_url}?cancelled={token.id}", code=303)
