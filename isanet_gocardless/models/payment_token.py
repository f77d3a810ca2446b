import logging

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError

from .. import const, utils
from ..gocardless_core import events, schemes
from ..gocardless_core.errors import SchemeError

_logger = logging.getLogger(__name__)


class PaymentToken(models.Model):
    _inherit = "payment.token"

    # `provider_ref` holds the GoCardless mandate id (MD...).
    gocardless_mandate_status = fields.Char(
        string="GoCardless Mandate Status",
        help="The status of the GoCardless mandate when it was last read.",
        readonly=True,
    )
    gocardless_mandate_status_label = fields.Char(
        string="Mandate Status",
        compute="_compute_gocardless_mandate_status_label",
        help="The mandate's status in words, in the user's language.",
    )
    gocardless_scheme_label = fields.Char(
        string="Scheme",
        compute="_compute_gocardless_scheme_label",
        help="The mandate's direct debit scheme, in the user's language.",
    )
    gocardless_mandate_reference = fields.Char(
        string="Mandate Reference",
        help="The mandate's reference at the customer's bank (the reference of SEPA's "
        "pre-notifications), as GoCardless gave it.",
        readonly=True,
    )

    # === COMPUTE METHODS === #

    @api.depends("gocardless_mandate_status")
    def _compute_gocardless_mandate_status_label(self):
        labels = {
            "pending_customer_approval": self.env._("Waiting for the customer's approval"),
            "pending_submission": self.env._("Being set up"),
            "submitted": self.env._("Submitted to the bank"),
            "active": self.env._("Active"),
            "suspended_by_payer": self.env._("Suspended by the customer"),
            "failed": self.env._("Failed"),
            "cancelled": self.env._("Cancelled"),
            "expired": self.env._("Expired"),
            "consumed": self.env._("Replaced"),
            "blocked": self.env._("Blocked"),
        }
        utils.set_code_labels(
            self, "gocardless_mandate_status", "gocardless_mandate_status_label", labels
        )

    @api.depends("payment_method_id.code")
    @api.depends_context("lang")
    def _compute_gocardless_scheme_label(self):
        labels = self.env["payment.provider"]._gocardless_scheme_labels()
        for token in self:
            try:
                scheme = schemes.scheme_from_payment_method_code(token.payment_method_id.code)
            except SchemeError:
                token.gocardless_scheme_label = token.payment_method_id.name or ""
                continue
            token.gocardless_scheme_label = labels[scheme]

    # === CRUD METHODS === #

    def write(self, values):
        """Keep the saved mandates of a GoCardless provider being disabled (disconnected).

        Odoo deactivates the payment methods that only disabled providers hold, which archives
        their tokens: the mandates belong to the GoCardless account, and work again when the
        same account is connected again (see `payment.provider._archive_linked_tokens`).
        """
        if values.get("active") is False and self.env.context.get("gocardless_keep_tokens"):
            kept = self.filtered(lambda token: token.provider_code == const.PROVIDER_CODE)
            if kept:
                others = self - kept
                return super(PaymentToken, others).write(values) if others else True
        return super().write(values)

    # === BUSINESS METHODS - PORTAL === #

    def _get_available_tokens(self, *args, **kwargs):
        """Override of `payment` to offer saved mandates only to their logged-in holder.

        The portal's payment forms (an invoice's page, `/payment/pay`, the overdue invoices)
        list the tokens of the partner paying, also to a visitor holding a link; a mandate
        takes money from the customer's bank account without GoCardless's pages, so it is
        offered only to a logged-in user of the mandate's customer.
        """
        tokens = super()._get_available_tokens(*args, **kwargs)
        user = self.env.user
        holder = False if user._is_public() else user.partner_id.commercial_partner_id
        return tokens.filtered(
            lambda t: (
                t.provider_id.code != const.PROVIDER_CODE
                or (holder and t.partner_id.commercial_partner_id == holder)
            )
        )

    def get_linked_records_info(self):
        """Override of `payment` to say, in the deletion's confirmation, that deleting a saved
        mandate cancels it at GoCardless (the portal's payment methods list it as a linked
        document, with a link to the customer's mandates). Asked of the tokens the user may
        read or delete (their own and their company's), refused for any other.

        Note: self.ensure_one()
        """
        self.ensure_one()
        token = self.sudo()
        partner = self.env.user.partner_id
        readable = self.has_access("read")
        if not readable and token.partner_id not in partner | partner.commercial_partner_id:
            self.check_access("read")  # raises the AccessError
        # A contact deletes their company's tokens too (as `/payment/archive_token` allows).
        res = super(PaymentToken, self if readable else token).get_linked_records_info()
        if token._gocardless_is_live_mandate():
            res.append(
                {
                    "description": self.env._("Direct debit mandate"),
                    "id": self.id,
                    "name": self.env._(
                        "Deleting this payment method cancels its direct debit mandate "
                        "%(mandate)s at GoCardless: no new debit can be taken on it, and the "
                        "debits not yet sent to your bank are cancelled.",
                        mandate=token.gocardless_mandate_reference or token.provider_ref,
                    ),
                    "url": "/my/direct_debit_mandates",
                }
            )
        return res

    def _handle_archiving(self):
        """Override of `payment` to cancel at GoCardless the mandates their holder deletes.

        Only where deleting means it (the portal's *Delete* of a saved payment method sets the
        context key ``gocardless_cancel_mandate_on_archive``): a provider disabled or connected
        to another account archives its tokens without ending the customers' mandates. When
        GoCardless refuses or can't be reached, the token is not archived (the error is raised).
        """
        res = super()._handle_archiving()
        if self.env.context.get("gocardless_cancel_mandate_on_archive") and not (
            self.env.context.get("gocardless_mandate_ended")
        ):
            # The customer deletes it from their portal: the merchant is told, as for *Cancel*.
            live = self.filtered(lambda t: t._gocardless_is_live_mandate())
            live._gocardless_cancel_mandate_by_customer()
        return res

    def _gocardless_is_live_mandate(self):
        """Return whether the token holds a GoCardless mandate that is not over.

        Note: self.ensure_one()

        :rtype: bool
        """
        token = self.sudo()
        return bool(
            token.provider_code == const.PROVIDER_CODE
            and token.provider_ref
            and token.gocardless_mandate_status not in const.MANDATE_ENDED_STATUSES
        )

    # === BUSINESS METHODS - SAVING A MANDATE === #

    @api.model
    def _gocardless_save_mandate(self, provider, partner, mandate, fallback_method=None):
        """Return the token of ``mandate`` for ``partner``: the one saved before (active again,
        its status brought up to date), else a new one.

        The one place a GoCardless token is made: the mandate set-up of a transaction and the
        provider's mandate import both come here, with one set of values.

        :param payment.provider provider: The provider whose account holds the mandate.
        :param res.partner partner: The mandate's customer.
        :param dict mandate: The `mandates` resource.
        :param payment.method fallback_method: The method to use when the mandate's scheme is
                                               unknown; without one, nothing is saved then.
        :return: The token, empty when the scheme is unknown and no fallback is given.
        :rtype: payment.token
        """
        Token = self.sudo().with_context(active_test=False)
        method = self.env["payment.method"]
        try:
            method = method._get_from_code(schemes.payment_method_code(mandate.get("scheme")))
        except SchemeError:
            _logger.warning(
                "gocardless: mandate %s has an unknown scheme %s",
                mandate.get("id"),
                mandate.get("scheme"),
            )
        method = method or fallback_method
        if not method:
            return Token.browse()
        token = Token.search(
            [
                ("provider_id", "=", provider.id),
                ("provider_ref", "=", mandate["id"]),
                ("partner_id", "=", partner.id),
            ],
            limit=1,
        )
        if token:
            token.write(
                {
                    "active": True,
                    "gocardless_mandate_status": mandate.get("status"),
                    "gocardless_mandate_reference": mandate.get("reference")
                    or token.gocardless_mandate_reference,
                }
            )
            return token
        bank_account_id = (mandate.get("links") or {}).get("customer_bank_account")
        bank_account = (
            provider.sudo()._gocardless_make_request(
                "customer_bank_accounts", "get", bank_account_id
            )
            if bank_account_id
            else {}
        )
        token = Token.create(
            {
                "provider_id": provider.id,
                "payment_method_id": method.id,
                "partner_id": partner.id,
                "provider_ref": mandate["id"],
                "payment_details": utils.bank_account_details(bank_account) or mandate["id"],
                "gocardless_mandate_status": mandate.get("status"),
                "gocardless_mandate_reference": mandate.get("reference"),
            }
        )
        _logger.info(
            "gocardless: saved mandate %s as token %s of partner %s",
            mandate["id"],
            token.id,
            partner.id,
        )
        return token

    # === ACTION METHODS === #

    def action_gocardless_cancel_mandate(self):
        """Cancel the mandate at GoCardless; the token follows what GoCardless answers.

        GoCardless also cancels the mandate's payments that were not submitted yet; their
        transactions follow with the events GoCardless sends.

        :return: None
        :raise AccessError: If the user may not manage invoices.
        :raise UserError: If GoCardless refuses or can't be reached.
        """
        if not self.env.user.has_group("account.group_account_invoice"):
            raise AccessError(
                self.env._("GoCardless: only invoicing users can cancel direct debit mandates.")
            )
        utils.check_merchant_rights(self, "read")
        self.sudo()._gocardless_cancel_mandate()

    # === BUSINESS METHODS - MANDATE LIFECYCLE === #

    def _gocardless_cancel_mandate(self):
        """Cancel the tokens' mandates at GoCardless; the tokens follow what GoCardless answers.

        Who may cancel is the caller's decision (the merchant's button, the customer's portal
        for their own mandates). A mandate already over, here or at GoCardless, is not an error.

        :return: None
        :raise UserError: If GoCardless refuses or can't be reached; the token is unchanged.
        """
        for token in self:
            if token.provider_code != const.PROVIDER_CODE or not token.provider_ref:
                raise UserError(self.env._("GoCardless: this is not a direct debit mandate."))
            if token.gocardless_mandate_status in const.MANDATE_ENDED_STATUSES:
                continue
            provider = token.provider_id
            try:
                mandate = provider._gocardless_make_request(
                    "mandates", "cancel", token.provider_ref
                )
            except utils.GoCardlessRequestError as error:
                if error.transient or error.kind != "invalid_state":
                    raise UserError(error.args[0]) from error
                # Already over at GoCardless: take its current status.
                mandate = provider._gocardless_make_request("mandates", "get", token.provider_ref)
            holders = token.with_context(active_test=False).search(
                [("provider_id", "=", provider.id), ("provider_ref", "=", token.provider_ref)]
            )
            holders._gocardless_apply_mandate(mandate)
            _logger.info(
                "gocardless: mandate %s cancelled by user %s", token.provider_ref, self.env.uid
            )

    def _gocardless_cancel_mandate_by_customer(self):
        """Cancel the customer's own mandates (from their portal) and tell the merchant.

        The cancellation is noted on the customer's form, in the company's language, and whoever
        looks after the provider is notified: the customer's next invoices are no longer
        collected on it.

        :return: None
        :raise UserError: If GoCardless refuses or can't be reached; nothing is noted then.
        """
        live = self.filtered(
            lambda token: token.gocardless_mandate_status not in const.MANDATE_ENDED_STATUSES
        )
        self._gocardless_cancel_mandate()
        for token in live:  # a mandate that was over already is not news
            provider = token.provider_id.sudo()
            user = provider._gocardless_responsible_user()
            lang = provider.company_id.partner_id.lang or user.lang or self.env.lang
            partner = token.partner_id.commercial_partner_id.sudo().with_context(lang=lang)
            partner.message_post(
                body=partner.env._(
                    "The customer cancelled their direct debit mandate %(mandate)s (%(scheme)s, "
                    "%(account)s) from their portal: their invoices are no longer collected on "
                    "it.",
                    mandate=token.gocardless_mandate_reference or token.provider_ref,
                    scheme=token.with_context(lang=lang).gocardless_scheme_label,
                    account=token.payment_details or "?",
                ),
                partner_ids=user.partner_id.ids,
                subtype_xmlid="mail.mt_note",
            )

    @api.model
    def _gocardless_handle_notification(self, notification):
        """Bring the tokens of an event's mandate to the mandate's current status.

        Every mandate event (`created`, `submitted`, `active`, `reinstated`, `failed`,
        `cancelled`, `expired`, `replaced`...) re-reads the mandate and updates the status the
        merchant sees; a mandate that can't be charged any more archives its tokens, a
        reinstated one restores them; a replaced mandate moves them to its new mandate.

        :param dict notification: The event's notification (built by the ledger,
                                  `gocardless.event._gocardless_notification`): the mandate
                                  (`gocardless_resource_id`), the event's company
                                  (`gocardless_company_id`, the scope of the tokens it may
                                  touch), `gocardless_outcome` and, for a replaced mandate,
                                  `gocardless_new_mandate`.
        :return: The ledger outcome: ``(state, message, tokens)``, state ``processed`` or
                 ``ignored``.
        :rtype: tuple
        :raise GoCardlessUnknownResource: If no token of the company holds the mandate.
        """
        mandate_id = notification.get("gocardless_resource_id")
        domain = [("provider_id.code", "=", const.PROVIDER_CODE), ("provider_ref", "=", mandate_id)]
        if notification.get("gocardless_company_id"):
            domain.append(("company_id", "=", notification["gocardless_company_id"]))
        tokens = self.with_context(active_test=False).search(domain) if mandate_id else self
        if not tokens:
            raise utils.GoCardlessUnknownResource(
                self.env._("No token holds the mandate %(mandate)s.", mandate=mandate_id)
            )
        provider = tokens[0].provider_id
        outcome = notification.get("gocardless_outcome")
        if outcome == events.MANDATE_REPLACED:
            new_mandate_id = notification.get("gocardless_new_mandate")
            if not new_mandate_id:
                return (
                    "ignored",
                    self.env._(
                        "The replaced mandate %(mandate)s names no new mandate.",
                        mandate=mandate_id,
                    ),
                    tokens,
                )
            mandate = provider._gocardless_make_request("mandates", "get", new_mandate_id)
            tokens._gocardless_apply_mandate(mandate)
            return "processed", None, tokens
        mandate = provider._gocardless_make_request("mandates", "get", mandate_id)
        status_outcome = events.mandate_outcome_from_status(mandate.get("status"))
        tokens._gocardless_apply_mandate(mandate)
        if outcome == events.MANDATE_ENDED and status_outcome != events.MANDATE_ENDED:
            return (
                "ignored",
                self.env._(
                    "The mandate %(mandate)s is %(status)s now: its token is kept.",
                    mandate=mandate_id,
                    status=mandate.get("status") or "?",
                ),
                tokens,
            )
        return "processed", None, tokens

    def _gocardless_apply_mandate(self, mandate):
        """Write a mandate's id and status on the tokens holding it; archive or restore them.

        :param dict mandate: The `mandates` resource, as just read from GoCardless.
        :return: None
        """
        status = mandate.get("status")
        values = {"gocardless_mandate_status": status}
        if mandate.get("reference"):
            values["gocardless_mandate_reference"] = mandate["reference"]
        if mandate.get("id"):
            values["provider_ref"] = mandate["id"]
        outcome = events.mandate_outcome_from_status(status)
        if outcome == events.MANDATE_ENDED:
            values["active"] = False
        elif outcome in (events.MANDATE_ACTIVE, events.MANDATE_PENDING):
            values["active"] = True
        for token in self:
            _logger.info(
                "gocardless: token %s now holds mandate %s, %s",
                token.id,
                values.get("provider_ref", token.provider_ref),
                status,
            )
        # Archiving skips `_handle_archiving` hooks calling GoCardless back: the mandate is
        # already over there.
        self.with_context(gocardless_mandate_ended=True).write(values)
