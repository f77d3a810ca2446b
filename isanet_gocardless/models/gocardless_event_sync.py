# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The ledger's connected-account side: webhook routing by organisation, counters, catch-up.

* A partner app's webhooks carry the events of every connected merchant, signed with one
  secret: each event goes to the provider whose ``gocardless_organisation_id`` is its
  ``links.organisation``, among the providers that secret verifies.
* Each webhook adds its own counter row (events, duplicates): nothing concurrent waits on it.
* :meth:`_gocardless_import_events` feeds events read from GoCardless's ``/events`` into the
  same ledger, so a missed webhook is recovered once, whatever arrives first.
"""

import logging
from collections import defaultdict

from odoo import api, models

from .. import const
from ..gocardless_core import errors as core_errors
from ..gocardless_core import events as gc_events
from ..gocardless_core import webhooks

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

    # === BUSINESS METHODS - CATCH-UP === #

    @api.model
    def _gocardless_import_events(self, provider, raw_events, deadline=None):
        """Record events read from ``provider``'s account and apply those due.

        Events already in the ledger (delivered by a webhook, even one arriving meanwhile) are
        not recorded twice; those of them still waiting or failed are applied again now.

        :param recordset provider: The `payment.provider` whose account the events come from.
        :param list raw_events: Event dicts as ``GET /events`` returns them.
        :param float deadline: A `time.monotonic()` value after which the rest is left to the
                               processing cron.
        :return: The number of events new to the ledger, and whether GoCardless was unavailable
                 while applying them.
        :rtype: tuple[int, bool]
        """
        pairs = []
        for raw in raw_events:
            try:
                event = gc_events.Event.from_dict(raw)
                webhooks.check_event(event)
            except core_errors.MalformedPayload:
                _logger.warning("gocardless: skipped a malformed event of provider %s", provider.id)
                continue
            pairs.append((event, raw))
        pairs.sort(key=lambda pair: (pair[0].created_at or "", pair[0].id))
        if not pairs:
            return 0, False
        new_ids = self._gocardless_record(
            provider, [event for event, _raw in pairs], [raw for _event, raw in pairs]
        )
        again = self.sudo().search(
            [
                ("event_id", "in", [event.id for event, _raw in pairs]),
                ("event_id", "not in", list(new_ids)),
                ("state", "in", ("received", "failed")),
            ]
        )
        if again:
            again.write({"state": "received", "next_attempt_at": False})
        ids = self.sudo().search([("event_id", "in", [event.id for event, _raw in pairs])]).ids
        _done, outage = self._gocardless_process_due(
            limit=len(ids), deadline=deadline, event_ids=ids
        )
        return len(new_ids), outage
