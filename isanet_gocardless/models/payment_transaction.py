import logging
import pprint
from urllib.parse import urlencode

import requests
from gocardless_pro.errors import ApiError, GoCardlessProError

from odoo import fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import hmac

from .. import const, utils
from ..controllers.main import GoCardlessController
from ..gocardless_core import amounts, customers, events, schemes
from ..gocardless_core import client as gc_client
from ..gocardless_core.errors import GoCardlessCoreError

_logger = logging.getLogger(__name__)

# Longest payment description GoCardless accepts.
DESCRIPTION_MAX_LENGTH = 255


class PaymentTransaction(models.Model):
    _inherit = "payment.transaction"

    gocardless_billing_request_id = fields.Char(
        string="GoCardless Billing Request",
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

    # === BUSINESS METHODS - HELPERS === #

    def _gocardless_idempotency_key(self, action):
        """Return the `Idempotency-Key` of one create made for this transaction.

        Note: self.ensure_one()

        :param str action: What is created: `customer`, `billing_request`, `flow`, `payment`.
        :return: A key unique to this database, transaction and action.
        :rtype: str
        """
        self.ensure_one()
        db_uuid = self.env["ir.config_parameter"].sudo().get_param("database.uuid")
        return gc_client.idempotency_key(db_uuid, self.reference, action)

    def _gocardless_headers(self, action):
        """Return the headers of a create request, with its idempotency key."""
        return {"Idempotency-Key": self._gocardless_idempotency_key(action)}

    def _gocardless_call(self, what, function, *args, **kwargs):
        """Call the GoCardless SDK and turn its failures into user errors.

        :param str what: A short description of the call, for the logs.
        :param callable function: The SDK service method.
        :return: The SDK's answer.
        :raise ValidationError: If the call fails, with GoCardless's explanation.
        """
        try:
            return function(*args, **kwargs)
        except (GoCardlessProError, requests.RequestException) as error:
            _logger.warning(
                "GoCardless call '%s' failed for transaction %s: %s",
                what,
                self.reference,
                gc_client.describe_api_error(error),
            )
            raise ValidationError(
                self.env._("GoCardless: %(error)s", error=gc_client.describe_api_error(error))
            ) from error

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

    # === BUSINESS METHODS - REDIRECT FLOW === #

    def _get_specific_rendering_values(self, processing_values):
        """Override of `payment` to send the customer to GoCardless's hosted mandate page.

        Creates (or reuses) the customer, a billing request for a mandate and its flow, whose
        authorisation URL the redirect form opens.

        Note: self.ensure_one() from `_get_processing_values`

        :param dict processing_values: The generic and specific processing values.
        :return: The `api_url` and `url_params` of the redirect form.
        :rtype: dict
        """
        res = super()._get_specific_rendering_values(processing_values)
        if self.provider_code != const.PROVIDER_CODE:
            return res
        authorisation_url = self._gocardless_create_billing_request_flow()
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
        client = self.provider_id._gocardless_make_client()
        customer_id = self._gocardless_get_or_create_customer(client)
        billing_request = self._gocardless_call(
            "create billing request",
            client.billing_requests.create,
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
            headers=self._gocardless_headers("billing_request"),
        )
        self.gocardless_billing_request_id = billing_request.id
        base_url = self.provider_id.get_base_url()
        query = urlencode(
            {"reference": self.reference, "access_token": self._gocardless_flow_token()}
        )
        flow_params = {
            "links": {"billing_request": billing_request.id},
            "redirect_uri": f"{base_url}{GoCardlessController._return_url}?{query}",
            "exit_uri": f"{base_url}{GoCardlessController._exit_url}?{query}",
            "prefilled_customer": prefilled,
            "lock_currency": True,
        }
        if language:
            flow_params["language"] = language
        flow = self._gocardless_call(
            "create billing request flow",
            client.billing_request_flows.create,
            params=flow_params,
            headers=self._gocardless_headers("flow"),
        )
        _logger.info(
            "created GoCardless billing request %s and flow %s for transaction %s",
            billing_request.id,
            flow.id,
            self.reference,
        )
        return flow.authorisation_url

    def _gocardless_get_or_create_customer(self, client):
        """Return the GoCardless customer of the commercial partner, created if needed.

        The id is stored on the commercial partner, per company (`gocardless_customer_id`). A
        stored id the API does not know (e.g. a sandbox customer after going live) is replaced.

        Note: self.ensure_one()

        :param gocardless_pro.Client client: The provider's client.
        :return: The customer id (CU...).
        :rtype: str
        """
        self.ensure_one()
        partner = self.partner_id.commercial_partner_id.with_company(self.company_id).sudo()
        customer_id = partner.gocardless_customer_id
        if customer_id:
            try:
                client.customers.get(customer_id)
                return customer_id
            except ApiError as error:
                if error.code != 404:
                    self._gocardless_call("get customer", client.customers.get, customer_id)
                _logger.info(
                    "GoCardless customer %s of partner %s is unknown; creating a new one for "
                    "transaction %s",
                    customer_id,
                    partner.id,
                    self.reference,
                )
            except (GoCardlessProError, requests.RequestException):
                self._gocardless_call("get customer", client.customers.get, customer_id)
        try:
            payload = customers.customer_payload(self._gocardless_partner_dict())
        except GoCardlessCoreError as error:
            raise ValidationError(
                self.env._("GoCardless: the customer needs a name or an email address.")
            ) from error
        customer = self._gocardless_call(
            "create customer",
            client.customers.create,
            params=dict(payload, metadata={"odoo_partner_id": str(partner.id)}),
            headers=self._gocardless_headers("customer"),
        )
        partner.gocardless_customer_id = customer.id
        return customer.id

    def _gocardless_complete_billing_request(self):
        """Save the mandate of a fulfilled billing request and collect the transaction on it.

        Idempotent and safe to call from the return route and from the `billing_requests`
        `fulfilled` webhook: it does nothing once the transaction has a GoCardless payment, or
        while the billing request is not fulfilled. Otherwise it saves the mandate as a token of
        the partner, creates the payment (with an idempotency key derived from the transaction)
        and sets the transaction `pending` with the payment id as provider reference.

        Note: self.ensure_one()

        :return: Whether a payment was created by this call.
        :rtype: bool
        :raise ValidationError: If the GoCardless API refuses a call.
        """
        self.ensure_one()
        if self.provider_code != const.PROVIDER_CODE or not self.gocardless_billing_request_id:
            return False
        # Serialise the return route and the webhook on this transaction.
        self.env.cr.execute(
            "SELECT id FROM payment_transaction WHERE id = %s FOR UPDATE", (self.id,)
        )
        self.invalidate_recordset(["provider_reference", "state", "token_id"])
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
        client = self.provider_id._gocardless_make_client()
        billing_request = self._gocardless_call(
            "get billing request", client.billing_requests.get, self.gocardless_billing_request_id
        ).attributes
        status = billing_request.get("status")
        if status != "fulfilled":
            _logger.info(
                "GoCardless billing request %s of transaction %s is %s, not fulfilled",
                self.gocardless_billing_request_id,
                self.reference,
                status,
            )
            return False
        links = billing_request.get("links") or {}
        mandate_id = links.get("mandate_request_mandate") or (
            (billing_request.get("mandate_request") or {}).get("links") or {}
        ).get("mandate")
        if not mandate_id:
            raise ValidationError(self.env._("GoCardless: the billing request has no mandate."))
        mandate = self._gocardless_call("get mandate", client.mandates.get, mandate_id).attributes
        self._gocardless_save_mandate(client, mandate)
        payment = self._gocardless_create_payment(client, mandate_id)
        self._process_notification_data(
            {"reference": self.reference, "gocardless_payment": payment}
        )
        return True

    def _gocardless_get_billing_request_status(self):
        """Return the current status of the transaction's billing request, read from the API."""
        self.ensure_one()
        client = self.provider_id._gocardless_make_client()
        return self._gocardless_call(
            "get billing request", client.billing_requests.get, self.gocardless_billing_request_id
        ).status

    def _gocardless_handle_return(self):
        """Process the customer's return from the GoCardless flow.

        Completes the billing request if it is fulfilled. If GoCardless has not fulfilled it
        yet, the transaction waits in `pending` for the `billing_requests` webhook; if the
        customer's billing request was cancelled, so is the transaction.

        Note: self.ensure_one()

        :return: None
        """
        self.ensure_one()
        if self._gocardless_complete_billing_request() or self.state != "draft":
            return
        if not self.gocardless_billing_request_id:
            return
        status = self._gocardless_get_billing_request_status()
        if status == "cancelled":
            self._set_canceled(
                state_message=self.env._("GoCardless: the direct debit set-up was cancelled.")
            )
        elif status != "fulfilled":
            self._gocardless_wait_for_billing_request()

    def _gocardless_wait_for_billing_request(self):
        """Leave a draft transaction pending until the `billing_requests` webhook completes it.

        Note: self.ensure_one()

        :return: None
        """
        self.ensure_one()
        if self.state == "draft":
            self._set_pending(
                state_message=self.env._(
                    "GoCardless is confirming your direct debit mandate; the payment will be "
                    "scheduled once it is confirmed."
                )
            )

    def _gocardless_cancel_flow(self):
        """Cancel the transaction of a customer who left the GoCardless flow.

        A billing request fulfilled in the meantime is completed instead. Otherwise the billing
        request is cancelled at GoCardless too, which expires its flows: a payer finishing an
        old flow in another tab can't set up a mandate for a transaction Odoo has cancelled.

        Note: self.ensure_one()

        :return: None
        """
        self.ensure_one()
        if self.state != "draft" or self.provider_reference:
            return
        if self.gocardless_billing_request_id:
            try:
                status = self._gocardless_get_billing_request_status()
                if status == "fulfilled":
                    self._gocardless_complete_billing_request()
                    return
                if status != "cancelled":
                    client = self.provider_id._gocardless_make_client()
                    self._gocardless_call(
                        "cancel billing request",
                        client.billing_requests.cancel,
                        self.gocardless_billing_request_id,
                    )
            except ValidationError:
                _logger.warning(
                    "could not reach the billing request of transaction %s; cancelling it",
                    self.reference,
                )
        self._set_canceled(
            state_message=self.env._(
                "GoCardless: you left the direct debit set-up before approving it. The "
                "invoice has not been paid."
            )
        )

    def _gocardless_save_mandate(self, client, mandate):
        """Save the mandate as a payment token of the partner, or reuse the existing token.

        Note: self.ensure_one()

        :param gocardless_pro.Client client: The provider's client.
        :param dict mandate: The `mandates` resource.
        :return: The token.
        :rtype: payment.token
        """
        self.ensure_one()
        method = self.env["payment.method"]
        try:
            method = method._get_from_code(schemes.payment_method_code(mandate.get("scheme")))
        except GoCardlessCoreError:
            _logger.warning(
                "unknown GoCardless scheme %s of mandate %s (transaction %s)",
                mandate.get("scheme"),
                mandate.get("id"),
                self.reference,
            )
        method = method or self.payment_method_id
        token = (
            self.env["payment.token"]
            .sudo()
            .with_context(active_test=False)
            .search(
                [
                    ("provider_id", "=", self.provider_id.id),
                    ("provider_ref", "=", mandate["id"]),
                    ("partner_id", "=", self.partner_id.id),
                ],
                limit=1,
            )
        )
        if not token:
            bank_account_id = (mandate.get("links") or {}).get("customer_bank_account")
            bank_account = {}
            if bank_account_id:
                bank_account = self._gocardless_call(
                    "get bank account", client.customer_bank_accounts.get, bank_account_id
                ).attributes
            token = (
                self.env["payment.token"]
                .sudo()
                .create(
                    {
                        "provider_id": self.provider_id.id,
                        "payment_method_id": method.id,
                        "partner_id": self.partner_id.id,
                        "provider_ref": mandate["id"],
                        "payment_details": utils.bank_account_details(bank_account)
                        or mandate["id"],
                        "gocardless_mandate_status": mandate.get("status"),
                    }
                )
            )
            _logger.info(
                "saved GoCardless mandate %s as token %s for partner %s (transaction %s)",
                mandate["id"],
                token.id,
                self.partner_id.id,
                self.reference,
            )
        else:
            token.write({"active": True, "gocardless_mandate_status": mandate.get("status")})
        self.write({"token_id": token.id, "tokenize": False, "payment_method_id": method.id})
        return token

    def _gocardless_create_payment(self, client, mandate_id):
        """Create the GoCardless payment collecting this transaction on a mandate.

        Note: self.ensure_one()

        :param gocardless_pro.Client client: The provider's client.
        :param str mandate_id: The mandate (MD...).
        :return: The `payments` resource.
        :rtype: dict
        """
        self.ensure_one()
        try:
            amount = amounts.to_minor_units(self.amount, self.currency_id.name)
        except GoCardlessCoreError as error:
            raise ValidationError(
                self.env._(
                    "GoCardless: the amount %(amount)s %(currency)s cannot be collected.",
                    amount=self.amount,
                    currency=self.currency_id.name,
                )
            ) from error
        if amount <= 0:
            raise ValidationError(self.env._("GoCardless: the amount to collect must be positive."))
        payment = self._gocardless_call(
            "create payment",
            client.payments.create,
            params={
                "amount": amount,
                "currency": self.currency_id.name,
                "description": self._gocardless_description(),
                "metadata": {"odoo_reference": self.reference},
                "links": {"mandate": mandate_id},
            },
            headers=self._gocardless_headers("payment"),
        ).attributes
        _logger.info(
            "created GoCardless payment %s on mandate %s for transaction %s",
            payment.get("id"),
            mandate_id,
            self.reference,
        )
        return payment

    # === BUSINESS METHODS - TOKEN FLOW === #

    def _send_payment_request(self):
        """Override of `payment` to collect the transaction on the saved mandate.

        The payment is created at once and the transaction becomes `pending`: no redirection.

        Note: self.ensure_one()

        :return: None
        :raise UserError: If the transaction comes from a registered `account.payment`.
        :raise ValidationError: If the API refuses.
        """
        super()._send_payment_request()
        if self.provider_code != const.PROVIDER_CODE:
            return
        if not self.token_id:
            raise UserError(self.env._("GoCardless: the transaction has no mandate to charge."))
        if self.payment_id:
            # `account.payment.action_post` cancels its payment when the transaction is not
            # done at once, which a direct debit never is.
            raise UserError(
                self.env._(
                    "GoCardless: a direct debit is collected in a few days; it cannot be "
                    "registered as a payment. Let the customer pay the invoice from its portal "
                    "with the saved mandate instead."
                )
            )
        client = self.provider_id._gocardless_make_client()
        payment = self._gocardless_create_payment(client, self.token_id.provider_ref)
        self._process_notification_data(
            {"reference": self.reference, "gocardless_payment": payment}
        )

    # === BUSINESS METHODS - REFUND FLOW === #

    def _send_refund_request(self, amount_to_refund=None):
        """Override of `payment` to refund (part of) the GoCardless payment of the transaction.

        GoCardless asks for the total refunded on the payment, this refund included
        (`total_amount_confirmation`): it is read from the payment itself, so that a refund made
        elsewhere (GoCardless's dashboard) cannot make Odoo's request refund twice. The refund
        transaction stays `pending` until GoCardless's `refunds` events settle it.

        Note: self.ensure_one()

        :param float amount_to_refund: The amount to refund, in major units.
        :return: The refund transaction.
        :rtype: payment.transaction
        :raise ValidationError: If GoCardless refuses the refund.
        """
        refund_tx = super()._send_refund_request(amount_to_refund=amount_to_refund)
        if self.provider_code != const.PROVIDER_CODE:
            return refund_tx
        client = self.provider_id._gocardless_make_client()
        currency = self.currency_id.name
        amount = amounts.to_minor_units(-refund_tx.amount, currency)
        payment = self._gocardless_call(
            "read payment", client.payments.get, self.provider_reference
        )
        refund = refund_tx._gocardless_call(
            "create refund",
            client.refunds.create,
            params={
                "amount": amount,
                "total_amount_confirmation": (payment.amount_refunded or 0) + amount,
                "links": {"payment": self.provider_reference},
                "metadata": {"odoo_reference": refund_tx.reference},
            },
            headers=refund_tx._gocardless_headers("refund"),
        )
        _logger.info(
            "gocardless refund %s of %s %s created for transaction %s",
            refund.id,
            amount,
            currency,
            refund_tx.reference,
        )
        refund_tx.provider_reference = refund.id
        refund_tx._set_pending()
        return refund_tx

    # === BUSINESS METHODS - NOTIFICATIONS === #

    def _get_tx_from_notification_data(self, provider_code, notification_data):
        """Override of `payment` to find the transaction of a GoCardless payment.

        :param str provider_code: The code of the provider that handled the transaction.
        :param dict notification_data: `reference` (the Odoo reference) and/or
                                       `gocardless_payment` (a `payments` resource).
        :return: The transaction.
        :rtype: payment.transaction
        :raise ValidationError: If no transaction matches.
        """
        tx = super()._get_tx_from_notification_data(provider_code, notification_data)
        if provider_code != const.PROVIDER_CODE or len(tx) == 1:
            return tx
        payment = notification_data.get("gocardless_payment") or {}
        domain = [("provider_code", "=", const.PROVIDER_CODE)]
        reference = notification_data.get("reference") or (payment.get("metadata") or {}).get(
            "odoo_reference"
        )
        if reference:
            tx = self.search([*domain, ("reference", "=", reference)], limit=1)
        if not tx and payment.get("id"):
            tx = self.search([*domain, ("provider_reference", "=", payment["id"])], limit=1)
        if not tx:
            raise ValidationError(
                self.env._(
                    "GoCardless: no transaction found matching reference %(reference)s.",
                    reference=reference or payment.get("id"),
                )
            )
        return tx

    def _process_notification_data(self, notification_data):
        """Override of `payment` to follow the current status of the GoCardless payment.

        Note: self.ensure_one()

        :param dict notification_data: `gocardless_payment`: the `payments` resource as just read
                                       from the API; optional `reason`: why it failed.
        :return: None
        :raise ValidationError: If the data holds no payment, or another transaction's payment.
        """
        super()._process_notification_data(notification_data)
        if self.provider_code != const.PROVIDER_CODE:
            return
        payment = notification_data.get("gocardless_payment")
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
        values = {"provider_reference": payment["id"]}
        if payment.get("charge_date"):
            values["gocardless_charge_date"] = payment["charge_date"]
        self.write(values)

        status = payment.get("status")
        outcome = events.payment_outcome_from_status(status)
        reason = notification_data.get("reason") or ""
        if outcome == events.PAYMENT_PENDING:
            self._set_pending()
        elif outcome == events.PAYMENT_DONE:
            extra_states = ()
            if self.state == "cancel" and self.payment_id:
                # A chargeback was cancelled: the money is collected again. Let the
                # post-processing create a new payment in place of the cancelled one.
                extra_states = ("cancel",)
                if self.payment_id.state == "canceled":
                    self.payment_id = False
            self._set_done(extra_allowed_states=extra_states)
        elif outcome in (events.PAYMENT_FAILED, events.PAYMENT_CHARGED_BACK):
            if outcome == events.PAYMENT_CHARGED_BACK:
                message = self.env._("GoCardless: the customer's bank charged the payment back.")
            else:
                message = self.env._("GoCardless: the direct debit failed.")
            if reason:
                message = f"{message} {reason}"
            if self.state == "done":
                self._set_canceled(state_message=message, extra_allowed_states=("done",))
            else:
                self._set_error(message)
        elif outcome == events.PAYMENT_CANCELLED:
            message = self.env._("GoCardless: the direct debit was cancelled.")
            if reason:
                message = f"{message} {reason}"
            self._set_canceled(state_message=message)
        else:
            _logger.warning(
                "unknown GoCardless payment status %s for transaction %s", status, self.reference
            )
            return
        self.env.ref("payment.cron_post_process_payment_tx")._trigger()
