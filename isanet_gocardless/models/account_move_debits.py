"""The direct debits of an invoice: collect (now, or queued for its due date), cancel,
retry, and keep them to what the invoice still needs: one rule, re-established on every change
(`_gocardless_keep_debits_within_due`), the debits under way never exceed what is due."""

import logging
import threading
import time

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import format_amount, format_date

from .. import const, utils
from ..gocardless_core import amounts, debits

_logger = logging.getLogger(__name__)

# Invoices the automatic collection takes per cron run, and the seconds it may work.
AUTO_COLLECT_BATCH_SIZE = 1000
AUTO_COLLECT_TIME_BUDGET = 45
# Debits whose invoice no longer needs them, cancelled per cron run.
CANCEL_BATCH_SIZE = 200


class AccountMove(models.Model):
    _inherit = "account.move"  # pylint: disable=consider-merging-classes-inherited

    gocardless_debit_surplus = fields.Monetary(
        string="Direct Debit Surplus",
        compute="_compute_gocardless_debit_surplus",
        help="What a collected direct debit took above what the invoice owed (it could no "
        "longer be changed when the invoice was paid otherwise): the customer's credit, to "
        "refund to the mandate.",
    )

    # === ACTION METHODS === #

    def action_gocardless_collect(self):
        """Collect what is left to pay on the invoices with their customers' saved mandates.

        The merchant's side of a reused mandate: for each invoice, its own GoCardless payment is
        created at once on the mandate (the customer does nothing), through the one guard; its
        transaction waits `pending` for GoCardless's webhooks, which mark the invoice paid.

        One invoice: a refusal is raised. Several (the list's action): each is collected or
        refused on its own, and the merchant gets one notification listing both.

        Crash-safe as the automatic collection: each invoice's draft transaction (its
        reference is the idempotency key) is committed before GoCardless is called, so that a
        time-out or a crash after GoCardless created the payment leaves it to the next click,
        which gets the same payment back, never a second one.

        :return: None for one invoice, else a notification action.
        :rtype: dict | None
        :raise UserError: If the one invoice can't be collected by direct debit now.
        """
        utils.check_merchant_rights(self, group="account.group_account_invoice")
        # Tests may not commit: their transaction is rolled back at the end.
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        if len(self) == 1:
            self._gocardless_collect_resumable(auto_commit)
            return None
        collected, refused = [], []
        for move in self:
            try:
                move._gocardless_collect_resumable(auto_commit)
            except (UserError, ValidationError) as error:
                refused.append(
                    self.env._(
                        "%(invoice)s: %(reason)s", invoice=move.display_name, reason=error.args[0]
                    )
                )
            else:
                collected.append(move.display_name)
        lines = []
        if collected:
            lines.append(
                self.env._(
                    "Collected by direct debit (%(count)s): %(invoices)s",
                    count=len(collected),
                    invoices=", ".join(collected),
                )
            )
        if refused:
            lines.append(
                self.env._("Not collected (%(count)s):", count=len(refused))
                + "\n"
                + "\n".join(refused)
            )
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "title": self.env._("Collect by Direct Debit"),
                "message": "\n".join(lines) or self.env._("No invoice selected."),
                "type": "warning" if refused else "success",
                "sticky": bool(refused),
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def _gocardless_collect_resumable(self, auto_commit=False):
        """Collect the invoice now, resuming the draft transaction of an interrupted attempt.

        The draft transaction is created (and, with ``auto_commit``, committed) before
        GoCardless is called, then GoCardless is called in a savepoint: a transient failure
        (time-out, outage) keeps the draft for the next attempt, which sends the same
        idempotency key; a refusal ends it in error (committed too), so that the next attempt
        starts afresh.

        Note: self.ensure_one()

        :param bool auto_commit: Commit the draft transaction before calling GoCardless.
        :return: The transaction.
        :rtype: payment.transaction
        :raise UserError: If the invoice can't be collected by direct debit now.
        :raise ValidationError: If the guard or GoCardless refuses the debit, or GoCardless
                                can't be reached (the draft is kept).
        """
        self.ensure_one()
        tx = self._gocardless_resumable_transaction()
        if not tx:
            tx = self._gocardless_new_collect_transaction()
            if auto_commit:
                # From here on, a later attempt finds this transaction and its key.
                self.env.cr.commit()  # pylint: disable=invalid-commit
        try:
            with self.env.cr.savepoint():
                return self._gocardless_collect(transaction=tx)
        except (UserError, ValidationError) as error:
            if not utils.is_transient(error) and tx.state == "draft":
                # Refused: the attempt ends in error through the pipeline.
                tx._gocardless_fail_attempt(error.args[0])
                if auto_commit:
                    self.env.cr.commit()  # pylint: disable=invalid-commit
            raise

    def _gocardless_resumable_transaction(self):
        """Return the draft collection of an interrupted attempt on the invoice, if any.

        Note: self.ensure_one()

        :rtype: payment.transaction
        """
        self.ensure_one()
        return self.sudo().transaction_ids.filtered(
            lambda tx: (
                tx.provider_code == const.PROVIDER_CODE
                and tx.operation == "offline"
                and tx.state == "draft"
                and not tx.provider_reference
            )
        )[:1]

    def _gocardless_collect(self, charge_date=None, transaction=None):
        """Create the debit of what is left to pay on the invoice, on the customer's mandate.

        Note: self.ensure_one()

        :param datetime.date charge_date: When to collect it (by default as soon as possible).
        :param payment.transaction transaction: A draft transaction of this collection already
                                                created (a collection resumed after a crash:
                                                same reference, same idempotency key).
        :return: The transaction.
        :rtype: payment.transaction
        :raise UserError: If the invoice can't be collected by direct debit now.
        :raise ValidationError: If the guard or GoCardless refuses the debit.
        """
        self.ensure_one()
        tx = transaction or self._gocardless_new_collect_transaction(charge_date)
        token = tx.token_id
        tx._send_payment_request()
        tx.provider_id._gocardless_ensure_creditor_identifiers()
        self.message_post(
            body=self.env._(
                "Direct debit of %(amount)s requested on the mandate %(mandate)s: GoCardless "
                "collects it on %(date)s.",
                amount=format_amount(self.env, tx.amount, tx.currency_id),
                mandate=(
                    f"{token.gocardless_mandate_reference} ({token.provider_ref})"
                    if token.gocardless_mandate_reference
                    else token.provider_ref
                ),
                date=format_date(self.env, tx.gocardless_charge_date) or "?",
            )
        )
        return tx

    def _gocardless_new_collect_transaction(self, charge_date=None):
        """Create the draft transaction collecting the invoice on the customer's mandate.

        Note: self.ensure_one()

        :rtype: payment.transaction
        :raise UserError: If the invoice can't be collected by direct debit now.
        """
        self.ensure_one()
        token = self.gocardless_token_id
        if not token:
            raise UserError(
                self.env._(
                    "GoCardless: the invoice %(invoice)s cannot be collected by direct debit: it "
                    "must be posted, unpaid, offered for direct debit, without a debit under way, "
                    "and its customer must have a saved mandate.",
                    invoice=self.display_name,
                )
            )
        Transaction = self.env["payment.transaction"].sudo()
        invoice_ids = [Command.set(self.ids)]
        return Transaction.create(
            {
                "provider_id": token.provider_id.id,
                "payment_method_id": token.payment_method_id.id,
                "reference": Transaction._compute_reference(
                    token.provider_id.code, invoice_ids=invoice_ids
                ),
                "amount": self.amount_residual,
                "currency_id": self.currency_id.id,
                "partner_id": token.partner_id.id,
                "token_id": token.id,
                "operation": "offline",
                "invoice_ids": invoice_ids,
                "gocardless_requested_charge_date": charge_date,
            }
        )

    def action_gocardless_cancel_debit(self):
        """Cancel the invoice's scheduled direct debit at GoCardless (the merchant's button).

        :return: None
        :raise UserError: If the debit can no longer be cancelled.
        :raise AccessError: If the user may not manage the invoices.
        """
        utils.check_merchant_rights(self, group="account.group_account_invoice")
        for move in self:
            txs = move._gocardless_cancellable_debits()
            if not txs:
                raise UserError(
                    self.env._(
                        "GoCardless: the invoice %(invoice)s has no direct debit that can still "
                        "be cancelled.",
                        invoice=move.display_name,
                    )
                )
            for tx in txs:
                if not tx._gocardless_cancel_debit():
                    raise UserError(
                        self.env._(
                            "GoCardless: the direct debit of %(invoice)s is already %(status)s "
                            "and can no longer be cancelled.",
                            invoice=move.display_name,
                            status=tx.gocardless_payment_status,
                        )
                    )
                move.sudo().message_post(
                    body=self.env._(
                        "Direct debit %(payment)s cancelled at GoCardless by %(user)s.",
                        payment=tx.provider_reference,
                        user=self.env.user.name,
                    )
                )

    def action_gocardless_retry_debit(self):
        """Submit the invoice's failed direct debit again at GoCardless (the merchant's button).

        :return: None
        :raise UserError: If the debit can't be retried.
        :raise AccessError: If the user may not manage the invoices.
        """
        utils.check_merchant_rights(self, group="account.group_account_invoice")
        for move in self:
            tx = move._gocardless_last_debit()
            if not tx or not tx.token_id.active:
                raise UserError(
                    self.env._(
                        "GoCardless: the invoice %(invoice)s has no failed direct debit on an "
                        "active mandate to retry.",
                        invoice=move.display_name,
                    )
                )
            tx._gocardless_retry_debit()
            move.message_post(
                body=self.env._(
                    "Direct debit %(payment)s submitted again: GoCardless collects it on %(date)s.",
                    payment=tx.provider_reference,
                    date=format_date(self.env, tx.gocardless_charge_date) or "?",
                )
            )

    # === BUSINESS METHODS === #

    def _gocardless_has_pending_debit(self):
        """Return whether a GoCardless debit of the invoice is under way.

        Note: self.ensure_one()

        :rtype: bool
        """
        self.ensure_one()
        return any(
            tx.provider_code == const.PROVIDER_CODE and tx.state in const.DEBIT_UNDER_WAY_STATES
            for tx in self.sudo().transaction_ids
        )

    def _gocardless_sent_debits(self):
        """Return the invoice's GoCardless debits that have a GoCardless payment.

        Note: self.ensure_one()

        :rtype: payment.transaction
        """
        self.ensure_one()
        return self.sudo().transaction_ids.filtered(
            lambda tx: (
                tx.provider_code == const.PROVIDER_CODE
                and tx.operation in const.DEBIT_OPERATIONS
                and tx.provider_reference
            )
        )

    def _gocardless_last_debit(self):
        """Return the invoice's last GoCardless debit that has a GoCardless payment.

        Note: self.ensure_one()

        :rtype: payment.transaction
        """
        self.ensure_one()
        return self._gocardless_sent_debits().sorted("id", reverse=True)[:1]

    def _gocardless_cancellable_debits(self):
        """Return the invoice's debits under way that GoCardless still lets Odoo cancel.

        Note: self.ensure_one()

        :rtype: payment.transaction
        """
        self.ensure_one()
        return self.sudo().transaction_ids.filtered(
            lambda tx: (
                tx.provider_code == const.PROVIDER_CODE
                and tx.operation in const.DEBIT_OPERATIONS
                and tx.provider_reference
                and tx.state in const.DEBIT_UNDER_WAY_STATES
                and tx.gocardless_payment_status in const.PAYMENT_CANCELLABLE_STATUSES
            )
        )

    def _gocardless_queue_auto_collect(self):
        """Queue the automatic collection of the posted invoices whose customer has a mandate.

        Only for companies whose GoCardless provider collects automatically; the collection
        itself runs in the background (`_cron_gocardless_auto_collect`), paced under
        GoCardless's rate limit.
        """
        Provider = self.env["payment.provider"]
        candidates = self.filtered(
            lambda m: (
                m.move_type == "out_invoice"
                and m.gocardless_offered
                and not m.gocardless_auto_collect_state
            )
        )
        queued = self.browse()
        for company, moves in candidates.grouped("company_id").items():
            if not Provider._gocardless_get_for_company(company).gocardless_auto_collect:
                continue
            queued |= moves.filtered(lambda m: m._gocardless_is_payable() and m.gocardless_token_id)
        if queued:
            queued.sudo().gocardless_auto_collect_state = "queued"
            self.env.ref("isanet_gocardless.cron_gocardless_auto_collect")._trigger()

    def _gocardless_unqueue_auto_collect(self):
        """Take the invoices out of the automatic collection's queue, saying why."""
        queued = self.filtered(lambda m: m.gocardless_auto_collect_state == "queued").sudo()
        queued.gocardless_auto_collect_state = False
        for move in queued:
            move.message_post(
                body=self.env._(
                    "Automatic direct debit not requested: the GoCardless provider no longer "
                    "collects automatically."
                )
            )

    @api.model
    def _cron_gocardless_auto_collect(self):
        """Collect the queued invoices, each its own debit, paced under the rate limit.

        Resumable: each invoice's transaction is committed before GoCardless is called, so a
        run that stops (crash, time limit, GoCardless down) resumes with the same transaction,
        whose idempotency key makes GoCardless answer with the payment already created instead
        of a second one. Also cancels the debits whose invoice no longer needs them.
        """
        self = self.with_context(gocardless_request_profile="background")
        auto_commit = not getattr(threading.current_thread(), "testing", False)
        deadline = time.monotonic() + AUTO_COLLECT_TIME_BUDGET
        self._gocardless_keep_debits_within_due_batch(auto_commit)
        domain = [("gocardless_auto_collect_state", "=", "queued")]
        move_ids = self.sudo().search(domain, order="id", limit=AUTO_COLLECT_BATCH_SIZE).ids
        done = 0
        for move_id in move_ids:
            if time.monotonic() > deadline:
                break
            # One invoice at a time: the whole batch is not recomputed after each commit. In
            # its company's language: the invoice's chatter is the merchant's.
            move = self.sudo().browse(move_id)
            move = move.with_company(move.company_id).with_context(
                lang=move.company_id.partner_id.lang or self.env.lang
            )
            try:
                move._gocardless_auto_collect_one(auto_commit)
            except ValidationError as error:
                # Only a transient failure comes here: the invoice stays queued, its
                # transaction kept for the next run; GoCardless down, the rest waits too.
                _logger.warning(
                    "gocardless: automatic collection of %s stopped: %s", move.name, error
                )
                if auto_commit:
                    self.env.cr.rollback()
                if getattr(error, "kind", None) != "rate_limited":
                    break
                continue
            done += 1
            if auto_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit
        remaining = self.sudo().search_count(domain)
        self.env["ir.cron"]._notify_progress(done=done, remaining=remaining)
        return done

    def _gocardless_auto_collect_one(self, auto_commit=False):
        """Collect one queued invoice on its customer's mandate, on its due date.

        Note: self.ensure_one()

        :param bool auto_commit: Commit the new transaction before calling GoCardless.
        :return: None
        :raise GoCardlessRequestError: If GoCardless can't be reached (the invoice stays queued).
        """
        self.ensure_one()
        provider = self.env["payment.provider"]._gocardless_get_for_company(self.company_id)
        if not provider.gocardless_auto_collect:
            # Disabled, or automatic collection unticked, since the invoice was queued.
            self._gocardless_unqueue_auto_collect()
            return
        resumed = self._gocardless_resumable_transaction()
        today = fields.Date.context_today(self)
        due = self.invoice_date_due
        charge_date = due if due and due > today else None
        tx = resumed
        try:
            if not tx:
                if not self._gocardless_is_payable():
                    raise UserError(
                        self.env._(
                            "GoCardless: the invoice %(invoice)s is no longer waiting for "
                            "payment by direct debit.",
                            invoice=self.display_name,
                        )
                    )
                tx = self._gocardless_new_collect_transaction(charge_date)
                if auto_commit:
                    # From here on, a resumed run finds this transaction and its key.
                    self.env.cr.commit()  # pylint: disable=invalid-commit
            with self.env.cr.savepoint():
                self._gocardless_collect(transaction=tx)
            self.sudo().gocardless_auto_collect_state = "requested"
        except (UserError, ValidationError) as error:
            if utils.is_transient(error):
                raise
            reason = error.args[0]
            self.sudo().gocardless_auto_collect_state = "refused"
            if tx:
                tx._gocardless_fail_attempt(reason)
            self.sudo().message_post(
                body=self.env._("Automatic direct debit not requested: %(reason)s", reason=reason)
            )

    # === THE RULE: THE DEBITS UNDER WAY NEVER EXCEED WHAT IS DUE === #

    def button_draft(self):
        """Override of `account` to keep the debits of the reset invoices to what is due.

        Cancelling a posted invoice resets it first (`button_cancel` calls `button_draft`).
        """
        utils.check_merchant_rights(self)
        res = super().button_draft()
        self._gocardless_keep_debits_within_due()
        return res

    def _gocardless_keep_debits_within_due(self):
        """Re-establish on the invoices the rule: their debits under way never exceed what is due.

        Called on every change that can break it: the amount due (a payment, a credit note or a
        write-off matched, a reconciliation undone, the invoice reset or cancelled), the offer
        taken off, the provider disabled, the mandate's token archived; and by the hourly sweep.

        A debit under way (its GoCardless payment pending, or collected and not booked yet)
        breaks the rule when it is above what the one guard would let it debit now: what its
        invoices still owe by direct debit on its mandate, less their other debits under way.
        Then:

        - while GoCardless can still cancel it, it is cancelled, and what is still due is
          scheduled again on the same mandate and date, the customer told the new amount;
        - once submitted it can't be changed: the merchant gets one activity (updated, never
          repeated, on later changes); once collected, the surplus stays as the customer's
          credit, refunded to the mandate by *Refund Direct Debit Surplus*.

        GoCardless unreachable: the debit is left to the sweep (`_cron_gocardless_auto_collect`).

        :return: None
        """
        invoices = self.filtered(lambda m: isinstance(m.id, int) and m.move_type == "out_invoice")
        txs = invoices._gocardless_debits_under_way()
        if not txs:
            return
        cancellable = txs.filtered(
            lambda tx: (
                tx.state in const.DEBIT_UNDER_WAY_STATES
                and tx.gocardless_payment_status in const.PAYMENT_CANCELLABLE_STATUSES
            )
        )
        settled = txs.browse()
        # The debits that can be changed make room first, the newest first.
        for tx in cancellable + (txs - cancellable):
            currency = tx.currency_id.name
            room = self._gocardless_debit_room(tx, tx.invoice_ids, settled)
            excess = amounts.to_minor_units(tx.amount, currency) - room
            if excess <= 0:
                continue
            if tx in cancellable:
                cancelled = self._gocardless_replace_debit(tx, settled)
                if cancelled is None:
                    continue
                if cancelled:
                    settled |= tx
                    continue
            self._gocardless_flag_surplus(tx, float(amounts.from_minor_units(excess, currency)))

    def _gocardless_debit_invoices(self):
        """Return the customer invoices among the moves that have GoCardless debits."""
        return self.filtered(
            lambda m: (
                m.move_type == "out_invoice"
                and any(tx.provider_code == const.PROVIDER_CODE for tx in m.sudo().transaction_ids)
            )
        )

    def _gocardless_debits_under_way(self):
        """Return the GoCardless debits of the invoices that may still take money, newest first.

        Those with a GoCardless payment pending, and those collected whose accounting payment is
        not booked yet (the invoice's amount due does not show them).

        :rtype: payment.transaction
        """
        # From the invoices' transactions (read once, often already in the cache), not with a
        # search: no query, and no flush of what is being written.
        txs = (
            self.filtered(lambda move: isinstance(move.id, int))
            .sudo()
            .transaction_ids.filtered(
                lambda tx: (
                    tx.provider_code == const.PROVIDER_CODE
                    and tx.operation in const.DEBIT_OPERATIONS
                    and tx.provider_reference
                    and (
                        tx.state in const.DEBIT_UNDER_WAY_STATES
                        or (tx.state == "done" and not tx.payment_id)
                    )
                )
            )
        )
        return txs.sorted("id", reverse=True)

    @api.model
    def _gocardless_debit_room(self, tx, invoices, settled):
        """Return what the debit ``tx`` may take on ``invoices`` now, in minor units.

        What they still owe by direct debit (posted, unpaid, offered, of the provider's company
        and the debit's currency) on a mandate that may still be charged, by a provider still
        enabled, less their other debits under way (``tx`` and those ``settled`` aside).

        :param payment.transaction tx: The debit.
        :param account.move invoices: The invoices it would pay.
        :param payment.transaction settled: Debits cancelled meanwhile (not under way any more).
        :rtype: int
        """
        currency = tx.currency_id
        token = tx.token_id
        if tx.provider_id.state not in ("enabled", "test"):
            return 0
        if token and (
            not token.active or token.gocardless_mandate_status in const.MANDATE_ENDED_STATUSES
        ):
            return 0
        payable = invoices.filtered(
            lambda m: (
                m._gocardless_is_payable()
                and m.company_id == tx.provider_id.company_id
                and m.currency_id == currency
            )
        )
        if not payable:
            return 0
        due = sum(amounts.to_minor_units(m.amount_residual, currency.name) for m in payable)
        others = payable._gocardless_debits_under_way() - tx - settled
        already = sum(amounts.to_minor_units(o.amount, currency.name) for o in others)
        return debits.available(due, already)

    @api.model
    def _gocardless_replace_debit(self, tx, settled):
        """Cancel the debit ``tx`` at GoCardless and schedule again what is still due.

        The new debit is taken on the same mandate and date, for what the guard lets it debit on
        the invoices still open (a debit of several invoices, one of them paid, is replaced by
        one of the others); the customer is told its new amount (SEPA's pre-notification).

        :param payment.transaction tx: The debit, cancellable at GoCardless.
        :param payment.transaction settled: Debits already cancelled in this pass.
        :return: Whether it was cancelled; None if GoCardless could not be asked now.
        :rtype: bool | None
        """
        invoices = tx.invoice_ids
        try:
            with self.env.cr.savepoint():
                cancelled = tx._gocardless_cancel_debit()
        except ValidationError as error:
            _logger.warning(
                "gocardless: debit %s of %s not cancelled now: %s",
                tx.reference,
                ", ".join(invoices.mapped("name")),
                error,
            )
            self.env.ref("isanet_gocardless.cron_gocardless_auto_collect")._trigger()
            return None
        if not cancelled:
            return False
        settled |= tx
        payable = invoices.filtered(lambda m: m._gocardless_is_payable())
        room = self._gocardless_debit_room(tx, payable, settled) if payable else 0
        if room <= 0:
            for move in invoices:
                move.sudo().message_post(
                    body=self.env._(
                        "Direct debit %(payment)s cancelled at GoCardless: the invoice no longer "
                        "needs it.",
                        payment=tx.provider_reference,
                    )
                )
            return True
        new_tx = self._gocardless_remainder_transaction(tx, payable, room)
        try:
            with self.env.cr.savepoint():
                new_tx._send_payment_request()
        except (UserError, ValidationError) as error:
            if utils.is_transient(error):
                # Kept in draft with its key: the automatic collection resumes it.
                payable[:1].sudo().gocardless_auto_collect_state = "queued"
                self.env.ref("isanet_gocardless.cron_gocardless_auto_collect")._trigger()
            else:
                new_tx._gocardless_fail_attempt(error.args[0])
            for move in invoices:
                move.sudo().message_post(
                    body=self.env._(
                        "Direct debit %(payment)s cancelled at GoCardless: it was above what is "
                        "due. The remaining %(amount)s could not be scheduled again: %(reason)s",
                        payment=tx.provider_reference,
                        amount=format_amount(self.env, new_tx.amount, new_tx.currency_id),
                        reason=error.args[0],
                    )
                )
            return True
        for move in invoices:
            move.sudo().message_post(
                body=self.env._(
                    "Direct debit %(payment)s cancelled at GoCardless: it was above what is "
                    "due. Replaced by the direct debit %(new_payment)s of %(amount)s, collected "
                    "on %(date)s.",
                    payment=tx.provider_reference,
                    new_payment=new_tx.provider_reference,
                    amount=format_amount(self.env, new_tx.amount, new_tx.currency_id),
                    date=format_date(self.env, new_tx.gocardless_charge_date) or "?",
                )
            )
        payable._gocardless_send_pre_notice()
        return True

    @api.model
    def _gocardless_remainder_transaction(self, tx, invoices, room):
        """Create the draft debit of what is still due on ``invoices``, in place of ``tx``.

        :param payment.transaction tx: The debit cancelled.
        :param account.move invoices: The invoices still open among its invoices.
        :param int room: What the new debit takes, in minor units.
        :rtype: payment.transaction
        """
        Transaction = self.env["payment.transaction"].sudo()
        invoice_ids = [Command.set(invoices.ids)]
        return Transaction.create(
            {
                "provider_id": tx.provider_id.id,
                "payment_method_id": tx.payment_method_id.id,
                "reference": Transaction._compute_reference(
                    tx.provider_id.code, invoice_ids=invoice_ids
                ),
                "amount": float(amounts.from_minor_units(room, tx.currency_id.name)),
                "currency_id": tx.currency_id.id,
                "partner_id": tx.partner_id.id,
                "token_id": tx.token_id.id,
                "operation": "offline",
                "invoice_ids": invoice_ids,
                "gocardless_requested_charge_date": (
                    tx.gocardless_charge_date or tx.gocardless_requested_charge_date
                ),
            }
        )

    def _gocardless_send_pre_notice(self):
        """Send the customers of the invoices the pre-notification of their scheduled debit.

        The same text as the invoice's email, PDF and portal page (`gocardless_pre_notice`), in
        the customer's language, by email from the invoice's chatter.
        """
        for move in self:
            partner = move.partner_id
            notice = move.with_context(lang=partner.lang or None)._gocardless_pre_notice_text()
            if not notice:
                continue
            move.sudo().message_post(
                body=notice,
                partner_ids=partner.ids,
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
            )

    def _gocardless_surplus_activities(self, invoices):
        """Return the surplus activities of ``invoices``, in whichever installed language they
        were written."""
        summaries = {
            self.with_context(lang=lang).env._("Direct debit above what is due")
            for lang, _name in self.env["res.lang"].get_installed()
        }
        return (
            self.env["mail.activity"]
            .sudo()
            .search(
                [
                    ("res_model", "=", "account.move"),
                    ("res_id", "in", invoices.ids),
                    ("summary", "in", list(summaries)),
                ]
            )
        )

    @api.model
    def _gocardless_flag_surplus(self, tx, surplus):
        """Tell the merchant, once, that a debit that can't be changed is above what is due.

        One activity on its (first) invoice, for who follows it up: on later changes its note
        is brought up to date, never repeated.

        :param payment.transaction tx: The debit, submitted or collected.
        :param float surplus: What it takes above what is due.
        """
        invoice = tx.invoice_ids.sorted("id")[:1]
        activities = self._gocardless_surplus_activities(invoice)
        tx_company, user = tx._gocardless_notice_env(invoice)
        tx_user = tx._gocardless_user_env(invoice, user) if user else tx_company
        note = invoice.with_env(tx_user.env)._gocardless_surplus_note(tx_user, surplus)
        if activities:
            activities.write({"note": note})
            return
        invoice.with_env(tx_company.env).sudo().message_post(
            body=invoice.with_env(tx_company.env)._gocardless_surplus_note(tx_company, surplus)
        )
        if user:
            invoice.sudo().activity_schedule(
                "mail.mail_activity_data_todo",
                summary=tx_user.env._("Direct debit above what is due"),
                note=note,
                user_id=user.id,
            )

    def _gocardless_surplus_note(self, tx, surplus):
        """Return the sentence telling the merchant of a debit above what is due."""
        return self.env._(
            "The direct debit %(payment)s of %(amount)s is already %(status)s at GoCardless and "
            "could not be cancelled: it takes %(surplus)s more than is due on %(invoices)s. "
            "Once GoCardless collects it, the surplus stays as the customer's credit: refund it "
            'to the mandate with "Refund Direct Debit Surplus" on the invoice.',
            payment=tx.provider_reference,
            amount=format_amount(self.env, tx.amount, tx.currency_id),
            status=tx.gocardless_payment_status or tx.state,
            surplus=format_amount(self.env, surplus, tx.currency_id),
            invoices=", ".join(tx.invoice_ids.mapped("display_name")),
        )

    @api.model
    def _gocardless_keep_debits_within_due_batch(self, auto_commit=False):
        """Re-establish the rule on the invoices whose debits may break it (the cron's sweep).

        The debits GoCardless can still cancel whose invoice is no longer open, partly paid,
        no longer offered, whose mandate's token is archived or whose provider is disabled: a
        change a hook could not act on (GoCardless unreachable then, a change made in SQL).
        """
        txs = self.env["payment.transaction"]._gocardless_debits_under_way(
            [
                ("provider_code", "=", const.PROVIDER_CODE),
                ("gocardless_payment_status", "in", sorted(const.PAYMENT_CANCELLABLE_STATUSES)),
                "|",
                "|",
                "|",
                "|",
                ("invoice_ids.state", "!=", "posted"),
                ("invoice_ids.payment_state", "!=", "not_paid"),
                ("invoice_ids.gocardless_offered", "=", False),
                ("token_id.active", "=", False),
                ("provider_id.state", "=", "disabled"),
            ],
            order="id",
        )
        invoices = txs.invoice_ids
        for start in range(0, len(invoices), CANCEL_BATCH_SIZE):
            batch = invoices[start : start + CANCEL_BATCH_SIZE]
            for company in batch.company_id:
                batch.filtered(
                    lambda move, company=company: move.company_id == company
                ).with_company(company).with_context(
                    lang=company.partner_id.lang or self.env.lang
                )._gocardless_keep_debits_within_due()
            if auto_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit

    # === THE SURPLUS OF A DEBIT THAT COULD NOT BE CHANGED === #

    @api.depends("transaction_ids.state", "transaction_ids.payment_id", "amount_residual")
    def _compute_gocardless_debit_surplus(self):
        for move in self:
            move.gocardless_debit_surplus = sum(
                surplus for _tx, surplus in move._gocardless_debit_surpluses()
            )

    def _gocardless_debit_surpluses(self):
        """Return the collected debits of the invoice that left the customer a credit.

        A debit that could not be changed when the invoice was paid otherwise: its booked
        payment keeps, unmatched, what it took above what was due, less the refunds of it on
        their way (or made and not matched with it).

        Note: self.ensure_one()

        :return: ``(transaction, surplus)`` pairs.
        :rtype: list
        """
        self.ensure_one()
        result = []
        for tx in self.sudo().transaction_ids:
            payment = tx.payment_id
            if not (
                tx.provider_code == const.PROVIDER_CODE
                and tx.operation in const.DEBIT_OPERATIONS
                and tx.state == "done"
                and payment
                and payment.state != "canceled"
                and payment.payment_type == "inbound"
            ):
                continue
            lines = payment.move_id.line_ids.filtered(
                lambda line, payment=payment: line.account_id == payment.destination_account_id
            )
            credit = -sum(lines.mapped("amount_residual_currency"))
            refunding = sum(
                -refund.amount
                for refund in tx.child_transaction_ids
                if refund.operation == "refund"
                and refund.state in ("draft", "pending", "authorized", "done")
                and not refund.payment_id.is_reconciled
            )
            surplus = tx.currency_id.round(min(credit - refunding, tx.amount))
            if tx.currency_id.compare_amounts(surplus, 0) > 0:
                result.append((tx, surplus))
        return result

    def action_gocardless_refund_surplus(self):
        """Refund to the customer's mandate what a collected debit took above what was due.

        The merchant's button: through the refund flow of the debit's transaction (a GoCardless
        refund of the surplus, followed by its events), the surplus activity closed.

        :return: None
        :raise AccessError: If the user may not manage these invoices.
        :raise UserError: If there is no surplus to refund.
        """
        utils.check_merchant_rights(self)
        if not self.env.user.has_group("account.group_account_invoice"):
            raise AccessError(
                self.env._("GoCardless: only invoicing users can refund direct debits.")
            )
        for move in self:
            surpluses = move._gocardless_debit_surpluses()
            if not surpluses:
                move._gocardless_explain_unconfirmed_refunds()
                raise UserError(
                    self.env._(
                        "GoCardless: no direct debit of the invoice %(invoice)s took more than "
                        "was due.",
                        invoice=move.display_name,
                    )
                )
            for tx, surplus in surpluses:
                refund_tx = tx._send_refund_request(amount_to_refund=surplus)
                body = self.env._(
                    "Refund of %(amount)s sent to the mandate of the direct debit %(payment)s "
                    "(transaction %(reference)s).",
                    amount=format_amount(self.env, surplus, tx.currency_id),
                    payment=tx.provider_reference,
                    reference=refund_tx.reference,
                )
                move.sudo().message_post(body=body)
                activities = self._gocardless_surplus_activities(tx.invoice_ids)
                if activities:
                    activities.action_feedback(feedback=body)

    def _gocardless_explain_unconfirmed_refunds(self):
        """Tell why a surplus is not refunded while a refund of it got no answer.

        The refunds of the invoice's debits whose answer was lost are looked up (see
        `payment.transaction._gocardless_settle_unconfirmed_refunds`): what is found is kept
        (committed: the door owns its database transaction), and the surplus activities are
        closed once no refund is left unresolved.

        Note: self.ensure_one()

        :return: None
        :raise UserError: If a refund of the invoice's debits got no answer.
        """
        self.ensure_one()
        debits = self._gocardless_sent_debits()
        messages = [
            message for tx in debits for message in tx._gocardless_settle_unconfirmed_refunds()
        ]
        if not messages:
            return
        body = "\n".join(messages)
        unresolved = debits.child_transaction_ids.filtered_domain(
            debits._gocardless_unconfirmed_refund_domain()
        )
        if not unresolved:
            activities = self._gocardless_surplus_activities(self)
            if activities:
                activities.action_feedback(feedback=body)
        debits[:1]._gocardless_commit_attempt()
        raise UserError(body)


class PaymentProvider(models.Model):
    _inherit = "payment.provider"  # pylint: disable=consider-merging-classes-inherited

    def write(self, vals):
        """Override of `payment` to keep the invoices' debits to what the provider still does.

        Disabled: its debits GoCardless can still cancel are cancelled (nothing is due by
        direct debit any more). Disabled or automatic collection unticked: the invoices queued
        for automatic collection are taken out of the queue, not collected.
        """
        res = super().write(vals)
        if "state" not in vals and "gocardless_auto_collect" not in vals:
            return res
        providers = self.filtered(lambda p: p.code == const.PROVIDER_CODE)
        if not providers:
            return res
        Move = self.env["account.move"].sudo()
        companies = providers.company_id.filtered(
            lambda company: not self._gocardless_get_for_company(company).gocardless_auto_collect
        )
        if companies:
            Move.search(
                [
                    ("gocardless_auto_collect_state", "=", "queued"),
                    ("company_id", "in", companies.ids),
                ]
            )._gocardless_unqueue_auto_collect()
        disabled = providers.filtered(lambda p: p.state == "disabled")
        if disabled:
            self.env["payment.transaction"]._gocardless_keep_invoices_within_due(
                [("provider_id", "in", disabled.ids)]
            )
        return res


class PaymentToken(models.Model):
    _inherit = "payment.token"  # pylint: disable=consider-merging-classes-inherited

    def write(self, vals):
        """Override of `payment` to cancel the debits of a mandate whose token is archived.

        A mandate GoCardless ended cancels its payments there itself (context key
        ``gocardless_mandate_ended``); a token archived in Odoo (the customer deleting a saved
        payment method) leaves them scheduled: they are cancelled while GoCardless can.
        """
        archived = self.browse()
        if vals.get("active") is False and not self.env.context.get("gocardless_mandate_ended"):
            archived = self.filtered(lambda t: t.active and t.provider_code == const.PROVIDER_CODE)
        res = super().write(vals)
        if archived:
            self.env["payment.transaction"]._gocardless_keep_invoices_within_due(
                [("token_id", "in", archived.ids)]
            )
        return res


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"  # pylint: disable=consider-merging-classes-inherited

    @api.model
    def _gocardless_debits_under_way(self, domain, order=None):
        """Return the debits of ``domain`` sent to GoCardless and not collected yet (it may
        still let Odoo cancel them)."""
        return self.sudo().search(
            [
                ("operation", "in", const.DEBIT_OPERATIONS),
                ("state", "in", const.DEBIT_UNDER_WAY_STATES),
                ("provider_reference", "!=", False),
                *domain,
            ],
            order=order,
        )

    @api.model
    def _gocardless_keep_invoices_within_due(self, domain):
        """Keep to what is due the invoices of the debits under way of ``domain``."""
        self._gocardless_debits_under_way(domain).invoice_ids._gocardless_keep_debits_within_due()

    def _create_payment(self, **extra_create_values):
        """Override of `account_payment` to match a GoCardless refund with the credit it repays.

        A refund of a debit's surplus (see `account.move.action_gocardless_refund_surplus`)
        repays the customer's credit the debit's payment left open: the refund's payment is
        matched with it, so that the customer's account shows neither any more.
        """
        payment = super()._create_payment(**extra_create_values)
        source = self.source_transaction_id.payment_id
        if (
            self.provider_code == const.PROVIDER_CODE
            and self.operation == "refund"
            and source
            and source.state != "canceled"
        ):
            lines = (payment.move_id.line_ids | source.move_id.line_ids).filtered(
                lambda line: (
                    line.account_id == payment.destination_account_id and not line.reconciled
                )
            )
            if lines.filtered("debit") and lines.filtered("credit"):
                lines.reconcile()
        return payment
