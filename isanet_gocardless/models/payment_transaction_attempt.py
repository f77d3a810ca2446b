# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Every payment and refund at GoCardless is known to Odoo before it exists.

Each GoCardless transaction is one attempt with a key of its own
(`gocardless_idempotency_key`, never derived from the reference, which the next transaction
of an invoice may reuse); the `Idempotency-Key` of each of its creates is derived from it.
The transaction is committed before a create that moves money is sent, so that a lost
answer leaves a tracked transaction: a draft with a mandate and a key counts as under way
for the guard until it is resolved, by the next attempt (the same key gets the same payment
back) or by :meth:`_cron_gocardless_check_unconfirmed_attempts` (looked up at GoCardless).
A refund whose answer was lost holds the next refund of its payment until it is resolved
the same way (or by its `refunds` event), so that a merchant asking again never refunds
twice. What GoCardless returns for a key is checked against what was asked before it is
linked.
"""

import logging
import threading
import uuid
from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.osv import expression
from odoo.tools import SQL, format_amount

from .. import const, utils
from ..gocardless_core import amounts
from ..gocardless_core.errors import GoCardlessCoreError

_logger = logging.getLogger(__name__)

# An unconfirmed attempt is looked up at GoCardless once its request is surely over...
UNCONFIRMED_LOOKUP_AFTER = timedelta(minutes=1)
# ... and closed as never created when GoCardless still has no payment for it this long after.
UNCONFIRMED_GIVE_UP_AFTER = timedelta(minutes=10)
# Attempts checked per cron run, and the payments of a mandate read to find one.
UNCONFIRMED_BATCH_SIZE = 50
LOOKUP_PAGE_SIZE = 100
LOOKUP_MAX_PAGES = 5


def may_commit():
    """Return whether the current thread may commit its cursor (not a test's own thread)."""
    return not getattr(threading.current_thread(), "testing", False)


class GoCardlessPaymentRefused(ValidationError):
    """GoCardless answered a create with a payment that is not the one asked for.

    The payment is not linked; the transaction is in error and the merchant has an activity.
    """


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"  # pylint: disable=consider-merging-classes-inherited

    gocardless_idempotency_key = fields.Char(
        string="GoCardless Attempt Key",
        help="The key of this attempt's creates at GoCardless (payment, billing request): "
        "sent again, it gets the same resource back, never a second one. Unique to the "
        "transaction.",
        readonly=True,
        copy=False,
    )

    # === CRUD METHODS === #

    @api.model_create_multi
    def create(self, vals_list):
        """Override of `payment` to give each GoCardless transaction its attempt key."""
        txs = super().create(vals_list)
        for tx in txs:
            if tx.provider_code == const.PROVIDER_CODE and not tx.gocardless_idempotency_key:
                tx.gocardless_idempotency_key = uuid.uuid4().hex
        return txs

    # === BUSINESS METHODS - ATTEMPTS === #

    @api.model
    def _gocardless_unconfirmed_domain(self):
        """Return the domain of the debits whose payment create may have been sent without
        Odoo learning the payment: a draft with a mandate and an attempt key, and no payment.
        """
        return [
            ("provider_code", "=", const.PROVIDER_CODE),
            ("operation", "in", const.DEBIT_OPERATIONS),
            ("state", "=", "draft"),
            ("token_id", "!=", False),
            ("gocardless_idempotency_key", "!=", False),
            ("provider_reference", "=", False),
        ]

    @api.model
    def _gocardless_unconfirmed_refund_domain(self):
        """Return the domain of the refunds whose create may have been sent without Odoo
        learning the refund: a draft refund with an attempt key and no refund, of a debit
        GoCardless collected.

        Such a draft exists only once its create is about to be sent: it is committed just
        before (see `_send_refund_request`).
        """
        return [
            ("provider_code", "=", const.PROVIDER_CODE),
            ("operation", "=", "refund"),
            ("state", "=", "draft"),
            ("gocardless_idempotency_key", "!=", False),
            ("provider_reference", "=", False),
            ("source_transaction_id.provider_reference", "!=", False),
        ]

    def _gocardless_commit_attempt(self):
        """Commit the transaction, its attempt key included, before a create is sent.

        Only for a door that owns its database transaction (the portal's routes): a lost
        answer, or an error raised afterwards, then leaves the transaction tracked. Tests run
        in one database transaction that their own thread may not commit: only flushed then.
        """
        self.ensure_one()
        self.env.flush_all()
        if may_commit():
            self.env.cr.commit()  # pylint: disable=invalid-commit

    def _gocardless_fail_attempt(self, message):
        """End the attempt in error with ``message`` (through the pipeline), if still a draft."""
        self.ensure_one()
        if self.state != "draft":
            return
        self._handle_notification_data(
            const.PROVIDER_CODE, {"reference": self.reference, "gocardless_attempt_error": message}
        )

    def _gocardless_unconfirmed_message(self):
        """Return the sentence telling a person that a debit's or a refund's create got no
        answer."""
        if self.operation == "refund":
            return self.env._(
                "GoCardless: the refund of %(amount)s could not be confirmed: GoCardless's "
                "answer was lost. It may have been made; it will be checked and shown on the "
                "payment, and no other refund of this payment will be sent meanwhile.",
                amount=format_amount(self.env, -self.amount, self.currency_id),
            )
        return self.env._(
            "GoCardless: the direct debit of %(amount)s could not be confirmed: GoCardless's "
            "answer was lost. It may have been created; it will be checked and its status "
            "shown on the invoice, and no second debit will be made meanwhile.",
            amount=format_amount(self.env, self.amount, self.currency_id),
        )

    # === BUSINESS METHODS - WHAT GOCARDLESS RETURNED === #

    def _gocardless_payment_mismatch(self, payment, amount, mandate_id):
        """Return why ``payment`` is not the payment this transaction asked for, or None.

        Its amount (minor units), currency, mandate and Odoo reference must be those asked:
        a key GoCardless already knew gives back the payment first created with it.

        Note: self.ensure_one()

        :param dict payment: The `payments` resource GoCardless returned.
        :param int amount: The amount asked, in minor units.
        :param str mandate_id: The mandate asked.
        :rtype: str | None
        """
        self.ensure_one()
        payment = payment if isinstance(payment, dict) else {}
        links = payment.get("links") if isinstance(payment.get("links"), dict) else {}
        metadata = payment.get("metadata") if isinstance(payment.get("metadata"), dict) else {}
        if (
            payment.get("id")
            and payment.get("amount") == amount
            and payment.get("currency") == self.currency_id.name
            and links.get("mandate") == mandate_id
            and metadata.get("odoo_reference", self.reference) == self.reference
        ):
            return None
        try:
            returned = format_amount(
                self.env,
                float(amounts.from_minor_units(payment.get("amount"), payment.get("currency"))),
                self.env["res.currency"].search([("name", "=", payment.get("currency"))]),
            )
        except (GoCardlessCoreError, TypeError, ValueError):
            returned = f"{payment.get('amount')} {payment.get('currency')}"
        return self.env._(
            "GoCardless answered the direct debit of %(asked)s on the mandate %(mandate)s "
            "(transaction %(reference)s) with another payment, %(payment)s: %(returned)s on "
            "the mandate %(other_mandate)s. It was not linked to the invoice; check it in "
            "GoCardless and cancel it if nobody asked for it.",
            asked=format_amount(self.env, self.amount, self.currency_id),
            mandate=mandate_id,
            reference=self.reference,
            payment=payment.get("id") or "?",
            returned=returned,
            other_mandate=links.get("mandate") or "?",
        )

    def _gocardless_refuse_payment(self, payment, reason):
        """Refuse a payment GoCardless returned that is not the one asked for: the transaction
        ends in error (not linked) and the merchant gets an activity.

        Note: self.ensure_one()

        :param dict payment: The `payments` resource.
        :param str reason: See :meth:`_gocardless_payment_mismatch`.
        """
        self.ensure_one()
        _logger.warning(
            "gocardless: payment %s returned for transaction %s refused: %s",
            payment.get("id") if isinstance(payment, dict) else None,
            self.reference,
            reason,
        )
        self._handle_notification_data(
            const.PROVIDER_CODE,
            {"reference": self.reference, "gocardless_refused_payment": True, "reason": reason},
        )
        self._gocardless_notify_refused_payment(reason)

    def _gocardless_notify_refused_payment(self, reason):
        """Give who follows up the invoices (else the provider) an activity about a payment
        GoCardless returned that Odoo refused to link."""
        self.ensure_one()
        for invoice in self.invoice_ids:
            _tx, user = self._gocardless_notice_env(invoice)
            if user:
                tx_user = self._gocardless_user_env(invoice, user)
                invoice.sudo().activity_schedule(
                    "mail.mail_activity_data_todo",
                    summary=tx_user.env._("GoCardless payment not linked"),
                    note=reason,
                    user_id=user.id,
                )
        if not self.invoice_ids:
            provider = self.provider_id.sudo()
            user = provider._gocardless_responsible_user()
            if user:
                provider.activity_schedule(
                    "mail.mail_activity_data_todo",
                    summary=provider.with_context(lang=user.lang).env._(
                        "GoCardless payment not linked"
                    ),
                    note=reason,
                    user_id=user.id,
                )

    # === BUSINESS METHODS - UNCONFIRMED ATTEMPTS === #

    def _gocardless_settle_unconfirmed_siblings(self):
        """Look up at GoCardless the unconfirmed debits of this transaction's invoices.

        A payment found is linked (the guard then counts it as any debit under way); one not
        found keeps counting as under way until the cron closes it. GoCardless unreachable
        changes nothing.

        Note: self.ensure_one()

        :return: Whether an attempt was resolved.
        :rtype: bool
        """
        self.ensure_one()
        if not self.invoice_ids:
            return False
        siblings = self.sudo().search(
            [
                *self._gocardless_unconfirmed_domain(),
                ("id", "!=", self.id),
                ("invoice_ids", "in", self.invoice_ids.ids),
            ]
        )
        resolved = False
        for sibling in siblings:
            try:
                resolved |= sibling._gocardless_check_unconfirmed()
            except ValidationError as error:
                _logger.info(
                    "gocardless: unconfirmed debit %s not checked now: %s", sibling.reference, error
                )
        return resolved

    def _gocardless_check_unconfirmed(self, give_up_before=None):
        """Resolve a debit or a refund whose create got no answer: link what GoCardless holds
        for it, or, once ``give_up_before`` is past and GoCardless still holds nothing, end it
        in error (no money moved).

        Note: self.ensure_one()

        :param datetime give_up_before: Close the attempt if it was last written before.
        :return: Whether the payment or refund was found and linked.
        :rtype: bool
        :raise GoCardlessRequestError: If GoCardless can't be reached.
        """
        self.ensure_one()
        # An attempt being sent right now holds its row: it is left to its sender.
        self.env.cr.execute(
            SQL("SELECT id FROM payment_transaction WHERE id = %s FOR UPDATE SKIP LOCKED", self.id)
        )
        if not self.env.cr.fetchone():
            return False
        self.invalidate_recordset(["state", "provider_reference", "token_id", "write_date"])
        is_refund = self.operation == "refund"
        if self.state != "draft" or self.provider_reference:
            return False
        if not (self.source_transaction_id.provider_reference if is_refund else self.token_id):
            return False
        tx = self._gocardless_in_company_context()
        if is_refund:
            key, resource = "gocardless_refund", tx._gocardless_find_attempt_refund()
        else:
            key, resource = "gocardless_payment", tx._gocardless_find_attempt_payment()
        if resource:
            tx._handle_notification_data(
                const.PROVIDER_CODE, {"reference": tx.reference, key: resource}
            )
            tx._log_message_on_linked_documents(tx._gocardless_found_message(resource["id"]))
            _logger.info(
                "gocardless: unconfirmed transaction %s linked to %s", tx.reference, resource["id"]
            )
            return True
        if give_up_before and self.write_date and self.write_date <= give_up_before:
            _logger.info(
                "gocardless: nothing at GoCardless for transaction %s; closed", tx.reference
            )
            tx._gocardless_fail_attempt(
                tx.env._("GoCardless holds no refund for this attempt: nothing was refunded.")
                if is_refund
                else tx.env._(
                    "GoCardless holds no direct debit for this attempt: nothing was charged."
                )
            )
        return False

    def _gocardless_found_message(self, resource_id):
        """Return the sentence telling that what a lost answer created is now followed."""
        self.ensure_one()
        if self.operation == "refund":
            return self.env._(
                "GoCardless had made the refund %(refund)s of %(amount)s although its answer "
                "was lost: it is now followed (transaction %(reference)s).",
                refund=resource_id,
                amount=format_amount(self.env, -self.amount, self.currency_id),
                reference=self.reference,
            )
        return self.env._(
            "GoCardless had created the direct debit %(payment)s of %(amount)s although "
            "its answer was lost: it is now followed (transaction %(reference)s).",
            payment=resource_id,
            amount=format_amount(self.env, self.amount, self.currency_id),
            reference=self.reference,
        )

    def _gocardless_find_attempt(self, resource_type, params, is_ours):
        """Return the resource GoCardless holds for this attempt, or None.

        The listed resources (newest first) carrying the transaction's reference in their
        metadata are given to ``is_ours``; the first it accepts is returned.

        Note: self.ensure_one()

        :param str resource_type: `payments` or `refunds`.
        :param dict params: The filter of the listing (the mandate, the payment).
        :param is_ours: A function of a resource, telling whether it is this attempt's.
        :rtype: dict | None
        :raise GoCardlessRequestError: If GoCardless can't be reached.
        """
        self.ensure_one()
        params = dict(params, limit=LOOKUP_PAGE_SIZE)
        for _page in range(LOOKUP_MAX_PAGES):
            page = self._gocardless_request(resource_type, "list", params=params)
            for resource in page.get(resource_type) or ():
                if not isinstance(resource, dict):
                    continue
                metadata = resource.get("metadata") or {}
                if metadata.get("odoo_reference") == self.reference and is_ours(resource):
                    return resource
            after = ((page.get("meta") or {}).get("cursors") or {}).get("after")
            if not after:
                break
            params = dict(params, after=after)
        return None

    def _gocardless_find_attempt_payment(self):
        """Return the payment GoCardless holds for this attempt, or None: on the transaction's
        mandate, for its amount and currency.

        Note: self.ensure_one()

        :rtype: dict | None
        :raise GoCardlessRequestError: If GoCardless can't be reached.
        """
        self.ensure_one()
        mandate_id = self.token_id.provider_ref
        try:
            amount = amounts.to_minor_units(self.amount, self.currency_id.name)
        except GoCardlessCoreError:
            return None
        return self._gocardless_find_attempt(
            "payments",
            {"mandate": mandate_id},
            lambda payment: not self._gocardless_payment_mismatch(payment, amount, mandate_id),
        )

    def _gocardless_find_attempt_refund(self):
        """Return the refund GoCardless holds for this refund attempt, or None: of the source
        transaction's payment, for the refund's amount.

        Note: self.ensure_one()

        :rtype: dict | None
        :raise GoCardlessRequestError: If GoCardless can't be reached.
        """
        self.ensure_one()
        return self._gocardless_find_attempt(
            "refunds",
            {"payment": self.source_transaction_id.provider_reference},
            self._gocardless_owns_refund,
        )

    def _gocardless_owns_refund(self, refund):
        """Return whether ``refund`` is this refund transaction's GoCardless refund.

        Its id when the transaction knows it; otherwise (found by the Odoo reference in the
        refund's metadata) only a refund of the source transaction's payment, for the refund
        transaction's amount and currency.

        Note: self.ensure_one()

        :param dict refund: The `refunds` resource.
        :rtype: bool
        """
        self.ensure_one()
        if not isinstance(refund, dict):
            return False
        if self.provider_reference:
            return self.provider_reference == refund.get("id")
        links = refund.get("links") if isinstance(refund.get("links"), dict) else {}
        try:
            amount = amounts.to_minor_units(-self.amount, self.currency_id.name)
        except GoCardlessCoreError:
            return False
        return bool(
            refund.get("id")
            and self.operation == "refund"
            and self.source_transaction_id.provider_reference
            and links.get("payment") == self.source_transaction_id.provider_reference
            and refund.get("amount") == amount
            and refund.get("currency") == self.currency_id.name
        )

    def _gocardless_settle_unconfirmed_refunds(self):
        """Look up at GoCardless the refunds of this debit whose answer was lost.

        Each is resolved as the cron does (see :meth:`_gocardless_check_unconfirmed`): linked
        when found, closed once GoCardless surely never made it; GoCardless unreachable
        leaves it as it was.

        Note: self.ensure_one()

        :return: What to tell the merchant: a refund found, or one still unresolved.
        :rtype: list[str]
        """
        self.ensure_one()
        unconfirmed = self.child_transaction_ids.filtered_domain(
            self._gocardless_unconfirmed_refund_domain()
        )
        give_up_before = fields.Datetime.now() - UNCONFIRMED_GIVE_UP_AFTER
        messages = []
        for refund in unconfirmed:
            try:
                found = refund._gocardless_check_unconfirmed(give_up_before=give_up_before)
            except ValidationError as error:
                _logger.info(
                    "gocardless: unconfirmed refund %s not checked now: %s", refund.reference, error
                )
                found = False
            if found:
                messages.append(refund._gocardless_found_message(refund.provider_reference))
            elif refund.state == "draft":
                messages.append(refund._gocardless_unconfirmed_message())
        return messages

    def _gocardless_hold_refund_for_unconfirmed(self):
        """Before a new refund of this debit: resolve its refunds whose answer was lost (see
        :meth:`_gocardless_settle_unconfirmed_refunds`).

        While one is still unresolved, or one was just found, no new refund is recorded or
        sent: the merchant asking again most likely asks for the same refund. What was found
        is kept (committed, for a door owning its database transaction) and the merchant is
        told. A refund GoCardless surely never made frees the way.

        Note: self.ensure_one()

        :return: None
        :raise UserError: If the new refund is held.
        """
        self.ensure_one()
        messages = self._gocardless_settle_unconfirmed_refunds()
        if not messages:
            return
        messages.append(
            self.env._(
                "No other refund of this payment was sent: ask again once you have checked "
                "that another refund is due."
            )
        )
        self._gocardless_commit_attempt()
        raise UserError("\n".join(messages))

    @api.model
    def _cron_gocardless_check_unconfirmed_attempts(self):
        """Resolve the debits and refunds whose create got no answer (see
        :meth:`_gocardless_check_unconfirmed`), each committed on its own.

        :return: How many were linked to their payment or refund.
        :rtype: int
        """
        Transaction = self.sudo().with_context(gocardless_request_profile="background")
        now = fields.Datetime.now()
        txs = Transaction.search(
            [
                *expression.OR(
                    [
                        self._gocardless_unconfirmed_domain(),
                        self._gocardless_unconfirmed_refund_domain(),
                    ]
                ),
                ("write_date", "<=", now - UNCONFIRMED_LOOKUP_AFTER),
            ],
            order="id",
            limit=UNCONFIRMED_BATCH_SIZE,
        )
        linked = 0
        for tx in txs:
            try:
                with self.env.cr.savepoint():
                    linked += tx._gocardless_check_unconfirmed(
                        give_up_before=now - UNCONFIRMED_GIVE_UP_AFTER
                    )
            except ValidationError as error:
                _logger.warning(
                    "gocardless: unconfirmed attempt %s not checked: %s", tx.reference, error
                )
                if utils.is_transient(error):
                    break  # GoCardless unavailable: the next run goes on
            if may_commit():
                self.env.cr.commit()  # pylint: disable=invalid-commit
        return linked

    # === BUSINESS METHODS - PAYMENTS ODOO CANNOT MATCH === #

    @api.model
    def _gocardless_notify_unknown_payment(self, provider, payment_id, reason):
        """Tell the merchant, once per payment, of a GoCardless payment Odoo cannot match.

        A message on the provider and an activity for who looks after it: a payment created
        outside Odoo, or one whose transaction is gone, is collected all the same.

        :param payment.provider provider: The provider whose webhook told of the payment.
        :param str payment_id: The payment (PM...).
        :param str reason: Why it does not match, for the merchant.
        """
        provider = provider.sudo()
        if not provider or not payment_id:
            return
        known = (
            self.env["mail.message"]
            .sudo()
            .search_count(
                [
                    ("model", "=", "payment.provider"),
                    ("res_id", "=", provider.id),
                    ("body", "ilike", payment_id),
                ],
                limit=1,
            )
        )
        if known:
            return
        company_lang = provider.company_id.partner_id.lang
        body = provider.with_context(lang=company_lang).env._(
            "GoCardless payment %(payment)s has no transaction in Odoo: %(reason)s Check it in "
            "GoCardless (cancel it if nobody asked for it, or record it on its invoice).",
            payment=payment_id,
            reason=reason,
        )
        provider.message_post(body=body)
        provider._gocardless_schedule_todo(
            lambda provider: (
                provider.env._("Unknown GoCardless payment"),
                provider.env._(
                    "GoCardless payment %(payment)s has no transaction in Odoo: %(reason)s "
                    "Check it in GoCardless (cancel it if nobody asked for it, or record it on "
                    "its invoice).",
                    payment=payment_id,
                    reason=reason,
                ),
            )
        )
