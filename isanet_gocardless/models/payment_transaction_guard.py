# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""The one guard of GoCardless debits, and of their refunds.

Every door that makes GoCardless take money (the portal's redirect and saved-mandate flows,
the merchant's *Collect by Direct Debit*, a webhook completing a mandate set-up, RPC, crons)
creates the debit through `payment.transaction`, which asks :meth:`_gocardless_check_debit`
first: nothing is sent to GoCardless when it refuses. One debit pays one invoice, or the
overdue invoices of one customer in one currency (the portal's "pay overdue invoices").
Every refund (Odoo's *Refund*, *Refund Direct Debit Surplus*, RPC) asks
:meth:`_gocardless_check_refund` before anything is recorded or sent.
"""

from odoo import models
from odoo.exceptions import ValidationError
from odoo.tools import SQL, format_amount

from .. import const
from ..gocardless_core import amounts, debits, refunds, schemes
from ..gocardless_core.errors import GoCardlessCoreError


# Kept apart from payment_transaction.py, which holds the flows: this file is the rules.
class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"  # pylint: disable=consider-merging-classes-inherited

    def _gocardless_check_debit(self, mandate_id=None):
        """Check that GoCardless may debit this transaction, and return the amount to debit.

        A debit is created only for posted customer invoices of the provider's company (one,
        or several of one customer in one currency: the portal's overdue invoices), with the
        direct debit offer on, in a currency GoCardless collects, on a mandate of the
        invoices' customer whose scheme collects that currency, for an amount above zero and
        not above what is due on them less the other debits of these invoices that are
        pending, or collected and not yet booked. The invoices' rows are locked (written), so
        that two requests debiting the same invoice at once are serialised: the second one
        sees the first one's debit, or fails to serialise and is retried.

        Note: self.ensure_one()

        :param str mandate_id: The mandate (MD...) to charge, when it is known; by default the
                               transaction's token's.
        :return: The amount to debit, in minor units of the transaction's currency.
        :rtype: int
        :raise ValidationError: If the debit is refused, saying why.
        """
        self.ensure_one()
        tx = self.sudo()
        if tx.provider_id.state not in ("enabled", "test"):
            raise ValidationError(
                self.env._("GoCardless: the provider is disabled: it collects nothing.")
            )
        invoices = tx._gocardless_check_invoices()
        currency = tx.currency_id
        if currency != invoices.currency_id:
            raise ValidationError(
                self.env._(
                    "GoCardless: the payment is in %(currency)s, the invoice in "
                    "%(invoice_currency)s.",
                    currency=currency.name,
                    invoice_currency=invoices.currency_id.name,
                )
            )
        mandate_scheme = tx._gocardless_check_mandate(invoices[0], mandate_id)
        self.env.cr.execute(
            SQL(
                "UPDATE account_move SET write_date = write_date WHERE id IN %s",
                tuple(invoices.ids),
            )
        )
        try:
            amount = amounts.to_minor_units(tx.amount, currency.name)
            due = sum(
                amounts.to_minor_units(invoice.amount_residual, currency.name)
                for invoice in invoices
            )
            already = amounts.to_minor_units(tx._gocardless_other_debits_amount(), currency.name)
        except GoCardlessCoreError as error:
            raise ValidationError(
                self.env._(
                    "GoCardless: direct debit in %(currency)s is not available.",
                    currency=currency.name,
                )
            ) from error
        refusal = debits.refusal(amount, currency.name, due, already, mandate_scheme)
        if refusal:
            raise ValidationError(tx._gocardless_refusal_message(refusal, invoices, due, already))
        return amount

    def _gocardless_check_invoices(self):
        """Return the invoices this transaction debits, or raise why it may not.

        One invoice, or several of one customer in one currency, each one that may be debited.
        """
        invoices = self.invoice_ids
        if not invoices:
            raise ValidationError(
                self.env._("GoCardless: direct debit pays invoices; this payment has none.")
            )
        if len(invoices.commercial_partner_id) > 1 or len(invoices.currency_id) > 1:
            raise ValidationError(
                self.env._(
                    "GoCardless: one direct debit pays invoices of one customer in one currency."
                )
            )
        for invoice in invoices:
            self._gocardless_check_invoice(invoice)
        return invoices

    def _gocardless_check_invoice(self, invoice):
        """Raise why ``invoice`` may not be debited by this transaction, if it may not."""
        if not (
            invoice.move_type == "out_invoice"
            and invoice.state == "posted"
            and invoice.payment_state in const.UNPAID_PAYMENT_STATES
        ):
            raise ValidationError(
                self.env._(
                    "GoCardless: the invoice %(invoice)s is not a posted customer invoice "
                    "waiting for payment.",
                    invoice=invoice.display_name,
                )
            )
        if invoice.company_id != self.provider_id.company_id:
            raise ValidationError(
                self.env._(
                    "GoCardless: the invoice %(invoice)s belongs to another company.",
                    invoice=invoice.display_name,
                )
            )
        if not invoice.gocardless_offered:
            raise ValidationError(
                self.env._(
                    "GoCardless: direct debit is not offered for the invoice %(invoice)s.",
                    invoice=invoice.display_name,
                )
            )
        if invoice.currency_id.name not in const.SUPPORTED_CURRENCIES:
            raise ValidationError(
                self.env._(
                    "GoCardless does not collect payments in %(currency)s.",
                    currency=invoice.currency_id.name,
                )
            )

    def _gocardless_check_mandate(self, invoice, mandate_id=None):
        """Return the scheme of the mandate to charge (None before one is set up).

        The transaction's token, when it has one, must be an active mandate of this provider
        held by the invoice's customer, and the mandate charged must be the token's.

        :raise ValidationError: If the mandate may not pay the invoice.
        """
        token = self.token_id
        if not token:
            return None
        if (
            not token.active
            or token.provider_id != self.provider_id
            or token.partner_id.commercial_partner_id != invoice.commercial_partner_id
            or (mandate_id and mandate_id != token.provider_ref)
        ):
            raise ValidationError(
                self.env._(
                    "GoCardless: this direct debit mandate can't pay the invoice %(invoice)s.",
                    invoice=invoice.display_name,
                )
            )
        if token.gocardless_mandate_status in const.MANDATE_ENDED_STATUSES:
            raise ValidationError(
                self.env._(
                    "GoCardless: the direct debit mandate %(mandate)s is %(status)s.",
                    mandate=token.provider_ref,
                    status=token.gocardless_mandate_status,
                )
            )
        try:
            return schemes.scheme_from_payment_method_code(token.payment_method_id.code)
        except GoCardlessCoreError:
            return "unknown"

    def _gocardless_other_debits_amount(self):
        """Return the amount of the invoice's other GoCardless debits under way.

        Those pending (a mandate being confirmed included), those collected whose accounting
        payment is not booked yet (the invoice's amount due does not show them), and those
        whose payment create may have been sent without Odoo learning the payment (a lost
        answer: GoCardless may hold it; see `payment_transaction_attempt.py`).

        :rtype: float
        """
        unconfirmed = [
            ("state", "=", "draft"),
            ("token_id", "!=", False),
            ("gocardless_idempotency_key", "!=", False),
            ("provider_reference", "=", False),
        ]
        others = self.search(
            [
                ("id", "!=", self.id),
                ("provider_code", "=", const.PROVIDER_CODE),
                ("operation", "in", const.DEBIT_OPERATIONS),
                ("invoice_ids", "in", self.invoice_ids.ids),
                "|",
                "|",
                ("state", "in", const.DEBIT_UNDER_WAY_STATES),
                "&",
                ("state", "=", "done"),
                ("payment_id", "=", False),
                "&",
                "&",
                "&",
                *unconfirmed,
            ]
        )
        return sum(others.mapped("amount"))

    def _gocardless_refusal_message(self, refusal, invoices, due, already):
        """Return the translated sentence of a refusal of `gocardless_core.debits`."""
        currency = self.currency_id
        invoice_names = ", ".join(invoices.mapped("display_name"))
        if refusal == debits.NOT_COLLECTABLE_CURRENCY:
            return self.env._(
                "GoCardless does not collect payments in %(currency)s.", currency=currency.name
            )
        if refusal == debits.MANDATE_SCHEME_MISMATCH:
            return self.env._(
                "GoCardless: the mandate %(mandate)s (%(method)s) can't collect %(currency)s.",
                mandate=self.token_id.provider_ref,
                method=self.token_id.payment_method_id.name,
                currency=currency.name,
            )
        if refusal == debits.NOT_POSITIVE:
            return self.env._("GoCardless: the amount to pay must be positive.")
        left = amounts.from_minor_units(debits.available(due, already), currency.name)
        if refusal == debits.NOTHING_DUE:
            return self.env._(
                "GoCardless: nothing is left to pay by direct debit on the invoice "
                "%(invoice)s: a direct debit of it is already under way.",
                invoice=invoice_names,
            )
        return self.env._(
            "GoCardless: the amount to pay (%(amount)s) is above what is left to pay on the "
            "invoice %(invoice)s (%(due)s).",
            amount=currency.format(self.amount),
            invoice=invoice_names,
            due=currency.format(float(left)),
        )

    def _gocardless_check_refund(self, amount_to_refund=None):
        """Check that this collected debit may be refunded by ``amount_to_refund``, before
        anything is recorded or sent; return the amount to refund.

        As Odoo's, no amount (or zero) refunds the whole debit. The amount must be a number,
        above zero and not above what the debit collected less its refunds made or under way
        (those GoCardless counts in the payment's `amount_refunded`, a refund whose answer was
        lost included).

        Note: self.ensure_one()

        :param float amount_to_refund: The amount to refund, in major units.
        :return: The amount to refund, in major units.
        :rtype: float
        :raise ValidationError: If the refund is refused, saying why.
        """
        self.ensure_one()
        amount = amount_to_refund
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int | float)):
            raise ValidationError(self.env._("GoCardless: the amount to refund must be a number."))
        amount = amount or self.amount
        currency = self.currency_id
        refunded = sum(
            -refund.amount
            for refund in self.sudo().child_transaction_ids
            if refund.operation == "refund"
            and refund.state in ("draft", "pending", "authorized", "done")
        )
        try:
            minor = amounts.to_minor_units(amount, currency.name)
            collected = amounts.to_minor_units(self.amount, currency.name)
            already = amounts.to_minor_units(refunded, currency.name)
        except GoCardlessCoreError as error:
            raise ValidationError(
                self.env._("GoCardless: the amount to refund must be a number.")
            ) from error
        refusal = refunds.refusal(minor, collected, already)
        if not refusal:
            return amount
        if refusal == refunds.NOT_POSITIVE:
            raise ValidationError(self.env._("GoCardless: the amount to refund must be positive."))
        left = float(
            amounts.from_minor_units(refunds.left_to_refund(collected, already), currency.name)
        )
        if refusal == refunds.NOTHING_LEFT:
            raise ValidationError(
                self.env._(
                    "GoCardless: nothing is left to refund on the direct debit %(payment)s: its "
                    "refunds made or under way reach what it collected.",
                    payment=self.provider_reference,
                )
            )
        raise ValidationError(
            self.env._(
                "GoCardless: the refund of %(amount)s is above what is left to refund on the "
                "direct debit %(payment)s (%(left)s: what it collected less its refunds made or "
                "under way).",
                amount=format_amount(self.env, amount, currency),
                payment=self.provider_reference,
                left=format_amount(self.env, left, currency),
            )
        )
