import logging
import threading
import time

from odoo import Command, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import format_amount, format_date

from .. import const, utils

_logger = logging.getLogger(__name__)

# Payment states of an invoice that still has something to pay.
UNPAID_PAYMENT_STATES = ("not_paid", "partial")
# Invoices the automatic collection takes per cron run, and the seconds it may work.
AUTO_COLLECT_BATCH_SIZE = 1000
AUTO_COLLECT_TIME_BUDGET = 45
# Debits whose invoice no longer needs them, cancelled per cron run.
CANCEL_BATCH_SIZE = 200


class AccountMove(models.Model):
    _inherit = "account.move"

    gocardless_offered = fields.Boolean(
        string="Offer Direct Debit",
        help="Let the customer pay this invoice by GoCardless direct debit from the invoice's "
        "portal link. Set when the invoice is posted if the GoCardless provider offers direct "
        "debit on all invoices.",
        tracking=True,
        copy=False,
    )
    gocardless_offer_editable = fields.Boolean(
        string="Direct Debit Offer Editable",
        compute="_compute_gocardless_offer_editable",
    )
    gocardless_token_id = fields.Many2one(
        string="Direct Debit Mandate",
        comodel_name="payment.token",
        compute="_compute_gocardless_token_id",
        help="The customer's saved GoCardless mandate on which the invoice can be collected "
        "without the customer coming back.",
    )

    gocardless_debit_status = fields.Selection(
        string="Direct Debit",
        selection=[
            ("scheduled", "Scheduled"),
            ("submitted", "Submitted"),
            ("collected", "Collected"),
            ("retrying", "Retrying"),
            ("failed", "Failed"),
            ("cancelled", "Cancelled"),
        ],
        compute="_compute_gocardless_debit",
        store=True,
        index=True,
        copy=False,
        help="The status of the invoice's last GoCardless direct debit: scheduled (waiting for "
        "its charge date), submitted to the bank, collected, retrying (failed, GoCardless "
        "submits it again), failed or cancelled.",
    )
    gocardless_debit_charge_date = fields.Date(
        string="Direct Debit Charge Date",
        compute="_compute_gocardless_debit",
        store=True,
        copy=False,
        help="The date on which GoCardless collects (or collected) the invoice's last debit.",
    )
    gocardless_debit_transaction_id = fields.Many2one(
        string="Direct Debit Transaction",
        comodel_name="payment.transaction",
        compute="_compute_gocardless_debit_details",
    )
    gocardless_debit_amount = fields.Monetary(
        string="Direct Debit Amount",
        compute="_compute_gocardless_debit_details",
    )
    gocardless_debit_mandate = fields.Char(
        string="Direct Debit Mandate Reference",
        compute="_compute_gocardless_debit_details",
    )
    gocardless_debit_bank_account = fields.Char(
        string="Debited Bank Account",
        compute="_compute_gocardless_debit_details",
    )
    gocardless_debit_summary = fields.Char(
        string="Direct Debit Summary",
        compute="_compute_gocardless_debit_details",
    )
    gocardless_pre_notice = fields.Text(
        string="Direct Debit Pre-notification",
        compute="_compute_gocardless_pre_notice",
        help="What the customer is told of a scheduled debit (SEPA's pre-notification): when "
        "and how much, from which account, under which mandate and creditor identifier.",
    )
    gocardless_auto_collect_state = fields.Selection(
        string="Automatic Collection",
        selection=[
            ("queued", "Queued"),
            ("requested", "Requested"),
            ("refused", "Refused"),
        ],
        readonly=True,
        copy=False,
        index=True,
        help="Queued: GoCardless will be asked to collect the invoice on its due date. "
        "Requested: the debit was created. Refused: see why in the chatter.",
    )

    # === COMPUTE METHODS === #

    @api.depends(
        "transaction_ids.state",
        "transaction_ids.provider_reference",
        "transaction_ids.gocardless_payment_status",
        "transaction_ids.gocardless_retrying",
        "transaction_ids.gocardless_charge_date",
    )
    def _compute_gocardless_debit(self):
        for move in self:
            tx = move._gocardless_last_debit()
            status = False
            if tx:
                status = const.DEBIT_STATUS_BY_PAYMENT_STATUS.get(tx.gocardless_payment_status)
                if tx.gocardless_retrying and status in ("scheduled", "failed"):
                    status = "retrying"
            move.gocardless_debit_status = status
            move.gocardless_debit_charge_date = tx.gocardless_charge_date if tx else False

    @api.depends("gocardless_debit_status", "gocardless_debit_charge_date")
    def _compute_gocardless_debit_details(self):
        for move in self:
            tx = move._gocardless_last_debit()
            token = tx.token_id
            move.gocardless_debit_transaction_id = tx
            move.gocardless_debit_amount = tx.amount if tx else 0.0
            move.gocardless_debit_mandate = (
                token.gocardless_mandate_reference or token.provider_ref if token else False
            )
            move.gocardless_debit_bank_account = token.payment_details if token else False
            move.gocardless_debit_summary = move._gocardless_debit_summary_text(tx)

    def _gocardless_debit_summary_text(self, tx):
        """Return the merchant's one line on a debit on its way, or False."""
        self.ensure_one()
        status = self.gocardless_debit_status
        if status not in ("scheduled", "submitted", "retrying"):
            return False
        values = {
            "amount": format_amount(self.env, tx.amount, tx.currency_id),
            "date": format_date(self.env, tx.gocardless_charge_date) or "?",
            "account": tx.token_id.payment_details or "?",
            "mandate": self.gocardless_debit_mandate or "?",
        }
        if status == "scheduled":
            return self.env._(
                "Direct debit scheduled: %(amount)s on %(date)s from %(account)s (mandate "
                "%(mandate)s).",
                **values,
            )
        if status == "submitted":
            return self.env._(
                "Direct debit submitted to the bank: %(amount)s on %(date)s from %(account)s "
                "(mandate %(mandate)s).",
                **values,
            )
        return self.env._(
            "Direct debit being retried by GoCardless: %(amount)s on %(date)s from %(account)s "
            "(mandate %(mandate)s).",
            **values,
        )

    @api.depends("move_type", "state", "payment_state", "company_id")
    def _compute_gocardless_offer_editable(self):
        Provider = self.env["payment.provider"]
        for move in self:
            move.gocardless_offer_editable = bool(
                move._gocardless_is_open_customer_invoice()
                and Provider._gocardless_get_for_company(move.company_id)
            )

    @api.depends("partner_id", "company_id", "state", "payment_state", "transaction_ids.state")
    def _compute_gocardless_token_id(self):
        Token = self.env["payment.token"].sudo()
        # Invoices of one customer, company and currency share their mandate: one search.
        found = {}
        for move in self:
            token = Token
            if move._gocardless_is_payable() and not move._gocardless_has_pending_debit():
                key = (
                    move.company_id.id,
                    move.partner_id.commercial_partner_id.id,
                    move.currency_id.id,
                )
                if key in found:
                    move.gocardless_token_id = found[key]
                    continue
                token = found[key] = Token.search(
                    [
                        ("provider_id.code", "=", const.PROVIDER_CODE),
                        ("provider_id.state", "in", ("enabled", "test")),
                        ("provider_id.company_id", "=", move.company_id.id),
                        ("partner_id", "child_of", move.partner_id.commercial_partner_id.id),
                        ("payment_method_id.supported_currency_ids", "in", move.currency_id.ids),
                        (
                            "gocardless_mandate_status",
                            "not in",
                            sorted(const.MANDATE_ENDED_STATUSES),
                        ),
                    ],
                    order="id desc",
                    limit=1,
                )
            move.gocardless_token_id = token

    @api.depends("gocardless_debit_status", "gocardless_debit_charge_date")
    @api.depends_context("lang")
    def _compute_gocardless_pre_notice(self):
        for move in self:
            move.gocardless_pre_notice = move._gocardless_pre_notice_text()

    def _gocardless_pre_notice_text(self):
        """Return the pre-notification of the invoice's scheduled debit, or False.

        Note: self.ensure_one()

        :rtype: str | bool
        """
        self.ensure_one()
        if self.gocardless_debit_status not in ("scheduled", "retrying"):
            return False
        tx = self._gocardless_last_debit()
        if not tx.gocardless_charge_date or tx.state not in const.DEBIT_UNDER_WAY_STATES:
            return False
        token = tx.token_id
        provider = tx.provider_id
        return self.env._(
            "Direct debit pre-notification: %(amount)s will be debited on %(date)s from the "
            "bank account %(account)s under the mandate %(mandate)s, in favour of %(creditor)s "
            "(creditor identifier %(identifier)s).",
            amount=format_amount(self.env, tx.amount, tx.currency_id),
            date=format_date(self.env, tx.gocardless_charge_date),
            account=token.payment_details or "?",
            mandate=token.gocardless_mandate_reference or token.provider_ref or "?",
            creditor=provider.gocardless_creditor_name or self.company_id.name,
            identifier=provider._gocardless_creditor_identifier(token.payment_method_id) or "?",
        )

    # === CRUD METHODS === #

    def write(self, vals):
        if "gocardless_offered" in vals and not self.env.context.get("gocardless_offer_auto"):
            changed = self.filtered(
                lambda m: m.gocardless_offered != bool(vals["gocardless_offered"])
            )
            if any(not move.gocardless_offer_editable for move in changed):
                raise UserError(
                    self.env._(
                        "GoCardless: direct debit can only be offered on a posted, unpaid "
                        "customer invoice of a company with a GoCardless provider."
                    )
                )
        return super().write(vals)

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
        """
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

    def action_gocardless_retry_debit(self):
        """Submit the invoice's failed direct debit again at GoCardless (the merchant's button).

        :return: None
        :raise UserError: If the debit can't be retried.
        """
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

    def _get_invoice_in_payment_state(self):
        """Override of `account` to keep an invoice *In Payment* until its debit is paid out.

        Odoo asks this only of an invoice settled by a payment that is not matched yet. A
        GoCardless debit of a provider that pays invoices at payout waits on the clearing
        account until the payout carrying it empties its line (which matches the payment):
        until then the invoice is *In Payment*, then Odoo's own computation says *Paid*.
        """
        if len(self) == 1 and self._gocardless_waits_for_payout():
            return "in_payment"
        return super()._get_invoice_in_payment_state()

    def _gocardless_waits_for_payout(self):
        """Return whether a GoCardless debit settling the invoice waits for its payout.

        Note: self.ensure_one()

        :rtype: bool
        """
        self.ensure_one()
        if not self.is_sale_document(include_receipts=True):
            return False
        transactions = self.sudo().transaction_ids
        if not any(tx.provider_id._gocardless_pays_at_payout() for tx in transactions):
            return False
        return any(
            tx.operation in const.DEBIT_OPERATIONS
            and tx.provider_id._gocardless_pays_at_payout()
            and tx.payment_id.payment_type == "inbound"
            and tx.payment_id.state == "in_process"
            and not tx.payment_id.is_matched
            for tx in transactions
        )

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

    def _post(self, soft=True):
        """Override of `account` to offer direct debit on customer invoices by default, and to
        queue the automatic collection of those whose customer has a mandate."""
        posted = super()._post(soft=soft)
        to_offer = posted.filtered(
            lambda m: m.move_type == "out_invoice" and not m.gocardless_offered
        )
        Provider = self.env["payment.provider"]
        for company, moves in to_offer.grouped("company_id").items():
            provider = Provider._gocardless_get_for_company(company)
            if provider.gocardless_offer_by_default:
                moves.with_context(gocardless_offer_auto=True).gocardless_offered = True
        posted._gocardless_queue_auto_collect()
        return posted

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
            # One invoice at a time: the whole batch is not recomputed after each commit.
            move = self.sudo().browse(move_id)
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
            if move.state == "posted" and move.payment_state in UNPAID_PAYMENT_STATES:
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
                    ("invoice_ids.payment_state", "not in", UNPAID_PAYMENT_STATES),
                ],
                limit=CANCEL_BATCH_SIZE,
            )
        )
        for move in txs.invoice_ids:
            move._gocardless_cancel_obsolete_debits()
            if auto_commit:
                self.env.cr.commit()  # pylint: disable=invalid-commit

    def _gocardless_is_open_customer_invoice(self):
        """Return whether the move is a posted customer invoice with an amount left to pay.

        Note: self.ensure_one()

        :rtype: bool
        """
        self.ensure_one()
        return (
            self.move_type == "out_invoice"
            and self.state == "posted"
            and self.payment_state in UNPAID_PAYMENT_STATES
            and not self.currency_id.is_zero(self.amount_residual)
        )

    def _gocardless_is_payable(self):
        """Return whether the customer may pay the invoice by GoCardless direct debit now.

        The offer must be on, the invoice open and its currency one GoCardless collects in.

        Note: self.ensure_one()

        :rtype: bool
        """
        self.ensure_one()
        return bool(
            self.gocardless_offered
            and self._gocardless_is_open_customer_invoice()
            and self.currency_id.name in const.SUPPORTED_CURRENCIES
        )

    def _gocardless_get_payment_url(self):
        """Return the absolute portal URL where the customer pays the invoice.

        Note: self.ensure_one()

        :rtype: str
        """
        self.ensure_one()
        return self.get_base_url() + self.get_portal_url(
            anchor="portal_pay", query_string="&payment=True"
        )
