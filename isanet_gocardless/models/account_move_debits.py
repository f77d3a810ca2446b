"""The direct debits of an invoice: collect (now, or queued for its due date), cancel,
retry, and keep them to what the invoice still needs."""

import logging
import threading
import time

from odoo import Command, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import format_amount, format_date

from .. import const, utils

_logger = logging.getLogger(__name__)

# Invoices the automatic collection takes per cron run, and the seconds it may work.
AUTO_COLLECT_BATCH_SIZE = 1000
AUTO_COLLECT_TIME_BUDGET = 45
# Debits whose invoice no longer needs them, cancelled per cron run.
CANCEL_BATCH_SIZE = 200


class AccountMove(models.Model):
    _inherit = "account.move"  # pylint: disable=consider-merging-classes-inherited

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
                tx._set_error(error.args[0])
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
            tx.provider_code == const.PROVIDER_CODE and tx.state in ("pending", "authorized")
            for tx in self.sudo().transaction_ids
        )

    def _gocardless_last_debit(self):
        """Return the invoice's last GoCardless debit that has a GoCardless payment.

        Note: self.ensure_one()

        :rtype: payment.transaction
        """
        self.ensure_one()
        txs = self.sudo().transaction_ids.filtered(
            lambda tx: (
                tx.provider_code == const.PROVIDER_CODE
                and tx.operation in const.DEBIT_OPERATIONS
                and tx.provider_reference
            )
        )
        return txs.sorted("id", reverse=True)[:1]

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
        self._gocardless_cancel_obsolete_debits_batch(auto_commit)
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
            if tx and tx.state == "draft":
                tx._set_error(reason)
            self.sudo().message_post(
                body=self.env._("Automatic direct debit not requested: %(reason)s", reason=reason)
            )

    def button_draft(self):
        """Override of `account` to cancel the debits the reset invoices no longer need."""
        utils.check_merchant_rights(self)
        res = super().button_draft()
        self._gocardless_cancel_obsolete_debits()
        return res

    def _gocardless_cancel_obsolete_debits(self):
        """Cancel at GoCardless the debits of invoices that no longer need them.

        An invoice reset to draft, cancelled, credited or paid otherwise: its debits that
        GoCardless still lets cancel are cancelled (the transaction follows through the
        pipeline); one GoCardless can't be asked now is left to the cron.

        :return: None
        """
        for move in self:
            if move.state == "posted" and move.payment_state in const.UNPAID_PAYMENT_STATES:
                continue
            for tx in move._gocardless_cancellable_debits():
                try:
                    with self.env.cr.savepoint():
                        cancelled = tx._gocardless_cancel_debit()
                except ValidationError as error:
                    _logger.warning(
                        "gocardless: debit %s of %s not cancelled now: %s",
                        tx.reference,
                        move.name,
                        error,
                    )
                    self.env.ref("isanet_gocardless.cron_gocardless_auto_collect")._trigger()
                    continue
                if cancelled:
                    body = self.env._(
                        "Direct debit %(payment)s cancelled at GoCardless: the invoice no longer "
                        "needs it.",
                        payment=tx.provider_reference,
                    )
                else:
                    body = self.env._(
                        "The direct debit %(payment)s is already %(status)s at GoCardless and "
                        "could not be cancelled: refund it once collected.",
                        payment=tx.provider_reference,
                        status=tx.gocardless_payment_status,
                    )
                move.sudo().message_post(body=body)

    @api.model
    def _gocardless_cancel_obsolete_debits_batch(self, auto_commit=False):
        """Cancel the debits whose invoice no longer needs them (the cron's sweep)."""
        txs = (
            self.env["payment.transaction"]
            .sudo()
            .search(
                [
                    ("provider_code", "=", const.PROVIDER_CODE),
                    ("operation", "in", const.DEBIT_OPERATIONS),
                    ("state", "in", const.DEBIT_UNDER_WAY_STATES),
                    ("provider_reference", "!=", False),
                    (
                        "gocardless_payment_status",
                        "in",
                        sorted(const.PAYMENT_CANCELLABLE_STATUSES),
                    ),
                    "|",
                    ("invoice_ids.state", "!=", "posted"),
                    ("invoice_ids.payment_state", "not in", const.UNPAID_PAYMENT_STATES),
                ],
                limit=CANCEL_BATCH_SIZE,
            )
        )
        for move in txs.invoice_ids:
            move = move.with_company(move.company_id).with_context(
                lang=move.company_id.partner_id.lang or self.env.lang
            )
            move._gocardless_cancel_obsolete_debits()
            if auto_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit
