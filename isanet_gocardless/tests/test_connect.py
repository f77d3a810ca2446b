# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
from datetime import timedelta
from unittest.mock import patch
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from .. import const
from ..controllers.oauth import GoCardlessOAuthController
from .common import CLIENT_ID, CLIENT_SECRET, GoCardlessConnectCommon, company_user

CONNECT_LOGGER = "odoo.addons.isanet_gocardless.models.payment_provider_connect"
OAUTH_LOGGER = "odoo.addons.isanet_gocardless.controllers.oauth"


@tagged("post_install", "-at_install")
class TestConnect(GoCardlessConnectCommon):
    def _assert_unchanged(self):
        self.gocardless.invalidate_recordset()
        self.assertEqual(self.gocardless.gocardless_access_token, self.sandbox_token)
        self.assertFalse(self.gocardless.gocardless_organisation_id)

    # === CONNECT === #

    def test_connect_with_an_existing_account_stores_token_organisation_and_creditor(self):
        url, page = self._start_connect()
        query = parse_qs(urlsplit(url).query)
        self.assertTrue(url.startswith(f"{self.sandbox.url}/oauth/authorize?"))
        self.assertEqual(query["client_id"], [CLIENT_ID])
        self.assertEqual(query["scope"], ["read_write"])
        self.assertEqual(query["initial_view"], ["login"])
        self.assertEqual(
            query["redirect_uri"],
            [self._build_url(GoCardlessOAuthController._oauth_callback_url)],
        )
        self.assertGreaterEqual(len(query["state"][0]), 40, "The state is unguessable.")
        self.assertIn('id="view-login"', page.text)

        location = self._decide(page, email="shop@example.com", organisation_name="Shop Ltd")
        self.assertEqual(parse_qs(urlsplit(location).query)["state"], query["state"])
        response = self._callback(location)
        self.assertEqual(response.status_code, 303)
        provider = self.gocardless
        provider.invalidate_recordset()
        self.assertTrue(provider.gocardless_access_token.startswith("sandbox_oauth_"))
        self.assertTrue(provider.gocardless_organisation_id.startswith("OR"))
        self.assertNotEqual(provider.gocardless_organisation_id, self.sandbox.default_organisation)
        self.assertEqual(provider.gocardless_creditor_name, "Shop Ltd")
        self.assertEqual(provider.gocardless_schemes, "bacs, sepa_core")
        self.assertEqual(provider.gocardless_connect_message_type, "success")
        self.assertIn("Shop Ltd", provider.gocardless_connect_message)
        self.assertTrue(provider.gocardless_is_connected)
        self.assertEqual(provider.state, "test")
        # The token reaches the connected account.
        creditor = provider._gocardless_make_client().creditors.list().records[0]
        self.assertEqual(creditor.name, "Shop Ltd")

    def test_create_an_account_opens_the_prefilled_signup_view(self):
        country = self.env.ref("base.fr")
        self.gocardless.company_id.write(
            {"email": "owner@acme.example", "name": "Acme SARL", "country_id": country.id}
        )
        url, page = self._start_connect(signup=True)
        query = parse_qs(urlsplit(url).query)
        self.assertEqual(query["initial_view"], ["signup"])
        self.assertEqual(query["prefill[email]"], ["owner@acme.example"])
        self.assertEqual(query["prefill[organisation_name]"], ["Acme SARL"])
        self.assertEqual(query["prefill[country_code]"], ["FR"])
        self.assertIn('id="view-signup"', page.text)
        _tree, inputs = self._form_inputs(page)
        self.assertEqual(inputs["email"], "owner@acme.example")
        self.assertEqual(inputs["organisation_name"], "Acme SARL")
        self.assertEqual(inputs["country_code"], "FR")

        response = self._callback(self._decide(page))
        self.assertEqual(response.status_code, 303)
        self.gocardless.invalidate_recordset()
        self.assertEqual(self.gocardless.gocardless_creditor_name, "Acme SARL")
        self.assertTrue(self.gocardless.gocardless_organisation_id.startswith("OR"))

    def test_connecting_a_disabled_provider_puts_it_in_test_mode(self):
        self.gocardless.state = "disabled"
        self._connect(email="disabled@example.com")
        self.assertEqual(self.gocardless.state, "test")
        self.assertTrue(self.gocardless.gocardless_organisation_id)

    def test_connect_host_follows_the_provider_state(self):
        provider = self.gocardless
        self.assertEqual(provider._gocardless_get_connect_url(), self.sandbox.url)
        provider.gocardless_api_url = False
        self.assertEqual(
            provider._gocardless_get_connect_url(), "https://connect-sandbox.gocardless.com"
        )
        provider.state = "enabled"
        self.assertEqual(provider._gocardless_get_connect_url(), "https://connect.gocardless.com")

    # === STATE CHECKS === #

    def test_forged_state_is_refused(self):
        self._start_connect()
        callback = self._build_url(GoCardlessOAuthController._oauth_callback_url)
        for query in ("state=forged-state&code=sbx_code_x", "code=sbx_code_x", "state=&code=x"):
            response = self.opener.get(f"{callback}?{query}", allow_redirects=False, timeout=30)
            self.assertEqual(response.status_code, 400, query)
            self.assertIn("not valid or was already used", response.text)
        self._assert_unchanged()

    def test_reused_state_is_refused(self):
        _url, page = self._start_connect()
        location = self._decide(page, email="reuse@example.com")
        self.assertEqual(self._callback(location).status_code, 303)
        self.gocardless.invalidate_recordset()
        token = self.gocardless.gocardless_access_token
        response = self._callback(location)
        self.assertEqual(response.status_code, 400)
        self.assertIn("already used", response.text)
        self.gocardless.invalidate_recordset()
        self.assertEqual(self.gocardless.gocardless_access_token, token)

    def test_expired_state_is_refused(self):
        _url, page = self._start_connect()
        self.env["gocardless.oauth.state"].sudo().search([]).write(
            {"expires_at": fields.Datetime.now() - timedelta(minutes=1)}
        )
        response = self._callback(self._decide(page, email="late@example.com"))
        self.assertEqual(response.status_code, 400)
        self.assertIn("expired", response.text)
        self._assert_unchanged()
        self.assertFalse(self.env["gocardless.oauth.state"].sudo().search([]), "Used up.")

    def test_state_of_another_administrator_is_refused(self):
        other_admin = company_user(self.env, "gocardless_other_admin", "base.group_system")
        _url, page = self._start_connect(user=other_admin)
        response = self._callback(self._decide(page, email="stolen@example.com"))
        self.assertEqual(response.status_code, 400)
        self._assert_unchanged()

    def test_state_is_stored_hashed_and_bound_to_provider_company_and_user(self):
        url, _page = self._start_connect()
        state = parse_qs(urlsplit(url).query)["state"][0]
        request = self.env["gocardless.oauth.state"].sudo().search([])
        self.assertEqual(len(request), 1)
        self.assertNotEqual(request.state_hash, state)
        self.assertNotIn(state, request.state_hash)
        self.assertEqual(request.provider_id, self.gocardless)
        self.assertEqual(request.company_id, self.gocardless.company_id)
        self.assertEqual(request.user_id, self.admin_user)
        self.assertLessEqual(request.expires_at, fields.Datetime.now() + timedelta(minutes=31))

    # === REFUSALS AND ERRORS === #

    def test_merchant_refusing_at_gocardless_is_shown_and_changes_nothing(self):
        _url, page = self._start_connect()
        location = self._decide(page, decision="deny")
        self.assertIn("error=access_denied", location)
        response = self._callback(location)
        self.assertEqual(response.status_code, 303)
        self.assertTrue(
            response.headers["Location"].endswith(self.gocardless._gocardless_get_form_url())
        )
        self._assert_unchanged()
        self.assertEqual(self.gocardless.gocardless_connect_message_type, "danger")
        self.assertIn("refused", self.gocardless.gocardless_connect_message)

    def test_code_refused_by_gocardless_is_shown_and_changes_nothing(self):
        _url, page = self._start_connect()
        location = self._decide(page, email="badsecret@example.com")
        self.sandbox.sandbox.oauth_clients[CLIENT_ID] = "rotated-secret"
        try:
            with mute_logger(CONNECT_LOGGER):
                response = self._callback(location)
        finally:
            self.sandbox.sandbox.oauth_clients[CLIENT_ID] = CLIENT_SECRET
        self.assertEqual(response.status_code, 303)
        self._assert_unchanged()
        self.assertEqual(self.gocardless.gocardless_connect_message_type, "danger")
        self.assertIn("Client authentication failed", self.gocardless.gocardless_connect_message)

    def test_account_connected_to_another_provider_is_refused(self):
        self._connect(email="twice@example.com")
        organisation = self.gocardless.gocardless_organisation_id
        other_company = self.env["res.company"].create({"name": "GoCardless Second Company"})
        self.admin_user.company_ids = [Command.link(other_company.id)]
        other = self._prepare_provider(
            "gocardless",
            company=other_company,
            update_values={
                "gocardless_access_token": "other_token",
                "gocardless_api_url": self.sandbox.url,
            },
        )
        self._connect(other, email="twice@example.com")
        self.assertEqual(other.gocardless_access_token, "other_token")
        self.assertFalse(other.gocardless_organisation_id)
        self.assertEqual(other.gocardless_connect_message_type, "danger")
        self.assertIn("already connected", other.gocardless_connect_message)
        self.assertEqual(self.gocardless.gocardless_organisation_id, organisation)

    def test_connect_needs_the_partner_app(self):
        self.env["ir.config_parameter"].sudo().set_param(const.PARAM_CLIENT_SECRET, False)
        with self.assertRaises(UserError):
            self._as_admin(self.gocardless).action_gocardless_connect()

    # === DISCONNECT, PASTED TOKEN, TEST CONNECTION === #

    def test_disconnect_forgets_and_revokes_the_token(self):
        self._connect(email="leaving@example.com")
        client = self.gocardless._gocardless_make_client()
        self.assertTrue(client.creditors.list().records)
        self._as_admin(self.gocardless).action_gocardless_disconnect()
        self.assertFalse(self.gocardless.gocardless_access_token)
        self.assertFalse(self.gocardless.gocardless_organisation_id)
        self.assertFalse(self.gocardless.gocardless_creditor_name)
        self.assertFalse(self.gocardless.gocardless_is_connected)
        self.assertEqual(self.gocardless.state, "disabled")
        with self.assertRaises(Exception) as error:
            client.creditors.list()
        self.assertEqual(getattr(error.exception, "code", None), 401)

    def test_pasting_a_token_by_hand_forgets_the_connected_account(self):
        self._connect(email="pasted@example.com")
        self.gocardless.gocardless_access_token = self.sandbox_token
        self.assertFalse(self.gocardless.gocardless_organisation_id)
        self.assertFalse(self.gocardless.gocardless_creditor_name)
        self.assertTrue(self.gocardless.gocardless_is_connected)

    def test_test_connection_reports_the_creditor(self):
        action = self._as_admin(self.gocardless).action_gocardless_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.assertIn("Sandbox Creditor Ltd", action["params"]["message"])
        self.assertEqual(self.gocardless.gocardless_creditor_name, "Sandbox Creditor Ltd")

    def test_test_connection_reports_the_gocardless_error_in_plain_words(self):
        self.gocardless.gocardless_access_token = "revoked_token"
        action = self._as_admin(self.gocardless).action_gocardless_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("GoCardless refused the connection", action["params"]["message"])
        self.assertIn("request id", action["params"]["message"])

        self.gocardless.gocardless_api_url = "http://127.0.0.1:9"
        action = self._as_admin(self.gocardless).action_gocardless_test_connection()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertIn("Could not connect to GoCardless", action["params"]["message"])

    # === RECONNECTING, CURRENT MESSAGES, SCHEMES === #

    def _mandate(self, provider_ref="MD000RECONNECT"):
        return self.env["payment.token"].create(
            {
                "provider_id": self.gocardless.id,
                "payment_method_id": self.env.ref("payment.payment_method_sepa_direct_debit").id,
                "partner_id": self.partner.id,
                "provider_ref": provider_ref,
                "payment_details": "•••• 06",
            }
        )

    def test_reconnecting_the_same_account_keeps_its_mandates(self):
        self._connect(email="same@example.com", name="Same Ltd")
        account = self.gocardless.gocardless_account_id
        self.assertTrue(account.startswith("CR"))
        mandate = self._mandate()
        self._as_admin(self.gocardless).action_gocardless_disconnect()
        self.assertEqual(self.gocardless.state, "disabled")
        self.assertTrue(mandate.active, "Kept while disconnected (the provider offers nothing).")
        self.assertIn("mandates are kept", self._disconnect_confirmation())

        self._connect(email="same@example.com", name="Same Ltd")
        self.assertEqual(self.gocardless.state, "test")
        self.assertEqual(self.gocardless.gocardless_account_id, account)
        self.assertTrue(mandate.active, "The same account's mandates work again.")
        self.assertEqual(self.gocardless.gocardless_connect_message_type, "success")

    def test_connecting_another_account_retires_the_mandates_of_the_previous_one(self):
        self._connect(email="first@example.com", name="First Ltd")
        first = self.gocardless.gocardless_account_id
        mandate = self._mandate()
        self._as_admin(self.gocardless).action_gocardless_disconnect()
        self._connect(email="second@example.com", name="Second Ltd")
        self.assertNotEqual(self.gocardless.gocardless_account_id, first)
        self.assertFalse(mandate.active, "Another account can't charge these mandates.")

        # A pasted token of yet another account, once tested, retires the new mandates too.
        other_mandate = self._mandate("MD000PASTED")
        self.gocardless.gocardless_access_token = self.sandbox_token
        self._as_admin(self.gocardless).action_gocardless_test_connection()
        self.assertFalse(other_mandate.active)

    def test_switching_between_test_and_live_still_archives_the_mandates(self):
        mandate = self._mandate()
        self.gocardless.state = "enabled"
        self.assertFalse(mandate.active, "Sandbox mandates don't exist in live (Odoo's rule).")

    def test_banner_tells_the_current_state_after_a_refusal(self):
        _url, page = self._start_connect()
        self._callback(self._decide(page, decision="deny"))
        self.gocardless.invalidate_recordset()
        self.assertEqual(self.gocardless.gocardless_connect_message_type, "danger")

        self._connect(email="after-refusal@example.com", name="After Ltd")
        self.assertEqual(self.gocardless.gocardless_connect_message_type, "success")
        self.assertIn("After Ltd", self.gocardless.gocardless_connect_message)
        self.assertNotIn("refused", self.gocardless.gocardless_connect_message)

        # A failed test, then a successful one: the banner follows.
        self.gocardless.gocardless_access_token = "revoked_token"
        self.assertFalse(self.gocardless.gocardless_connect_message, "A new token: no old news.")
        self._as_admin(self.gocardless).action_gocardless_test_connection()
        self.assertEqual(self.gocardless.gocardless_connect_message_type, "danger")
        self.gocardless.gocardless_access_token = self.sandbox_token
        action = self._as_admin(self.gocardless).action_gocardless_test_connection()
        self.assertEqual(action["params"]["type"], "success")
        self.assertEqual(self.gocardless.gocardless_connect_message_type, "success")
        self.assertIn("Sandbox Creditor Ltd", self.gocardless.gocardless_connect_message)

    def test_only_the_schemes_of_the_connected_account_are_offered(self):
        self.assertEqual(len(self.gocardless.payment_method_ids), 8)
        self._connect(email="schemes@example.com", name="Schemes Ltd")
        self.assertEqual(self.gocardless.gocardless_schemes, "bacs, sepa_core")
        self.assertEqual(
            set(self.gocardless.payment_method_ids.mapped("code")),
            {"bacs_direct_debit", "sepa_direct_debit"},
        )

    def test_a_creditor_without_known_schemes_leaves_the_methods_alone(self):
        page = {
            "creditors": [
                {
                    "id": "CR000NOSCHEME",
                    "name": "New Ltd",
                    "scheme_identifiers": [{"scheme": "faster_payments"}, "junk", {"scheme": None}],
                }
            ]
        }
        with patch.object(
            self.env.registry["payment.provider"], "_gocardless_make_request", return_value=page
        ):
            self.gocardless._gocardless_refresh_creditor()
        self.assertEqual(self.gocardless.gocardless_schemes, "faster_payments")
        self.assertEqual(len(self.gocardless.payment_method_ids), 8)

    def _disconnect_confirmation(self):
        arch = self.gocardless.get_view(self.env.ref("payment.payment_provider_form").id)["arch"]
        button = etree.fromstring(arch).xpath("//button[@name='action_gocardless_disconnect']")
        return button[0].get("confirm")

    def test_without_a_partner_app_the_form_guides_through_a_pasted_token(self):
        params = self.env["ir.config_parameter"].sudo()
        self.gocardless.invalidate_recordset()
        self.assertTrue(self.gocardless.gocardless_has_partner_app)
        params.set_param(const.PARAM_CLIENT_SECRET, False)
        self.gocardless.invalidate_recordset()
        self.assertFalse(self.gocardless.gocardless_has_partner_app)

        # The local sandbox: its dashboard. GoCardless: the pages of its dashboard that create
        # an access token and a webhook endpoint, sandbox or live as the provider's state.
        self.assertEqual(
            self.gocardless.gocardless_token_help_url, f"{self.sandbox.url}/sandbox/dashboard"
        )
        self.gocardless.gocardless_api_url = False
        self.assertEqual(
            self.gocardless.gocardless_token_help_url,
            "https://manage-sandbox.gocardless.com/developers/access-tokens/create",
        )
        self.assertEqual(
            self.gocardless.gocardless_webhook_help_url,
            "https://manage-sandbox.gocardless.com/developers/webhook-endpoints/create",
        )
        self.gocardless.state = "enabled"
        self.assertEqual(
            self.gocardless.gocardless_token_help_url,
            "https://manage.gocardless.com/developers/access-tokens/create",
        )

        arch = etree.fromstring(
            self.gocardless.get_view(self.env.ref("payment.payment_provider_form").id)["arch"]
        )
        steps = arch.xpath("//div[@name='gocardless_token_steps']")[0]
        self.assertIn("gocardless_has_partner_app", steps.get("invisible"))
        self.assertTrue(steps.xpath(".//field[@name='gocardless_token_help_url']"))
        for name in ("action_gocardless_connect", "action_gocardless_signup"):
            button = arch.xpath(f"//button[@name='{name}']")[0]
            self.assertIn("not gocardless_has_partner_app", button.get("invisible"))

    def test_webhook_url_to_give_gocardless_is_shown(self):
        self.assertEqual(
            self.gocardless.gocardless_webhook_url,
            f"{self.gocardless.get_base_url()}/payment/gocardless/webhook",
        )

    # === SECURITY === #

    def test_only_system_administrators_manage_the_connection(self):
        manager = company_user(
            self.env, "gocardless_account_manager", "account.group_account_manager"
        )
        provider = self.gocardless.with_user(manager).with_company(self.gocardless.company_id)
        for action in (
            provider.action_gocardless_connect,
            provider.action_gocardless_signup,
            provider.action_gocardless_disconnect,
            provider.action_gocardless_test_connection,
            provider.action_gocardless_sync_events,
        ):
            with self.assertRaises(AccessError):
                action()
        for field in (
            "gocardless_oauth_client_secret",
            "gocardless_access_token",
            "gocardless_organisation_id",
        ):
            with self.assertRaises(AccessError):
                provider.read([field])
        with self.assertRaises(AccessError):
            self.env["gocardless.oauth.state"].with_user(manager).search([])

    @mute_logger("odoo.http")
    def test_callback_is_for_system_administrators_only(self):
        new_test_user(
            self.env,
            login="gocardless_invoicing",
            password="gocardless_invoicing",
            groups="account.group_account_manager",
        )
        url, _page = self._start_connect()
        state = parse_qs(urlsplit(url).query)["state"][0]
        self.authenticate("gocardless_invoicing", "gocardless_invoicing")
        callback = self._build_url(GoCardlessOAuthController._oauth_callback_url)
        response = self.opener.get(
            f"{callback}?state={state}&code=x", allow_redirects=False, timeout=30
        )
        self.assertEqual(response.status_code, 403)
        self._assert_unchanged()
