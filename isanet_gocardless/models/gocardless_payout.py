# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""GoCardless payouts: what reaches the merchant's bank, booked once and matched to its line.

On ``payouts/paid`` (webhook or catch-up, through the event ledger) the payout and all its
items are read, and one entry is posted in the provider's journal: the net amount to the
merchant's bank (outstanding receipts), each payment's money out of the clearing account
(reconciled with the payment), GoCardless fees and app fees as expenses, their VAT apart, and
an explicit rounding line (`gocardless_core.payouts.booking_lines`). A payout whose payments
Odoo has not seen confirmed yet waits, and is booked when they are; one entry per payout.
"""

import json
import logging
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL, float_is_zero

from .. import const, utils
from ..gocardless_core import amounts as gc_amounts
from ..gocardless_core import payouts as gc_payouts
from ..gocardless_core.errors import AmountError

_logger = logging.getLogger(__name__)


class GoCardlessPayout(models.Model):
    _name = "gocardless.payout"
    _description = "GoCardless Payout"
    _order = "arrival_date desc, id desc"
    _check_company_auto = True

    name = fields.Char(string="Payout ID", required=True, readonly=True, index=True)
    provider_id = fields.Many2one(
        comodel_name="payment.provider", required=True, readonly=True, ondelete="restrict"
    )
    company_id = fields.Many2one(
        comodel_name="res.company", related="provider_id.company_id", store=True, index=True
    )
    currency_id = fields.Many2one(comodel_name="res.currency", readonly=True)
    amount = fields.Monetary(string="Net Amount", readonly=True, help="What reaches the bank.")
    deducted_fees = fields.Monetary(
        readonly=True, help="Fees GoCardless took from the payout, VAT included."
    )
    fee_amount = fields.Monetary(string="Fees (excl. VAT)", readonly=True)
    fee_tax_amount = fields.Monetary(string="VAT on Fees", readonly=True)
    rounding_amount = fields.Monetary(
        string="Rounding",
        readonly=True,
        help="Items carry fractions of a cent; the entry books their difference to the "
        "payout's whole amount on a rounding line (positive: a loss, negative: a gain).",
    )
    raw_amount = fields.Integer(
        string="Amount in Minor Units", readonly=True, help="The amount as GoCardless sent it."
    )
    arrival_date = fields.Date(readonly=True)
    reference = fields.Char(readonly=True, index=True, help="The reference on the bank line.")
    gocardless_status = fields.Char(string="GoCardless Status Code", readonly=True)
    gocardless_status_label = fields.Char(
        string="GoCardless Status",
        compute="_compute_gocardless_status_label",
        help="The payout's status at GoCardless, in the user's language.",
    )
    state = fields.Selection(
        selection=[
            ("waiting", "Waiting for payments"),
            ("booked", "Booked"),
            ("reconciled", "Reconciled with the bank"),
            ("manual", "Manual reconciliation"),
        ],
        default="waiting",
        required=True,
        readonly=True,
        index=True,
    )
    message = fields.Text(readonly=True)
    item_ids = fields.One2many(
        comodel_name="gocardless.payout.item", inverse_name="payout_id", readonly=True
    )
    item_count = fields.Integer(compute="_compute_item_count")
    transaction_ids = fields.Many2many(
        comodel_name="payment.transaction", compute="_compute_transaction_ids"
    )
    move_id = fields.Many2one(
        string="Journal Entry", comodel_name="account.move", readonly=True, copy=False
    )
    bank_move_line_id = fields.Many2one(
        string="Net Amount Line",
        comodel_name="account.move.line",
        readonly=True,
        copy=False,
        help="The line of the entry that the bank line is reconciled with.",
    )
    statement_line_id = fields.Many2one(
        string="Bank Line", comodel_name="account.bank.statement.line", readonly=True, copy=False
    )

    _sql_constraints = [
        ("name_provider_uniq", "UNIQUE(name, provider_id)", "A payout is recorded only once."),
    ]

    @api.depends("item_ids")
    def _compute_item_count(self):
        counts = dict(
            self.env["gocardless.payout.item"]._read_group(
                [("payout_id", "in", self.ids)], ["payout_id"], ["__count"]
            )
        )
        for payout in self:
            payout.item_count = counts.get(payout, 0)

    def _compute_transaction_ids(self):
        for payout in self:
            payout.transaction_ids = payout.item_ids.transaction_id

    @api.depends("gocardless_status")
    @api.depends_context("lang")
    def _compute_gocardless_status_label(self):
        labels = {
            "pending": self.env._("Pending"),
            "paid": self.env._("Paid"),
            "bounced": self.env._("Bounced"),
        }
        utils.set_code_labels(self, "gocardless_status", "gocardless_status_label", labels)

    # === BUSINESS METHODS - EVENTS === #

    @api.model
    def _gocardless_handle_notification(self, notification):
        """Record and book the payout of a ``payouts/paid`` event (the ledger's handler).

        :param dict notification: The event's notification (built by the ledger,
                                  `gocardless.event._gocardless_notification`): the payout
                                  (`gocardless_resource_id`) and the provider that received
                                  the event (`gocardless_provider_id`).
        :return: The ledger outcome: ``(state, message, payout)``.
        :rtype: tuple
        :raise GoCardlessUnknownResource: If no GoCardless provider received the event.
        """
        provider = (
            self.env["payment.provider"]
            .sudo()
            .browse(notification.get("gocardless_provider_id") or [])
            .exists()
        )
        if not provider or provider.code != const.PROVIDER_CODE:
            raise utils.GoCardlessUnknownResource(
                self.env._("No GoCardless provider received this event.")
            )
        payout = self._gocardless_fetch(provider, notification.get("gocardless_resource_id"))
        return "processed", payout.message or None, payout

    @api.model
    def _gocardless_fetch(self, provider, payout_id):
        """Read a payout and its items from GoCardless, record it and book it if it is paid.

        Idempotent: a payout already booked (or flagged for manual reconciliation) is not read
        again, and the row is locked while it is read, so two deliveries book it once. Booked
        in the provider's company and its language (the ledger's cron runs in English): the
        entry's reference and labels are the merchant's.

        :return: The `gocardless.payout` record.
        """
        company = provider.company_id
        lang = company.partner_id.lang or "en_US"
        if self.env.company != company or self.env.context.get("lang") != lang:
            return (
                self.with_company(company)
                .with_context(lang=lang)
                ._gocardless_fetch(provider, payout_id)
            )
        payout = self.sudo().search(
            [("name", "=", payout_id), ("provider_id", "=", provider.id)], limit=1
        )
        if not payout:
            # Two deliveries at once: the second waits on the unique index, then finds it.
            self.env.cr.execute(
                SQL(
                    "INSERT INTO gocardless_payout (name, provider_id, company_id, state,"
                    " create_uid, create_date, write_uid, write_date)"
                    " VALUES (%s, %s, %s, 'waiting', %s, now() at time zone 'UTC', %s,"
                    " now() at time zone 'UTC')"
                    " ON CONFLICT (name, provider_id) DO NOTHING",
                    payout_id,
                    provider.id,
                    provider.company_id.id,
                    self.env.uid,
                    self.env.uid,
                )
            )
            payout = self.sudo().search(
                [("name", "=", payout_id), ("provider_id", "=", provider.id)], limit=1
            )
        self.env.cr.execute(
            SQL("SELECT id FROM gocardless_payout WHERE id = %s FOR UPDATE", payout.id)
        )
        payout.invalidate_recordset()
        if payout.state != "waiting" or payout.move_id:
            return payout
        if payout.item_ids:
            # Read before, waiting for its payments: book it now if they are known.
            payout._gocardless_book()
            return payout
        data = provider._gocardless_make_request("payouts", "get", payout_id)
        currency = (
            self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "=", data.get("currency"))], limit=1)
        )
        if not currency:
            raise UserError(
                self.env._("GoCardless: unknown payout currency %(c)s.", c=data.get("currency"))
            )
        currency.filtered(lambda c: not c.active).active = True
        payout.write(
            {
                "currency_id": currency.id,
                "amount": float(gc_amounts.from_minor_units(data["amount"], currency.name)),
                "deducted_fees": float(
                    gc_amounts.from_minor_units(data.get("deducted_fees") or 0, currency.name)
                ),
                "arrival_date": data.get("arrival_date") or False,
                "reference": data.get("reference"),
                "gocardless_status": data.get("status"),
            }
        )
        if data.get("status") != "paid":
            payout.message = self.env._(
                "The payout is %(status)s at GoCardless: booked once paid.",
                status=payout.gocardless_status_label.lower(),
            )
            return payout
        try:
            items = gc_payouts.all_items(
                lambda params: provider._gocardless_make_request(
                    "payout_items", "list", params=params
                ),
                payout_id,
            )
        except utils.GoCardlessRequestError as error:
            if getattr(error.api_error, "status", None) != 410:
                raise
            payout.write(
                {
                    "state": "manual",
                    "message": self.env._(
                        "GoCardless no longer gives the items of this payout (older than six "
                        "months): book and reconcile it by hand."
                    ),
                }
            )
            return payout
        payout._gocardless_store_items(data, items)
        payout._gocardless_book()
        return payout

    def _gocardless_store_items(self, data, items):
        """Keep the items (and the payout as read) to book it now or once its payments are known."""
        self.ensure_one()
        references = {
            ref
            for item in items
            for ref in (
                (item.get("links") or {}).get("payment"),
                (item.get("links") or {}).get("refund"),
            )
            if ref
        }
        found = (
            self.env["payment.transaction"]
            .sudo()
            ._gocardless_find_by_resource_ids(
                sorted(references), [("provider_id", "=", self.provider_id.id)]
            )
        )
        transactions = {reference: tx.id for reference, tx in found.items()}
        values = []
        for sequence, item in enumerate(items):
            links = item.get("links") or {}
            tx_ref = (
                links.get("refund")
                if item.get("type")
                in (
                    "payment_refunded",
                    "refund",
                    "refund_funds_returned",
                )
                and links.get("refund")
                else links.get("payment")
            )
            values.append(
                {
                    "payout_id": self.id,
                    "sequence": sequence,
                    "item_type": item.get("type"),
                    "amount_exact": str(item.get("amount")),
                    "payment_reference": links.get("payment"),
                    "refund_reference": links.get("refund"),
                    "taxes": json.dumps(item.get("taxes") or []),
                    "transaction_id": transactions.get(tx_ref),
                }
            )
        self.env["gocardless.payout.item"].sudo().create(values)
        self.raw_amount = data["amount"]

    def _gocardless_items_as_api(self):
        """Return the stored items in the API's shape, for the core's booking."""
        return [
            {
                "type": item.item_type,
                "amount": item.amount_exact,
                "links": {
                    "payment": item.payment_reference or None,
                    "refund": item.refund_reference or None,
                },
                "taxes": json.loads(item.taxes or "[]"),
            }
            for item in self.item_ids
        ]

    def _gocardless_unsettled_items(self):
        """Return the items whose Odoo transaction may still change: the payout waits for them.

        A transaction not final yet, or confirmed and waiting for its accounting payment (made
        when the transaction is post-processed).
        """
        return self.item_ids.filtered(
            lambda item: (
                item.transaction_id
                and item.item_type in const.PAYOUT_ITEM_SETTLED_STATES
                and (
                    item.transaction_id.state not in const.FINAL_STATES
                    or (
                        item.transaction_id.state == "done"
                        and not item.transaction_id.is_post_processed
                        and item.transaction_id.payment_id.state in (False, "draft")
                    )
                )
            )
        )

    def _gocardless_item_notes(self):
        """Return ``{item: note}`` for the items booked although Odoo sees their payment
        otherwise than GoCardless: what the merchant should look at."""
        notes = {}
        for item in self.item_ids.filtered(
            lambda item: item.transaction_id and item.item_type in const.PAYOUT_ITEM_SETTLED_STATES
        ):
            tx = item.transaction_id
            if tx.state not in const.PAYOUT_ITEM_SETTLED_STATES[item.item_type]:
                if tx.state == "done":
                    notes[item] = self.env._(
                        "GoCardless took this payment back, but Odoo still shows it collected."
                    )
                else:
                    notes[item] = self.env._(
                        "Failed or charged back in Odoo, yet paid out here: the amount stays on "
                        "the clearing account until GoCardless takes it back in a later payout."
                    )
            elif tx.state == "done" and item.item_type in ("payment_paid_out", "payment_refunded"):
                if tx.payment_id.state in (False, "draft", "canceled"):
                    notes[item] = self.env._(
                        "Collected without an accounting payment in Odoo (its invoice was "
                        "cancelled or changed): the amount is on the clearing account; book it "
                        "as the customer's credit or refund it."
                    )
        return notes

    def _gocardless_booking_date(self, journal):
        """Return the entry's date: the arrival date, else the first day after a lock date.

        :return: The date, and whether it was moved out of a locked period.
        :rtype: tuple[date, bool]
        """
        date = self.arrival_date or fields.Date.context_today(self)
        locks = self.provider_id.company_id._get_violated_lock_dates(date, True, journal)
        if not locks:
            return date, False
        return max(lock_date for lock_date, _name in locks) + timedelta(days=1), True

    def _gocardless_book(self):
        """Post the payout's entry, unless some of its payments are not settled in Odoo yet."""
        self.ensure_one()
        if self.move_id:
            return
        waiting = self._gocardless_unsettled_items()
        if waiting:
            self.message = self.env._(
                "Waiting for %(count)s payment(s) to be confirmed in Odoo: %(refs)s",
                count=len(waiting),
                refs=", ".join(sorted(set(waiting.transaction_id.mapped("reference")))[:10]),
            )
            return
        try:
            booking = gc_payouts.booking_lines(
                {"amount": self.raw_amount, "currency": self.currency_id.name},
                self._gocardless_items_as_api(),
            )
        except AmountError as error:
            self.write({"state": "manual", "message": str(error)})
            return
        notes = self._gocardless_item_notes()
        move, moved = self._gocardless_create_move(booking)
        for item, note in notes.items():
            item.note = note
        message = []
        if moved:
            message.append(
                self.env._(
                    "Arrived on %(arrival)s, in a locked period: booked on %(date)s, the first "
                    "open day.",
                    arrival=self.arrival_date,
                    date=move.date,
                )
            )
        if notes:
            message.append(
                self.env._(
                    "%(count)s item(s) to check: %(refs)s",
                    count=len(notes),
                    refs=", ".join(
                        sorted(item.transaction_id.reference or "" for item in notes)[:10]
                    ),
                )
            )
            self._gocardless_schedule_check(notes)
        self.write(
            {
                "move_id": move.id,
                "state": "booked",
                "message": "\n".join(message) or False,
                "fee_amount": self._gocardless_major(booking.fees),
                "fee_tax_amount": self._gocardless_major(booking.vat),
                "rounding_amount": self._gocardless_major(booking.rounding),
            }
        )
        self._gocardless_reconcile_payments()
        self._gocardless_match_bank_line()

    def _gocardless_major(self, minor):
        return float(gc_amounts.from_minor_units(int(minor), self.currency_id.name))

    def _gocardless_line_values(self, line, labels, accounts, items_by_key):
        """Return the account, partner and label of one booking line of the entry."""
        values = {"name": labels.get(line.kind)}
        if line.kind == gc_payouts.NET:
            values["account_id"] = accounts["bank_in" if line.amount >= 0 else "bank_out"].id
        elif line.kind == gc_payouts.CLEARING:
            item = items_by_key.get((line.payment, line.refund))
            tx = item.transaction_id if item else self.env["payment.transaction"]
            account = tx.payment_id.outstanding_account_id or accounts["clearing"]
            values.update(
                account_id=account.id,
                partner_id=tx.partner_id.commercial_partner_id.id or False,
                name=self.env._(
                    "%(types)s %(reference)s",
                    types=", ".join(line.item_types),
                    reference=tx.reference or line.refund or line.payment or "",
                ),
            )
        elif line.kind == gc_payouts.VAT:
            values["account_id"] = accounts["vat"].id
            if line.tax_rate_id:
                values["name"] = f"{values['name']} ({line.tax_rate_id})"
        elif line.kind == gc_payouts.OTHER:
            values["account_id"] = accounts["clearing"].id
        elif line.kind == gc_payouts.ROUNDING:
            values["account_id"] = accounts["rounding"].id
        else:
            values["account_id"] = accounts["fee"].id
        return values

    def _gocardless_create_move(self, booking):
        """Create and post the payout's entry from the core's booking lines."""
        provider = self.provider_id
        company = provider.company_id
        currency = self.currency_id
        bank_journal = provider._gocardless_payout_journal(currency)
        date, moved = self._gocardless_booking_date(provider.journal_id)
        fee_account = provider._gocardless_fee_account()
        accounts = {
            "bank_in": provider._gocardless_bank_account(bank_journal, inbound=True),
            "bank_out": provider._gocardless_bank_account(bank_journal, inbound=False),
            "clearing": provider._gocardless_clearing_account(),
            "fee": fee_account,
            "vat": provider._gocardless_fee_tax_account(),
            "rounding": company.expense_currency_exchange_account_id or fee_account,
        }
        items_by_key = {}
        for item in self.item_ids:
            if item.item_type in gc_payouts.PAYMENT_ITEM_TYPES:
                key = (item.payment_reference or None, item.refund_reference or None)
                items_by_key.setdefault(key, item)
        labels = {
            gc_payouts.NET: self.env._(
                "GoCardless payout %(ref)s", ref=self.reference or self.name
            ),
            gc_payouts.FEE: self.env._("GoCardless fees"),
            gc_payouts.APP_FEE: self.env._("App fees"),
            gc_payouts.VAT: self.env._("VAT on GoCardless fees"),
            gc_payouts.OTHER: self.env._("Other GoCardless items"),
            gc_payouts.ROUNDING: self.env._("Rounding of the payout items"),
        }
        line_values = []
        for line in booking.lines:
            amount = self._gocardless_major(line.amount)
            values = self._gocardless_line_values(line, labels, accounts, items_by_key)
            values["currency_id"] = currency.id
            balance = currency._convert(amount, company.currency_id, company, date)
            values.update(amount_currency=amount, balance=balance)
            values["_key"] = (line.kind, line.payment, line.refund)
            line_values.append(values)
        # Each line converted on its own: the company-currency cents that don't add up go to
        # the rounding line too.
        difference = company.currency_id.round(sum(v["balance"] for v in line_values))
        if not company.currency_id.is_zero(difference):
            rounding = next(
                (v for v in line_values if v["name"] == labels[gc_payouts.ROUNDING]), None
            )
            if rounding is None:
                rounding = {
                    "name": labels[gc_payouts.ROUNDING],
                    "currency_id": currency.id,
                    "amount_currency": 0.0,
                    "balance": 0.0,
                    "account_id": (company.expense_currency_exchange_account_id or fee_account).id,
                    "_key": (gc_payouts.ROUNDING, None, None),
                }
                line_values.append(rounding)
            rounding["balance"] -= difference
        # Each line carries its key in its label while it is created, to find it back.
        keys = {}
        for index, values in enumerate(line_values):
            keys[index] = values.pop("_key")
            values["name"] = f"{values['name']}\x1f{index}"
        move = (
            self.env["account.move"]
            .sudo()
            .with_company(company)
            .with_context(check_move_validity=False, skip_invoice_sync=True)
            .create(
                {
                    "move_type": "entry",
                    "journal_id": provider.journal_id.id,
                    "date": date,
                    "ref": self.env._(
                        "GoCardless payout %(payout)s (%(reference)s)",
                        payout=self.name,
                        reference=self.reference or "",
                    ),
                    "line_ids": [fields.Command.create(values) for values in line_values],
                }
            )
        )
        move.action_post()
        # Link each item to its line of the entry.
        lines = {}
        for line in move.line_ids:
            name, _sep, index = (line.name or "").rpartition("\x1f")
            line.name = name
            lines[int(index)] = line
        items_by_key = {}
        for item in self.item_ids:
            if item.item_type in gc_payouts.PAYMENT_ITEM_TYPES:
                key = (
                    gc_payouts.CLEARING,
                    item.payment_reference or None,
                    item.refund_reference or None,
                )
                items_by_key.setdefault(key, []).append(item.id)
        item_model = self.env["gocardless.payout.item"].sudo()
        for index, key in keys.items():
            line = lines[index]
            if key[0] == gc_payouts.NET:
                self.bank_move_line_id = line
            elif key in items_by_key:
                item_model.browse(items_by_key[key]).move_line_id = line
        return move, moved

    def _gocardless_schedule_check(self, notes):
        """Give the merchant one activity on the provider for the items of ``notes``."""
        lines = Markup().join(
            Markup("<li>%s: %s</li>")
            % (item.transaction_id.reference or item.payment_reference, note)
            for item, note in notes.items()
        )
        self.provider_id.sudo()._gocardless_schedule_todo(
            lambda provider: (
                provider.env._("Check GoCardless payout %(payout)s", payout=self.name),
                Markup("<p>%s</p><ul>%s</ul>")
                % (
                    provider.env._(
                        "The payout %(payout)s is booked; these items differ between GoCardless "
                        "and Odoo:",
                        payout=self.name,
                    ),
                    lines,
                ),
            )
        )

    def _gocardless_reconcile_payments(self):
        """Reconcile each payment's money on the clearing account with what the payout moved.

        A payment paid out: its payment's line against the payout's credit. A charge-back or
        late failure in a later payout: its debit against the credit of the payout that paid
        the payment out (which cancelling the payment left open).
        """
        self.ensure_one()
        items_by_line = {}
        for item in self.item_ids:
            if item.move_line_id:
                items_by_line.setdefault(item.move_line_id, []).append(item)
        references = {item.payment_reference for item in self.item_ids if item.payment_reference}
        earlier_by_reference = {}
        for item in (
            self.env["gocardless.payout.item"]
            .sudo()
            .search(
                [
                    ("payout_id", "!=", self.id),
                    ("payment_reference", "in", list(references)),
                    ("move_line_id.reconciled", "=", False),
                ]
            )
        ):
            earlier_by_reference.setdefault(item.payment_reference, set()).add(item.move_line_id)
        plans, later, used = [], [], set()
        for line, items in items_by_line.items():
            if line.reconciled or not line.account_id.reconcile:
                continue
            candidates = line
            for item in items:
                candidates |= item.transaction_id.payment_id.move_id.line_ids.filtered(
                    lambda aml, line=line: (
                        aml.account_id == line.account_id
                        and not aml.reconciled
                        and aml.parent_state == "posted"
                    )
                )
                for earlier in earlier_by_reference.get(item.payment_reference, ()):
                    if earlier.account_id == line.account_id and not earlier.reconciled:
                        candidates |= earlier
            if len(candidates) > 1 and float_is_zero(
                sum(candidates.mapped("amount_residual_currency")),
                precision_rounding=line.currency_id.rounding,
            ):
                if used & set(candidates.ids):
                    later.append(candidates)  # shares a line with another plan: after it
                else:
                    used.update(candidates.ids)
                    plans.append(candidates)
        # One reconciliation plan for all the payments (each group reconciled on its own): the
        # payout's entry is brought up to date once, not once per payment.
        if plans:
            self.env["account.move.line"]._reconcile_plan(plans)
        for candidates in later:
            candidates = candidates.filtered(lambda aml: not aml.reconciled)
            if len(candidates) > 1 and float_is_zero(
                sum(candidates.mapped("amount_residual_currency")),
                precision_rounding=candidates[0].currency_id.rounding,
            ):
                candidates.reconcile()

    # === BUSINESS METHODS - BANK === #

    def _gocardless_statement_line_domain(self):
        self.ensure_one()
        journal = self.provider_id._gocardless_payout_journal(self.currency_id)
        return [
            ("journal_id", "=", journal.id),
            ("is_reconciled", "=", False),
            ("payment_ref", "ilike", self.reference),
        ]

    def _gocardless_matching_statement_lines(self):
        """Return the unreconciled bank lines of the payout's reference and net amount."""
        self.ensure_one()
        if not self.reference:
            return self.env["account.bank.statement.line"]
        lines = (
            self.env["account.bank.statement.line"]
            .sudo()
            .search(self._gocardless_statement_line_domain())
        )
        currency = self.currency_id
        return lines.filtered(
            lambda st: (
                (
                    st.foreign_currency_id == currency
                    and currency.compare_amounts(st.amount_currency, self.amount) == 0
                )
                or (
                    not st.foreign_currency_id
                    and (st.journal_id.currency_id or st.company_id.currency_id) == currency
                    and currency.compare_amounts(st.amount, self.amount) == 0
                )
            )
        )

    def _gocardless_match_bank_line(self, statement_line=None):
        """Reconcile the payout's bank line with its entry, when there is exactly one.

        :return: Whether the payout is now reconciled with its bank line.
        """
        self.ensure_one()
        if self.state != "booked" or not self.move_id:
            return False
        lines = statement_line or self._gocardless_matching_statement_lines()
        if len(lines) != 1:
            return False
        twins = self.search(
            [
                ("id", "!=", self.id),
                ("state", "=", "booked"),
                ("reference", "=", self.reference),
                ("amount", "=", self.amount),
            ]
        )
        if twins.filtered(
            lambda twin: (
                twin.provider_id._gocardless_payout_journal(twin.currency_id) == lines.journal_id
            )
        ):
            return False  # two payouts for one line: the merchant decides
        net_line = self.bank_move_line_id
        if not net_line or net_line.reconciled:
            return False
        _liquidity, suspense, _other = lines.with_context(
            skip_account_move_synchronization=True
        )._seek_for_lines()
        if len(suspense) != 1:
            return False
        suspense.with_context(
            skip_account_move_synchronization=True
        ).account_id = net_line.account_id
        (suspense + net_line).reconcile()
        self.write({"statement_line_id": lines.id, "state": "reconciled"})
        return True

    @api.model
    def _gocardless_match_statement_lines(self, statement_lines):
        """Match new bank lines with the booked payouts whose reference they carry."""
        for st_line in statement_lines:
            if not st_line.payment_ref:
                continue
            payment_ref = st_line.payment_ref
            payouts = (
                self.sudo()
                .search(
                    [
                        ("state", "=", "booked"),
                        ("company_id", "=", st_line.company_id.id),
                        ("reference", "!=", False),
                    ]
                )
                .filtered(lambda p, ref=payment_ref: p.reference in ref)
            )
            if len(payouts) == 1:
                payouts._gocardless_match_bank_line()

    @api.model
    def _gocardless_trigger_waiting(self):
        """Have the cron book the waiting payouts, if any."""
        if self.sudo().search_count([("state", "=", "waiting")], limit=1):
            self.env.ref("isanet_gocardless.cron_book_waiting_gocardless_payouts")._trigger()

    @api.model
    def _cron_book_waiting_payouts(self):
        """Book the payouts that were waiting for their payments' confirmations."""
        for payout in self.search([("state", "=", "waiting")], order="id"):
            try:
                with self.env.cr.savepoint():
                    self._gocardless_fetch(payout.provider_id, payout.name)
            except Exception as error:  # noqa: BLE001 - one payout does not stop the others
                if not utils.is_transient(error):
                    _logger.exception("gocardless: payout %s could not be booked", payout.name)
                    payout.message = utils.error_detail(error)

    # === ACTION METHODS === #

    def action_gocardless_match_bank_line(self):
        utils.check_merchant_rights(self, group="account.group_account_manager")
        for payout in self:
            if not payout._gocardless_match_bank_line():
                raise UserError(
                    self.env._(
                        "GoCardless: no single unreconciled bank line of %(amount)s with the "
                        "reference %(reference)s was found for payout %(payout)s.",
                        amount=payout.amount,
                        reference=payout.reference,
                        payout=payout.name,
                    )
                )
        return True

    def action_gocardless_book_again(self):
        if not self.env.user.has_group("account.group_account_manager"):
            raise AccessError(self.env._("GoCardless: only accounting managers can book payouts."))
        utils.check_merchant_rights(self)
        for payout in self.sudo().filtered(lambda p: p.state == "waiting"):
            self._gocardless_fetch(payout.provider_id, payout.name)
        return True


