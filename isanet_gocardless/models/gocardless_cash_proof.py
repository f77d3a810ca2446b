# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The cash proof of a GoCardless provider: every cent GoCardless moved is in the books.

Three sides are compared, for the whole GoCardless account at the time of the proof:

- GoCardless: payments by status, refunds, payouts, and the items of the paid payouts Odoo
  has not booked, read page by page through the list endpoints (background profile: paced
  under the rate limit by its ``RateLimit-*`` headers);
- Odoo: transactions, their accounting payments, the payout entries and the clearing account;
- the bank: the statement lines of the payout journal.

Rules: each GoCardless payment (and refund) has one transaction, in the state its status
leads to (``const.PAYMENT_OUTCOME_STATES``); each paid payout is booked once, its net equal
to one bank line; the clearing account holds what GoCardless collected and has not paid out.
Each difference is a drift line. Some are mended in one click (through the transaction's
pipeline, the payout booking, or a read of the resource again); the others get an activity.

Flat memory: GoCardless's pages go to temporary tables as they arrive, and the comparison
with Odoo's tables is made in SQL; the drifts of one kind listed are capped.

The period (a month by default) frames the month's proof: the clearing account's opening
balance, what moved on it (collected, refunds, paid out, charge-backs) and its closing balance.
"""

import io
import logging
import time
from datetime import date, timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

from .. import const, utils
from ..gocardless_core import amounts as gc_amounts
from ..gocardless_core import client as gc_client
from ..gocardless_core import events

_logger = logging.getLogger(__name__)

# Drifts of one kind listed on a proof; the others are counted in its message.
MAX_DRIFTS_PER_KIND = 200
# Times a page refused for the rate limit is asked (each after the window the refusal names).
RATE_LIMITED_TRIES = 3
# Days a booked payout may wait for its bank line before it is a drift.
BANK_LINE_GRACE_DAYS = 3
# Payment statuses of a payment that never moved money: no transaction is expected.
MONEYLESS_PAYMENT_STATUSES = ("cancelled", "customer_approval_denied")
# Payment statuses of a payment collected by GoCardless (its money on the clearing account
# until paid out).
COLLECTED_PAYMENT_STATUSES = ("confirmed", "paid_out")
# Payout item types that take a paid-out payment back (a charge-back, a late failure).
REVERSAL_ITEM_TYPES = ("payment_charged_back", "payment_failed")
# Payout item types that settle a refund.
REFUND_ITEM_TYPES = ("refund", "payment_refunded")

DRIFT_KINDS = [
    ("payment_orphan", "Payment unknown in Odoo"),
    ("payment_state", "Payment in another state in Odoo"),
    ("payment_duplicate", "Payment held by several transactions"),
    ("payment_unknown", "Transaction unknown at GoCardless"),
    ("payment_unbooked", "Collected without an accounting payment"),
    ("refund_orphan", "Refund unknown in Odoo"),
    ("refund_state", "Refund in another state in Odoo"),
    ("payout_missed", "Paid payout not booked"),
    ("payout_item", "Payout with an item Odoo does not reflect"),
    ("payout_amount", "Payout booked for another amount"),
    ("bank_missing", "Payout without a bank line"),
    ("bank_amount", "Bank line of another amount"),
    ("clearing", "Clearing account off"),
]
# How each kind is mended in one click; the others get an activity.
MENDS = {
    "payment_orphan": "link",
    "payment_state": "read",
    "payment_unbooked": "book_payment",
    "refund_state": "read",
    "payout_missed": "book",
    "payout_item": "book",
}


def _minor(amount, currency):
    """Return an Odoo amount in integer minor units of ``currency`` (a code)."""
    return round(amount * 10 ** gc_amounts.currency_exponent(currency))


def _major(minor, currency):
    return float(gc_amounts.from_minor_units(int(minor), currency))


class GoCardlessCashProof(models.Model):
    _name = "gocardless.cash.proof"
    _description = "GoCardless Cash Proof"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "date_to desc, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    provider_id = fields.Many2one(
        comodel_name="payment.provider",
        required=True,
        readonly=True,
        ondelete="cascade",
        index=True,
    )
    company_id = fields.Many2one(
        comodel_name="res.company", related="provider_id.company_id", store=True, index=True
    )
    date_from = fields.Date(string="From", required=True, readonly=True)
    date_to = fields.Date(string="To", required=True, readonly=True)
    run_at = fields.Datetime(string="Proved At", readonly=True)
    duration = fields.Float(string="Duration (s)", readonly=True, digits=(16, 1))
    state = fields.Selection(
        selection=[
            ("balanced", "Balanced"),
            ("drifts", "Drifts"),
            ("failed", "Not proved"),
        ],
        readonly=True,
        index=True,
    )
    message = fields.Text(readonly=True)
    payment_count = fields.Integer(string="GoCardless Payments", readonly=True)
    refund_count = fields.Integer(string="GoCardless Refunds", readonly=True)
    payout_count = fields.Integer(string="GoCardless Payouts", readonly=True)
    request_count = fields.Integer(string="Requests to GoCardless", readonly=True)
    clearing_account_id = fields.Many2one(
        comodel_name="account.account", readonly=True, check_company=True
    )
    clearing_summary = fields.Text(
        string="Clearing Account Check",
        readonly=True,
        help="Per currency: the clearing account's balance and what GoCardless collected and "
        "has not paid out yet.",
    )
    clearing_held = fields.Json(
        readonly=True,
        help="Per currency code: what GoCardless collected and has not paid out yet, in minor "
        "units, when the proof was made.",
    )
    clearing_held_end = fields.Json(
        readonly=True,
        help="Per currency code: what GoCardless held at the end of a period that ended before "
        "the proof (collected by then, not carried by the payouts paid by then), in minor "
        "units, from GoCardless's own payments, refunds and payouts.",
    )
    drift_ids = fields.One2many(
        comodel_name="gocardless.cash.proof.drift", inverse_name="proof_id", readonly=True
    )
    drift_count = fields.Integer(compute="_compute_drift_count")
    open_drift_count = fields.Integer(string="Open Drifts", compute="_compute_drift_count")

    @api.depends("provider_id.name", "date_from", "date_to")
    def _compute_name(self):
        for proof in self:
            proof.name = self.env._(
                "Cash proof %(provider)s %(start)s – %(end)s",
                provider=proof.provider_id.name or "",
                start=proof.date_from or "",
                end=proof.date_to or "",
            )

    @api.depends("drift_ids.state")
    def _compute_drift_count(self):
        for proof in self:
            proof.drift_count = len(proof.drift_ids)
            proof.open_drift_count = len(proof.drift_ids.filtered(lambda d: d.state == "open"))

    # === RIGHTS === #

    @api.model
    def _gocardless_check_proof_rights(self, records):
        """Refuse a person who may not prove (nor mend) a provider's cash.

        Called by every public door before any sudo() or call to GoCardless: the records the
        door acts on (a provider: read; a proof or its drifts: write) allowed to the caller,
        their company among the caller's, and the caller an accounting manager.

        :param records: The provider, proofs or drifts the caller acts on.
        """
        utils.check_merchant_rights(
            records,
            "read" if records._name == "payment.provider" else "write",
            group="account.group_account_manager",
        )

    # === ACTION METHODS === #

    def action_gocardless_run_again(self):
        """Prove the same provider and period again, now; open the new proof."""
        self.ensure_one()
        self._gocardless_check_proof_rights(self)
        proof = self._gocardless_prove(self.provider_id.sudo(), self.date_from, self.date_to)
        return proof._gocardless_form_action()

    def action_gocardless_month_pdf(self):
        self.ensure_one()
        utils.check_merchant_rights(self, "read")
        return self.env.ref("isanet_gocardless.action_report_gocardless_cash_proof").report_action(
            self
        )

    def action_gocardless_month_xlsx(self):
        """Export the month's proof as a spreadsheet; return its download."""
        self.ensure_one()
        utils.check_merchant_rights(self, "read")
        content = self._gocardless_month_xlsx()
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": f"{self.name}.xlsx",
                    "raw": content,
                    "res_model": self._name,
                    "res_id": self.id,
                    "mimetype": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                }
            )
        )
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{attachment.id}?download=true",
            "target": "self",
        }

    def _gocardless_form_action(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "current",
        }

    # === BUSINESS METHODS - PROOF === #

    @api.model
    def _gocardless_prove(self, provider, date_from, date_to):
        """Prove the provider's cash now; return the proof (its drifts listed).

        The caller has checked the rights. A failure to read GoCardless leaves a proof in
        state *Not proved* with its reason, nothing else.
        """
        provider = provider.sudo().with_context(gocardless_request_profile="background")
        proof = self.sudo().create(
            {"provider_id": provider.id, "date_from": date_from, "date_to": date_to}
        )
        started = time.monotonic()
        try:
            with self.env.cr.savepoint():
                reader = _ProofTables(self.env, provider, proof.id)
                try:
                    reader.read_gocardless()
                    values = proof._gocardless_compare(reader)
                finally:
                    reader.drop()
        except utils.GoCardlessRequestError as error:
            proof.write(
                {
                    "state": "failed",
                    "run_at": fields.Datetime.now(),
                    "duration": time.monotonic() - started,
                    "message": self.env._(
                        "GoCardless could not be read: %(error)s", error=utils.error_detail(error)
                    ),
                }
            )
            return proof
        values.update(run_at=fields.Datetime.now(), duration=time.monotonic() - started)
        proof.write(values)
        return proof

    def _gocardless_compare(self, tables):
        """Compare the tables of GoCardless's side with Odoo's and the bank's; create drifts.

        :return: The proof's values (counts, state, message).
        """
        self.ensure_one()
        drifts, counts = [], {}

        def add(kind, rows):
            counts[kind] = counts.get(kind, 0) + len(rows)
            for row in rows[:MAX_DRIFTS_PER_KIND]:
                row.update(proof_id=self.id, kind=kind)
                drifts.append(row)

        for kind, rows in (
            ("payment_orphan", self._gocardless_payment_orphans(tables)),
            ("payment_state", self._gocardless_payment_states(tables)),
            ("payment_duplicate", self._gocardless_payment_duplicates()),
            ("payment_unknown", self._gocardless_payment_unknown(tables)),
            ("payment_unbooked", self._gocardless_payment_unbooked()),
            ("refund_orphan", self._gocardless_refund_orphans(tables)),
            ("refund_state", self._gocardless_refund_states(tables)),
        ):
            add(kind, rows)
        for kind, rows in self._gocardless_payout_drifts(tables).items():
            add(kind, rows)
        for kind, rows in self._gocardless_bank_drifts().items():
            add(kind, rows)
        clearing_rows, summary, held = self._gocardless_clearing_drifts(tables)
        add("clearing", clearing_rows)
        self.env["gocardless.cash.proof.drift"].sudo().create(drifts)
        labels = dict(
            self.env["gocardless.cash.proof.drift"]._fields["kind"]._description_selection(self.env)
        )
        more = [
            self.env._(
                "%(kind)s: %(count)s found, the first %(listed)s listed.",
                kind=labels[kind],
                count=count,
                listed=MAX_DRIFTS_PER_KIND,
            )
            for kind, count in counts.items()
            if count > MAX_DRIFTS_PER_KIND
        ]
        return {
            "state": "drifts" if drifts else "balanced",
            "payment_count": tables.counts["payments"],
            "refund_count": tables.counts["refunds"],
            "payout_count": tables.counts["payouts"],
            "request_count": tables.requests,
            "clearing_account_id": tables.clearing.id if tables.clearing else False,
            "clearing_summary": summary,
            "clearing_held": held,
            "clearing_held_end": (
                self._gocardless_held(tables, self.date_to)
                if tables.clearing and self.date_to < fields.Date.context_today(self)
                else None
            ),
            "message": "\n".join(more) or False,
        }

    def _gocardless_query(self, query):
        self.env.cr.execute(query)
        return self.env.cr.dictfetchall()

    def _gocardless_payment_orphans(self, tables):
        """GoCardless payments that no transaction of the provider holds."""
        rows = self._gocardless_query(
            SQL(
                """
                SELECT g.id, g.status, g.amount, g.currency, g.created_on, g.mandate,
                       (SELECT t.id FROM payment_transaction t
                         WHERE t.provider_id = %(provider)s AND t.reference = g.odoo_reference
                           AND t.provider_reference IS NULL
                         LIMIT 1) AS tx_id
                  FROM %(payments)s g
                 WHERE g.status NOT IN %(moneyless)s
                   AND NOT EXISTS (SELECT 1 FROM payment_transaction t
                                    WHERE t.provider_id = %(provider)s
                                      AND t.provider_reference = g.id)
                 ORDER BY g.created_on, g.id
                """,
                provider=self.provider_id.id,
                payments=SQL.identifier(tables.payments),
                moneyless=MONEYLESS_PAYMENT_STATUSES,
            )
        )
        return [
            self._gocardless_drift_values(
                row,
                name=self.env._(
                    "GoCardless payment %(payment)s (%(status)s) has no transaction in Odoo.",
                    payment=row["id"],
                    status=row["status"],
                ),
                transaction_id=row["tx_id"],
            )
            for row in rows
        ]

    def _gocardless_drift_values(self, row, name, **values):
        currency = self._gocardless_currency(row.get("currency"))
        values.update(
            name=name,
            gocardless_ref=row["id"],
            gocardless_status=row.get("status"),
            currency_id=currency.id,
            amount=_major(row["amount"], currency.name) if row.get("amount") is not None else 0,
            since=row.get("created_on"),
        )
        return values

    def _gocardless_currency(self, code):
        return (
            self.env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "=", code or self.company_id.currency_id.name)], limit=1)
            or self.company_id.currency_id
        )

    @staticmethod
    def _gocardless_expected_pairs(status_outcomes, outcome_states):
        """Return ``(GoCardless status, allowed transaction state)`` pairs: the state each
        status's outcome (``status_outcomes``) leads to (``outcome_states``); a failure or
        charge-back of what Odoo had confirmed cancels it instead of an error."""
        pairs = []
        for status, outcome in status_outcomes.items():
            state = outcome_states.get(outcome)
            if state:
                pairs.append((status, state))
                if state == "error":
                    pairs.append((status, "cancel"))
        return pairs

    @classmethod
    def _gocardless_expected_states(cls):
        """The pairs of the payments (``const.PAYMENT_OUTCOME_STATES``)."""
        return cls._gocardless_expected_pairs(
            events.PAYMENT_STATUS_OUTCOMES, const.PAYMENT_OUTCOME_STATES
        )

    @classmethod
    def _gocardless_expected_refund_states(cls):
        """The pairs of the refunds (``const.REFUND_OUTCOME_STATES``)."""
        return cls._gocardless_expected_pairs(
            events.REFUND_STATUS_OUTCOMES, const.REFUND_OUTCOME_STATES
        )

    def _gocardless_state_mismatches(self, table, expected, also_allowed=None):
        """Return the rows of ``table`` (GoCardless payments or refunds) whose transaction is not
        in the state their status leads to (``expected``: ``(status, state)`` pairs), but the
        rows ``also_allowed`` (an SQL condition on ``g`` and ``t``) lets through."""
        return self._gocardless_query(
            SQL(
                """
                WITH expected(status, state) AS (VALUES %(expected)s)
                SELECT g.id, g.status, g.amount, g.currency, g.created_on, t.id AS tx_id,
                       t.state AS tx_state
                  FROM %(table)s g
                  JOIN payment_transaction t ON t.provider_id = %(provider)s
                                            AND t.provider_reference = g.id
                 WHERE g.status IN (SELECT status FROM expected)
                   AND NOT EXISTS (SELECT 1 FROM expected e
                                    WHERE e.status = g.status AND e.state = t.state)
                   AND NOT (%(also_allowed)s)
                 ORDER BY g.created_on, g.id
                """,
                expected=SQL(", ").join(
                    SQL("(%s, %s)", status, state) for status, state in expected
                ),
                table=SQL.identifier(table),
                provider=self.provider_id.id,
                also_allowed=also_allowed or SQL("FALSE"),
            )
        )

    def _gocardless_payment_states(self, tables):
        """Transactions not in the state their GoCardless payment's status leads to.

        A failed payment that GoCardless retries keeps its transaction pending (marked
        retrying).
        """
        rows = self._gocardless_state_mismatches(
            tables.payments,
            self._gocardless_expected_states(),
            also_allowed=SQL(
                "g.status = 'failed' AND t.state = 'pending' "
                "AND COALESCE(t.gocardless_retrying, FALSE)"
            ),
        )
        return [
            self._gocardless_drift_values(
                row,
                name=self.env._(
                    "GoCardless payment %(payment)s is %(status)s; its transaction is %(state)s.",
                    payment=row["id"],
                    status=row["status"],
                    state=row["tx_state"],
                ),
                transaction_id=row["tx_id"],
                odoo_state=row["tx_state"],
            )
            for row in rows
        ]

    def _gocardless_payment_duplicates(self):
        rows = self._gocardless_query(
            SQL(
                """
                SELECT t.provider_reference AS id, min(t.amount) AS major, min(t.currency_id)
                       AS currency_id, min(t.create_date)::date AS created_on,
                       min(t.id) AS tx_id, count(*) AS count
                  FROM payment_transaction t
                 WHERE t.provider_id = %(provider)s AND t.operation != 'refund'
                   AND t.provider_reference LIKE %(payment_ids)s
                 GROUP BY t.provider_reference
                HAVING count(*) > 1
                 ORDER BY 1
                """,
                provider=self.provider_id.id,
                payment_ids="PM%",
            )
        )
        return [
            {
                "name": self.env._(
                    "GoCardless payment %(payment)s is held by %(count)s transactions.",
                    payment=row["id"],
                    count=row["count"],
                ),
                "gocardless_ref": row["id"],
                "currency_id": row["currency_id"],
                "amount": row["major"],
                "since": row["created_on"],
                "transaction_id": row["tx_id"],
            }
            for row in rows
        ]

    def _gocardless_payment_unknown(self, tables):
        """Transactions holding a payment id GoCardless does not list."""
        rows = self._gocardless_query(
            SQL(
                """
                SELECT t.id AS tx_id, t.provider_reference AS id, t.amount AS major,
                       t.currency_id, t.create_date::date AS created_on, t.state
                  FROM payment_transaction t
                 WHERE t.provider_id = %(provider)s AND t.operation != 'refund'
                   AND t.provider_reference LIKE %(payment_ids)s
                   AND NOT EXISTS (SELECT 1 FROM %(payments)s g WHERE g.id = t.provider_reference)
                 ORDER BY t.id
                """,
                provider=self.provider_id.id,
                payments=SQL.identifier(tables.payments),
                payment_ids="PM%",
            )
        )
        return [
            {
                "name": self.env._(
                    "GoCardless does not know the payment %(payment)s of a transaction.",
                    payment=row["id"],
                ),
                "gocardless_ref": row["id"],
                "currency_id": row["currency_id"],
                "amount": row["major"],
                "since": row["created_on"],
                "transaction_id": row["tx_id"],
                "odoo_state": row["state"],
            }
            for row in rows
        ]

    def _gocardless_payment_unbooked(self):
        """Confirmed debits whose post-processing made no accounting payment."""
        rows = self._gocardless_query(
            SQL(
                """
                SELECT t.id AS tx_id, t.provider_reference AS id, t.amount AS major,
                       t.currency_id, COALESCE(t.last_state_change, t.create_date)::date
                       AS created_on
                  FROM payment_transaction t
                 WHERE t.provider_id = %(provider)s AND t.operation != 'refund'
                   AND t.operation != 'validation' AND t.state = 'done'
                   AND t.payment_id IS NULL AND t.is_post_processed
                 ORDER BY t.id
                """,
                provider=self.provider_id.id,
            )
        )
        return [
            {
                "name": self.env._(
                    "The debit %(payment)s is collected but has no accounting payment.",
                    payment=row["id"] or "",
                ),
                "gocardless_ref": row["id"],
                "currency_id": row["currency_id"],
                "amount": row["major"],
                "since": row["created_on"],
                "transaction_id": row["tx_id"],
                "odoo_state": "done",
            }
            for row in rows
        ]

    def _gocardless_refund_orphans(self, tables):
        rows = self._gocardless_query(
            SQL(
                """
                SELECT g.id, g.status, g.amount, g.currency, g.created_on
                  FROM %(refunds)s g
                 WHERE NOT EXISTS (SELECT 1 FROM payment_transaction t
                                    WHERE t.provider_id = %(provider)s
                                      AND t.provider_reference = g.id)
                 ORDER BY g.created_on, g.id
                """,
                refunds=SQL.identifier(tables.refunds),
                provider=self.provider_id.id,
            )
        )
        return [
            self._gocardless_drift_values(
                row,
                name=self.env._(
                    "GoCardless refund %(refund)s (%(status)s) has no transaction in Odoo.",
                    refund=row["id"],
                    status=row["status"],
                ),
            )
            for row in rows
        ]

    def _gocardless_refund_states(self, tables):
        """Transactions not in the state their GoCardless refund's status leads to."""
        rows = self._gocardless_state_mismatches(
            tables.refunds, self._gocardless_expected_refund_states()
        )
        return [
            self._gocardless_drift_values(
                row,
                name=self.env._(
                    "GoCardless refund %(refund)s is %(status)s; its transaction is %(state)s.",
                    refund=row["id"],
                    status=row["status"],
                    state=row["tx_state"],
                ),
                transaction_id=row["tx_id"],
                odoo_state=row["tx_state"],
            )
            for row in rows
        ]

    def _gocardless_payout_drifts(self, tables):
        """Paid payouts not booked, with items Odoo does not reflect, or of another amount."""
        provider = self.provider_id.id
        # A payout not booked "does not reflect" a payment it carries (paid out, charged back,
        # failed) when Odoo has no transaction for it, or one in another state than the
        # payment's current status leads to: read again, it may be booked.
        missed = self._gocardless_query(
            SQL(
                """
                WITH expected(status, state) AS (VALUES %(expected)s),
                items AS (
                    SELECT i.payout, i.type, i.payment FROM %(items)s i
                     UNION ALL
                    SELECT p.name, it.item_type, it.payment_reference
                      FROM gocardless_payout_item it
                      JOIN gocardless_payout p ON p.id = it.payout_id
                     WHERE p.provider_id = %(provider)s AND p.state = 'waiting'
                )
                SELECT g.id, g.status, g.amount, g.currency, g.arrival_date AS created_on,
                       p.id AS payout_id,
                       (SELECT array_agg(DISTINCT i.payment ORDER BY i.payment)
                          FROM items i
                          LEFT JOIN %(payments)s gp ON gp.id = i.payment
                          LEFT JOIN payment_transaction t ON t.provider_id = %(provider)s
                                                         AND t.provider_reference = i.payment
                         WHERE i.payout = g.id AND i.payment IS NOT NULL
                           AND i.type IN %(payment_types)s
                           AND (t.id IS NULL
                                OR (gp.status IN (SELECT status FROM expected)
                                    AND NOT EXISTS (SELECT 1 FROM expected e
                                                     WHERE e.status = gp.status
                                                       AND e.state = t.state)
                                    AND NOT (gp.status = 'failed' AND t.state = 'pending'
                                             AND COALESCE(t.gocardless_retrying, FALSE)))))
                       AS unreflected
                  FROM %(payouts)s g
                  LEFT JOIN gocardless_payout p ON p.provider_id = %(provider)s AND p.name = g.id
                 WHERE g.status = 'paid' AND (p.id IS NULL OR p.state = 'waiting')
                 ORDER BY g.arrival_date, g.id
                """,
                expected=SQL(", ").join(
                    SQL("(%s, %s)", status, state)
                    for status, state in self._gocardless_expected_states()
                ),
                items=SQL.identifier(tables.items),
                payments=SQL.identifier(tables.payments),
                payouts=SQL.identifier(tables.payouts),
                provider=provider,
                payment_types=("payment_paid_out", *REVERSAL_ITEM_TYPES),
            )
        )
        result = {"payout_missed": [], "payout_item": []}
        for row in missed:
            if row["unreflected"]:
                result["payout_item"].append(
                    self._gocardless_drift_values(
                        row,
                        name=self.env._(
                            "GoCardless paid out the payout %(payout)s; Odoo has not booked it: "
                            "its payments %(payments)s are unknown or in another state in Odoo.",
                            payout=row["id"],
                            payments=", ".join(row["unreflected"]),
                        ),
                        payout_id=row["payout_id"],
                        related_refs=",".join(row["unreflected"]),
                    )
                )
            else:
                result["payout_missed"].append(
                    self._gocardless_drift_values(
                        row,
                        name=self.env._(
                            "GoCardless paid out the payout %(payout)s; Odoo has not booked it.",
                            payout=row["id"],
                        ),
                        payout_id=row["payout_id"],
                    )
                )
        result["payout_amount"] = [
            self._gocardless_drift_values(
                row,
                name=self.env._(
                    "The payout %(payout)s is booked for %(booked)s; GoCardless paid out %(paid)s.",
                    payout=row["id"],
                    booked=_major(row["booked"], row["currency"]),
                    paid=_major(row["amount"], row["currency"]),
                ),
                payout_id=row["payout_id"],
            )
            for row in self._gocardless_query(
                SQL(
                    """
                    SELECT g.id, g.status, g.amount - p.raw_amount AS amount, g.amount AS paid,
                           p.raw_amount AS booked, g.currency, g.arrival_date AS created_on,
                           p.id AS payout_id
                      FROM %(payouts)s g
                      JOIN gocardless_payout p ON p.provider_id = %(provider)s AND p.name = g.id
                     WHERE p.state IN ('booked', 'reconciled') AND p.raw_amount != g.amount
                     ORDER BY g.arrival_date, g.id
                    """,
                    payouts=SQL.identifier(tables.payouts),
                    provider=provider,
                )
            )
        ]
        return result

    def _gocardless_bank_drifts(self):
        """Booked payouts whose bank line is missing, or of another amount."""
        provider = self.provider_id
        # Each currency's payouts reach the payout bank journal of that currency.
        self.env.cr.execute(
            SQL(
                "SELECT DISTINCT currency_id FROM gocardless_payout"
                " WHERE provider_id = %s AND state = 'booked' AND currency_id IS NOT NULL",
                provider.id,
            )
        )
        currencies = self.env["res.currency"].browse([row[0] for row in self.env.cr.fetchall()])
        if not currencies:
            return {"bank_missing": [], "bank_amount": []}
        journals = SQL(", ").join(
            SQL("(%s, %s)", currency.id, provider._gocardless_payout_journal(currency).id)
            for currency in currencies
        )
        rows = self._gocardless_query(
            SQL(
                """
                WITH journals(currency_id, journal_id) AS (VALUES %(journals)s)
                SELECT p.id AS payout_id, p.name AS id, p.reference, p.amount AS major,
                       p.currency_id, p.arrival_date AS created_on,
                       (SELECT l.id FROM account_bank_statement_line l
                         WHERE l.journal_id = j.journal_id
                           AND NOT COALESCE(l.is_reconciled, FALSE)
                           AND l.payment_ref ILIKE %(wildcard)s || p.reference || %(wildcard)s
                         ORDER BY l.id LIMIT 1) AS line_id,
                       (SELECT CASE WHEN l.foreign_currency_id = p.currency_id
                                    THEN l.amount_currency ELSE l.amount END
                          FROM account_bank_statement_line l
                         WHERE l.journal_id = j.journal_id
                           AND NOT COALESCE(l.is_reconciled, FALSE)
                           AND l.payment_ref ILIKE %(wildcard)s || p.reference || %(wildcard)s
                         ORDER BY l.id LIMIT 1) AS line_amount
                  FROM gocardless_payout p
                  JOIN journals j ON j.currency_id = p.currency_id
                 WHERE p.provider_id = %(provider)s AND p.state = 'booked'
                   AND p.reference IS NOT NULL
                 ORDER BY p.arrival_date, p.id
                """,
                journals=journals,
                provider=provider.id,
                wildcard="%",
            )
        )
        result = {"bank_missing": [], "bank_amount": []}
        limit = fields.Date.context_today(self) - timedelta(days=BANK_LINE_GRACE_DAYS)
        for row in rows:
            currency = self.env["res.currency"].browse(row["currency_id"])
            if row["line_id"]:
                difference = (row["line_amount"] or 0.0) - row["major"]
                if currency.is_zero(difference):
                    continue  # found, not matched yet (the match runs when the line arrives)
                result["bank_amount"].append(
                    {
                        "name": self.env._(
                            "The bank line of the payout %(payout)s (%(reference)s) is of "
                            "%(line)s; the payout is of %(amount)s.",
                            payout=row["id"],
                            reference=row["reference"],
                            line=row["line_amount"],
                            amount=row["major"],
                        ),
                        "gocardless_ref": row["id"],
                        "currency_id": currency.id,
                        "amount": difference,
                        "since": row["created_on"],
                        "payout_id": row["payout_id"],
                        "statement_line_id": row["line_id"],
                    }
                )
            elif row["created_on"] and row["created_on"] <= limit:
                result["bank_missing"].append(
                    {
                        "name": self.env._(
                            "No bank line carries the payout %(payout)s (%(reference)s).",
                            payout=row["id"],
                            reference=row["reference"],
                        ),
                        "gocardless_ref": row["id"],
                        "currency_id": currency.id,
                        "amount": row["major"],
                        "since": row["created_on"],
                        "payout_id": row["payout_id"],
                    }
                )
        return result

    def _gocardless_clearing_drifts(self, tables):
        """The clearing account's balance against what GoCardless collected and holds now
        (:meth:`_gocardless_held`).

        :return: (drift values, summary text, what GoCardless holds per currency code in
            minor units or None)
        """
        if not tables.clearing:
            return (
                [],
                self.env._(
                    "No clearing account of its own: the provider's debits are posted on its "
                    "bank journal's account. Create a GoCardless clearing journal to prove it."
                ),
                None,
            )
        expected = self._gocardless_held(tables)
        booked = {}
        for row in self._gocardless_query(
            SQL(
                """
                SELECT c.name AS currency, sum(l.amount_currency) AS amount
                  FROM account_move_line l
                  JOIN res_currency c ON c.id = l.currency_id
                 WHERE l.account_id = %(account)s AND l.parent_state = 'posted'
                 GROUP BY c.name
                """,
                account=tables.clearing.id,
            )
        ):
            booked[row["currency"]] = _minor(row["amount"], row["currency"])
        drifts, lines = [], []
        for code in sorted(set(expected) | set(booked)):
            held, balance = expected.get(code, 0), booked.get(code, 0)
            lines.append(
                self.env._(
                    "%(currency)s: balance %(balance)s, GoCardless holds %(held)s.",
                    currency=code,
                    balance=_major(balance, code),
                    held=_major(held, code),
                )
            )
            if held != balance:
                drifts.append(
                    {
                        "name": self.env._(
                            "The clearing account %(account)s holds %(balance)s %(currency)s; "
                            "GoCardless collected %(held)s %(currency)s not paid out yet.",
                            account=tables.clearing.display_name,
                            balance=_major(balance, code),
                            held=_major(held, code),
                            currency=code,
                        ),
                        "currency_id": self._gocardless_currency(code).id,
                        "amount": _major(balance - held, code),
                        "since": fields.Date.context_today(self),
                    }
                )
        return drifts, "\n".join(lines), expected

    def _gocardless_held(self, tables, at=None):
        """Return what GoCardless holds for the provider, per currency code in minor units.

        Per payment: its amount when collected (confirmed, paid out), less it once in a paid
        payout, plus it back once a paid payout took it back (charge-back, late failure); per
        refund: less its amount when paid, plus it back once a paid payout settled it. The
        items of the paid payouts are those Odoo stored when booking them, or read now for the
        others.

        :param date at: The end of a past period: what GoCardless held that day, from its own
            dates: the payments charged by then (charge date), the refunds created by then and
            the payouts paid by then (arrival date, the date of their entries in Odoo). As in
            the books, a payment charged back or failed since is not counted as collected.
        :rtype: dict
        """
        dated = at is not None
        return {
            row["currency"]: row["amount"]
            for row in self._gocardless_query(
                SQL(
                    """
                    WITH items AS (
                        SELECT i.type, i.payment, i.refund, g.arrival_date AS paid_on
                          FROM %(items)s i
                          JOIN %(payouts)s g ON g.id = i.payout
                         UNION ALL
                        SELECT i.item_type, i.payment_reference, i.refund_reference,
                               g.arrival_date
                          FROM gocardless_payout_item i
                          JOIN gocardless_payout p ON p.id = i.payout_id
                          JOIN %(payouts)s g ON g.id = p.name AND g.status = 'paid'
                         WHERE p.provider_id = %(provider)s
                           AND NOT EXISTS (SELECT 1 FROM %(items)s r WHERE r.payout = p.name)
                    ),
                    carried AS (SELECT * FROM items
                                 WHERE NOT %(dated)s OR paid_on <= %(at)s::date),
                    paid_out AS (SELECT DISTINCT payment FROM carried
                                  WHERE type = 'payment_paid_out' AND payment IS NOT NULL),
                    reversed AS (SELECT DISTINCT payment FROM carried
                                  WHERE type IN %(reversals)s AND payment IS NOT NULL),
                    settled AS (SELECT DISTINCT refund FROM carried
                                 WHERE type IN %(refund_types)s AND refund IS NOT NULL),
                    held AS (
                        SELECT g.currency,
                               CASE WHEN g.status IN %(collected)s
                                         AND (NOT %(dated)s OR g.created_on <= %(at)s::date)
                                    THEN g.amount ELSE 0 END
                               - CASE WHEN o.payment IS NOT NULL THEN g.amount ELSE 0 END
                               + CASE WHEN r.payment IS NOT NULL THEN g.amount ELSE 0 END
                               AS amount
                          FROM %(payments)s g
                          LEFT JOIN paid_out o ON o.payment = g.id
                          LEFT JOIN reversed r ON r.payment = g.id
                        UNION ALL
                        SELECT f.currency,
                               CASE WHEN f.status = 'paid'
                                         AND (NOT %(dated)s OR f.created_on <= %(at)s::date)
                                    THEN -f.amount ELSE 0 END
                               + CASE WHEN s.refund IS NOT NULL THEN f.amount ELSE 0 END
                          FROM %(refunds)s f
                          LEFT JOIN settled s ON s.refund = f.id
                    )
                    SELECT currency, sum(amount)::bigint AS amount FROM held GROUP BY currency
                    """,
                    items=SQL.identifier(tables.items),
                    payouts=SQL.identifier(tables.payouts),
                    payments=SQL.identifier(tables.payments),
                    refunds=SQL.identifier(tables.refunds),
                    provider=self.provider_id.id,
                    reversals=REVERSAL_ITEM_TYPES,
                    refund_types=REFUND_ITEM_TYPES,
                    collected=COLLECTED_PAYMENT_STATUSES,
                    dated=dated,
                    at=at,
                )
            )
        }

    # === BUSINESS METHODS - MONTH === #

    def _gocardless_month_figures(self):
        """Return the month's proof of the clearing account, per currency.

        What moved on the clearing account between ``date_from`` and ``date_to`` (posted
        lines), by where it comes from; the opening balance plus the moves is the closing
        balance. The payouts of the period (their entries' dates) give the fees and VAT.

        :return: ``[{"currency": res.currency, "opening", "collected", "refunded", "paid_out",
            "charged_back", "payout_refunds", "other", "closing", "difference", "payouts",
            "payout_count", "net", "fees", "vat", "rounding"}]``
        :rtype: list
        """
        self.ensure_one()
        account = self.clearing_account_id or self.provider_id.sudo()._gocardless_clearing_account()
        rows = self._gocardless_query(
            SQL(
                """
                SELECT l.currency_id,
                       CASE WHEN l.date < %(start)s THEN 'opening'
                            WHEN i.item_type = 'payment_paid_out' THEN 'paid_out'
                            WHEN i.item_type IN %(reversals)s THEN 'charged_back'
                            WHEN i.item_type IS NOT NULL THEN 'payout_refunds'
                            WHEN pay.payment_type = 'inbound' THEN 'collected'
                            WHEN pay.payment_type = 'outbound' THEN 'refunded'
                            ELSE 'other' END AS bucket,
                       sum(l.amount_currency) AS amount
                  FROM account_move_line l
                  JOIN account_move m ON m.id = l.move_id
                  LEFT JOIN account_payment pay ON pay.id = m.origin_payment_id
                  LEFT JOIN LATERAL (SELECT it.item_type FROM gocardless_payout_item it
                                      WHERE it.move_line_id = l.id LIMIT 1) i ON TRUE
                 WHERE l.account_id = %(account)s AND l.parent_state = 'posted'
                   AND l.date <= %(end)s
                 GROUP BY 1, 2
                """,
                start=self.date_from,
                end=self.date_to,
                account=account.id,
                reversals=REVERSAL_ITEM_TYPES,
            )
        )
        payouts = self._gocardless_query(
            SQL(
                """
                SELECT p.currency_id, count(*) AS count, sum(p.amount) AS net,
                       sum(p.fee_amount) AS fees, sum(p.fee_tax_amount) AS vat,
                       sum(p.rounding_amount) AS rounding
                  FROM gocardless_payout p
                  JOIN account_move m ON m.id = p.move_id
                 WHERE p.provider_id = %(provider)s AND m.state = 'posted'
                   AND m.date BETWEEN %(start)s AND %(end)s
                 GROUP BY 1
                """,
                provider=self.provider_id.id,
                start=self.date_from,
                end=self.date_to,
            )
        )
        buckets = ("opening", "collected", "refunded", "paid_out", "charged_back")
        buckets += ("payout_refunds", "other")
        figures = {}

        def figure(currency_id):
            if currency_id not in figures:
                figures[currency_id] = dict.fromkeys(
                    (*buckets, "net", "fees", "vat", "rounding", "payout_count"), 0.0
                )
                figures[currency_id]["currency"] = self.env["res.currency"].browse(currency_id)
            return figures[currency_id]

        for row in rows:
            figure(row["currency_id"])[row["bucket"]] += row["amount"] or 0.0
        for row in payouts:
            values = figure(row["currency_id"])
            values.update(
                payout_count=row["count"],
                net=row["net"] or 0.0,
                fees=row["fees"] or 0.0,
                vat=row["vat"] or 0.0,
                rounding=row["rounding"] or 0.0,
            )
        closing = {
            row["currency_id"]: row["amount"] or 0.0
            for row in self._gocardless_query(
                SQL(
                    """
                    SELECT l.currency_id, sum(l.amount_currency) AS amount
                      FROM account_move_line l
                     WHERE l.account_id = %(account)s AND l.parent_state = 'posted'
                       AND l.date <= %(end)s
                     GROUP BY 1
                    """,
                    account=account.id,
                    end=self.date_to,
                )
            )
        }
        # What GoCardless holds, as of the proof for a period that ends on or after that day,
        # else at the period's end (from GoCardless's own dates): it proves the closing balance.
        held = None
        if self.run_at:
            if self.date_to >= fields.Date.context_today(self, self.run_at):
                held = self.clearing_held
            else:
                held = self.clearing_held_end
        if not isinstance(held, dict):
            held = None
        for code in held or ():
            figure(self._gocardless_currency(code).id)
        result = []
        for currency_id, values in figures.items():
            currency = values["currency"]
            for key in (*buckets, "net", "fees", "vat", "rounding"):
                values[key] = currency.round(values[key])
            values["closing"] = currency.round(closing.get(currency_id, 0.0))
            moved = currency.round(sum(values[key] for key in buckets))
            if held is None:
                values["held"] = None
                values["difference"] = currency.round(moved - values["closing"])
            else:
                values["held"] = _major(held.get(currency.name, 0), currency.name)
                values["difference"] = currency.round(values["closing"] - values["held"])
            result.append(values)
        return sorted(result, key=lambda values: values["currency"].name)

    def _gocardless_month_rows(self, values):
        """The lines of the month's proof of one currency: ``(label, amount, is_total)``.

        Its closing balance, when the period ends on or after the day of the proof, is proved
        against what GoCardless holds (collected, not paid out yet).
        """
        rows = [
            (self.env._("Opening balance of the clearing account"), values["opening"], True),
            (self.env._("Collected (confirmed direct debits)"), values["collected"], False),
            (self.env._("Refunds to customers"), values["refunded"], False),
            (self.env._("Paid out (payments carried by the payouts)"), values["paid_out"], False),
            (
                self.env._("Charge-backs and late failures taken back by the payouts"),
                values["charged_back"],
                False,
            ),
            (self.env._("Refunds settled by the payouts"), values["payout_refunds"], False),
            (self.env._("Other entries"), values["other"], False),
            (self.env._("Closing balance = clearing account"), values["closing"], True),
        ]
        if values["held"] is None:
            return [*rows, (self.env._("Difference"), values["difference"], True)]
        return [
            *rows,
            (
                self.env._("Held by GoCardless: collected, not paid out yet"),
                values["held"],
                False,
            ),
            (self.env._("Difference with GoCardless"), values["difference"], True),
        ]

    def _gocardless_payout_rows(self, values):
        """The payouts of the period in one currency: ``(label, amount)``."""
        gross = values["net"] + values["fees"] + values["vat"] + values["rounding"]
        return [
            (self.env._("Payouts booked"), values["payout_count"]),
            (self.env._("Carried by the payouts (gross)"), values["currency"].round(gross)),
            (self.env._("GoCardless fees (excl. VAT)"), -values["fees"]),
            (self.env._("VAT on fees"), -values["vat"]),
            (self.env._("Rounding"), -values["rounding"]),
            (self.env._("Paid to the bank (net)"), values["net"]),
        ]

    def _gocardless_month_xlsx(self):
        """Return the month's proof as an XLSX file (bytes)."""
        import xlsxwriter  # noqa: PLC0415 - Odoo's own dependency, needed only here

        output = io.BytesIO()
        workbook = xlsxwriter.Workbook(output, {"in_memory": True})
        bold = workbook.add_format({"bold": True})
        sheet = workbook.add_worksheet(self.env._("Cash proof")[:31])
        sheet.set_column(0, 0, 60)
        sheet.set_column(1, 1, 18)
        row = 0
        sheet.write(row, 0, self.name, bold)
        row += 2
        for values in self._gocardless_month_figures():
            currency = values["currency"]
            money = workbook.add_format(
                {
                    "num_format": "#,##0." + "0" * currency.decimal_places
                    if currency.decimal_places
                    else "#,##0"
                }
            )
            money_bold = workbook.add_format(
                {
                    "bold": True,
                    "num_format": "#,##0." + "0" * currency.decimal_places
                    if currency.decimal_places
                    else "#,##0",
                }
            )
            sheet.write(row, 0, currency.name, bold)
            row += 1
            for label, amount, total in self._gocardless_month_rows(values):
                sheet.write(row, 0, label, bold if total else None)
                sheet.write_number(row, 1, amount, money_bold if total else money)
                row += 1
            row += 1
            for label, amount in self._gocardless_payout_rows(values):
                sheet.write(row, 0, label)
                sheet.write_number(row, 1, amount, money)
                row += 1
            row += 2
        sheet.write(row, 0, self.env._("Drifts"), bold)
        row += 1
        for drift in self.drift_ids:
            sheet.write(row, 0, drift.name)
            sheet.write_number(row, 1, drift.amount)
            row += 1
        workbook.close()
        return output.getvalue()

    # === CRON === #

    @api.model
    def _cron_gocardless_cash_proof(self):
        """Prove the cash of every GoCardless provider, month to date, and tell who looks after
        it when a drift needs a person. One provider failing does not stop the others."""
        today = fields.Date.context_today(self)
        providers = (
            self.env["payment.provider"]
            .sudo()
            .search([("code", "=", const.PROVIDER_CODE), ("state", "in", ("enabled", "test"))])
        )
        for provider in providers:
            if not provider.gocardless_access_token:
                continue
            try:
                with self.env.cr.savepoint():
                    proof = self._gocardless_prove(provider, today.replace(day=1), today)
                    proof._gocardless_plan_activity()
            except Exception:  # noqa: BLE001 - one provider does not stop the others
                _logger.exception("gocardless: cash proof of provider %s failed", provider.id)

    def _gocardless_plan_activity(self):
        """One activity on the proof when some of its drifts can't be mended in one click."""
        self.ensure_one()
        manual = self.drift_ids.filtered(lambda d: not d.mend and d.state == "open")
        user = self.provider_id._gocardless_responsible_user()
        if not manual or not user:
            return
        proof = self.with_context(lang=user.lang or self.env.lang)
        summary = proof.env._("GoCardless cash proof: drifts to look at")
        # One to-do per provider, on its latest proof: the earlier proof's is replaced.
        self.env["mail.activity"].sudo().search(
            [
                ("res_model", "=", self._name),
                ("res_id", "in", self.search([("provider_id", "=", self.provider_id.id)]).ids),
                ("res_id", "!=", self.id),
                ("summary", "=", summary),
            ]
        ).unlink()
        proof.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=summary,
            note="<br/>".join(manual.mapped("name")),
            user_id=user.id,
        )


