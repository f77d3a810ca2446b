# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Webhook counters per provider, for the provider's health panel.

Insert-only: each webhook adds its own row (``provider_id`` empty for webhooks no provider's
secret verifies), so concurrent webhooks never wait for one another on a counter row; the
panel sums the rows of the last days.
"""

from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL

# Days of counters kept.
RETENTION_DAYS = 90


class GoCardlessWebhookStat(models.Model):
    _name = "gocardless.webhook.stat"
    _description = "GoCardless Webhook Counters"
    _order = "date desc, id desc"
    _log_access = False

    date = fields.Date(required=True, readonly=True)
    provider_id = fields.Many2one(
        comodel_name="payment.provider", readonly=True, ondelete="cascade", index=True
    )
    company_id = fields.Many2one(comodel_name="res.company", readonly=True)
    webhook_count = fields.Integer(string="Webhooks", readonly=True)
    event_count = fields.Integer(string="Events", readonly=True)
    duplicate_count = fields.Integer(
        string="Duplicate Events", readonly=True, help="Events already in the ledger."
    )
    rejected_count = fields.Integer(string="Rejected Signatures", readonly=True)
    last_received_at = fields.Datetime(string="Last Webhook", readonly=True)

    def init(self):
        # Counters used to be one row per provider and day, updated in place: concurrent
        # webhooks queued on that row. Rows are insert-only now.
        self.env.cr.execute("DROP INDEX IF EXISTS gocardless_webhook_stat_provider_date_uniq")

    @api.model
    def _gocardless_count(self, provider=None, webhooks=0, events=0, duplicates=0, rejected=0):
        """Record one webhook's counts for ``provider`` (none: a webhook of no known provider)."""
        now = fields.Datetime.now()
        self.env.cr.execute(
            SQL(
                "INSERT INTO gocardless_webhook_stat (date, provider_id, company_id,"
                " webhook_count, event_count, duplicate_count, rejected_count, last_received_at)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                now.date(),
                provider.id if provider else None,
                provider.company_id.id if provider else None,
                webhooks,
                events,
                duplicates,
                rejected,
                now if webhooks else None,
            )
        )

    @api.model
    def _gocardless_totals(self, providers, days=7):
        """Return the counters of ``providers`` over the last ``days`` days.

        :return: ``{provider id: {"events", "duplicates", "last_received_at"}}`` and the
                 number of rejected signatures (of every provider: a rejected webhook names none).
        :rtype: tuple[dict, int]
        """
        since = fields.Date.today() - timedelta(days=days - 1)
        self.env.cr.execute(
            SQL(
                "SELECT provider_id, SUM(event_count), SUM(duplicate_count), SUM(rejected_count)"
                " FROM gocardless_webhook_stat WHERE date >= %s"
                " AND (provider_id IN %s OR provider_id IS NULL) GROUP BY provider_id",
                since,
                tuple(providers.ids) or (0,),
            )
        )
        totals, rejected = {}, 0
        for provider_id, events, duplicates, rejected_count in self.env.cr.fetchall():
            rejected += rejected_count or 0
            if provider_id:
                totals[provider_id] = {"events": events or 0, "duplicates": duplicates or 0}
        self.env.cr.execute(
            SQL(
                "SELECT provider_id, MAX(last_received_at) FROM gocardless_webhook_stat"
                " WHERE provider_id IN %s GROUP BY provider_id",
                tuple(providers.ids) or (0,),
            )
        )
        for provider_id, last in self.env.cr.fetchall():
            totals.setdefault(provider_id, {"events": 0, "duplicates": 0})["last_received_at"] = (
                last
            )
        return totals, rejected

    @api.autovacuum
    def _gc_old_counters(self):
        """Forget the counters older than the retention period."""
        limit = fields.Date.today() - timedelta(days=RETENTION_DAYS)
        self.sudo().search([("date", "<", limit)]).unlink()
