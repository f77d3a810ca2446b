import logging
import pprint

import psycopg2

from odoo import SUPERUSER_ID, http
from odoo.exceptions import ValidationError
from odoo.http import request
from odoo.service.model import PG_CONCURRENCY_EXCEPTIONS_TO_RETRY
from odoo.tools import consteq

from .. import const
from ..gocardless_core.errors import InvalidSignature, MalformedPayload

_logger = logging.getLogger(__name__)

# Times a webhook is recorded again, in a new snapshot, when a concurrent delivery of the same
# event committed first; then Odoo's own retry of the request takes over.
RECORD_ATTEMPTS = 3
# The customer's way back from GoCardless's page (return or exit): a plain GET, and no new
# session for a browser that comes back without its cookie (see gocardless_return_from_flow).
FLOW_ROUTE = {
    "type": "http",
    "auth": "public",
    "methods": ["GET"],
    "csrf": False,
    "save_session": False,
}


class GoCardlessController(http.Controller):
    _return_url = "/payment/gocardless/return"
    _exit_url = "/payment/gocardless/exit"
    _webhook_url = "/payment/gocardless/webhook"

    @http.route(_return_url, **FLOW_ROUTE)
    def gocardless_return_from_flow(self, reference=None, access_token=None, **data):
        """Complete the transaction once the customer has approved the mandate on GoCardless.

        The billing request is re-read from the API; the browser's word is never trusted. If it
        is fulfilled, the mandate is saved and the payment created. The route is flagged with
        `save_session=False` so that a browser coming back without its session cookie (cookies
        without `SameSite` are withheld by some browsers on cross-site navigations) is not given
        a new session: the redirection to `/payment/status` then happens on our own site, where
        the cookie is sent and the transaction found in the session. Parameters: see
        `_gocardless_back_from_flow`.
        """
        return self._gocardless_back_from_flow(
            "handling redirection from GoCardless",
            reference,
            access_token,
            data,
            self._gocardless_complete_return,
        )

    @staticmethod
    def _gocardless_complete_return(tx_sudo):
        try:
            with request.env.cr.savepoint():
                tx_sudo._gocardless_handle_return()
        except ValidationError as error:
            _logger.warning(
                "unable to complete the GoCardless billing request of transaction %s: %s",
                tx_sudo.reference,
                error,
            )
            tx_sudo._gocardless_handle_return_error(error)

    @http.route(_exit_url, **FLOW_ROUTE)
    def gocardless_exit_flow(self, reference=None, access_token=None, **data):
        """Cancel the transaction of a customer who left GoCardless's page without approving.
        Parameters: see `_gocardless_back_from_flow`."""
        return self._gocardless_back_from_flow(
            "customer left GoCardless's flow",
            reference,
            access_token,
            data,
            lambda tx_sudo: tx_sudo._gocardless_handle_exit(),
        )

    @http.route(
        _webhook_url,
        type="http",
        methods=["POST"],
        auth="public",
        csrf=False,
        save_session=False,
    )
    def gocardless_webhook(self):
        """Record the events of a GoCardless webhook in the ledger and answer at once.

        The raw body is verified against the webhook secret of each GoCardless provider; the
        events are recorded once each (a duplicate is acknowledged, never applied twice) and
        the ledger's cron is woken to apply them, reading each resource's current state back
        from GoCardless. Nothing else happens before the answer. The route is flagged with
        `save_session=False`: GoCardless has no session to keep.

        :return: 204 once the events are recorded; 498 for a missing or wrong signature; 400
                 for a signed body that is not events JSON (or nests too deeply); 503 when
                 the database is unavailable, so that GoCardless sends the webhook again.
        :rtype: odoo.http.Response
        """
        body = request.httprequest.get_data()
        signature = request.httprequest.headers.get("Webhook-Signature")
        events = request.env["gocardless.event"].with_user(SUPERUSER_ID)
        try:
            self._gocardless_record_webhook(events, body, signature)
        except InvalidSignature:
            request.env["gocardless.webhook.stat"].sudo()._gocardless_count(rejected=1)
            _logger.warning(
                "rejected a GoCardless webhook with a missing or invalid signature from %s",
                request.httprequest.remote_addr,
            )
            return request.make_response("", status=498)
        except MalformedPayload as error:
            _logger.warning("rejected a signed GoCardless webhook with a bad body: %s", error)
            return request.make_response("", status=400)
        except RecursionError:
            # A body nesting too deeply for Python, whatever the core let through (the
            # recording's savepoint is rolled back).
            _logger.warning("rejected a signed GoCardless webhook nesting too deeply")
            return request.make_response("", status=400)
        except (psycopg2.OperationalError, psycopg2.InterfaceError) as error:
            _logger.warning("GoCardless webhook not recorded, database unavailable: %s", error)
            return request.make_response("", status=503)
        return request.make_response("", status=204)

    @staticmethod
    def _gocardless_record_webhook(events, body, signature):
        """Record the webhook, in a new snapshot when another delivery of the same event
        committed after this request's (``ON CONFLICT DO NOTHING`` then skips the event):
        nothing but the recording is run again, at once."""
        for attempt in range(RECORD_ATTEMPTS):
            try:
                with request.env.cr.savepoint():
                    events._gocardless_receive_webhook(body, signature)
                return
            except PG_CONCURRENCY_EXCEPTIONS_TO_RETRY:
                if attempt == RECORD_ATTEMPTS - 1:
                    raise  # Odoo runs the whole request again
                request.env.cr.rollback()

    @classmethod
    def _gocardless_back_from_flow(cls, what, reference, access_token, data, act):
        """The customer is back from GoCardless's page (``what`` happened): log the parameters
        of the URI, ``act`` on the transaction when the reference and flow token find it, and
        send the customer to the payment status page.

        :param str reference: The transaction reference, embedded in the return or exit URI.
        :param str access_token: The transaction's flow token, embedded in the same URI.
        :param dict data: Extra parameters, logged and ignored.
        :param act: what to do with the transaction found (in sudo mode).
        """
        _logger.info("%s for transaction %s with data:\n%s", what, reference, pprint.pformat(data))
        tx_sudo = cls._gocardless_get_transaction(reference, access_token)
        if tx_sudo:
            act(tx_sudo)
        return request.redirect("/payment/status")

    @staticmethod
    def _gocardless_get_transaction(reference, access_token):
        """Return the GoCardless transaction of a reference, in sudo mode, or an empty recordset.

        References are guessable (invoice numbers): the routes act only with the flow token
        that Odoo put in the URIs it gave GoCardless.
        """
        Transaction = request.env["payment.transaction"].sudo()
        if not (
            isinstance(reference, str)
            and 0 < len(reference) <= const.REFERENCE_MAX_LENGTH
            and "\x00" not in reference
        ):
            return Transaction
        tx_sudo = Transaction.search(
            [("reference", "=", reference), ("provider_code", "=", const.PROVIDER_CODE)], limit=1
        )
        if tx_sudo and not (
            isinstance(access_token, str)
            and access_token.isascii()
            and consteq(access_token, tx_sudo._gocardless_flow_token())
        ):
            _logger.warning(
                "ignored a GoCardless return for transaction %s without its flow token", reference
            )
            return Transaction
        return tx_sudo