class GoCardlessPayoutItem(models.Model):
    _name = "gocardless.payout.item"
    _description = "GoCardless Payout Item"
    _order = "payout_id, sequence, id"

    payout_id = fields.Many2one(
        comodel_name="gocardless.payout", required=True, ondelete="cascade", index=True
    )
    sequence = fields.Integer()
    currency_id = fields.Many2one(related="payout_id.currency_id")
    item_type = fields.Char(string="Type Code", readonly=True, help="GoCardless's item type.")
    item_type_label = fields.Char(
        string="Type",
        compute="_compute_item_type_label",
        help="What the item is, in the user's language.",
    )
    amount_exact = fields.Char(
        string="Amount (minor units)", readonly=True, help="As GoCardless sent it, e.g. -143.4."
    )
    amount = fields.Monetary(compute="_compute_amount")
    payment_reference = fields.Char(string="GoCardless Payment", readonly=True, index=True)
    refund_reference = fields.Char(string="GoCardless Refund", readonly=True)
    taxes = fields.Text(readonly=True)
    transaction_id = fields.Many2one(
        comodel_name="payment.transaction", readonly=True, index=True, ondelete="set null"
    )
    payment_id = fields.Many2one(related="transaction_id.payment_id")
    move_line_id = fields.Many2one(
        comodel_name="account.move.line", readonly=True, index=True, ondelete="set null"
    )
    note = fields.Char(
        readonly=True,
        help="Why the item was booked although Odoo sees its payment otherwise than GoCardless.",
    )

    @api.depends("item_type")
    def _compute_item_type_label(self):
        labels = {
            "payment_paid_out": self.env._("Payment collected"),
            "payment_failed": self.env._("Payment failed after collection"),
            "payment_charged_back": self.env._("Payment charged back"),
            "payment_refunded": self.env._("Payment refunded"),
            "refund": self.env._("Refund"),
            "refund_funds_returned": self.env._("Refund returned"),
            "gocardless_fee": self.env._("GoCardless fee"),
            "app_fee": self.env._("App fee"),
            "revenue_share": self.env._("Revenue share"),
            "surcharge_fee": self.env._("Surcharge fee"),
        }
        utils.set_code_labels(self, "item_type", "item_type_label", labels)

    @api.depends("amount_exact", "currency_id")
    def _compute_amount(self):
        for item in self:
            try:
                value = gc_amounts.payout_item_amount(item.amount_exact or "0")
            except AmountError:
                value = 0
            item.amount = float(value) / 10 ** gc_amounts.currency_exponent(
                item.currency_id.name or "EUR"
            )
