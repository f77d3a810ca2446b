# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The ledger's input besides the webhook: the catch-up of missed events from GoCardless.

Each connected account's ``GET /events`` is read from a little before the newest event seen
(`gocardless_core.catchup`); the events are recorded in the same ledger as the webhook's
(`ON CONFLICT DO NOTHING`), so a missed webhook is recovered once, whatever arrives first,
and those due are applied. The hourly cron catches up each provider in a cursor of its own,
committed or rolled back on its own: one provider's trouble never stops the others, and the
ledger's commits never happen inside a savepoint of the cron.
"""

import logging
import time
from collections import namedtuple

from odoo import SUPERUSER_ID, api, fields, models

from .. import const
from ..gocardless_core import catchup, webhooks
from ..gocardless_core import client as gc_client
from ..gocardless_core import errors as core_errors
from ..gocardless_core import events as gc_events

_logger = logging.getLogger(__name__)

# What one catch-up did: events read from GoCardless, new to the ledger, and whether applying
# them met a temporary error (they wait in the ledger then).
CatchUp = namedtuple("CatchUp", "read new transient")


class GoCardlessEvent(models.Model):
    _inherit = "gocardless.event"  # pylint: disable=consider-merging-classes-inherited

    # === BUSINESS METHODS === #

    @api.model
    def _gocardless_catch_up(self, provider, deadline=None):
        """Read ``provider``'s events since the newest one seen and feed them to the ledger.

        :param recordset provider: The `payment.provider` to catch up, with an access token.
        :param float deadline: A `time.monotonic()` value after which the events are left to
                               the ledger's cron.
        :return: What was read, recorded and whether a temporary error stopped the applying.
        :rtype: CatchUp
        :raise ValidationError: If GoCardless could not be read (`utils.GoCardlessRequestError`)
                                or the provider has no access token.
        """
        provider.ensure_one()
        provider = provider.sudo()
        params = catchup.first_params(provider.gocardless_events_synced_at, fields.Datetime.now())
        raw_events = []
        complete = False
        for _page in range(catchup.MAX_PAGES):
            page = provider._gocardless_make_request("events", "list", params=params)
            raw_events.extend(page.get("events") or ())
            params = catchup.next_params(params, page)
            if params is None:
                complete = True
                break
        new_count, transient = self.with_user(SUPERUSER_ID)._gocardless_import_events(
            provider, raw_events, deadline=deadline
        )
        if not complete:
            # Events are listed newest first: older ones were not reached, read them next time.
            _logger.warning(
                "gocardless: more than %s events to catch up for provider %s; the rest next time",
                catchup.MAX_PAGES * gc_client.MAX_PAGE_SIZE,
                provider.id,
            )
        else:
            newest = catchup.newest(raw_events, provider.gocardless_events_synced_at)
            if newest:
                provider.with_context(gocardless_connecting=True).write(
                    {"gocardless_events_synced_at": newest}
                )
        _logger.info(
            "gocardless: %s event(s) read from provider %s's account, %s new",
            len(raw_events),
            provider.id,
            new_count,
        )
        return CatchUp(len(raw_events), new_count, transient)

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

    @api.model
    def _cron_gocardless_catch_up(self):
        """Catch up on missed webhooks for every connected GoCardless provider, each on its own.

        Each provider is caught up in a cursor of its own, committed when it is done (the
        ledger commits its batches in it too) and rolled back on any trouble, which is logged:
        the other providers are caught up all the same.
        """
        providers = (
            self.env["payment.provider"]
            .sudo()
            .search([("code", "=", const.PROVIDER_CODE), ("state", "!=", "disabled")])
            .filtered("gocardless_access_token")
        )
        for provider_id in providers.ids:
            try:
                with self.env.registry.cursor() as cr:
                    env = self.env(cr=cr)
                    env["gocardless.event"].with_context(
                        gocardless_request_profile="background"
                    )._gocardless_catch_up(
                        env["payment.provider"].browse(provider_id),
                        deadline=time.monotonic() + const.CATCH_UP_TIME_BUDGET,
                    )
            except Exception as error:  # noqa: BLE001 - one provider never stops the others
                _logger.warning(
                    "gocardless: the missed events of provider %s could not be caught up: %s",
                    provider_id,
                    error.args[0] if error.args else repr(error),
                )
