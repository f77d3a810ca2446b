# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The ledger of GoCardless webhook events: each event is recorded once and applied once.

A webhook is verified, its events inserted with ``ON CONFLICT (event_id) DO NOTHING`` and then
processed one by one, each in its own savepoint. Only events still ``received`` are processed,
under a row lock, so a duplicate delivery is acknowledged without being applied twice. An event
never decides by itself: it tells which resource changed, and the resource's current state is
read back from the GoCardless API, so the arrival order of events does not matter.
"""

import json
import logging
import time
from datetime import datetime, timezone

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from .. import const, utils
from ..gocardless_core import errors as core_errors
from ..gocardless_core import events as gc_events
from ..gocardless_core import webhooks

_logger = logging.getLogger(__name__)

# Seconds a webhook request may spend applying events before leaving the rest to the cron:
# GoCardless gives up after 10 seconds, and applying one confirmed payment (read back from
# GoCardless, account.payment posted and reconciled, merchant notified) takes a few hundred
# milliseconds (benchmarks/webhook_batch.py), so the answer stays far from the limit.
WEBHOOK_TIME_BUDGET = 2.0
# Events applied by one run of the cron before it reports its progress (and commits).
CRON_BATCH_SIZE = 100
# Seconds one run of the cron spends applying events: far below Odoo's time limit of a cron
# (120 s by default), even when the last event waits for a slow GoCardless.
CRON_TIME_BUDGET = 45.0
# Deliveries or runs after which an event that keeps failing transiently is marked failed.
MAX_TRANSIENT_ATTEMPTS = 20

# Who handles the events of each outcome: the model whose records the resource changes, and
# its method, called with (event, ledger row) and returning (state, message, transaction).
_PAYMENT_HANDLER = ("payment.transaction", "_gocardless_handle_payment_event")
_MANDATE_HANDLER = ("payment.token", "_gocardless_handle_mandate_event")
_BILLING_REQUEST_HANDLER = ("payment.transaction", "_gocardless_handle_billing_request_event")
_REFUND_HANDLER = ("payment.transaction", "_gocardless_handle_refund_event")
EVENT_HANDLERS = {
    gc_events.PAYMENT_PENDING: _PAYMENT_HANDLER,
    gc_events.PAYMENT_DONE: _PAYMENT_HANDLER,
    gc_events.PAYMENT_FAILED: _PAYMENT_HANDLER,
    gc_events.PAYMENT_CHARGED_BACK: _PAYMENT_HANDLER,
    gc_events.PAYMENT_CANCELLED: _PAYMENT_HANDLER,
    gc_events.PAYMENT_CHARGEBACK_CANCELLED: _PAYMENT_HANDLER,
    gc_events.MANDATE_PENDING: _MANDATE_HANDLER,
    gc_events.MANDATE_ACTIVE: _MANDATE_HANDLER,
    gc_events.MANDATE_ENDED: _MANDATE_HANDLER,
    gc_events.MANDATE_REPLACED: _MANDATE_HANDLER,
    gc_events.BILLING_REQUEST_FULFILLED: _BILLING_REQUEST_HANDLER,
    gc_events.BILLING_REQUEST_CANCELLED: _BILLING_REQUEST_HANDLER,
    gc_events.REFUND_DONE: _REFUND_HANDLER,
    gc_events.REFUND_FAILED: _REFUND_HANDLER,
}


def _parse_datetime(value):
    """Return GoCardless's ISO 8601 ``created_at`` as a naive UTC datetime, or ``None``."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


