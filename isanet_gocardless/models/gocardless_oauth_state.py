# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The pending OAuth connect requests: one unguessable, single-use ``state`` each.

Only the SHA-256 of the ``state`` is stored, so reading the table does not let anyone finish
somebody else's connection. A request is bound to the provider, its company and the user who
started it, expires after :data:`STATE_LIFETIME`, and is deleted when the callback uses it.
"""

import secrets
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from ..gocardless_core import oauth

STATE_LIFETIME = timedelta(minutes=30)


class GoCardlessOAuthState(models.Model):
    _name = "gocardless.oauth.state"
    _description = "GoCardless Connect Request"
    _order = "id desc"

    state_hash = fields.Char(required=True, readonly=True, index=True)
    provider_id = fields.Many2one(
        comodel_name="payment.provider", required=True, readonly=True, ondelete="cascade"
    )
    company_id = fields.Many2one(
        comodel_name="res.company", required=True, readonly=True, ondelete="cascade"
    )
    user_id = fields.Many2one(
        comodel_name="res.users", required=True, readonly=True, ondelete="cascade"
    )
    connect_url = fields.Char(
        string="Connect URL", required=True, readonly=True, help="GoCardless's connect host."
    )
    redirect_uri = fields.Char(string="Redirect URI", required=True, readonly=True)
    expires_at = fields.Datetime(required=True, readonly=True)

    _sql_constraints = [
        ("state_hash_uniq", "UNIQUE(state_hash)", "A connect request state is unique."),
    ]

    @api.model
    def _gocardless_issue(self, provider, connect_url, redirect_uri):
        """Record a new connect request for ``provider`` by the current user.

        :return: The clear ``state`` to send to GoCardless (never stored).
        :rtype: str
        """
        state = secrets.token_urlsafe(32)
        self.sudo().create(
            {
                "state_hash": oauth.hash_state(state),
                "provider_id": provider.id,
                "company_id": provider.company_id.id,
                "user_id": self.env.uid,
                "connect_url": connect_url,
                "redirect_uri": redirect_uri,
                "expires_at": fields.Datetime.now() + STATE_LIFETIME,
            }
        )
        return state

    @api.model
    def _gocardless_consume(self, state):
        """Use up the connect request of ``state`` and return it.

        The request is deleted whether it is valid or expired, so that a ``state`` works once.

        :param str state: The ``state`` GoCardless sent back.
        :return: The values of the request: ``provider`` (sudo), ``connect_url`` and
                 ``redirect_uri``.
        :rtype: dict
        :raise UserError: If the state is unknown (forged or already used), expired, or was
                          issued to another user or for a provider of another company.
        """
        invalid = UserError(
            self.env._(
                "GoCardless: this connection link is not valid or was already used. Start "
                "again from the payment provider."
            )
        )
        if not state or not isinstance(state, str) or len(state) > 200:
            raise invalid
        self.env.cr.execute(
            SQL(
                "DELETE FROM gocardless_oauth_state WHERE state_hash = %s RETURNING id,"
                " provider_id, company_id, user_id, connect_url, redirect_uri, expires_at",
                oauth.hash_state(state),
            )
        )
        row = self.env.cr.dictfetchone()
        self.invalidate_model()
        if not row:
            raise invalid
        if row["expires_at"] < fields.Datetime.now():
            raise UserError(
                self.env._(
                    "GoCardless: this connection link has expired. Start again from the payment "
                    "provider."
                )
            )
        provider = self.env["payment.provider"].sudo().browse(row["provider_id"]).exists()
        if (
            row["user_id"] != self.env.uid
            or not provider
            or provider.company_id.id != row["company_id"]
            or provider.company_id not in self.env.user.company_ids
        ):
            raise invalid
        return {
            "provider": provider,
            "connect_url": row["connect_url"],
            "redirect_uri": row["redirect_uri"],
        }

    @api.autovacuum
    def _gc_expired_states(self):
        """Delete the connect requests that expired unused."""
        self.sudo().search([("expires_at", "<", fields.Datetime.now())]).unlink()
