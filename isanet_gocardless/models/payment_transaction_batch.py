"""Post-processing of the transactions one batch of GoCardless events changed, together.

The ledger applies its events in batches (`gocardless.event._gocardless_apply_batch`): each
event brings its transaction to the resource's current state through the one pipeline
(`_handle_notification_data` -> `_process_notification_data`), and the post-processing of the
transactions waits for the end of the batch. For the debits the batch confirmed, what Odoo's
`account_payment` does one transaction at a time (`_create_payment`: a payment created, posted
and reconciled with the invoices) is done for all of them at once, with the same values: one
`create`, one `action_post`, one reconciliation plan. Odoo's own post-processing then finds each
payment made and does the rest (its message on the invoice, the merchant's notices). A paid
invoice then costs about half of what Odoo's own path costs, in queries and in time
(`benchmarks/webhook_batch.py`).

The payments a batch's events name are read together too, before the batch is applied
(`_gocardless_read_payments_together`): one request to GoCardless in place of one per event.
"""

import logging
from collections import defaultdict

import psycopg2

from odoo import api, models
from odoo.tools import format_amount

from .. import const
from ..gocardless_core import catchup

_logger = logging.getLogger(__name__)


class BatchNotices:
    """Whether the transactions post-processed at the end of a batch told of debits collected
    or failed (`_post_process`), and which debits were collected: the payouts waiting for them
    and the activities of earlier failures are then looked at once. In the context, compared
    by identity, as an object of its own."""

    def __init__(self):
        self.told = False
        self.collected = set()  # ids of the debits told collected


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"  # pylint: disable=consider-merging-classes-inherited

    @api.model
    def _gocardless_post_process_deferred(self, deferred, everything=False):
        """Post-process the transactions waiting in ``deferred``.

        :param DeferredPostProcessing deferred: The batch's transactions (the ledger's
                                                `gocardless_event.DeferredPostProcessing`).
        :param bool everything: All those the batch changed (at its end), not only those
                                waiting.
        :return: None
        """
        tx_ids = deferred.take(everything)
        if tx_ids:
            self.browse(tx_ids).with_context(
                **{const.DEFERRED_POST_PROCESS_KEY: None}
            )._gocardless_post_process_batch()

    @api.model
    def _gocardless_read_payments_together(self, provider, events):
        """Return the current state of the payments ``events`` name, read in one request.

        ``GET /events`` lists the payment events just older than the newest of ``events``, down
        to the oldest's second, each with its payment (``include=payment``). A payment the page
        does not hold (the newest event's own, when no older event of the batch names it; more
        events in the window than a page) is read on its own by the pipeline, as are those of
        events naming fewer than two payments (nothing to save).

        :param recordset provider: The `payment.provider` of the events' GoCardless account.
        :param list events: The `gocardless_core.events.Event` naming the payments, oldest
                            first.
        :return: The payments read, by id.
        :rtype: dict
        :raise GoCardlessRequestError: If GoCardless refuses or fails the request.
        """
        dated = [
            (moment, index, event)
            for index, event in enumerate(events)
            if event.resource_id and (moment := catchup.parse_timestamp(event.created_at))
        ]
        wanted = {event.resource_id for _moment, _index, event in dated}
        if len(wanted) < 2:
            return {}
        newest = max(dated, key=lambda item: item[:2])[2]
        params = catchup.payments_params(
            [moment for moment, _index, _event in dated],
            [event.action for _moment, _index, event in dated],
            newest_id=newest.id,
        )
        page = provider._gocardless_make_request("events", "list", params=params)
        return {
            payment_id: payment
            for payment_id, payment in catchup.linked(page, "payments").items()
            if payment_id in wanted
        }

    def _gocardless_post_process_batch(self):
        """Post-process the transactions, the payments of their confirmed debits made together.

        Each transaction is post-processed in its company and its company's language, as when
        it is post-processed on its own; if making the payments together fails, each is made
        by Odoo's own post-processing, one at a time.

        :return: None
        """
        by_company = defaultdict(list)
        for tx in self.filtered(lambda t: not t.is_post_processed):
            by_company[tx.company_id].append(tx.id)
        notices = BatchNotices()
        for company, tx_ids in by_company.items():
            txs = (
                self.browse(tx_ids)
                .with_company(company)
                .with_context(
                    lang=company.partner_id.lang or self.env.lang, gocardless_batch_notices=notices
                )
            )
            together = (
                txs.filtered(lambda t: t._gocardless_is_booked_together())
                if len(txs) > 1
                else txs.browse()  # one alone keeps Odoo's own path: nothing to check
            )
            if len(together) > 1:
                try:
                    with self.env.cr.savepoint():
                        together._gocardless_create_payments()
                except psycopg2.OperationalError:
                    raise
                except Exception:  # noqa: BLE001 - Odoo's post-processing makes each one
                    _logger.exception(
                        "gocardless: payments of %s not made together, made one by one",
                        ", ".join(together.mapped("reference")),
                    )
            if len(txs) == 1 or not txs._gocardless_post_process_together():
                txs._gocardless_post_process_now()
        if notices.told:
            # A payout that arrived before these payments' confirmations can now be booked.
            self.env["gocardless.payout"]._gocardless_trigger_waiting()
        self.browse(sorted(notices.collected))._gocardless_close_failure_activities()

    def _gocardless_post_process_together(self):
        """Post-process the transactions under one savepoint; return whether all went through.

        If one fails, none is kept: the caller post-processes each on its own, as
        `_gocardless_post_process_now` does (Odoo's cron retries one that fails again).

        :rtype: bool
        """
        try:
            with self.env.cr.savepoint():
                for tx in self:
                    tx._post_process()
        except psycopg2.OperationalError:
            raise
        except Exception:  # noqa: BLE001 - each is post-processed again on its own
            _logger.warning(
                "gocardless: post-processing of %s together failed, each done on its own",
                ", ".join(self.mapped("reference")),
            )
            return False
        return True

    def _gocardless_is_booked_together(self):
        """Return whether the payment of this confirmed debit can be made with others'.

        The cases where Odoo's `_create_payment` does exactly what
        :meth:`_gocardless_create_payments` does: a confirmed GoCardless debit of posted
        invoices, without payment yet, nor child or source transaction, nor early payment
        discount (those keep Odoo's own path, one at a time).

        Note: self.ensure_one()

        :rtype: bool
        """
        self.ensure_one()
        invoices = self.invoice_ids
        if not (
            self.provider_code == const.PROVIDER_CODE
            and self.state == "done"
            and self.operation in const.DEBIT_OPERATIONS
            and self.amount > 0
            and not self.payment_id
            and not self.source_transaction_id
            and not self.child_transaction_ids
            and invoices
            and all(invoice.state == "posted" for invoice in invoices)
            and self.provider_id.journal_id
        ):
            return False
        return all(
            invoice._get_invoice_next_payment_values().get("installment_state") != "epd"
            for invoice in invoices
        )

    def _gocardless_payment_values(self):
        """Return the values of the payment of this confirmed debit, as Odoo's
        `_create_payment` gives them, but ``write_off_line_vals``: Odoo passes an empty list
        to have `account.payment.create` generate each payment's journal entry on its own;
        :meth:`_gocardless_create_payments` generates them all at once.

        Note: self.ensure_one()

        :rtype: dict
        """
        self.ensure_one()
        provider = self.provider_id
        method_line = provider.journal_id.inbound_payment_method_line_ids.filtered(
            lambda line: line.payment_provider_id == provider
        )
        return {
            "amount": abs(self.amount),
            "payment_type": "inbound",
            "currency_id": self.currency_id.id,
            "partner_id": self.partner_id.commercial_partner_id.id,
            "partner_type": "customer",
            "journal_id": provider.journal_id.id,
            "company_id": provider.company_id.id,
            "payment_method_line_id": method_line.id,
            "payment_token_id": self.token_id.id,
            "payment_transaction_id": self.id,
            "memo": (
                f"{self.reference} - {self.partner_id.display_name or ''} - "
                f"{self.provider_reference or ''}"
            ),
            "invoice_ids": self.invoice_ids,
        }

    def _create_payment(self, **extra_create_values):
        """Override of `account_payment` to book a debit collected on invoices that are no
        longer posted (cancelled or reset to draft after the debit was submitted).

        Odoo would post the reset invoices again, and fail on the cancelled ones' lines: the
        debit would never be booked, and its payout would wait for it. The payment is made
        all the same, matched with the invoices still posted only: the rest stays as the
        customer's credit (refunded to the mandate by *Refund Direct Debit Surplus*, or used
        on another invoice), and the merchant is told on each invoice.
        """
        if self.provider_code != const.PROVIDER_CODE or self.operation not in (
            const.DEBIT_OPERATIONS
        ):
            return super()._create_payment(**extra_create_values)
        unposted = self.invoice_ids.filtered(lambda invoice: invoice.state != "posted")
        if not unposted:
            return super()._create_payment(**extra_create_values)
        posted = self.invoice_ids - unposted
        values = {**self._gocardless_payment_values(), **extra_create_values}
        values["invoice_ids"] = posted
        payment = self.env["account.payment"].create(values)
        payment.action_post()
        self.payment_id = payment
        if posted:
            (payment.move_id.line_ids + posted.line_ids).filtered(
                lambda line: (
                    line.account_id == payment.destination_account_id and not line.reconciled
                )
            ).reconcile()
        self._gocardless_notify_collected_on_unposted(unposted, payment)
        return payment

    def _gocardless_notify_collected_on_unposted(self, invoices, payment):
        """Tell the merchant, on each of ``invoices``, that the debit was collected although the
        invoice is no longer posted, and what is left as the customer's credit."""
        self.ensure_one()
        credit = -sum(
            payment.move_id.line_ids.filtered(
                lambda line: line.account_id == payment.destination_account_id
            ).mapped("amount_residual_currency")
        )
        for invoice in invoices:
            notice_tx, user = self._gocardless_notice_env(invoice)
            invoice.sudo().message_post(body=notice_tx._gocardless_unposted_note(invoice, credit))
            if user:
                user_tx = self._gocardless_user_env(invoice, user)
                invoice.sudo().activity_schedule(
                    "mail.mail_activity_data_todo",
                    summary=user_tx.env._("Direct debit collected on an invoice no longer posted"),
                    note=user_tx._gocardless_unposted_note(invoice, credit),
                    user_id=user.id,
                )

    def _gocardless_unposted_note(self, invoice, credit):
        """Return the notice of a debit collected on ``invoice``, no longer posted, in the
        language of the context."""
        self.ensure_one()
        env = self.env
        states = dict(invoice._fields["state"]._description_selection(env))
        return env._(
            "The direct debit %(reference)s was collected although the invoice %(invoice)s is "
            "%(state)s: %(amount)s stays as %(partner)s's credit. Refund it to the mandate "
            "(Refund Direct Debit Surplus) or use it on another invoice.",
            reference=self.reference,
            invoice=invoice.name or "",
            state=states.get(invoice.state, invoice.state),
            amount=format_amount(env, credit, self.currency_id),
            partner=self.partner_id.commercial_partner_id.display_name,
        )

    def _gocardless_create_payments(self):
        """Create, post and reconcile the payments of these confirmed debits, together.

        One payment per transaction, with its invoices, as Odoo's `_create_payment` makes it
        for one (see :meth:`_gocardless_is_booked_together`).

        :return: The payments, in the order of the transactions.
        :rtype: recordset of `account.payment`
        """
        payments = self.env["account.payment"].create(
            [tx._gocardless_payment_values() for tx in self]
        )
        # The journal entries of all the payments in one `account.move.create`.
        payments._generate_journal_entry()
        payments.action_post()
        plan = []
        for tx, payment in zip(self, payments, strict=True):
            tx.payment_id = payment
            lines = (payment.move_id.line_ids + tx.invoice_ids.line_ids).filtered(
                lambda line, payment=payment: (
                    line.account_id == payment.destination_account_id and not line.reconciled
                )
            )
            if lines:
                plan.append(lines)
        if plan:
            self.env["account.move.line"]._reconcile_plan(plan)
        # As `account.move.line.reconcile` does for each (this addon's override): the other
        # debits of these invoices are kept to what they still owe.
        self.invoice_ids._gocardless_keep_debits_within_due()
        return payments