class GoCardlessEvent(models.Model):
    _name = "gocardless.event"
    _description = "GoCardless Event"
    _order = "created_at desc, id desc"
    _rec_name = "event_id"

    event_id = fields.Char(
        string="Event ID", required=True, readonly=True, index=True, help="GoCardless's EV... id."
    )
    provider_id = fields.Many2one(
        comodel_name="payment.provider",
        readonly=True,
        ondelete="set null",
        index=True,
    )
    company_id = fields.Many2one(comodel_name="res.company", readonly=True, index=True)
    resource_type = fields.Char(readonly=True)
    action = fields.Char(readonly=True)
    resource_id = fields.Char(string="Resource ID", readonly=True, index=True)
    created_at = fields.Datetime(
        string="Created on GoCardless", readonly=True, help="When GoCardless created the event."
    )
    webhook_id = fields.Char(string="Webhook ID", readonly=True)
    raw = fields.Text(string="Raw Event", readonly=True, help="The event as GoCardless sent it.")
    state = fields.Selection(
        selection=[
            ("received", "Received"),
            ("processed", "Processed"),
            ("ignored", "Ignored"),
            ("failed", "Failed"),
        ],
        default="received",
        required=True,
        readonly=True,
        index=True,
    )
    error_message = fields.Text(
        string="Message",
        readonly=True,
        help="Why the event was ignored or failed, or the last temporary error met.",
    )
    processed_date = fields.Datetime(readonly=True)
    attempt_count = fields.Integer(string="Attempts", readonly=True)
    transaction_id = fields.Many2one(
        comodel_name="payment.transaction", readonly=True, ondelete="set null"
    )

    _sql_constraints = [
        (
            "event_id_uniq",
            "UNIQUE(event_id)",
            "A GoCardless event is recorded only once.",
        ),
    ]

    # === BUSINESS METHODS - RECEPTION === #

    @api.model
    def _gocardless_verify_webhook(self, body, signature):
        """Find the GoCardless provider whose webhook secret signed ``body`` and parse it.

        Every provider in test or enabled state with a webhook secret is tried; the first one
        whose secret verifies the signature wins.

        :param bytes body: The raw request body.
        :param str signature: The ``Webhook-Signature`` header.
        :return: The provider, the events, the raw event dicts and the webhook id.
        :rtype: tuple
        :raise InvalidSignature: If no provider's secret verifies the signature.
        :raise MalformedPayload: If the body is correctly signed but is not valid events JSON.
        """
        providers = (
            self.env["payment.provider"]
            .sudo()
            .search(
                [
                    ("code", "=", const.PROVIDER_CODE),
                    ("state", "!=", "disabled"),
                    ("gocardless_webhook_secret", "!=", False),
                ]
            )
        )
        for provider in providers:
            try:
                events, webhook_id = webhooks.parse_with_meta(
                    body, provider.gocardless_webhook_secret, signature
                )
            except core_errors.InvalidSignature:
                continue
            # The body is signed, hence its JSON is GoCardless's own.
            raw_events = json.loads(body)["events"]
            for event in events:
                if not (event.id and event.resource_type and event.action):
                    raise core_errors.MalformedPayload(
                        "A webhook event lacks its id, resource type or action."
                    )
            return provider, events, raw_events, webhook_id
        raise core_errors.InvalidSignature("No GoCardless provider's secret verifies the webhook.")

    @api.model
    def _gocardless_record(self, provider, events, raw_events, webhook_id=None):
        """Insert the events in the ledger, skipping those already recorded.

        :param recordset provider: The `payment.provider` whose secret verified the webhook.
        :param list events: The parsed events (`gocardless_core.events.Event`).
        :param list raw_events: The event dicts as received, in the same order.
        :param str webhook_id: The webhook's ``meta.webhook_id``.
        :return: The ledger rows of these events that still have to be processed, locked.
        :rtype: recordset of `gocardless.event`
        """
        if not events:
            return self.browse()
        self.env.flush_all()
        now = fields.Datetime.now()
        rows = [
            SQL(
                "(%s, %s, %s, %s, %s, %s, %s, %s, %s, 'received', 0, %s, %s, %s, %s)",
                event.id,
                provider.id,
                provider.company_id.id,
                event.resource_type,
                event.action,
                event.resource_id,
                _parse_datetime(event.created_at),
                webhook_id,
                json.dumps(raw, indent=2, sort_keys=True),
                self.env.uid,
                now,
                self.env.uid,
                now,
            )
            for event, raw in zip(events, raw_events, strict=True)
        ]
        self.env.cr.execute(
            SQL(
                "INSERT INTO gocardless_event (event_id, provider_id, company_id, resource_type,"
                " action, resource_id, created_at, webhook_id, raw, state, attempt_count,"
                " create_uid, create_date, write_uid, write_date) VALUES %s"
                " ON CONFLICT (event_id) DO NOTHING",
                SQL(", ").join(rows),
            )
        )
        return self._gocardless_lock_pending([event.id for event in events])

    @api.model
    def _gocardless_lock_pending(self, event_ids):
        """Lock and return the rows of ``event_ids`` still waiting to be processed.

        Rows locked by a concurrent delivery of the same events are skipped: that delivery
        applies them.

        :param list event_ids: GoCardless event ids.
        :rtype: recordset of `gocardless.event`
        """
        self.env.cr.execute(
            SQL(
                "SELECT id FROM gocardless_event WHERE event_id IN %s AND state = 'received'"
                " ORDER BY created_at, id FOR UPDATE SKIP LOCKED",
                tuple(event_ids),
            )
        )
        ids = [row[0] for row in self.env.cr.fetchall()]
        self.invalidate_model()
        return self.browse(ids)

    @api.model
    def _gocardless_receive_webhook(self, body, signature):
        """Verify, record and apply a webhook; the entry point of the webhook controller.

        :param bytes body: The raw request body.
        :param str signature: The ``Webhook-Signature`` header.
        :return: Whether an event hit a temporary error and GoCardless should retry.
        :rtype: bool
        :raise InvalidSignature: See :meth:`_gocardless_verify_webhook`.
        :raise MalformedPayload: See :meth:`_gocardless_verify_webhook`.
        """
        provider, events, raw_events, webhook_id = self._gocardless_verify_webhook(body, signature)
        _logger.info(
            "gocardless: received webhook %s with %s event(s) for provider %s",
            webhook_id,
            len(events),
            provider.id,
        )
        pending = self._gocardless_record(provider, events, raw_events, webhook_id)
        # GoCardless waits for the answer: every read-back gets the webhook's short profile.
        return pending.with_context(gocardless_request_profile="webhook")._gocardless_process(
            deadline=time.monotonic() + WEBHOOK_TIME_BUDGET
        )

    # === BUSINESS METHODS - PROCESSING === #

    def _gocardless_process(self, deadline=None):
        """Apply the events, each in its own savepoint.

        An event whose application fails temporarily stays ``received`` (for the next delivery
        or the cron); any other failure marks it ``failed`` with the error. Events left when
        ``deadline`` is reached stay ``received`` and the cron is triggered for them.

        :param float deadline: A `time.monotonic()` value after which processing stops.
        :return: Whether an event hit a temporary error.
        :rtype: bool
        """
        # As OdooBot, like the webhook and the cron: the chatter of the invoices then has a
        # known author, whoever clicked "Process again".
        events = self.with_user(SUPERUSER_ID)
        transient = False
        for index, event in enumerate(events):
            if deadline is not None and time.monotonic() > deadline:
                _logger.info(
                    "gocardless: %s event(s) left to the cron after the time budget",
                    len(events) - index,
                )
                self.env.ref("isanet_gocardless.cron_process_gocardless_events")._trigger()
                break
            try:
                with self.env.cr.savepoint():
                    event._gocardless_apply()
            except Exception as error:  # noqa: BLE001 - any error is recorded on the event
                if utils.is_transient(error):
                    transient = True
                    _logger.warning(
                        "gocardless: temporary error on event %s, kept for a retry: %s",
                        event.event_id,
                        error,
                    )
                    event._gocardless_note_transient_error(error)
                    if isinstance(error, utils.GoCardlessRequestError):
                        # GoCardless is down or slow: the next events would wait as long
                        # for nothing. They stay waiting for the next delivery or run.
                        _logger.info(
                            "gocardless: %s event(s) left for later, GoCardless is unavailable",
                            len(events) - index - 1,
                        )
                        break
                else:
                    _logger.exception("gocardless: event %s failed", event.event_id)
                    event.write(
                        {
                            "state": "failed",
                            "error_message": utils.error_detail(error),
                            "attempt_count": event.attempt_count + 1,
                            "processed_date": fields.Datetime.now(),
                        }
                    )
        return transient

    def _gocardless_note_transient_error(self, error):
        """Record a temporary error on the event, which stays ``received`` for a retry."""
        self.ensure_one()
        attempts = self.attempt_count + 1
        message = self.env._(
            "Temporary error, will be retried: %(error)s", error=utils.error_detail(error)
        )
        values = {"error_message": message, "attempt_count": attempts}
        if attempts >= MAX_TRANSIENT_ATTEMPTS:
            values.update(state="failed", processed_date=fields.Datetime.now())
        self.write(values)

    def _gocardless_event(self):
        """Return the ledger row as a `gocardless_core.events.Event`."""
        self.ensure_one()
        return gc_events.Event.from_dict(json.loads(self.raw or "{}"))

    def _gocardless_set_state(self, state, message=None, tx=None):
        """Close the event as ``processed`` or ``ignored``, with an optional reason."""
        self.ensure_one()
        values = {
            "state": state,
            "error_message": message or False,
            "processed_date": fields.Datetime.now(),
            "attempt_count": self.attempt_count + 1,
        }
        if tx:
            values["transaction_id"] = tx.id
        self.write(values)

    def _gocardless_ignore(self, message, tx=None):
        """Close the event as ``ignored``, giving the reason."""
        _logger.info("gocardless: event %s ignored: %s", self.event_id, message)
        self._gocardless_set_state("ignored", message, tx=tx)

    def _gocardless_apply(self):
        """Dispatch one event to the model its resource changes, and close it.

        Payments, billing requests and refunds are handled by `payment.transaction`, mandates
        by `payment.token`; each reads the resource's current state from GoCardless.

        Note: self.ensure_one()
        """
        self.ensure_one()
        event = self._gocardless_event()
        outcome = gc_events.outcome_for(event)
        handler = EVENT_HANDLERS.get(outcome)
        if handler:
            model, method = handler
            state, message, tx = getattr(self.env[model], method)(event, self)
            self._gocardless_set_state(state, message, tx=tx)
        elif outcome == gc_events.PAYMENT_RECORD_ONLY:
            self._gocardless_ignore(self.env._("The payment's status does not change."))
        elif outcome == gc_events.PAYOUT_PAID:
            self._gocardless_ignore(self.env._("Payouts are not reconciled from webhooks."))
        else:
            self._gocardless_ignore(
                self.env._(
                    "Events %(resource_type)s/%(action)s are not handled.",
                    resource_type=event.resource_type,
                    action=event.action,
                )
            )

    # === BUSINESS METHODS - HELPERS OF THE HANDLERS === #

    def _gocardless_scope_domain(self):
        """Return the domain of the transactions and tokens this event may touch.

        Those of GoCardless providers of the event's company, when known: the events of one
        GoCardless account never reach another company's records.
        """
        domain = [("provider_id.code", "=", const.PROVIDER_CODE)]
        if self.company_id:
            domain.append(("company_id", "=", self.company_id.id))
        return domain

    def _gocardless_payment_status_reason(self, event, payment):
        """Return GoCardless's explanation of the payment's current status, or "".

        An event's explanation only fits when the event is about the payment's current status;
        when events arrive together or out of order (confirmed, then failed), the explanation is
        that of the newest recorded event of the same payment leading to that status.
        """
        outcome = gc_events.payment_outcome_from_status(payment.get("status"))
        if gc_events.outcome_for(event) == outcome:
            return gc_events.failure_reason(event)
        siblings = self.sudo().search(
            [("resource_type", "=", "payments"), ("resource_id", "=", event.resource_id)]
        )
        for sibling in siblings:  # newest first (_order)
            sibling_event = sibling._gocardless_event()
            if gc_events.outcome_for(sibling_event) == outcome:
                return gc_events.failure_reason(sibling_event)
        return ""

    def _gocardless_payment_will_retry(self, event, payment):
        """Return whether GoCardless retries the payment's current failure by itself.

        Said by the `failed` event of the failure (`details.will_attempt_retry`): this event's
        when it is one, else the newest recorded `failed` event of the same payment.
        """
        if payment.get("status") != "failed":
            return False
        if event.action == "failed":
            return bool(event.details.get("will_attempt_retry"))
        siblings = self.sudo().search(
            [
                ("resource_type", "=", "payments"),
                ("resource_id", "=", event.resource_id),
                ("action", "=", "failed"),
            ]
        )
        latest = siblings[:1]  # newest first (_order)
        return bool(latest and latest._gocardless_event().details.get("will_attempt_retry"))

    # === ACTION METHODS === #

    def action_gocardless_process_again(self):
        """Apply failed (or waiting) events again, from the resources' current state."""
        if not self.env.user.has_group("base.group_system"):
            raise UserError(self.env._("GoCardless: only administrators can process events."))
        wrong = self.filtered(lambda e: e.state not in ("failed", "received"))
        if wrong:
            raise UserError(
                self.env._(
                    "GoCardless: only failed or waiting events can be processed again, not "
                    "%(events)s.",
                    events=", ".join(wrong.mapped("event_id")),
                )
            )
        self.sudo().write({"state": "received"})
        self._gocardless_process()
        return True

    # === CRON === #

    @api.model
    def _cron_process_received_events(self):
        """Apply the events still waiting, oldest first, in batches."""
        domain = [("state", "=", "received")]
        events = self.search(domain, order="created_at, id", limit=CRON_BATCH_SIZE)
        if not events:
            return
        # Lock them, skipping those a webhook request is applying right now.
        events = self._gocardless_lock_pending(events.mapped("event_id"))
        events.with_context(gocardless_request_profile="background")._gocardless_process(
            deadline=time.monotonic() + CRON_TIME_BUDGET
        )
        # Only events that left the queue count as done: when GoCardless is down none does,
        # and Odoo does not run the cron again at once for the rest.
        done = len(events.filtered(lambda event: event.state != "received"))
        remaining = self.search_count(domain)
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