class GoCardlessCashProofDrift(models.Model):
    _name = "gocardless.cash.proof.drift"
    _description = "GoCardless Cash Proof Drift"
    _order = "proof_id desc, kind, since, id"

    proof_id = fields.Many2one(
        comodel_name="gocardless.cash.proof", required=True, ondelete="cascade", index=True
    )
    provider_id = fields.Many2one(related="proof_id.provider_id", store=True)
    company_id = fields.Many2one(related="proof_id.company_id", store=True)
    kind = fields.Selection(selection=DRIFT_KINDS, required=True, readonly=True)
    name = fields.Char(string="What", required=True, readonly=True)
    gocardless_ref = fields.Char(string="At GoCardless", readonly=True)
    gocardless_status = fields.Char(string="GoCardless Status", readonly=True)
    odoo_state = fields.Char(string="State in Odoo", readonly=True)
    related_refs = fields.Char(
        string="Related at GoCardless", readonly=True, help="The payments a mend reads again."
    )
    currency_id = fields.Many2one(comodel_name="res.currency", readonly=True)
    amount = fields.Monetary(readonly=True)
    since = fields.Date(readonly=True)
    transaction_id = fields.Many2one(
        comodel_name="payment.transaction", readonly=True, ondelete="set null"
    )
    payout_id = fields.Many2one(
        comodel_name="gocardless.payout", readonly=True, ondelete="set null"
    )
    statement_line_id = fields.Many2one(
        comodel_name="account.bank.statement.line",
        string="Bank Line",
        readonly=True,
        ondelete="set null",
    )
    mend = fields.Selection(
        selection=[
            ("link", "Link the payment"),
            ("read", "Read it again"),
            ("book", "Book the payout"),
            ("book_payment", "Book the payment"),
        ],
        compute="_compute_mend",
        store=True,
    )
    state = fields.Selection(
        selection=[("open", "Open"), ("mended", "Mended"), ("activity", "Activity planned")],
        default="open",
        required=True,
        readonly=True,
    )
    message = fields.Text(readonly=True)

    @api.depends("kind")
    def _compute_mend(self):
        for drift in self:
            drift.mend = MENDS.get(drift.kind) or False

    # === ACTION METHODS === #

    def action_gocardless_mend(self):
        """Mend the drifts that can be mended safely; plan an activity for the others."""
        self.env["gocardless.cash.proof"]._gocardless_check_proof_rights(self)
        for drift in self.sudo().filtered(lambda d: d.state == "open"):
            if not drift.mend:
                drift._gocardless_plan_activity()
                continue
            try:
                with self.env.cr.savepoint():
                    done = drift._gocardless_mend()
            except (utils.GoCardlessRequestError, UserError) as error:
                drift.message = utils.error_detail(error)
                if not utils.is_transient(error):
                    drift._gocardless_plan_activity()  # not safe in one click: a person looks
                continue
            if done:
                drift.write({"state": "mended", "message": False})
            else:
                # Not mended by its one click (a payout still waiting...): a person looks.
                drift._gocardless_plan_activity()
        return True

    def action_gocardless_plan_activity(self):
        self.env["gocardless.cash.proof"]._gocardless_check_proof_rights(self)
        for drift in self.sudo().filtered(lambda d: d.state == "open"):
            drift._gocardless_plan_activity()
        return True

    def _gocardless_plan_activity(self):
        self.ensure_one()
        user = self.env.user if not self.env.user._is_public() else self.env["res.users"]
        if self.env.su or not user:
            user = self.provider_id._gocardless_responsible_user()
        self.proof_id.activity_schedule(
            "mail.mail_activity_data_todo",
            summary=self.env._(
                "GoCardless cash proof: %(kind)s", kind=self._gocardless_kind_label()
            ),
            note=self.name,
            user_id=user.id,
        )
        self.state = "activity"

    def _gocardless_kind_label(self):
        return dict(self._fields["kind"]._description_selection(self.env)).get(self.kind)

    # === BUSINESS METHODS === #

    def _gocardless_mend(self):
        """Mend the drift; return whether it is mended."""
        self.ensure_one()
        provider = self.provider_id.with_context(gocardless_request_profile="background")
        if self.kind == "payment_orphan":
            return self._gocardless_link_payment(provider)
        if self.kind == "payment_state":
            tx = self.transaction_id
            self._gocardless_read_payment(tx, self.gocardless_ref)
            return (tx.gocardless_payment_status, tx.state) in set(
                self.env["gocardless.cash.proof"]._gocardless_expected_states()
            ) or bool(tx.gocardless_retrying)
        if self.kind == "payment_unbooked":
            return self._gocardless_book_payment()
        if self.kind == "refund_state":
            tx = self.transaction_id._gocardless_in_company_context()
            refund = tx.provider_id._gocardless_make_request("refunds", "get", self.gocardless_ref)
            tx._handle_notification_data(
                const.PROVIDER_CODE, {"reference": tx.reference, "gocardless_refund": refund}
            )
            tx._gocardless_post_process_now()
            return True
        if self.kind in ("payout_missed", "payout_item"):
            payment_ids = (self.related_refs or "").split(",")
            txs = (
                self.env["payment.transaction"]
                .sudo()
                ._gocardless_find_by_resource_ids(payment_ids, [("provider_id", "=", provider.id)])
            )
            for payment_id in payment_ids:
                if payment_id in txs:
                    self._gocardless_read_payment(txs[payment_id], payment_id)
            payout = self.env["gocardless.payout"]._gocardless_fetch(provider, self.gocardless_ref)
            self.payout_id = payout
            if payout.state == "waiting":
                self.message = payout.message
                return False
            return True
        return False

    def _gocardless_read_payment(self, tx, payment_id):
        """Bring a transaction to its payment's status, read again, through the pipeline."""
        tx = tx.sudo()._gocardless_in_company_context()
        payment = tx.provider_id._gocardless_make_request("payments", "get", payment_id)
        tx._handle_notification_data(
            const.PROVIDER_CODE, {"reference": tx.reference, "gocardless_payment": payment}
        )
        tx._gocardless_post_process_now()

    def _gocardless_book_payment(self):
        """Book the accounting payment of a collected debit that has none, as its
        post-processing does (Odoo's `_create_payment`, this addon's for invoices no longer
        posted), once GoCardless, read again, says the money was collected.

        The payment is read again through the pipeline first: a debit GoCardless took back
        meanwhile (charged back, failed) follows its status instead, and nothing is booked.
        """
        tx = self.transaction_id
        if not tx or not self.gocardless_ref:
            return False
        self._gocardless_read_payment(tx, self.gocardless_ref)
        if tx.state != "done" or tx.payment_id:
            return True  # followed its status, or booked meanwhile
        if tx.gocardless_payment_status not in COLLECTED_PAYMENT_STATUSES:
            raise UserError(
                self.env._(
                    "GoCardless: the payment %(payment)s is %(status)s, not collected: it is "
                    "not booked in one click.",
                    payment=self.gocardless_ref,
                    status=tx.gocardless_payment_status or "",
                )
            )
        tx = tx._gocardless_in_company_context()
        payment = tx.with_company(tx.company_id)._create_payment()
        tx._log_message_on_linked_documents(
            tx.env._(
                "GoCardless collected the direct debit %(reference)s, which had no accounting "
                "payment: the cash proof booked it (%(payment)s).",
                reference=tx.reference,
                payment=payment.name or "",
            )
        )
        # A payout waiting for this payment's booking can now be booked.
        self.env["gocardless.payout"]._gocardless_trigger_waiting()
        return bool(tx.payment_id)

    def _gocardless_link_payment(self, provider):
        """Give an orphan GoCardless payment its transaction, through the pipeline.

        The transaction created for it when GoCardless's answer was lost (its reference in
        the payment's metadata, on the same mandate, amount and currency), else a new
        transaction of the customer whose mandate (token) it was collected on.
        """
        payment = provider._gocardless_make_request("payments", "get", self.gocardless_ref)
        Tx = self.env["payment.transaction"].sudo()
        if Tx._gocardless_find_by_resource_ids(
            [payment["id"]], [("provider_id", "=", provider.id)]
        ):
            return True  # linked meanwhile
        tx = self.transaction_id
        if tx and not tx._gocardless_owns_payment(payment):
            raise UserError(
                self.env._(
                    "GoCardless: the payment %(payment)s is not the one of the transaction "
                    "%(reference)s.",
                    payment=payment["id"],
                    reference=tx.reference,
                )
            )
        if not tx:
            mandate = (payment.get("links") or {}).get("mandate")
            token = (
                self.env["payment.token"]
                .sudo()
                .with_context(active_test=False)
                .search(
                    [("provider_id", "=", provider.id), ("provider_ref", "=", mandate)], limit=1
                )
                if mandate
                else self.env["payment.token"]
            )
            if not token:
                raise UserError(
                    self.env._(
                        "GoCardless: the mandate %(mandate)s of the payment %(payment)s is not "
                        "saved in Odoo: the customer is unknown.",
                        mandate=mandate,
                        payment=payment["id"],
                    )
                )
            currency = (
                self.env["res.currency"]
                .with_context(active_test=False)
                .search([("name", "=", payment.get("currency"))], limit=1)
            )
            tx = Tx.with_company(provider.company_id).create(
                {
                    "provider_id": provider.id,
                    "payment_method_id": token.payment_method_id.id,
                    "token_id": token.id,
                    "partner_id": token.partner_id.id,
                    "amount": _major(payment["amount"], currency.name),
                    "currency_id": currency.id,
                    "operation": "offline",
                    "reference": Tx._compute_reference(
                        const.PROVIDER_CODE, prefix=payment.get("reference") or payment["id"]
                    ),
                }
            )
        tx = tx._gocardless_in_company_context()
        tx._handle_notification_data(
            const.PROVIDER_CODE, {"reference": tx.reference, "gocardless_payment": payment}
        )
        tx._gocardless_post_process_now()
        self.transaction_id = tx
        return tx.provider_reference == payment["id"]


