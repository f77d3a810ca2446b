# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The ledger of GoCardless webhook events: each event is recorded once and applied once.

A webhook is verified, its events inserted with ``ON CONFLICT (event_id) DO NOTHING`` and the
ledger's cron woken: GoCardless is answered at once. The cron then applies the events in small
batches, oldest first, each batch under its rows' locks (``FOR UPDATE SKIP LOCKED``: several
Odoo servers share the work) and committed at once, each event in its own savepoint, so a
duplicate delivery is acknowledged without being applied twice. The invoices of the debits
confirmed in one batch are paid together (`payment.transaction._gocardless_post_process_batch`).
An event never decides by itself: it tells which resource changed, and the resource's current
state is read back from the GoCardless API, so the arrival order of events does not matter.
Temporary failures wait with a backoff; nothing is given up.
"""

import json
import logging
import time
from collections import defaultdict
from datetime import timedelta

from odoo import SUPERUSER_ID, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL

from .. import const, utils
from ..gocardless_core import catchup, webhooks
from ..gocardless_core import errors as core_errors
from ..gocardless_core import events as gc_events

_logger = logging.getLogger(__name__)

# Events applied by one run of the cron before it reports its progress.
CRON_BATCH_SIZE = 100
# Events locked, applied and committed together. The payments of the debits they confirm are
# created, posted and reconciled together (a third of the cost of one at a time); the locks
# of a batch are held for a few seconds at most.
LOCK_BATCH_SIZE = 20
# Seconds one run of the cron spends applying events. Odoo runs a cron that reports events
# remaining up to 10 times in a row, and a multi-worker server kills a cron worker whose round
# of jobs lasts longer than its time limit (120 s by default): 10 runs stay below it.
CRON_TIME_BUDGET = 6.0
# The ledger's crons. Odoo runs one cron in one cron worker at a time (it locks the cron's
# row while the job runs): each of these is one worker of the ledger, and with two cron
# workers, or two Odoo servers on the database, they apply different batches at once (each
# locks its own events, `FOR UPDATE SKIP LOCKED`). A webhook wakes them all.
LEDGER_CRONS = (
    "isanet_gocardless.cron_process_gocardless_events",
    "isanet_gocardless.cron_process_gocardless_events_2",
)
# Backoff of an event that met a temporary error: 1 minute, doubled at each attempt, at most
# an hour; it is never given up (a refused token waits for the reconnection).
RETRY_BASE_DELAY = 60
RETRY_MAX_DELAY = 3600

# Who handles the events of each outcome: the model whose records the resource changes, and
# its method, called once per event with the event's notification only
# (`GoCardlessEvent._gocardless_notification`). Transactions (payments, refunds, billing
# requests) get it through Odoo's payment pipeline (`_handle_notification_data`); mandates and
# payouts through their model's `_gocardless_handle_notification`, which returns (ledger
# state, message, records). A resource no record matches raises
# `utils.GoCardlessUnknownResource`: the event is recorded as ignored.
_PAYMENT_HANDLER = ("payment.transaction", "_handle_notification_data")
_MANDATE_HANDLER = ("payment.token", "_gocardless_handle_notification")
_BILLING_REQUEST_HANDLER = _PAYMENT_HANDLER
_REFUND_HANDLER = _PAYMENT_HANDLER
_PAYOUT_HANDLER = ("gocardless.payout", "_gocardless_handle_notification")
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
    gc_events.REFUND_PENDING: _REFUND_HANDLER,
    gc_events.REFUND_DONE: _REFUND_HANDLER,
    gc_events.REFUND_FAILED: _REFUND_HANDLER,
    gc_events.PAYOUT_PAID: _PAYOUT_HANDLER,
}


class DeferredPostProcessing:
    """The transactions of one batch of the ledger's events whose post-processing waits.

    Held in the context of the batch (`const.DEFERRED_POST_PROCESS_KEY`). ``changed`` keeps
    every transaction the batch changed: one whose post-processing was undone with the
    savepoint of a failing event is post-processed again at the end of the batch.
    """

    def __init__(self):
        self.waiting = set()
        self.changed = set()

    def __contains__(self, tx_id):
        return tx_id in self.waiting

    def __bool__(self):
        return bool(self.waiting)

    def add(self, tx_ids):
        self.waiting.update(tx_ids)
        self.changed.update(tx_ids)

    def take(self, everything=False):
        """Return the ids waiting (with ``everything``, all those changed), and clear them."""
        ids = sorted(self.changed if everything else self.waiting)
        self.waiting.clear()
        return ids


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
    next_attempt_at = fields.Datetime(
        string="Next Attempt",
        readonly=True,
        index="btree_not_null",
        help="When an event that met a temporary error is applied again.",
    )
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
            # The body is signed and its events checked by the core: its JSON is sound.
            raw_events = json.loads(body)["events"]
            return provider, events, raw_events, webhook_id
        raise core_errors.InvalidSignature("No GoCardless provider's secret verifies the webhook.")

    @api.model
    def _gocardless_record(self, provider, events, raw_events, webhook_id=None):
        """Insert the events in the ledger, skipping those already recorded.

        :param recordset provider: The `payment.provider` whose secret verified the webhook.
        :param list events: The parsed events (`gocardless_core.events.Event`), checked.
        :param list raw_events: The event dicts as received, in the same order.
        :param str webhook_id: The webhook's ``meta.webhook_id``.
        :return: The GoCardless ids of the events new to the ledger.
        :rtype: set
        """
        if not events:
            return set()
        # Redeliveries are skipped by a plain read first: an `INSERT ... ON CONFLICT` of an
        # event the cron is applying would wait for the cron's batch to commit (a unique index
        # check waits for the transaction updating the row), and GoCardless for its answer.
        self.env.cr.execute(
            SQL(
                "SELECT event_id FROM gocardless_event WHERE event_id IN %s",
                tuple({event.id for event in events}),
            )
        )
        known = {row[0] for row in self.env.cr.fetchall()}
        pairs = [
            (event, raw)
            for event, raw in zip(events, raw_events, strict=True)
            if event.id not in known
        ]
        if not pairs:
            return set()
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
                catchup.parse_timestamp(event.created_at),
                webhook_id,
                json.dumps(raw, indent=2, sort_keys=True),
                self.env.uid,
                now,
                self.env.uid,
                now,
            )
            for event, raw in pairs
        ]
        self.env.cr.execute(
            SQL(
                "INSERT INTO gocardless_event (event_id, provider_id, company_id, resource_type,"
                " action, resource_id, created_at, webhook_id, raw, state, attempt_count,"
                " create_uid, create_date, write_uid, write_date) VALUES %s"
                " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
                SQL(", ").join(rows),
            )
        )
        return {row[0] for row in self.env.cr.fetchall()}

    @api.model
    def _gocardless_receive_webhook(self, body, signature):
        """Verify and record a webhook, and wake the ledger's cron: the webhook controller's
        entry point. Nothing is applied here (no call to GoCardless, no email): GoCardless
        gets its answer in milliseconds, and the cron applies the events right after.

        :param bytes body: The raw request body.
        :param str signature: The ``Webhook-Signature`` header.
        :return: The GoCardless ids of the events new to the ledger.
        :rtype: set
        :raise InvalidSignature: See :meth:`_gocardless_verify_webhook`.
        :raise MalformedPayload: See :meth:`_gocardless_verify_webhook`.
        """
        provider, events, raw_events, webhook_id = self._gocardless_verify_webhook(body, signature)
        new_ids = self._gocardless_record(provider, events, raw_events, webhook_id)
        _logger.info(
            "gocardless: received webhook %s with %s event(s) (%s new) for provider %s",
            webhook_id,
            len(events),
            len(new_ids),
            provider.id,
        )
        if new_ids:
            self._gocardless_trigger_processing()
        return new_ids

    @api.model
    def _gocardless_trigger_processing(self):
        """Have the ledger's crons run as soon as possible (a row inserted each, no lock
        taken): as many cron workers as are free share the events."""
        for xmlid in LEDGER_CRONS:
            cron = self.env.ref(xmlid, raise_if_not_found=False)
            if cron:
                cron._trigger()

    # === BUSINESS METHODS - PROCESSING === #

    @api.model
    def _gocardless_lock_due(self, limit=LOCK_BATCH_SIZE, event_ids=None):
        """Lock and return the oldest events due for processing (at most ``limit``).

        Events locked by another worker (another Odoo server sharing the database) are
        skipped: several servers process the ledger in parallel, each event once.

        :param int limit: The most events locked.
        :param list event_ids: Only among these ledger ids.
        :return: The events, oldest first; in their context (``gocardless_events_alone``),
                 those that are the only event of their resource in the ledger.
        :rtype: recordset of `gocardless.event`
        """
        self.env.flush_all()
        # The rows are read with their lock, as the ORM would read them (one query, not two):
        # the plain columns, whose stored value is the cached one (a translated or
        # company-dependent column holds a JSON of values: left to the ORM).
        columns = [
            field
            for field in self._fields.values()
            if field.store
            and field.column_type
            and field.prefetch is True
            and field.name != "id"
            and not field.translate
            and not field.company_dependent
        ]
        self.env.cr.execute(
            SQL(
                "SELECT e.id, EXISTS(SELECT 1 FROM gocardless_event o"
                " WHERE o.resource_id = e.resource_id AND o.resource_type = e.resource_type"
                " AND o.id != e.id), %s"
                " FROM gocardless_event e WHERE e.state = 'received'"
                " AND (e.next_attempt_at IS NULL OR e.next_attempt_at <= %s) %s"
                " ORDER BY e.created_at, e.id LIMIT %s FOR UPDATE OF e SKIP LOCKED",
                SQL(", ").join(SQL.identifier("e", field.name) for field in columns),
                fields.Datetime.now(),
                SQL("AND e.id IN %s", tuple(event_ids)) if event_ids else SQL(""),
                max(1, limit),
            )
        )
        rows = self.env.cr.fetchall()
        events = self.browse([row[0] for row in rows])
        for index, field in enumerate(columns, start=2):
            self.env.cache.insert_missing(events, field, [row[index] for row in rows])
        # Told here, with the lock: an event alone needs no search of its siblings
        # (`_gocardless_payment_reasons`).
        alone = frozenset(row[0] for row in rows if not row[1])
        return events.with_context(gocardless_events_alone=alone)

    @api.model
    def _gocardless_process_due(self, limit=CRON_BATCH_SIZE, deadline=None, event_ids=None):
        """Apply the events due, oldest first, in batches, each event in its own savepoint.

        A batch of events is locked, applied and, outside tests, committed together: what was
        applied is kept whatever happens to the next batch, and the locks are released. The
        post-processing of the transactions the batch changed (the invoices paid, the
        merchant's notices) is done once for the batch, before the commit.

        :param int limit: The most events applied by this call.
        :param float deadline: A `time.monotonic()` value after which processing stops.
        :param list event_ids: Only among these ledger ids.
        :return: The events applied or closed, and whether GoCardless was unavailable.
        :rtype: tuple[recordset, bool]
        """
        # As OdooBot, like the webhook and the cron: the chatter of the invoices then has a
        # known author, whoever clicked "Process again".
        Event = self.with_user(SUPERUSER_ID)
        done = Event.browse()
        commit = not self.env.registry.in_test_mode()
        remaining = limit
        read_together = True
        while remaining > 0:
            if deadline is not None and time.monotonic() > deadline:
                Event._gocardless_trigger_processing()  # the rest in the next run
                break
            batch = Event._gocardless_lock_due(min(remaining, LOCK_BATCH_SIZE), event_ids)
            if not batch:
                break
            payments = batch._gocardless_read_payments() if read_together else None
            # GoCardless refusing the read, or failing it, costs one try per run: the payments
            # are then read one by one, as when a batch names only one.
            read_together = payments is not None
            applied, outage, stopped = Event._gocardless_apply_batch(batch, deadline, payments)
            done |= applied
            remaining -= len(batch) - len(stopped)
            if commit:
                # What the batch applied is kept, and its locks released, whatever comes next.
                self.env.cr.commit()  # pylint: disable=invalid-commit
            if outage:
                # GoCardless is down or slow: the next events would wait as long for nothing.
                _logger.info("gocardless: GoCardless is unavailable, the ledger waits")
                return done, True
            if stopped:
                Event._gocardless_trigger_processing()  # the rest in the next run
                break
        return done, False

    def _gocardless_read_payments(self):
        """Read the current state of the payments these events name, together: one request per
        GoCardless account (`payment.transaction._gocardless_read_payments_together`) in place
        of one per event.

        :return: The payments read, by provider id and payment id (those not read are read
                 one by one by the pipeline), or ``None`` if GoCardless refused or failed the
                 read.
        :rtype: dict | None
        """
        by_provider = defaultdict(list)
        for row in self:
            try:
                event = row._gocardless_event()
            except Exception:  # noqa: BLE001 - an unreadable row is reported when it is applied
                continue
            if (
                row.provider_id
                and event.resource_type == "payments"
                and EVENT_HANDLERS.get(gc_events.outcome_for(event)) == _PAYMENT_HANDLER
            ):
                by_provider[row.provider_id].append(event)
        payments = {}
        Transaction = self.env["payment.transaction"]
        for provider, events in by_provider.items():
            try:
                read = Transaction._gocardless_read_payments_together(provider, events)
            except ValidationError as error:  # refused, failed, no access token...
                _logger.info(
                    "gocardless: payments of the batch read one by one: %s",
                    utils.error_detail(error),
                )
                return None
            except Exception:  # noqa: BLE001 - each event then meets it, and is recorded so
                _logger.exception("gocardless: payments of the batch read one by one")
                return None
            payments.update({(provider.id, payment_id): read[payment_id] for payment_id in read})
        return payments

    @api.model
    def _gocardless_apply_batch(self, batch, deadline=None, payments=None):
        """Apply the locked events of one batch, then post-process what they changed.

        The transactions whose state the events change are post-processed together at the end
        (`payment.transaction._gocardless_post_process_batch`), or before an event that needs
        them post-processed: one that changes the same transaction again, or a payout (which
        books the payments of the confirmed debits).

        :param recordset batch: The locked events, oldest first.
        :param float deadline: A `time.monotonic()` value after which the batch stops.
        :param dict payments: The payments the batch's events name, already read (see
                              :meth:`_gocardless_read_payments`).
        :return: The events applied or closed, whether GoCardless was unavailable, and the
                 events left for later.
        :rtype: tuple[recordset, bool, recordset]
        """
        done = self.browse()
        deferred = DeferredPostProcessing()
        Event = self.with_context(
            **{const.DEFERRED_POST_PROCESS_KEY: deferred, const.PAYMENTS_READ_KEY: payments or {}},
            gocardless_events_alone=batch.env.context.get("gocardless_events_alone", frozenset()),
        )
        Transaction = self.env["payment.transaction"]
        outage = False
        stopped = self.browse()
        for index, event in enumerate(Event.browse(batch.ids)):
            if deadline is not None and index and time.monotonic() > deadline:
                stopped = batch[index:]
                break
            if deferred and EVENT_HANDLERS.get(event._gocardless_outcome(), ("",))[0] != (
                "payment.transaction"
            ):
                Transaction._gocardless_post_process_deferred(deferred)
            outage = event._gocardless_process_one()
            if event.state != "received":
                done |= event
            if outage:
                stopped = batch[index + 1 :]
                break
        Transaction._gocardless_post_process_deferred(deferred, everything=True)
        return done, outage, stopped

    def _gocardless_process_one(self):
        """Apply one event in its own savepoint, and record the outcome on it.

        A temporary failure (GoCardless unreachable, slow, rate limiting, its own errors; a
        database conflict) or a refused access token keeps the event waiting, with a backoff:
        it is never dropped. Any other failure marks it ``failed`` (the catch-up and *Process
        again* apply it again).

        Note: self.ensure_one()

        :return: Whether GoCardless was unavailable (the caller stops its batch).
        :rtype: bool
        """
        self.ensure_one()
        try:
            with self.env.cr.savepoint():
                self._gocardless_apply()
        except Exception as error:  # noqa: BLE001 - any error is recorded on the event
            reconnect = isinstance(error, utils.GoCardlessRequestError) and (
                error.kind == "authentication"
            )
            if utils.is_transient(error) or reconnect:
                _logger.warning(
                    "gocardless: event %s waits for a retry: %s",
                    self.event_id,
                    utils.error_detail(error),
                )
                self._gocardless_wait(error)
                if reconnect:
                    self.provider_id.sudo()._gocardless_flag_reconnect(error)
                return isinstance(error, utils.GoCardlessRequestError)
            _logger.exception("gocardless: event %s failed", self.event_id)
            self.write(
                {
                    "state": "failed",
                    "error_message": utils.error_detail(error),
                    "attempt_count": self.attempt_count + 1,
                    "processed_date": fields.Datetime.now(),
                    "next_attempt_at": False,
                }
            )
        return False

    def _gocardless_wait(self, error):
        """Keep the event waiting after a temporary failure, until its next attempt."""
        self.ensure_one()
        attempts = self.attempt_count + 1
        delay = min(RETRY_BASE_DELAY * 2 ** min(attempts - 1, 16), RETRY_MAX_DELAY)
        self.write(
            {
                "error_message": self.env._(
                    "Temporary error, will be retried: %(error)s", error=utils.error_detail(error)
                ),
                "attempt_count": attempts,
                "next_attempt_at": fields.Datetime.now() + timedelta(seconds=delay),
            }
        )
        self.env.ref("isanet_gocardless.cron_process_gocardless_events")._trigger(
            at=self.next_attempt_at
        )

    def _gocardless_event(self):
        """Return the ledger row as a `gocardless_core.events.Event`."""
        self.ensure_one()
        return gc_events.Event.from_dict(json.loads(self.raw or "{}"))

    def _gocardless_outcome(self):
        """Return what the event means (`gocardless_core.events.outcome_for`), or None."""
        self.ensure_one()
        try:
            return gc_events.outcome_for(self._gocardless_event())
        except Exception:  # noqa: BLE001 - an unreadable row is reported when it is applied
            return None

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

        The event's notification (see :meth:`_gocardless_notification`) goes, in one call, to
        `payment.transaction`'s pipeline for payments, billing requests and refunds, to
        `payment.token` for mandates, to `gocardless.payout` for payouts; each reads the
        resource's current state from GoCardless. A resource no record matches is recorded as
        ignored.

        Note: self.ensure_one()
        """
        self.ensure_one()
        event = self._gocardless_event()
        outcome = gc_events.outcome_for(event)
        handler = EVENT_HANDLERS.get(outcome)
        if handler:
            model, method = handler
            notification = self._gocardless_notification(event)
            try:
                if handler == _PAYMENT_HANDLER:
                    tx = self.env[model]._handle_notification_data(
                        const.PROVIDER_CODE, notification
                    )
                else:
                    state, message, _records = getattr(self.env[model], method)(notification)
            except utils.GoCardlessUnknownResource as error:
                record = error.record
                tx = record if record and record._name == "payment.transaction" else None
                self._gocardless_set_state("ignored", error.args[0], tx=tx)
                return
            if handler == _PAYMENT_HANDLER:
                tx._gocardless_post_process_now()
                self._gocardless_set_state("processed", tx=tx)
            else:
                self._gocardless_set_state(state, message)
        elif outcome == gc_events.PAYMENT_RECORD_ONLY:
            self._gocardless_ignore(self.env._("The payment's status does not change."))
        else:
            self._gocardless_ignore(
                self.env._(
                    "Events %(resource_type)s/%(action)s are not handled.",
                    resource_type=event.resource_type,
                    action=event.action,
                )
            )

    # === BUSINESS METHODS - HELPERS OF THE HANDLERS === #

    def _gocardless_notification(self, event):
        """Return the notification of the event, for the model its resource changes.

        It names the resource (its type, id and the Odoo reference of its metadata), the
        event's company and provider; for a payment, GoCardless's explanation of each status
        its recorded events lead to (`gocardless_reasons`, by outcome: the pipeline takes the
        one of the payment's current status) and whether GoCardless retries its failure; for a
        mandate, the event's outcome (`gocardless_outcome`), the new mandate of a replaced one
        (`gocardless_new_mandate`) and GoCardless's explanation (`reason`). The company scopes
        the records the event may touch: the events of one GoCardless account never reach
        another company's.

        :param gocardless_core.events.Event event: The event.
        :rtype: dict
        """
        self.ensure_one()
        notification = {
            "gocardless_resource_type": event.resource_type,
            "gocardless_resource_id": event.resource_id,
            "gocardless_company_id": self.company_id.id,
            "gocardless_provider_id": self.provider_id.id,
            "gocardless_metadata_reference": event.resource_metadata.get("odoo_reference"),
        }
        if event.resource_type == "payments":
            notification.update(self._gocardless_payment_reasons(event))
        elif event.resource_type == "refunds":
            notification["reason"] = gc_events.failure_reason(event)
        elif event.resource_type == "billing_requests":
            notification.update(
                {
                    "gocardless_cancelling": (
                        gc_events.outcome_for(event) == gc_events.BILLING_REQUEST_CANCELLED
                    ),
                    "gocardless_failed": event.action == "failed",
                    "reason": gc_events.failure_reason(event)
                    or self.env._("The payer did not complete the direct debit setup."),
                }
            )
        elif event.resource_type == "mandates":
            notification.update(
                {
                    "gocardless_outcome": gc_events.outcome_for(event),
                    "gocardless_new_mandate": event.links.get("new_mandate"),
                    "reason": gc_events.failure_reason(event),
                }
            )
        return notification

    def _gocardless_payment_reasons(self, event):
        """Return the explanations of a payment's statuses, and whether it is retried.

        An event's explanation only fits when the event is about the payment's current status;
        when events arrive together or out of order (confirmed, then failed), the explanation is
        that of the newest recorded event of the same payment leading to that status. Whether
        GoCardless retries a failure is said by the `failed` event of the failure
        (`details.will_attempt_retry`): this event's when it is one, else the newest recorded
        `failed` event of the same payment.

        :param gocardless_core.events.Event event: The event.
        :return: `gocardless_reasons` (explanation by outcome) and `gocardless_will_retry`.
        :rtype: dict
        """
        reasons = {gc_events.outcome_for(event): self._gocardless_failure_reason(event)}
        will_retry = None
        if event.action == "failed":
            will_retry = bool(event.details.get("will_attempt_retry"))
        siblings = self.browse()
        if self.id not in self.env.context.get("gocardless_events_alone", ()):
            # Not known alone in the ledger when locked: its siblings are looked for.
            siblings = self.sudo().search(
                [("resource_type", "=", "payments"), ("resource_id", "=", event.resource_id)]
            )
        for sibling in siblings:  # newest first (_order)
            sibling_event = sibling._gocardless_event()
            outcome = gc_events.outcome_for(sibling_event)
            if outcome not in reasons:
                reasons[outcome] = self._gocardless_failure_reason(sibling_event)
            if will_retry is None and sibling.action == "failed":
                will_retry = bool(sibling_event.details.get("will_attempt_retry"))
        return {"gocardless_reasons": reasons, "gocardless_will_retry": bool(will_retry)}

    def _gocardless_failure_reason(self, event):
        """Return GoCardless's explanation of a failure, in the language of the event's company.

        The merchant's notices are in their company's language (the ledger's cron runs in
        English): a cause this module knows is told in a sentence of its own, with the bank's
        reason code; another keeps GoCardless's description and codes.

        :param gocardless_core.events.Event event: The event.
        :return: The explanation, or "" when the event gives none.
        :rtype: str
        """
        if not self._gocardless_reason_text(event.cause):
            # A cause this module does not put in words (a confirmation, most events): told
            # by GoCardless's own description, in no language of the company's.
            return gc_events.failure_reason(event) or ""
        lang = self.company_id.partner_id.lang or self.env.lang
        return self.with_context(lang=lang)._gocardless_reason_text(
            event.cause, event.reason_code, gc_events.failure_reason(event)
        )

    @api.model
    def _gocardless_reason_text(self, cause, reason_code=None, description=""):
        """Return the sentence of a GoCardless failure cause, in the language of the context.

        :param str cause: GoCardless's cause code (``insufficient_funds``...).
        :param str reason_code: The bank's reason code (``AM04``...), if any.
        :param str description: What to say for a cause this module doesn't know.
        :rtype: str
        """
        sentences = {
            "insufficient_funds": self.env._("The customer's account had insufficient funds."),
            "refer_to_payer": self.env._(
                "The customer's bank refused the debit: the customer should ask their bank."
            ),
            "bank_account_closed": self.env._("The customer's bank account is closed."),
            "bank_account_transferred": self.env._(
                "The customer's bank account was moved to another bank."
            ),
            "bank_account_disabled": self.env._("The customer's bank account is disabled."),
            "account_blocked_for_any_financial_transaction": self.env._(
                "The customer's bank account is blocked."
            ),
            "direct_debit_not_enabled": self.env._(
                "The customer's bank account does not accept direct debits."
            ),
            "invalid_bank_details": self.env._("The customer's bank details are invalid."),
            "mandate_cancelled": self.env._("The customer's mandate was cancelled."),
            "mandate_expired": self.env._("The customer's mandate has expired."),
            "mandate_suspended_by_payer": self.env._("The customer suspended their mandate."),
            "authorisation_disputed": self.env._(
                "The customer disputed having authorised the direct debit."
            ),
            "customer_approval_denied": self.env._("The customer refused the debit."),
            "test_failure": self.env._("A test failure (GoCardless sandbox)."),
        }
        sentence = sentences.get(cause)
        if not sentence:
            return description or ""
        # Told inside the merchant's sentences ("Direct debit failed: %(reason)s (...)."):
        # without its own full stop.
        sentence = sentence.rstrip(".")
        return f"{sentence} ({reason_code})" if reason_code else sentence

    # === ACTION METHODS === #

    def action_gocardless_process_again(self):
        """Apply failed (or waiting) events again now, from the resources' current state."""
        if not self.env.user.has_group("base.group_system"):
            raise AccessError(self.env._("GoCardless: only administrators can process events."))
        utils.check_merchant_rights(self)
        wrong = self.filtered(lambda e: e.state not in ("failed", "received"))
        if wrong:
            raise UserError(
                self.env._(
                    "GoCardless: only failed or waiting events can be processed again, not "
                    "%(events)s.",
                    events=", ".join(wrong.mapped("event_id")),
                )
            )
        self.sudo().write({"state": "received", "next_attempt_at": False})
        self._gocardless_process_due(limit=len(self), event_ids=self.ids)
        return True

    # === CRON === #

    @api.model
    def _gocardless_ledger_worker_needed(self):
        """Return whether this run of one of the ledger's crons has work to share.

        The first cron always works. Another only while the first runs in another cron worker
        (its row locked by Odoo's cron runner): with one cron worker, the crons run one after
        the other, and the next one ends at once instead of lengthening the worker's round.
        The check takes no lock: the probe's is undone with its savepoint.
        """
        first = self.env.ref(LEDGER_CRONS[0], raise_if_not_found=False)
        cron_id = self.env.context.get("cron_id")
        if not first or not cron_id or cron_id == first.id:
            return True
        cr = self.env.cr
        cr.execute("SAVEPOINT gocardless_ledger_probe")
        cr.execute("SELECT id FROM ir_cron WHERE id = %s FOR NO KEY UPDATE SKIP LOCKED", [first.id])
        first_is_free = bool(cr.fetchone())
        cr.execute("ROLLBACK TO SAVEPOINT gocardless_ledger_probe")
        return not first_is_free

    @api.model
    def _cron_process_received_events(self):
        """Apply the events due, oldest first, within the cron's time budget."""
        if not self._gocardless_ledger_worker_needed():
            return
        done, _outage = self.with_context(
            gocardless_request_profile="background"
        )._gocardless_process_due(deadline=time.monotonic() + CRON_TIME_BUDGET)
        remaining = self.search_count(
            [
                ("state", "=", "received"),
                "|",
                ("next_attempt_at", "=", False),
                ("next_attempt_at", "<=", fields.Datetime.now()),
            ]
        )
        # Only events that left the queue count as done: when GoCardless is down none does,
        # and Odoo does not run the cron again at once.
        self.env["ir.cron"]._notify_progress(done=len(done), remaining=remaining)
