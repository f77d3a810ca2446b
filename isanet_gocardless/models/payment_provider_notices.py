# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""What the merchant is told about the GoCardless account itself.

* A refused access token flags the provider "reconnect needed" (health panel) and gives the
  merchant one activity, whatever the number of events waiting for it; the next call GoCardless
  accepts clears both.
* Collected debits are told on each invoice's chatter and, once a day, in one digest on the
  provider for its followers and the company's accounting managers: activities are kept for
  what needs a person (failures, reconnection).
"""

from collections import defaultdict
from datetime import timedelta

from markupsafe import Markup, escape

from odoo import fields, models
from odoo.tools import format_amount, format_datetime

from .. import const

# Invoices listed by name in a digest, beyond which only their number is given.
DIGEST_MAX_LINES = 50


# Kept apart from payment_provider.py (the payment flow) and payment_provider_connect.py (the
# connection): this file is what the merchant is told about the account.
class PaymentProvider(models.Model):
    _name = "payment.provider"
    _inherit = ["payment.provider", "mail.thread", "mail.activity.mixin"]

    gocardless_reconnect_needed = fields.Boolean(
        string="GoCardless Reconnection Needed",
        help="GoCardless refused the access token: events wait until the account is connected "
        "again (or a valid token is pasted).",
        readonly=True,
        copy=False,
    )
    gocardless_digest_sent_at = fields.Datetime(
        string="Last GoCardless Digest", readonly=True, copy=False
    )

    # === BUSINESS METHODS - RECONNECTION === #

    def _gocardless_responsible_user(self):
        """Return who looks after the provider: the administrator, else an accounting manager
        of its company.

        :rtype: res.users
        """
        self.ensure_one()
        company = self.company_id
        admin = self.env.ref("base.user_admin", raise_if_not_found=False)
        if admin and admin.active and company in admin.company_ids:
            return admin
        return (
            self.env["res.users"]
            .sudo()
            .search(
                [
                    ("share", "=", False),
                    ("company_ids", "in", company.ids),
                    ("groups_id", "in", self.env.ref("account.group_account_manager").ids),
                ],
                order="id",
                limit=1,
            )
        )

    def _gocardless_schedule_todo(self, texts):
        """Give who looks after the provider an activity on it, written in their language
        (else the company's).

        :param texts: A function of the provider in that language returning the activity's
            summary and note.
        """
        self.ensure_one()
        user = self._gocardless_responsible_user()
        if not user:
            return
        provider = self.with_context(lang=user.lang or self.company_id.partner_id.lang)
        summary, note = texts(provider)
        provider.activity_schedule(
            "mail.mail_activity_data_todo", summary=summary, note=note, user_id=user.id
        )

    def _gocardless_flag_reconnect(self, error=None):
        """Flag that GoCardless refused the token, and give the merchant one activity."""
        self.ensure_one()
        provider = self.sudo()
        if provider.gocardless_reconnect_needed:
            return
        provider.gocardless_reconnect_needed = True
        provider._gocardless_schedule_todo(
            lambda provider: (
                provider.env._("Reconnect GoCardless"),
                provider.env._(
                    "GoCardless refused the access token of %(provider)s: direct debit events "
                    "wait until the account is connected again (Connect GoCardless, or paste a "
                    "new access token). Nothing is lost meanwhile.",
                    provider=provider.name,
                ),
            )
        )

    def _gocardless_clear_reconnect(self):
        """GoCardless accepts the token again: clear the flag and close its activity."""
        provider = self.sudo().filtered("gocardless_reconnect_needed")
        if not provider:
            return
        provider.gocardless_reconnect_needed = False
        todo = self.env.ref("mail.mail_activity_data_todo")
        # Only the reconnect activity (in whichever language it was written): the provider
        # holds others (e.g. a payment Odoo cannot match).
        summaries = {
            provider.with_context(lang=lang).env._("Reconnect GoCardless")
            for lang, _name in self.env["res.lang"].get_installed()
        }
        provider.activity_ids.filtered(
            lambda a: a.activity_type_id == todo and a.summary in summaries
        ).action_feedback(feedback=self.env._("GoCardless accepts the access token again."))

    # === BUSINESS METHODS - DIGEST === #

    def _gocardless_send_digest(self, now=None):
        """Post one message listing the debits collected since the last digest.

        Note: self.ensure_one()

        :return: The number of debits listed.
        :rtype: int
        """
        self.ensure_one()
        provider = self.sudo()
        now = now or fields.Datetime.now()
        since = provider.gocardless_digest_sent_at or now - timedelta(days=1)
        txs = (
            self.env["payment.transaction"]
            .sudo()
            .search(
                [
                    ("provider_id", "=", provider.id),
                    ("operation", "in", const.DEBIT_OPERATIONS),
                    ("state", "=", "done"),
                    ("last_state_change", ">", since),
                    ("last_state_change", "<=", now),
                ],
                order="last_state_change",
            )
        )
        provider.gocardless_digest_sent_at = now
        if not txs:
            return 0
        user = provider._gocardless_responsible_user()
        provider = provider.with_context(lang=user.lang or provider.company_id.partner_id.lang)
        totals = defaultdict(float)
        for tx in txs:
            totals[tx.currency_id] += tx.amount
        lines = Markup("").join(
            Markup("<li>%s</li>")
            % provider.env._(
                "%(invoices)s: %(amount)s",
                invoices=", ".join(tx.invoice_ids.mapped("name")) or tx.reference,
                amount=format_amount(provider.env, tx.amount, tx.currency_id),
            )
            for tx in txs[:DIGEST_MAX_LINES]
        )
        body = Markup("<p>%s</p><ul>%s</ul>") % (
            provider.env._(
                "Direct debits collected by GoCardless since %(since)s: %(count)s, for %(total)s.",
                since=format_datetime(provider.env, since, tz=user.tz or False),
                count=len(txs),
                total=", ".join(
                    format_amount(provider.env, amount, currency)
                    for currency, amount in totals.items()
                ),
            ),
            lines,
        )
        if len(txs) > DIGEST_MAX_LINES:
            body += Markup("<p>%s</p>") % escape(
                provider.env._("... and %(count)s more.", count=len(txs) - DIGEST_MAX_LINES)
            )
        provider.message_post(
            body=body,
            subject=provider.env._("GoCardless: direct debits collected"),
            partner_ids=user.partner_id.ids,
            subtype_xmlid="mail.mt_note",
        )
        return len(txs)

    def _cron_gocardless_digest(self):
        """Send each GoCardless provider's daily digest of collected debits."""
        providers = self.sudo().search(
            [("code", "=", const.PROVIDER_CODE), ("state", "!=", "disabled")]
        )
        for provider in providers:
            provider._gocardless_send_digest()

    # === CRUD METHODS === #

    def write(self, vals):
        res = super().write(vals)
        if vals.get("gocardless_access_token"):
            # A new token: the events waiting for it are applied now.
            self._gocardless_clear_reconnect()
            if self.filtered(lambda p: p.code == const.PROVIDER_CODE):
                self.env["gocardless.event"]._gocardless_trigger_processing()
        return res
