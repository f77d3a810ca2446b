# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The ledger's connected-account side: webhook routing by organisation, counters.

* A partner app's webhooks carry the events of every connected merchant, signed with one
  secret: each event goes to the provider whose ``gocardless_organisation_id`` is its
  ``links.organisation``, among the providers that secret verifies.
* Each webhook adds its own counter row (events, duplicates): nothing concurrent waits on it.
"""

import logging
from collections import defaultdict

from odoo import api, models

from .. import const

_logger = logging.getLogger(__name__)


class GoCardlessEvent(models.Model):
    _inherit = "gocardless.event"

    # === BUSINESS METHODS - RECEPTION === #

    @api.model
    def _gocardless_receive_webhook(self, body, signature):
        """Override to count the webhook and its duplicates (see `_gocardless_count`)."""
        counts = defaultdict(lambda: {"events": 0, "duplicates": 0})
        Stat = self.env["gocardless.webhook.stat"].sudo()
        new_ids = super(
            GoCardlessEvent, self.with_context(gocardless_webhook_counts=counts)
        )._gocardless_receive_webhook(body, signature)
        for provider_id, values in counts.items():
            Stat._gocardless_count(
                self.env["payment.provider"].sudo().browse(provider_id),
                webhooks=1,
                events=values["events"],
                duplicates=values["duplicates"],
            )
        return new_ids

    @api.model
    def _gocardless_record(self, provider, events, raw_events, webhook_id=None):
        """Override to route a webhook's events to the provider of their organisation.

        Only webhooks are routed (and counted); events imported from a provider's own account
        are recorded for that provider.
        """
        counts = self.env.context.get("gocardless_webhook_counts")
        if counts is None:
            return super()._gocardless_record(provider, events, raw_events, webhook_id)
        new_ids = set()
        for target, pairs in self._gocardless_route(provider, events, raw_events):
            target_events = [event for event, _raw in pairs]
            target_new = super()._gocardless_record(
                target, target_events, [raw for _event, raw in pairs], webhook_id
            )
            counts[target.id]["events"] += len(target_events)
            counts[target.id]["duplicates"] += len(target_events) - len(target_new)
            new_ids |= target_new
        return new_ids

    @api.model
    def _gocardless_route(self, provider, events, raw_events):
        """Split a verified webhook's events by the provider they belong to.

        The candidates are the providers sharing the secret that verified the webhook (those of
        a partner app share the app's secret). An event goes to the candidate connected to its
        ``links.organisation``; else to a candidate connected by a pasted token (no organisation
        known); an event of an organisation connected to none of them is left out.

        :param recordset provider: The provider whose secret verified the webhook.
        :return: ``[(provider, [(event, raw event), ...]), ...]``
        :rtype: list
        """
        candidates = provider
        if provider.gocardless_webhook_secret:
            candidates |= (
                self.env["payment.provider"]
                .sudo()
                .search(
                    [
                        ("code", "=", const.PROVIDER_CODE),
                        ("state", "!=", "disabled"),
                        ("gocardless_webhook_secret", "=", provider.gocardless_webhook_secret),
                    ]
                )
            )
        by_organisation = {}
        for candidate in candidates:
            if candidate.gocardless_organisation_id:
                by_organisation.setdefault(candidate.gocardless_organisation_id, candidate)
        unbound = candidates.filtered(lambda p: not p.gocardless_organisation_id)[:1]
        groups = {}
        for event, raw in zip(events, raw_events, strict=True):
            organisation = event.organisation
            target = by_organisation.get(organisation) if organisation else None
            if not target:
                target = unbound or (provider if not organisation else None)
            if not target:
                _logger.info(
                    "gocardless: event %s of organisation %s left out: no provider verifying "
                    "the webhook is connected to it",
                    event.id,
                    organisation,
                )
                continue
            groups.setdefault(target, []).append((event, raw))
        return list(groups.items())