class _ProofTables:
    """GoCardless's side of a proof, streamed page by page into temporary tables."""

    def __init__(self, env, provider, key):
        self.env = env
        self.cr = env.cr
        self.provider = provider
        self.payments = f"gc_proof_payments_{key}"
        self.refunds = f"gc_proof_refunds_{key}"
        self.payouts = f"gc_proof_payouts_{key}"
        self.items = f"gc_proof_items_{key}"
        self.counts = {"payments": 0, "refunds": 0, "payouts": 0, "items": 0}
        self.requests = 0
        self.clearing = (
            provider._gocardless_clearing_account()
            if provider._gocardless_has_clearing_account()
            else env["account.account"]
        )
        for table, columns in (
            (
                self.payments,
                "id varchar PRIMARY KEY, status varchar, amount bigint, currency varchar, "
                "created_on date, mandate varchar, payout varchar, odoo_reference varchar",
            ),
            (
                self.refunds,
                "id varchar PRIMARY KEY, status varchar, amount bigint, currency varchar, "
                "created_on date, payment varchar",
            ),
            (
                self.payouts,
                "id varchar PRIMARY KEY, status varchar, amount bigint, currency varchar, "
                "arrival_date date, reference varchar",
            ),
            (self.items, "payout varchar, type varchar, payment varchar, refund varchar"),
        ):
            self.cr.execute(
                SQL(
                    "CREATE TEMPORARY TABLE %s (%s) ON COMMIT DROP",
                    SQL.identifier(table),
                    SQL(columns),
                )
            )

    def drop(self):
        for table in (self.payments, self.refunds, self.payouts, self.items):
            self.cr.execute(SQL("DROP TABLE IF EXISTS %s", SQL.identifier(table)))

    def pages(self, resource, params=None):
        """Yield the records of a list endpoint, one page at a time (cursor pagination)."""
        after = None
        while True:
            query = dict(params or {}, limit=gc_client.MAX_PAGE_SIZE)
            if after:
                query["after"] = after
            page = self.read_page(resource, query)
            yield page.get(resource) or []
            after = ((page.get("meta") or {}).get("cursors") or {}).get("after")
            if not after:
                return

    def read_page(self, resource, query):
        """Read one page; a refusal for the rate limit is sent again once the window allows
        (the background profile's pacer waits for it before each call)."""
        for attempt in range(RATE_LIMITED_TRIES):
            self.requests += 1
            try:
                return self.provider._gocardless_make_request(
                    resource, "list", params=query, profile="background"
                )
            except utils.GoCardlessRequestError as error:
                if error.kind != "rate_limited" or attempt == RATE_LIMITED_TRIES - 1:
                    raise
        return {}  # not reached

    @staticmethod
    def _day(value):
        if not value:
            return None
        try:
            return date.fromisoformat(str(value)[:10])
        except ValueError:
            return None

    def _insert(self, table, columns, types, rows):
        if not rows:
            return
        arrays = list(zip(*rows, strict=True))
        self.cr.execute(
            SQL(
                "INSERT INTO %s (%s) SELECT * FROM unnest(%s) ON CONFLICT DO NOTHING",
                SQL.identifier(table),
                SQL(", ").join(SQL.identifier(column) for column in columns),
                SQL(", ").join(
                    SQL("%s::" + sql_type + "[]", list(values))
                    for values, sql_type in zip(arrays, types, strict=True)
                ),
            )
        )

    def _insert_resources(self, table, records, columns, values):
        """Store the GoCardless ``records`` (those without an id left out) in ``table``: their
        id, status, amount and currency, then the ``columns`` (name: SQL type) whose values
        ``values`` returns for a record."""
        self._insert(
            table,
            ("id", "status", "amount", "currency", *columns),
            ("varchar", "varchar", "bigint", "varchar", *columns.values()),
            [
                (r["id"], r.get("status"), int(r.get("amount") or 0), r.get("currency"), *values(r))
                for r in records
                if isinstance(r, dict) and r.get("id")
            ],
        )

    def read_gocardless(self):
        """Read the account's payouts, payments and refunds, then the items of the paid
        payouts Odoo has not booked."""

        def links(record):
            return record.get("links") or {}

        for resource, table, columns, values in (
            (
                "payouts",
                self.payouts,
                {"arrival_date": "date", "reference": "varchar"},
                lambda r: (self._day(r.get("arrival_date")), r.get("reference")),
            ),
            (
                "payments",
                self.payments,
                {"created_on": "date", "mandate": "varchar", "payout": "varchar"},
                lambda r: (
                    self._day(r.get("charge_date") or r.get("created_at")),
                    links(r).get("mandate"),
                    links(r).get("payout"),
                ),
            ),
            (
                "refunds",
                self.refunds,
                {"created_on": "date", "payment": "varchar"},
                lambda r: (self._day(r.get("created_at")), links(r).get("payment")),
            ),
        ):
            for records in self.pages(resource):
                self.counts[resource] += len(records)
                self._insert_resources(table, records, columns, values)
                if resource == "payments":
                    self._store_odoo_references(records)
        self.read_items()

    def _store_odoo_references(self, records):
        """Note on the stored payments the Odoo reference their metadata carries."""
        references = [
            (r["id"], (r.get("metadata") or {}).get("odoo_reference"))
            for r in records
            if isinstance(r, dict) and (r.get("metadata") or {}).get("odoo_reference")
        ]
        if references:
            ids, refs = zip(*references, strict=True)
            self.cr.execute(
                SQL(
                    "UPDATE %s g SET odoo_reference = u.ref FROM unnest(%s::varchar[], "
                    "%s::varchar[]) AS u(id, ref) WHERE g.id = u.id",
                    SQL.identifier(self.payments),
                    list(ids),
                    list(refs),
                )
            )

    def read_items(self):
        """Read the items of the paid payouts Odoo has not booked nor stored."""
        self.cr.execute(
            SQL(
                """
                SELECT g.id FROM %s g
                 WHERE g.status = 'paid'
                   AND NOT EXISTS (SELECT 1 FROM gocardless_payout p
                                    WHERE p.provider_id = %s AND p.name = g.id
                                      AND (p.state != 'waiting'
                                           OR EXISTS (SELECT 1 FROM gocardless_payout_item i
                                                       WHERE i.payout_id = p.id)))
                 ORDER BY g.id
                """,
                SQL.identifier(self.payouts),
                self.provider.id,
            )
        )
        for (payout_id,) in self.cr.fetchall():
            try:
                for records in self.pages("payout_items", {"payout": payout_id}):
                    self.counts["items"] += len(records)
                    self._insert(
                        self.items,
                        ("payout", "type", "payment", "refund"),
                        ("varchar", "varchar", "varchar", "varchar"),
                        [
                            (
                                payout_id,
                                r.get("type"),
                                (r.get("links") or {}).get("payment"),
                                (r.get("links") or {}).get("refund"),
                            )
                            for r in records
                            if isinstance(r, dict)
                        ],
                    )
            except utils.GoCardlessRequestError as error:
                if getattr(error.api_error, "status", None) != 410:
                    raise
                # Older than six months: its payout is booked by hand (see the payout).


class PaymentProvider(models.Model):
    _inherit = "payment.provider"  # pylint: disable=consider-merging-classes-inherited

    def action_gocardless_cash_proofs(self):
        """Open the provider's cash proofs, the latest first."""
        self.ensure_one()
        self.env["gocardless.cash.proof"]._gocardless_check_proof_rights(self)
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "isanet_gocardless.action_gocardless_cash_proof"
        )
        action["domain"] = [("provider_id", "=", self.id)]
        action["context"] = {"default_provider_id": self.id}
        return action

    def action_gocardless_prove_cash(self):
        """Prove the provider's cash now, month to date; open the proof."""
        self.ensure_one()
        self.env["gocardless.cash.proof"]._gocardless_check_proof_rights(self)
        if self.code != const.PROVIDER_CODE:
            raise UserError(self.env._("Only a GoCardless provider has a cash proof."))
        today = fields.Date.context_today(self)
        proof = self.env["gocardless.cash.proof"]._gocardless_prove(
            self.sudo(), today.replace(day=1), today
        )
        return proof._gocardless_form_action()
