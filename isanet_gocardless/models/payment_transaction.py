import copy
import logging
import pprint
from urllib.parse import urlencode

import psycopg2

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import format_amount, hmac

from .. import const, utils
from ..controllers.main import GoCardlessController
from ..gocardless_core import amounts, customers, events, schemes
from ..gocardless_core import client as gc_client
from ..gocardless_core.errors import GoCardlessCoreError
from .payment_transaction_attempt import GoCardlessPaymentRefused

_logger = logging.getLogger(__name__)

# Longest payment description GoCardless accepts.
DESCRIPTION_MAX_LENGTH = 255


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    gocardless_billing_request_id = fields.Char(
        string="GoCardless Billing Request",
        index="btree_not_null",
        help="The id (BRQ...) of the billing request through which the customer set up the "
        "direct debit mandate.",
        readonly=True,
        copy=False,
    )
    gocardless_charge_date = fields.Date(
        string="Direct Debit Charge Date",
        help="The date on which GoCardless collects the payment from the customer's account.",
        readonly=True,
        copy=False,
    )

    # Webhooks find a transaction by its GoCardless payment id: indexed, so that the cost of an
    # event stays flat however many transactions the database holds.
    provider_reference = fields.Char(index="btree_not_null")
    gocardless_requested_charge_date = fields.Date(
        string="Requested Charge Date",
        help="The date asked of GoCardless for collecting the payment (the invoice's due date); "
        "GoCardless collects it then, or as soon as the mandate allows if that is later.",
        readonly=True,
        copy=False,
    )
    gocardless_retrying = fields.Boolean(
        string="Direct Debit Being Retried",
        help="The payment failed and GoCardless submits it again by itself.",
        readonly=True,
        copy=False,
    )

    gocardless_cancel_requested = fields.Boolean(
        string="Direct Debit Cancelled by Odoo",
        help="Odoo cancelled the payment at GoCardless because the invoice no longer needed it.",
        readonly=True,
        copy=False,
    )

    gocardless_payment_status = fields.Char(
        string="GoCardless Payment Status",
        help="The status of the GoCardless payment when it was last read.",
        readonly=True,
        copy=False,
    )
    gocardless_failure_reason = fields.Char(
        string="Direct Debit Failure Reason",
        help="GoCardless's explanation of the last failure, cancellation or charge-back.",
        readonly=True,
        copy=False,
    )

    # === BUSINESS METHODS - HELPERS === #

    def _gocardless_idempotency_key(self, action):
        """Return the `Idempotency-Key` of one create made for this transaction.

        Derived from the transaction's own attempt key (`gocardless_idempotency_key`), never
        from its reference, which the next transaction of the invoice may reuse; a
        transaction made before attempt keys existed keeps the key it was sent with.

        Note: self.ensure_one()

        :param str action: What is created: `customer`, `billing_request`, `flow`, `payment`.
        :return: A key unique to this database, transaction and action.
        :rtype: str
        """
        self.ensure_one()
        db_uuid = self.env["ir.config_parameter"].sudo().get_param("database.uuid")
        attempt = self.gocardless_idempotency_key or self.reference
        return gc_client.idempotency_key(db_uuid, attempt, action)

    def _gocardless_request(self, resource, action, *args, params=None, idempotency_action=None):
        """Call GoCardless through the provider's request method, for this transaction.

        Note: self.ensure_one()

        :param str idempotency_action: For a create, what is created (see
                                       :meth:`_gocardless_idempotency_key`).
        :return: See `payment.provider._gocardless_make_request`.
        :rtype: dict
        """
        self.ensure_one()
        key = self._gocardless_idempotency_key(idempotency_action) if idempotency_action else None
        return self.provider_id.sudo()._gocardless_make_request(
            resource, action, *args, params=params, idempotency_key=key
        )

    def _gocardless_scheme(self):
        """Return the GoCardless scheme collecting this transaction's currency from its payer.

        Note: self.ensure_one()

        :rtype: str
        :raise ValidationError: If GoCardless cannot collect that currency from that country.
        """
        self.ensure_one()
        partner = self.partner_id.commercial_partner_id
        country = partner.country_id or self.partner_country_id
        try:
            return schemes.scheme_for(self.currency_id.name, country.code)
        except GoCardlessCoreError as error:
            raise ValidationError(
                self.env._(
                    "GoCardless: direct debit in %(currency)s is not available for a customer "
                    "in %(country)s.",
                    currency=self.currency_id.name,
                    country=country.name or self.env._("an unknown country"),
                )
            ) from error

    def _gocardless_partner_dict(self):
        """Return the core's partner dict for the commercial partner paying this transaction."""
        self.ensure_one()
        partner = self.partner_id.commercial_partner_id
        values = utils.partner_dict(partner)
        values["email"] = values["email"] or self.partner_email or ""
        values["lang"] = self.partner_lang or values["lang"]
        return values

    def _gocardless_flow_token(self):
        """Return the token proving that a return or exit URI is the one Odoo gave GoCardless.

        Note: self.ensure_one()

        :rtype: str
        """
        self.ensure_one()
        return hmac(self.env(su=True), "isanet_gocardless-flow", self.reference)

    def _gocardless_description(self):
        """Return the description GoCardless shows the payer: the invoice names or reference."""
        self.ensure_one()
        description = ", ".join(self.invoice_ids.mapped("name")) or self.reference
        return description[:DESCRIPTION_MAX_LENGTH]

    def _gocardless_lock(self):
        """Lock the transaction's row until the end of the database transaction.

        Serialises the return route, the webhook and the catch-up on one transaction.
        """
        self.ensure_one()
        self.env.cr.execute(
            "SELECT id FROM payment_transaction WHERE id = %s FOR UPDATE", (self.id,)
        )
        self.invalidate_recordset(["provider_reference", "state", "token_id"])

    def _gocardless_unconfirmed_error(self, error):
        """Return the error telling a person that this attempt's create got no answer.

        Note: self.ensure_one()

        :param GoCardlessRequestError error: The create's error, GoCardless may have carried
                                             the create out (`uncertain`).
        :rtype: GoCardlessRequestError
        """
        self.ensure_one()
        _logger.warning(
            "gocardless: no answer to the %s of transaction %s (%s); left to be checked",
            "refund" if self.operation == "refund" else "payment",
            self.reference,
            error.api_error.description,
        )
        return utils.GoCardlessRequestError(self._gocardless_unconfirmed_message(), error.api_error)

    # === BUSINESS METHODS - REDIRECT FLOW === #

    def _get_specific_rendering_values(self, processing_values):
        """Override of `payment` to send the customer to GoCardless's hosted mandate page.

        Checks the debit first (nothing is sent to GoCardless when it is refused), commits the
        transaction (the attempt is tracked whatever GoCardless answers), then creates (or
        reuses) the customer, a billing request for a mandate and its flow, whose
        authorisation URL the redirect form opens. A refusal ends the transaction in error
        with GoCardless's reason, kept for the merchant.

        Note: self.ensure_one() from `_get_processing_values`

        :param dict processing_values: The generic and specific processing values.
        :return: The `api_url` and `url_params` of the redirect form.
        :rtype: dict
        :raise ValidationError: If the debit is refused or GoCardless fails.
        """
        res = super()._get_specific_rendering_values(processing_values)
        if self.provider_code != const.PROVIDER_CODE:
            return res
        if self.operation in const.DEBIT_OPERATIONS:
            self._gocardless_check_debit()
        self._gocardless_commit_attempt()
        try:
            authorisation_url = self._gocardless_create_billing_request_flow()
        except ValidationError as error:
            _logger.info("gocardless: direct debit set-up of %s failed: %s", self.reference, error)
            self._gocardless_fail_attempt(error.args[0])
            self._gocardless_commit_attempt()
            raise
        api_url, url_params = utils.split_url(authorisation_url)
        return {"api_url": api_url, "url_params": url_params}

    def _gocardless_create_billing_request_flow(self):
        """Create the billing request of a mandate and the flow where the customer approves it.

        Note: self.ensure_one()

        :return: The flow's `authorisation_url`.
        :rtype: str
        :raise ValidationError: If the customer or the API refuses.
        """
        self.ensure_one()
        scheme = self._gocardless_scheme()
        try:
            prefilled = customers.prefilled_customer(self._gocardless_partner_dict())
        except GoCardlessCoreError as error:
            raise ValidationError(
                self.env._("GoCardless: the customer needs a name or an email address.")
            ) from error
        language = prefilled.pop("language", None)
        customer_id = self._gocardless_get_or_create_customer()
        billing_request = self._gocardless_request(
            "billing_requests",
            "create",
            params={
                "mandate_request": {
                    "scheme": scheme,
                    "currency": self.currency_id.name,
                    "description": self._gocardless_description(),
                    "metadata": {"odoo_reference": self.reference},
                },
                "metadata": {"odoo_reference": self.reference},
                "links": {"customer": customer_id},
            },
            idempotency_action="billing_request",
        )
        self.gocardless_billing_request_id = billing_request["id"]
        base_url = self.provider_id.get_base_url()
        query = urlencode(
            {"reference": self.reference, "access_token": self._gocardless_flow_token()}
        )
        flow_params = {
            "links": {"billing_request": billing_request["id"]},
            "redirect_uri": f"{base_url}{GoCardlessController._return_url}?{query}",
            "exit_uri": f"{base_url}{GoCardlessController._exit_url}?{query}",
            "prefilled_customer": prefilled,
            "lock_currency": True,
        }
        if language:
            flow_params["language"] = language
        flow = self._gocardless_request(
            "billing_request_flows", "create", params=flow_params, idempotency_action="flow"
        )
        _logger.info(
            "created GoCardless billing request %s and flow %s for transaction %s",
            billing_request["id"],
            flow.get("id"),
            self.reference,
        )
        return flow["authorisation_url"]

    def _gocardless_get_or_create_customer(self):
        """Return the GoCardless customer of the commercial partner, created if needed.

        The id is stored on the commercial partner, per company (`gocardless_customer_id`). A
        stored id that GoCardless answers 404 for (e.g. a sandbox customer after going live)
        is replaced; any other failure is raised as it is: the customer is never created a
        second time because a read failed.

        Note: self.ensure_one()

        :return: The customer id (CU...).
        :rtype: str
        :raise ValidationError: If GoCardless fails or refuses.
        """
        self.ensure_one()
        partner = self.partner_id.commercial_partner_id.with_company(self.company_id).sudo()
        customer_id = partner.gocardless_customer_id
        if customer_id:
            try:
                self._gocardless_request("customers", "get", customer_id)
                return customer_id
            except utils.GoCardlessRequestError as error:
                if error.kind != "not_found":
                    raise
                _logger.info(
                    "GoCardless customer %s of partner %s is unknown; creating a new one for "
                    "transaction %s",
                    customer_id,
                    partner.id,
                    self.reference,
                )
        try:
            payload = customers.customer_payload(self._gocardless_partner_dict())
        except GoCardlessCoreError as error:
            raise ValidationError(
                self.env._("GoCardless: the customer needs a name or an email address.")
            ) from error
        customer = self._gocardless_request(
            "customers",
            "create",
            params=dict(payload, metadata={"odoo_partner_id": str(partner.id)}),
            idempotency_action="customer",
        )
        partner.gocardless_customer_id = customer["id"]
        return customer["id"]

    def _gocardless_read_billing_request(self):
        """Return the transaction's billing request as GoCardless has it now.

        Note: self.ensure_one()

        :rtype: dict
        :raise ValidationError: If GoCardless fails or refuses.
        """
        self.ensure_one()
        return self._gocardless_request(
            "billing_requests", "get", self.gocardless_billing_request_id
        )

    def _gocardless_complete_billing_request(self):
        """Read the billing request and let the pipeline complete the transaction with it.

        Safe to call from the return route and from the `billing_requests` webhook: nothing is
        done once the transaction has a GoCardless payment, or while the billing request is not
        fulfilled.

        Note: self.ensure_one()

        :return: Whether a payment was created by this call.
        :rtype: bool
        :raise ValidationError: If GoCardless refuses a call or the debit is refused.
        """
        self.ensure_one()
        if self.provider_code != const.PROVIDER_CODE or not self.gocardless_billing_request_id:
            return False
        self._gocardless_lock()
        if self.provider_reference:
            _logger.info(
                "GoCardless payment %s already exists for transaction %s; nothing to complete",
                self.provider_reference,
                self.reference,
            )
            return False
        if self.state not in ("draft", "pending"):
            _logger.info(
                "transaction %s is %s; not collecting it by GoCardless", self.reference, self.state
            )
            return False
        billing_request = self._gocardless_read_billing_request()
        self._handle_notification_data(
            const.PROVIDER_CODE,
            {"reference": self.reference, "gocardless_billing_request": billing_request},
        )
        return bool(self.provider_reference)

    def _gocardless_handle_return(self):
        """Process the customer's return from the GoCardless flow.

        The billing request is read back and handed to the pipeline: fulfilled, the mandate is
        saved and the payment created; cancelled, so is the transaction; otherwise the
        transaction waits in `pending` for the `billing_requests` webhook.

        Note: self.ensure_one()

        :return: None
        """
        self.ensure_one()
        if self.provider_reference or self.state not in ("draft", "pending"):
            return
        if not self.gocardless_billing_request_id:
            return
        self._gocardless_complete_billing_request()

    def _gocardless_handle_return_error(self, error):
        """Record that the return from GoCardless could not be completed.

        When GoCardless could not be reached, the mandate may well be set up: the transaction
        waits `pending` for the billing request's webhook. Any other failure is an error.

        Note: self.ensure_one()

        :param Exception error: What the completion raised.
        :return: None
        """
        self.ensure_one()
        self._handle_notification_data(
            const.PROVIDER_CODE,
            {
                "reference": self.reference,
                "gocardless_return_error": "transient" if utils.is_transient(error) else "final",
            },
        )

    def _gocardless_handle_exit(self):
        """Process a customer who left the GoCardless flow without approving the mandate.

        A billing request fulfilled in the meantime is completed instead. Otherwise the billing
        request is cancelled at GoCardless too, which expires its flows (a payer finishing an
        old flow in another tab can't set up a mandate for a transaction Odoo has cancelled),
        and so is the transaction.

        Note: self.ensure_one()

        :return: None
        """
        self.ensure_one()
        if self.state != "draft" or self.provider_reference:
            return
        billing_request = None
        if self.gocardless_billing_request_id:
            try:
                billing_request = self._gocardless_read_billing_request()
            except ValidationError:
                _logger.warning(
                    "could not reach the billing request of transaction %s; cancelling it",
                    self.reference,
                )
        self._handle_notification_data(
            const.PROVIDER_CODE,
            {
                "reference": self.reference,
                "gocardless_billing_request": billing_request,
                "gocardless_exit": True,
            },
        )

    def _gocardless_save_mandate(self, mandate):
        """Save the mandate as a payment token of the partner, or reuse the existing token.

        Note: self.ensure_one()

        :param dict mandate: The `mandates` resource.
        :return: The token.
        :rtype: payment.token
        """
        self.ensure_one()
        token = self.env["payment.token"]._gocardless_save_mandate(
            self.provider_id, self.partner_id, mandate, fallback_method=self.payment_method_id
        )
        self.write(
            {
                "token_id": token.id,
                "tokenize": False,
                "payment_method_id": token.payment_method_id.id,
            }
        )
        return token

    def _gocardless_create_payment(self, mandate_id, commit_first=False):
        """Create the GoCardless payment collecting this transaction on a mandate.

        The debit is checked first (see :meth:`_gocardless_check_debit`): nothing is sent to
        GoCardless when it is refused. The unconfirmed debits of the same invoices are looked
        up first, so that the guard counts what GoCardless really holds. The payment returned
        is checked against what was asked (amount, currency, mandate, reference) before it
        is linked: another one is refused (:class:`GoCardlessPaymentRefused`).

        Note: self.ensure_one()

        :param str mandate_id: The mandate (MD...).
        :param bool commit_first: Commit the transaction before the create is sent, and its
                                  error after a failure (a door owning its database
                                  transaction: the portal).
        :return: The `payments` resource.
        :rtype: dict
        :raise ValidationError: If the debit is refused or GoCardless refuses it; a lost answer
                                raises a transient error saying the debit will be checked.
        """
        self.ensure_one()
        # What is found is kept, whatever the guard then says of this attempt.
        resolved = self._gocardless_settle_unconfirmed_siblings() and commit_first
        if resolved:
            self._gocardless_commit_attempt()
        try:
            amount = self._gocardless_check_debit(mandate_id=mandate_id)
        except utils.GoCardlessRequestError:
            # GoCardless could not be asked (the mandate's state): nothing refused, nothing sent.
            raise
        except ValidationError as error:
            # Refused before anything was sent: the attempt ends here, in error with the reason,
            # never left a draft that would count as a debit under way (kept when committed
            # with what was found; else undone with the caller's database transaction).
            self._gocardless_fail_attempt(error.args[0])
            if resolved:
                self._gocardless_commit_attempt()
            raise
        params = {
            "amount": amount,
            "currency": self.currency_id.name,
            "description": self._gocardless_description(),
            "metadata": {"odoo_reference": self.reference},
            "links": {"mandate": mandate_id},
        }
        charge_date = self.gocardless_requested_charge_date
        if charge_date and charge_date > fields.Date.context_today(self):
            params["charge_date"] = charge_date.isoformat()
        if commit_first:
            self._gocardless_commit_attempt()
        self._gocardless_lock()
        try:
            payment = self._gocardless_send_payment_create(params, mandate_id)
        except utils.GoCardlessRequestError as error:
            if error.api_error.uncertain:
                raise self._gocardless_unconfirmed_error(error) from error
            if commit_first:
                self._gocardless_fail_attempt(error.args[0])
                self._gocardless_commit_attempt()
            raise
        mismatch = self._gocardless_payment_mismatch(payment, amount, mandate_id)
        if mismatch:
            self._gocardless_refuse_payment(payment, mismatch)
            if commit_first:
                self._gocardless_commit_attempt()
            raise GoCardlessPaymentRefused(mismatch)
        _logger.info(
            "created GoCardless payment %s on mandate %s for transaction %s",
            payment.get("id"),
            mandate_id,
            self.reference,
        )
        return payment

    def _gocardless_send_payment_create(self, params, mandate_id):
        """Send the payment create of this attempt, once more without the charge date GoCardless
        refused for being earlier than the mandate allows.

        Note: self.ensure_one()

        :return: The `payments` resource GoCardless returned.
        :rtype: dict
        :raise GoCardlessRequestError: If GoCardless refuses or can't be reached.
        """
        self.ensure_one()
        try:
            return self._gocardless_request(
                "payments", "create", params=params, idempotency_action="payment"
            )
        except utils.GoCardlessRequestError as error:
            if "charge_date" not in params or not self._gocardless_is_charge_date_refusal(error):
                raise
            # Earlier than the mandate allows: collected as soon as it does. The key is the
            # same (a refused create consumes none), so a retry never debits twice.
            mandate = self._gocardless_request("mandates", "get", mandate_id)
            earliest = mandate.get("next_possible_charge_date")
            if earliest:
                params["charge_date"] = earliest
            else:
                params.pop("charge_date")
            return self._gocardless_request(
                "payments", "create", params=params, idempotency_action="payment"
            )

    @staticmethod
    def _gocardless_is_charge_date_refusal(error):
        """Return whether GoCardless refused a payment for its `charge_date`."""
        api_error = getattr(error, "api_error", None)
        return bool(
            api_error
            and api_error.kind == "validation"
            and "charge_date" in (api_error.description or "")
        )

    def _gocardless_cancel_debit(self):
        """Cancel the transaction's GoCardless payment while GoCardless still can.

        The payment is cancelled at GoCardless (`payments` `cancel`, possible while it waits
        for submission) and the transaction follows it through the pipeline. When GoCardless
        answers that it is too late, the payment is read back and the transaction follows its
        status (the merchant refunds it once collected).

        Note: self.ensure_one()

        :return: Whether the payment is cancelled.
        :rtype: bool
        :raise GoCardlessRequestError: If GoCardless can't be reached (the caller retries).
        """
        self.ensure_one()
        if (
            self.provider_code != const.PROVIDER_CODE
            or not self.provider_reference
            or self.operation not in const.DEBIT_OPERATIONS
            or self.state not in const.DEBIT_UNDER_WAY_STATES
        ):
            return False
        self._gocardless_lock()
        try:
            payment = self._gocardless_request("payments", "cancel", self.provider_reference)
        except utils.GoCardlessRequestError as error:
            if error.transient:
                raise
            _logger.info(
                "GoCardless payment %s of transaction %s could not be cancelled: %s",
                self.provider_reference,
                self.reference,
                error,
            )
            payment = self._gocardless_request("payments", "get", self.provider_reference)
        self.gocardless_cancel_requested = payment.get("status") == "cancelled"
        self._handle_notification_data(
            const.PROVIDER_CODE,
            {
                "reference": self.reference,
                "gocardless_payment": payment,
                "reason": self.env._("The invoice no longer needs it."),
            },
        )
        return payment.get("status") == "cancelled"

    def _gocardless_retry_debit(self):
        """Submit the failed GoCardless payment of the transaction again (the merchant's retry).

        Only while its mandate can still be charged, and through the one guard (the invoice
        must still be due); GoCardless collects it as soon as the mandate allows. The
        transaction follows the payment through the pipeline, shown as being retried.

        Note: self.ensure_one()

        :return: None
        :raise ValidationError: If the retry is refused (by the guard or GoCardless).
        """
        self.ensure_one()
        if not (
            self.provider_code == const.PROVIDER_CODE
            and self.provider_reference
            and self.operation in const.DEBIT_OPERATIONS
            and self.state == "error"
            and self.gocardless_payment_status == "failed"
        ):
            raise ValidationError(
                self.env._("GoCardless: only a failed direct debit can be retried.")
            )
        self._gocardless_lock()
        self._gocardless_check_debit(mandate_id=self.token_id.provider_ref or None)
        payment = self._gocardless_request(
            "payments",
            "retry",
            self.provider_reference,
            params={"metadata": {"odoo_reference": self.reference}},
        )
        self.gocardless_retrying = True
        self._handle_notification_data(
            const.PROVIDER_CODE, {"reference": self.reference, "gocardless_payment": payment}
        )

    # === BUSINESS METHODS - TOKEN FLOW === #

    def _send_payment_request(self):
        """Override of `payment` to collect the transaction on the saved mandate.

        The payment is created at once and the transaction becomes `pending`: no redirection.

        Note: self.ensure_one()

        :return: None
        :raise UserError: If the transaction comes from a registered `account.payment`.
        :raise ValidationError: If the debit is refused or the API refuses.
        """
        super()._send_payment_request()
        if self.provider_code != const.PROVIDER_CODE:
            return
        if not self.token_id:
            raise UserError(self.env._("GoCardless: the transaction has no mandate to charge."))
        if self.payment_id:
            # `account.payment.action_post` cancels its payment when the transaction is not
            # done at once, which a direct debit never is.
            raise UserError(self.env["account.payment"]._gocardless_register_refusal(self.token_id))
        # The portal's saved-mandate payment owns its database transaction: it is committed
        # before the create (the merchant's doors commit their draft themselves).
        payment = self._gocardless_create_payment(
            self.token_id.provider_ref, commit_first=self.operation == "online_token"
        )
        self._handle_notification_data(
            const.PROVIDER_CODE, {"reference": self.reference, "gocardless_payment": payment}
        )

    # === BUSINESS METHODS - REFUND FLOW === #

    def _send_refund_request(self, amount_to_refund=None):
        """Override of `payment` to refund (part of) the GoCardless payment of the transaction.

        GoCardless asks for the total refunded on the payment, this refund included
        (`total_amount_confirmation`): it is read from the payment itself, so that a refund made
        elsewhere (GoCardless's dashboard) is counted. Known before it exists, as a debit is:
        the payment's refunds whose answer was lost are resolved first, and hold this one while
        they are not (see `_gocardless_hold_refund_for_unconfirmed`); the refund transaction
        and its attempt key are committed before the create is sent, so that a lost answer
        leaves it tracked, told honestly, and resolved by its event or a cron. It stays
        `pending` until GoCardless's `refunds` events settle it; a refusal ends it in error with
        GoCardless's reason.

        Note: self.ensure_one()

        :param float amount_to_refund: The amount to refund, in major units.
        :return: The refund transaction.
        :rtype: payment.transaction
        :raise UserError: If a refund of the payment whose answer was lost holds this one.
        :raise ValidationError: If the refund is refused (see `_gocardless_check_refund`: before
                                anything is recorded), GoCardless refuses it, or its answer is
                                lost.
        """
        if self.provider_code == const.PROVIDER_CODE:
            self._gocardless_hold_refund_for_unconfirmed()
            amount_to_refund = self._gocardless_check_refund(amount_to_refund)
        refund_tx = super()._send_refund_request(amount_to_refund=amount_to_refund)
        if self.provider_code != const.PROVIDER_CODE:
            return refund_tx
        currency = self.currency_id.name
        amount = amounts.to_minor_units(-refund_tx.amount, currency)
        payment = self._gocardless_request("payments", "get", self.provider_reference)
        params = {
            "amount": amount,
            "total_amount_confirmation": (payment.get("amount_refunded") or 0) + amount,
            "links": {"payment": self.provider_reference},
            "metadata": {"odoo_reference": refund_tx.reference},
        }
        # From here on, a lost answer leaves the refund tracked (Odoo's refund doors own their
        # database transaction).
        refund_tx._gocardless_commit_attempt()
        refund_tx._gocardless_lock()
        try:
            refund = refund_tx._gocardless_request(
                "refunds", "create", params=params, idempotency_action="refund"
            )
        except utils.GoCardlessRequestError as error:
            if error.api_error.uncertain:
                raise refund_tx._gocardless_unconfirmed_error(error) from error
            refund_tx._gocardless_fail_attempt(error.args[0])
            refund_tx._gocardless_commit_attempt()
            raise
        if not refund_tx._gocardless_owns_refund(refund):
            message = self.env._(
                "GoCardless answered the refund %(reference)s of %(amount)s with another refund, "
                "%(refund)s. It was not linked; check the refunds of the payment %(payment)s in "
                "GoCardless.",
                reference=refund_tx.reference,
                amount=format_amount(self.env, -refund_tx.amount, refund_tx.currency_id),
                refund=refund.get("id") if isinstance(refund, dict) else "?",
                payment=self.provider_reference,
            )
            refund_tx._gocardless_fail_attempt(message)
            refund_tx._gocardless_commit_attempt()
            raise ValidationError(message)
        _logger.info(
            "gocardless refund %s of %s %s created for transaction %s",
            refund.get("id"),
            amount,
            currency,
            refund_tx.reference,
        )
        refund_tx._handle_notification_data(
            const.PROVIDER_CODE, {"reference": refund_tx.reference, "gocardless_refund": refund}
        )
        return refund_tx

    # === BUSINESS METHODS - NOTIFICATIONS === #

    def _get_tx_from_notification_data(self, provider_code, notification_data):
        """Override of `payment` to find the transaction of a GoCardless resource.

        The one place where a transaction is looked up by its GoCardless resource. An event of
        the ledger names its resource (`gocardless_resource_type`, `gocardless_resource_id`,
        `gocardless_company_id`, `gocardless_metadata_reference`): the transaction is found by
        the resource's id, then by the Odoo reference of the resource's metadata (a payment
        whose creation Odoo did not see answered), in the event's company; a payment found by
        reference must be the transaction's own (its mandate, amount and currency).

        :param str provider_code: The code of the provider that handled the transaction.
        :param dict notification_data: `reference` (the Odoo reference) and/or one resource:
                                       `gocardless_payment`, `gocardless_billing_request` or
                                       `gocardless_refund`; or the resource named by an event.
        :return: The transaction.
        :rtype: payment.transaction
        :raise GoCardlessUnknownResource: If no transaction matches an event's resource.
        :raise ValidationError: If no transaction matches.
        """
        tx = super()._get_tx_from_notification_data(provider_code, notification_data)
        if provider_code != const.PROVIDER_CODE or len(tx) == 1:
            return tx
        domain = [("provider_code", "=", const.PROVIDER_CODE)]
        resource_type = notification_data.get("gocardless_resource_type")
        if resource_type:
            # An event of the ledger: it names its resource, in its company.
            if notification_data.get("gocardless_company_id"):
                domain.append(("company_id", "=", notification_data["gocardless_company_id"]))
            resource_id = notification_data.get("gocardless_resource_id")
            field, message = {
                "payments": (
                    "provider_reference",
                    self.env._(
                        "No transaction matches the payment %(payment)s.", payment=resource_id
                    ),
                ),
                "refunds": (
                    "provider_reference",
                    self.env._("No refund transaction matches %(refund)s.", refund=resource_id),
                ),
                "billing_requests": (
                    "gocardless_billing_request_id",
                    self.env._(
                        "No transaction matches the billing request %(billing_request)s.",
                        billing_request=resource_id,
                    ),
                ),
            }[resource_type]
            if resource_type == "refunds":
                domain.append(("operation", "=", "refund"))
            # Found and read in one query: the pipeline reads the transaction at once.
            tx = self._gocardless_find_by_resource_ids([resource_id], domain, field).get(
                resource_id, self.browse()
            )
            reference = notification_data.get("gocardless_metadata_reference")
            by_reference = not tx and resource_type in ("payments", "refunds")
            if by_reference and reference and isinstance(reference, str):
                tx = self.search([*domain, ("reference", "=", reference)], limit=1)
            if not tx:
                self._gocardless_unknown_resource(notification_data, message)
            tx = tx._gocardless_in_company_context()
            if by_reference:
                # Found by the reference its metadata gives (a create whose answer was lost):
                # it must be the transaction's own.
                resource = tx.provider_id._gocardless_make_request(
                    resource_type, "get", resource_id
                )
                if resource_type == "payments":
                    key, owned = "gocardless_payment", tx._gocardless_owns_payment(resource)
                    mismatch = self.env._(
                        "The payment %(payment)s is not the one of the transaction %(reference)s.",
                        payment=resource_id,
                        reference=tx.reference,
                    )
                else:
                    key, owned = "gocardless_refund", tx._gocardless_owns_refund(resource)
                    mismatch = self.env._(
                        "The refund %(refund)s is not the one of the transaction %(reference)s.",
                        refund=resource_id,
                        reference=tx.reference,
                    )
                notification_data[key] = resource
                if not owned:
                    self._gocardless_unknown_resource(notification_data, mismatch, tx)
            return tx
        resource, field = {}, "provider_reference"
        for key, resource_field in (
            ("gocardless_payment", "provider_reference"),
            ("gocardless_billing_request", "gocardless_billing_request_id"),
            ("gocardless_refund", "provider_reference"),
        ):
            if isinstance(notification_data.get(key), dict):
                resource, field = notification_data[key], resource_field
                break
        reference = notification_data.get("reference") or (resource.get("metadata") or {}).get(
            "odoo_reference"
        )
        if reference and isinstance(reference, str):
            tx = self.search([*domain, ("reference", "=", reference)], limit=1)
        resource_id = resource.get("id")
        if not tx and resource_id and isinstance(resource_id, str):
            tx = self._gocardless_find_by_resource_ids([resource_id], domain, field).get(
                resource_id, self.browse()
            )
        if not tx:
            raise ValidationError(
                self.env._(
                    "GoCardless: no transaction found matching reference %(reference)s.",
                    reference=reference or resource_id,
                )
            )
        return tx

    def _gocardless_prefetched_fields(self):
        """Return the fields Odoo reads together when one of them is first read (the stored
        columns it prefetches): fetched with a search, they cost no query of their own."""
        return [
            name
            for name, field in self._fields.items()
            if field.prefetch is True and field.store and field.column_type
        ]

    def _gocardless_unknown_resource(self, notification_data, message, tx=None):
        """Raise that no transaction matches an event's resource; tell of a payment's.

        :raise GoCardlessUnknownResource: Always.
        """
        if notification_data.get("gocardless_resource_type") == "payments":
            self._gocardless_notify_unknown_payment(
                self.env["payment.provider"].browse(
                    notification_data.get("gocardless_provider_id")
                ),
                notification_data.get("gocardless_resource_id"),
                message,
            )
        raise utils.GoCardlessUnknownResource(message, tx)

    def _process_notification_data(self, notification_data):
        """Override of `payment` to follow the current state of a GoCardless resource.

        The one place where the state of a GoCardless transaction changes. The data holds one
        of: `gocardless_payment` (a `payments` resource, with an optional `reason`: why it
        failed), `gocardless_refund` (a `refunds` resource, for a refund transaction),
        `gocardless_billing_request` (a `billing_requests` resource, or None; with
        `gocardless_exit` when the customer left GoCardless's page),
        `gocardless_return_error` (``transient`` or ``final``), `gocardless_attempt_error` (why
        a create was refused or never made) or `gocardless_refused_payment` (GoCardless
        returned another payment than the one asked for; `reason` says how).

        Note: self.ensure_one()

        :param dict notification_data: The resource as just read from the API.
        :return: None
        :raise ValidationError: If the data holds no resource, or another transaction's.
        """
        super()._process_notification_data(notification_data)
        if self.provider_code != const.PROVIDER_CODE:
            return
        if notification_data.get("gocardless_resource_type"):
            self._gocardless_read_resource(notification_data)
        deferred = self.env.context.get(const.DEFERRED_POST_PROCESS_KEY)
        if deferred and self.id in deferred:
            # Changed again in the same batch of events: its last change is post-processed
            # first (an invoice paid, then reopened, is told both ways).
            self._gocardless_post_process_deferred(deferred)
        reason = notification_data.get("reason") or ""
        if notification_data.get("gocardless_resource_type") == "billing_requests":
            self._gocardless_process_billing_request_event(notification_data)
        elif "gocardless_billing_request" in notification_data:
            self._gocardless_process_billing_request(
                notification_data["gocardless_billing_request"],
                exited=bool(notification_data.get("gocardless_exit")),
                failed=bool(notification_data.get("gocardless_failed")),
                reason=reason,
            )
        elif isinstance(notification_data.get("gocardless_refund"), dict):
            self._gocardless_process_refund(notification_data["gocardless_refund"], reason)
        elif "gocardless_return_error" in notification_data:
            self._gocardless_process_return_error(notification_data["gocardless_return_error"])
        elif "gocardless_attempt_error" in notification_data:
            # A create refused, or never made: the attempt ends, with why.
            self._set_error(notification_data["gocardless_attempt_error"])
        elif notification_data.get("gocardless_refused_payment"):
            # GoCardless returned another payment than the one asked for: not linked.
            self.gocardless_failure_reason = reason
            self._set_error(reason)
        else:
            self._gocardless_process_payment(
                notification_data.get("gocardless_payment"),
                reason,
                will_retry=bool(notification_data.get("gocardless_will_retry")),
            )

    def _gocardless_read_resource(self, notification_data):
        """Read the current state of the resource an event names, unless already read.

        Events arrive late, twice and out of order: the resource's current state decides. The
        reason of a payment is the one the event's ledger gave for its current status
        (`gocardless_reasons`, by outcome).

        :param dict notification_data: The notification of the event, completed in place.
        :return: None
        """
        if notification_data["gocardless_resource_type"] == "payments":
            payment = notification_data.get("gocardless_payment")
            if not isinstance(payment, dict):
                payment_id = notification_data["gocardless_resource_id"]
                # Read with the others of its batch of events, or on its own.
                payment = (self.env.context.get(const.PAYMENTS_READ_KEY) or {}).get(
                    (self.provider_id.id, payment_id)
                )
                payment = (
                    copy.deepcopy(payment)
                    if payment
                    else self.provider_id._gocardless_make_request("payments", "get", payment_id)
                )
                notification_data["gocardless_payment"] = payment
            outcome = events.payment_outcome_from_status(payment.get("status"))
            notification_data["reason"] = (notification_data.get("gocardless_reasons") or {}).get(
                outcome, ""
            )
        else:
            key = {
                "refunds": "gocardless_refund",
                "billing_requests": "gocardless_billing_request",
            }[notification_data["gocardless_resource_type"]]
            if not isinstance(notification_data.get(key), dict):
                notification_data[key] = self.provider_id._gocardless_make_request(
                    notification_data["gocardless_resource_type"],
                    "get",
                    notification_data["gocardless_resource_id"],
                )

    def _gocardless_process_payment(self, payment, reason="", will_retry=False):
        """Bring the transaction to the state of its GoCardless payment.

        A failed payment that GoCardless will submit again (`will_attempt_retry`) keeps the
        transaction pending and marked `gocardless_retrying`: the merchant is told nothing until
        the failure is final.

        Note: self.ensure_one()

        :param dict payment: The `payments` resource.
        :param str reason: GoCardless's explanation of a failure, cancellation or charge-back.
        :param bool will_retry: Whether GoCardless said it retries the failed payment.
        :return: None
        """
        if not isinstance(payment, dict) or not payment.get("id"):
            raise ValidationError(
                self.env._(
                    "GoCardless: received data with no payment for %(reference)s.",
                    reference=self.reference,
                )
            )
        if self.provider_reference and self.provider_reference != payment["id"]:
            raise ValidationError(
                self.env._(
                    "GoCardless: the payment %(payment)s does not belong to the transaction "
                    "%(reference)s.",
                    payment=payment["id"],
                    reference=self.reference,
                )
            )
        _logger.info(
            "processing GoCardless payment data for transaction %s:\n%s",
            self.reference,
            pprint.pformat(payment),
        )
        status = payment.get("status")
        values = {"gocardless_payment_status": status}
        if self.provider_reference != payment["id"]:
            # Written only when it changes: the invoices' debit status depends on it.
            values["provider_reference"] = payment["id"]
        if payment.get("charge_date"):
            values["gocardless_charge_date"] = payment["charge_date"]
        target = const.PAYMENT_OUTCOME_STATES.get(events.payment_outcome_from_status(status))
        if target in ("error", "cancel"):
            values["gocardless_failure_reason"] = reason or self.env._(
                "The payment is %(status)s.", status=status
            )
        target = self._gocardless_retry_target(status, target, will_retry, values)
        self.write(values)

        if target == "pending":
            # A failed payment GoCardless submits again (its retry, or the merchant's) is
            # under way again.
            self._set_pending(extra_allowed_states=("error",) if status != "failed" else ())
        elif target == "done":
            extra_states = ()
            if self.state == "cancel" and self.payment_id:
                # A chargeback was cancelled: the money is collected again. Let the
                # post-processing create a new payment in place of the cancelled one.
                extra_states = ("cancel",)
                if self.payment_id.state == "canceled":
                    self.payment_id = False
            self._set_done(extra_allowed_states=extra_states)
        elif target == "error":
            self._gocardless_set_failed(status, reason)
        elif target == "cancel":
            message = self.env._("GoCardless: the direct debit was cancelled.")
            if reason:
                message = f"{message} {reason}"
            self._set_canceled(state_message=message)
        else:
            _logger.warning(
                "unknown GoCardless payment status %s for transaction %s", status, self.reference
            )

    def _gocardless_set_failed(self, status, reason=""):
        """End the transaction of a failed or charged-back payment: in error, or cancelled if
        it was collected (its payment is then taken back by the post-processing).

        A cancelled transaction stays so (Odoo refuses cancel -> error): a payment failing
        after it was collected was taken back by its first event.

        Note: self.ensure_one()

        :param str status: The payment's status (`failed`, `charged_back`).
        :param str reason: GoCardless's explanation.
        :return: None
        """
        if status == "charged_back":
            message = self.env._("GoCardless: the customer's bank charged the payment back.")
        else:
            message = self.env._("GoCardless: the direct debit failed.")
        if reason:
            message = f"{message} {reason}"
        if self.state == "done":
            self._set_canceled(state_message=message, extra_allowed_states=("done",))
        elif self.state != "cancel":
            self._set_error(message)

    def _gocardless_retry_target(self, status, target, will_retry, values):
        """Return the state a payment's status leads to, a failure GoCardless retries aside.

        A failed payment GoCardless submits again by itself is not a failure the merchant acts
        on: the transaction stays pending, marked `gocardless_retrying` (set in ``values``).
        """
        if status == "failed" and will_retry and self.state in ("draft", "pending"):
            values["gocardless_retrying"] = True
            return "pending"
        if target in ("done", "error", "cancel"):
            values["gocardless_retrying"] = False
        return target

    def _gocardless_process_billing_request_event(self, notification_data):
        """Complete or cancel the transaction of the billing request an event names.

        A fulfilled billing request completes the transaction (its mandate saved, its payment
        created); a cancellation event cancels it when the billing request is cancelled or
        failed, unless the transaction has its payment. Any other event changes nothing.

        Note: self.ensure_one()

        :param dict notification_data: The event's notification, with the billing request
                                        read (`gocardless_billing_request`), `gocardless_failed`,
                                        `gocardless_cancelling` and `reason`.
        :return: None
        """
        billing_request = notification_data["gocardless_billing_request"]
        outcome = events.billing_request_outcome_from_status(billing_request.get("status"))
        if outcome == events.BILLING_REQUEST_FULFILLED:
            self._gocardless_complete_billing_request()
        elif (
            notification_data.get("gocardless_cancelling")
            and (
                outcome == events.BILLING_REQUEST_CANCELLED
                or notification_data.get("gocardless_failed")
            )
            and not self.provider_reference
        ):
            self._gocardless_process_billing_request(
                billing_request,
                failed=bool(notification_data.get("gocardless_failed")),
                reason=notification_data.get("reason") or "",
            )

    def _gocardless_process_billing_request(
        self, billing_request, exited=False, failed=False, reason=""
    ):
        """Complete, cancel or keep waiting the transaction of a billing request.

        Fulfilled: the mandate is saved as a token and the payment created on it. Cancelled
        (or left by the customer): the transaction is cancelled, unless it has its payment.
        Still open: the transaction waits `pending` for the webhook; when the customer left,
        the billing request is cancelled at GoCardless and so is the transaction.

        Note: self.ensure_one()

        :param dict billing_request: The `billing_requests` resource, or None when it could not
                                     be read (customer leaving only).
        :param bool exited: Whether the customer left GoCardless's page.
        :param bool failed: Whether GoCardless said the billing request failed.
        :param str reason: GoCardless's explanation of a cancellation.
        :return: None
        """
        billing_request = billing_request if isinstance(billing_request, dict) else {}
        if billing_request.get("id") and billing_request["id"] != (
            self.gocardless_billing_request_id
        ):
            raise ValidationError(
                self.env._(
                    "GoCardless: the billing request %(billing_request)s does not belong to the "
                    "transaction %(reference)s.",
                    billing_request=billing_request["id"],
                    reference=self.reference,
                )
            )
        status = billing_request.get("status")
        outcome = events.billing_request_outcome_from_status(status)
        if self.provider_reference:
            return  # The payment exists: its own events drive the transaction now.
        if outcome == events.BILLING_REQUEST_FULFILLED:
            self._gocardless_collect_fulfilled_billing_request(billing_request)
        elif exited:
            if billing_request and outcome != events.BILLING_REQUEST_CANCELLED:
                try:
                    self._gocardless_request(
                        "billing_requests", "cancel", self.gocardless_billing_request_id
                    )
                except ValidationError:
                    _logger.warning(
                        "could not cancel the billing request of transaction %s at GoCardless",
                        self.reference,
                    )
            self._set_canceled(
                state_message=self.env._(
                    "GoCardless: you left the direct debit set-up before approving it. The "
                    "invoice has not been paid."
                )
            )
        elif outcome == events.BILLING_REQUEST_CANCELLED or failed:
            self._set_canceled(
                state_message=reason
                or self.env._("GoCardless: the direct debit set-up was cancelled.")
            )
        elif self.state == "draft":
            self._gocardless_set_waiting_for_mandate()

    def _gocardless_collect_fulfilled_billing_request(self, billing_request):
        """Save the mandate of a fulfilled billing request and create the payment on it.

        Note: self.ensure_one()

        :param dict billing_request: The fulfilled `billing_requests` resource.
        :return: None
        :raise ValidationError: If GoCardless refuses or the debit is refused.
        """
        if self.state not in ("draft", "pending"):
            _logger.info(
                "transaction %s is %s; not collecting it by GoCardless", self.reference, self.state
            )
            return
        links = billing_request.get("links") or {}
        mandate_id = links.get("mandate_request_mandate") or (
            (billing_request.get("mandate_request") or {}).get("links") or {}
        ).get("mandate")
        if not mandate_id:
            raise ValidationError(self.env._("GoCardless: the billing request has no mandate."))
        mandate = self._gocardless_request("mandates", "get", mandate_id)
        self._gocardless_save_mandate(mandate)
        if self.operation == "validation":
            # A mandate asked for before any invoice: saved, nothing is debited.
            self._set_done()
            return
        try:
            payment = self._gocardless_create_payment(mandate_id)
        except GoCardlessPaymentRefused:
            return  # In error, not linked; the merchant has an activity.
        except ValidationError as error:
            if utils.is_transient(error):
                raise  # Kept for a retry: the payment's idempotency key avoids a double debit.
            # Refused (e.g. the invoice was paid meanwhile): the mandate is saved, nothing is
            # collected, and the customer and the merchant see why.
            _logger.info("debit of transaction %s refused: %s", self.reference, error)
            self._set_error(error.args[0])
            return
        self._gocardless_process_payment(payment)

    def _gocardless_set_waiting_for_mandate(self):
        """Leave a draft transaction pending until the `billing_requests` webhook completes it."""
        self._set_pending(
            state_message=self.env._(
                "GoCardless is confirming your direct debit mandate; the payment will be "
                "scheduled once it is confirmed."
            )
        )

    def _gocardless_process_return_error(self, kind):
        """Wait for the webhook when GoCardless was unreachable on return; else fail."""
        if kind == "transient":
            if self.state == "draft":
                self._gocardless_set_waiting_for_mandate()
            return
        self._set_error(
            self.env._(
                "GoCardless: the direct debit could not be set up. Please try again or contact us."
            )
        )

    def _gocardless_process_refund(self, refund, reason=""):
        """Bring a refund transaction to the state of its GoCardless refund.

        Note: self.ensure_one()

        :param dict refund: The `refunds` resource.
        :param str reason: GoCardless's explanation of a failure.
        :return: None
        """
        if not refund.get("id") or (
            self.provider_reference and self.provider_reference != refund["id"]
        ):
            raise ValidationError(
                self.env._(
                    "GoCardless: the refund %(refund)s does not belong to the transaction "
                    "%(reference)s.",
                    refund=refund.get("id"),
                    reference=self.reference,
                )
            )
        if not self.provider_reference:
            self.provider_reference = refund["id"]
        status = refund.get("status")
        target = const.REFUND_OUTCOME_STATES.get(events.refund_outcome_from_status(status))
        if target == "pending":
            # A failed payment GoCardless submits again (its retry, or the merchant's) is
            # under way again.
            self._set_pending(extra_allowed_states=("error",) if status != "failed" else ())
        elif target == "done":
            self._set_done()
        elif target == "error":
            reason = reason or self.env._("The refund is %(status)s.", status=status or "?")
            if self.state == "done":
                # The refund was paid, then came back: cancel its outbound payment.
                self._set_canceled(state_message=reason, extra_allowed_states=("done",))
            else:
                self._set_error(reason)
        else:
            _logger.warning(
                "unknown GoCardless refund status %s for transaction %s", status, self.reference
            )

    # === BUSINESS METHODS - LOOKUP HELPERS === #

    @api.model
    def _gocardless_find_by_resource_ids(self, resource_ids, scope, field="provider_reference"):
        """Return the transactions holding GoCardless ids, by id: the one lookup by GoCardless id.

        Used by :meth:`_get_tx_from_notification_data` and by whoever must find the
        transactions of GoCardless payments or refunds it read (a payout's items, the cash
        proof's mends). For an id several transactions hold, the newest wins, as a search
        with ``limit=1`` would have it.

        :param list resource_ids: GoCardless ids (PM..., RF..., or BRQ... with ``field``
                                  `gocardless_billing_request_id`).
        :param list scope: The domain the transactions must match: their provider, or their
                           provider's code and their company.
        :param str field: The field holding the ids.
        :return: The transactions found, by GoCardless id (ids no transaction holds left out).
        :rtype: dict
        """
        ids = [rid for rid in dict.fromkeys(resource_ids) if rid and isinstance(rid, str)]
        if not ids:
            return {}
        found = {}
        for tx in self.search_fetch(
            [*scope, (field, "in", ids)], self._gocardless_prefetched_fields()
        ):
            found.setdefault(tx[field], tx)
        return found

    def _gocardless_in_company_context(self):
        """Return the transaction in its company and its company's language.

        Events are applied by the ledger's cron (as OdooBot, in English): what Odoo writes
        meanwhile on the invoice (the transaction's and the payment's messages) is then in the
        company's language, as the merchant's own notices are.
        """
        self.ensure_one()
        company = self.company_id
        return self.with_company(company).with_context(
            lang=company.partner_id.lang or self.env.lang
        )

    def _gocardless_owns_payment(self, payment):
        """Return whether ``payment`` is this transaction's GoCardless payment.

        Its id when the transaction knows it; otherwise (found by the Odoo reference in the
        payment's metadata) only a payment on the transaction's own mandate, for its amount and
        currency: another database sharing the GoCardless account, or an old test copy, can
        reuse a reference.

        Note: self.ensure_one()

        :param dict payment: The `payments` resource.
        :rtype: bool
        """
        self.ensure_one()
        if self.provider_reference:
            return self.provider_reference == payment.get("id")
        links = payment.get("links") or {}
        try:
            amount = amounts.to_minor_units(self.amount, self.currency_id.name)
        except GoCardlessCoreError:
            return False
        return bool(
            self.token_id
            and links.get("mandate") == self.token_id.provider_ref
            and payment.get("amount") == amount
            and payment.get("currency") == self.currency_id.name
        )

    # === BUSINESS METHODS - POST-PROCESSING === #

    def _gocardless_post_process_now(self):
        """Post-process the transaction at once if its state changed (invoice paid or reopened).

        In a batch of the ledger's events (context key ``gocardless_deferred_post_process``),
        the transaction waits for the end of the batch instead
        (`payment_transaction_batch.py`). If post-processing fails, Odoo's post-processing cron
        tries again.
        """
        deferred = self.env.context.get(const.DEFERRED_POST_PROCESS_KEY)
        if deferred is not None:
            deferred.add(self.filtered(lambda t: not t.is_post_processed).ids)
            return
        for tx in self.filtered(lambda t: not t.is_post_processed):
            try:
                with self.env.cr.savepoint():
                    tx._post_process()
            except psycopg2.OperationalError:
                raise
            except Exception:  # noqa: BLE001 - the payment cron retries post-processing
                _logger.exception(
                    "gocardless: post-processing of transaction %s failed, left to the cron",
                    tx.reference,
                )
                self.env.ref("payment.cron_post_process_payment_tx")._trigger()

    def _post_process(self):  # pylint: disable=missing-return
        """Override of `account_payment` to tell the merchant about collected or failed debits.

        Odoo's post-processing runs once per state change (inline or by its cron): a debit
        collected, or one that failed, was cancelled or charged back, is told on its invoices'
        chatter and given to their salesperson as an activity.
        """
        notices = [
            (tx, tx.state, bool(tx.payment_id) and tx.payment_id.state != "canceled")
            for tx in self
            if tx.provider_code == const.PROVIDER_CODE
            and tx.operation in const.DEBIT_OPERATIONS
            and tx.provider_reference
            and tx.state in ("done", "cancel", "error")
            # A debit Odoo cancelled because the invoice no longer needed it is no failure.
            and not (tx.state == "cancel" and tx.gocardless_cancel_requested)
        ]
        super()._post_process()
        # Told once for a batch of the ledger's events, at its end: the payouts waiting for
        # these payments' confirmations, and the activities of earlier failures to close.
        batch_notices = self.env.context.get("gocardless_batch_notices")
        collected = self.browse([tx.id for tx, state, _was_paid in notices if state == "done"])
        if batch_notices is not None:
            batch_notices.told |= bool(notices)
            batch_notices.collected.update(collected.ids)
        else:
            if notices:
                # A payout that arrived before these payments' confirmations can now be booked.
                self.env["gocardless.payout"]._gocardless_trigger_waiting()
            collected._gocardless_close_failure_activities()
        for tx, state, was_paid in notices:
            if state != "done":
                tx._gocardless_notify_failed(was_paid=was_paid and state == "cancel")

    # === BUSINESS METHODS - MERCHANT NOTICES === #

    def _gocardless_responsible(self, invoice):
        """Return who follows up on ``invoice``.

        Its salesperson, else who looks after the provider (the administrator, else the first
        accounting manager of the company).

        :return: An internal user allowed in the invoice's company, or an empty recordset.
        :rtype: recordset of `res.users`
        """
        user = invoice.invoice_user_id
        if user and user.active and not user.share and invoice.company_id in user.company_ids:
            return user
        return self.provider_id._gocardless_responsible_user()

    def _gocardless_notice_env(self, invoice):
        """Return the transaction in the language of the notices of ``invoice``, and who
        follows the invoice up.

        A message in the invoice's chatter is shared: in the company's language (its partner's),
        else the follower's. An activity is personal: see :meth:`_gocardless_user_env`.
        """
        user = self._gocardless_responsible(invoice)
        company = invoice.company_id or self.company_id
        lang = company.partner_id.lang or user.lang or self.env.lang
        return self.with_context(lang=lang), user

    def _gocardless_user_env(self, invoice, user):
        """Return the transaction in the language of ``user`` (else of the company)."""
        company = invoice.company_id or self.company_id
        return self.with_context(lang=user.lang or company.partner_id.lang or self.env.lang)

    def _get_received_message(self):
        """Override of `payment` to tell the merchant of a direct debit collected.

        Odoo logs on the invoices that the transaction was confirmed: for a GoCardless debit,
        that message is the merchant's notice of the debit collected (what GoCardless
        collected, its payment, the transaction), in the company's language. One message,
        not Odoo's and the merchant's saying the same.
        """
        self.ensure_one()
        if self._gocardless_is_collected_debit():
            return self._gocardless_collected_notice()
        return super()._get_received_message()

    def _gocardless_is_collected_debit(self):
        """Return whether the transaction is a GoCardless direct debit collected.

        Note: self.ensure_one()

        :rtype: bool
        """
        self.ensure_one()
        return bool(
            self.provider_code == const.PROVIDER_CODE
            and self.operation in const.DEBIT_OPERATIONS
            and self.provider_reference
            and self.state == "done"
        )

    def _gocardless_collected_notice(self):
        """Return the notice of the direct debit collected, in the language of the notices
        of its invoices (see :meth:`_gocardless_notice_env`).

        A message, not an activity: a debit collected needs nobody; the daily digest sums
        them up (see `payment.provider._gocardless_send_digest`).

        Note: self.ensure_one()

        :rtype: str
        """
        self.ensure_one()
        invoice = self.invoice_ids[:1]
        # The language of the company's partner, when set, decides: who follows the invoice
        # up is then not needed (see _gocardless_notice_env).
        lang = (invoice.company_id or self.company_id).partner_id.lang
        tx = self.with_context(lang=lang) if lang else self._gocardless_notice_env(invoice)[0]
        return tx.env._(
            "Direct debit received: GoCardless collected %(amount)s (payment %(payment)s, "
            "transaction %(reference)s).",
            amount=format_amount(tx.env, tx.amount, tx.currency_id),
            payment=tx.provider_reference,
            reference=tx.reference,
        )

    def _gocardless_close_failure_activities(self):
        """Mark done the open "Direct debit failed" activities of the transactions' invoices.

        Their cause is gone once a direct debit of the invoice is collected (a retried debit, or
        a new one): each is closed with the notice of the debit collected (see
        :meth:`_gocardless_collected_notice`). One search for all the transactions.
        """
        if not self:
            return
        # The summary was written in the language of whoever the activity was for.
        summaries = {
            self.with_context(lang=lang).env._("Direct debit failed")
            for lang, _name in self.env["res.lang"].get_installed()
        }
        activities = (
            self.env["mail.activity"]
            .sudo()
            .search(
                [
                    ("res_model", "=", "account.move"),
                    ("res_id", "in", self.invoice_ids.ids),
                    (
                        "activity_type_id",
                        "=",
                        # From the cache of XML ids: no query to check the record exists.
                        self.env["ir.model.data"]._xmlid_to_res_id("mail.mail_activity_data_todo"),
                    ),
                    ("summary", "in", list(summaries)),
                ]
            )
        )
        for tx in self:
            closed = activities.filtered(
                lambda activity, tx=tx: activity.res_id in tx.invoice_ids.ids
            )
            if closed:
                closed.action_feedback(feedback=tx._gocardless_collected_notice())
                activities -= closed

    def _gocardless_notify_failed(self, was_paid=False):
        """Tell the merchant that the direct debit failed or was reversed: a message on the
        invoices (in the company's language) and an activity for who follows each up (in
        theirs)."""
        self.ensure_one()
        tx, _user = self._gocardless_notice_env(self.invoice_ids[:1])
        tx._log_message_on_linked_documents(tx._gocardless_failure_notice(was_paid))
        for invoice in self.invoice_ids:
            _tx, user = self._gocardless_notice_env(invoice)
            if user:
                tx_user = self._gocardless_user_env(invoice, user)
                invoice.activity_schedule(
                    "mail.mail_activity_data_todo",
                    summary=tx_user.env._("Direct debit failed"),
                    note=tx_user._gocardless_failure_notice(was_paid),
                    user_id=user.id,
                )

    def _gocardless_failure_notice(self, was_paid):
        """Return the sentence telling the merchant why the direct debit failed."""
        reason = self.gocardless_failure_reason or self.env._(
            "The payment is %(status)s.", status=self.gocardless_payment_status or "?"
        )
        if was_paid:
            return self.env._(
                "Direct debit reversed after it was collected: %(reason)s (transaction "
                "%(reference)s). The payment was cancelled and the invoice is open again.",
                reason=reason,
                reference=self.reference,
            )
        return self.env._(
            "Direct debit failed: %(reason)s (transaction %(reference)s).",
            reason=reason,
            reference=self.reference,
        )
