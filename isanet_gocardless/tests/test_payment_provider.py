from odoo.exceptions import AccessError, ValidationError
from odoo.modules.neutralize import get_neutralization_queries
from odoo.tests import tagged

from .. import const
from ..gocardless_core import client as gc_client
from ..gocardless_core import schemes
from ..hooks import uninstall_hook
from .common import GoCardlessCommon


@tagged("post_install", "-at_install")
class TestPaymentProvider(GoCardlessCommon):
    def test_provider_record_is_declared_with_its_module(self):
        provider = self.env.ref("isanet_gocardless.payment_provider_gocardless")
        self.assertEqual(provider.code, "gocardless")
        self.assertEqual(provider.module_id.name, "isanet_gocardless")
        self.assertEqual(provider.module_state, "installed")
        self.assertTrue(provider.allow_tokenization)
        self.assertEqual(provider.redirect_form_view_id.key, "isanet_gocardless.redirect_form")

    def test_provider_links_a_payment_method_per_scheme(self):
        provider = self.env.ref("isanet_gocardless.payment_provider_gocardless")
        self.assertEqual(
            set(provider.with_context(active_test=False).payment_method_ids.mapped("code")),
            {schemes.payment_method_code(scheme) for scheme in schemes.SCHEMES},
        )

    def test_provider_supports_gocardless_currencies_only(self):
        provider = self.env.ref("isanet_gocardless.payment_provider_gocardless")
        self.assertEqual(
            set(provider.available_currency_ids.mapped("name")), set(const.SUPPORTED_CURRENCIES)
        )
        self.assertEqual(
            set(provider._get_supported_currencies().mapped("name")),
            {"AUD", "CAD", "DKK", "EUR", "GBP", "NZD", "SEK", "USD"},
        )

    def test_feature_support(self):
        self.assertTrue(self.provider.support_tokenization)
        # The mandate is always saved: no "save my payment details" question.
        self.assertTrue(self.provider._is_tokenization_required())
        self.assertFalse(self.env["payment.provider"]._is_tokenization_required())
        self.assertEqual(self.provider.support_refund, "partial")
        self.assertFalse(self.provider._should_build_inline_form())

    def test_own_methods_follow_the_core_scheme_rules(self):
        expected = {
            "pre_authorized_debit": ("CAD", {"CA"}),
            "autogiro": ("SEK", {"SE"}),
            "betalingsservice": ("DKK", {"DK"}),
            "becs_nz": ("NZD", {"NZ"}),
        }
        methods = (
            self.env["payment.method"]
            .with_context(active_test=False)
            .search([("code", "in", list(expected))])
        )
        self.assertEqual(set(methods.mapped("code")), set(expected))
        for method in methods:
            currency, countries = expected[method.code]
            self.assertEqual(method.supported_currency_ids.mapped("name"), [currency])
            self.assertEqual(set(method.supported_country_ids.mapped("code")), countries)
            self.assertEqual(currency, schemes.currency_for_payment_method(method.code))
            self.assertTrue(method.support_tokenization)
            self.assertEqual(method.support_refund, "partial")

    def test_odoo_direct_debit_methods_are_linked_not_modified(self):
        sepa = self.env.ref("payment.payment_method_sepa_direct_debit")
        self.assertIn(
            self.env.ref("isanet_gocardless.payment_provider_gocardless"), sepa.provider_ids
        )
        self.assertEqual(sepa.supported_currency_ids.mapped("name"), ["EUR"])

    def test_default_payment_methods(self):
        self.assertEqual(
            self.provider._get_default_payment_method_codes(), const.DEFAULT_PAYMENT_METHOD_CODES
        )

    def test_api_url_follows_the_state_unless_set(self):
        self.provider.state = "test"
        self.assertEqual(self.provider._gocardless_get_api_url(), gc_client.SANDBOX_URL)
        self.provider.state = "enabled"
        self.assertEqual(self.provider._gocardless_get_api_url(), gc_client.LIVE_URL)
        self.provider.gocardless_api_url = "http://127.0.0.1:8765/"
        self.assertEqual(self.provider._gocardless_get_api_url(), "http://127.0.0.1:8765")

    def test_api_url_must_be_http(self):
        with self.assertRaises(ValidationError):
            self.provider.gocardless_api_url = "ftp://example.com"

    def test_client_needs_an_access_token(self):
        self.provider.state = "disabled"
        self.provider.gocardless_access_token = False
        with self.assertRaises(ValidationError):
            self.provider._gocardless_make_client()

    def test_client_targets_the_provider_api_url(self):
        self.provider.gocardless_api_url = "http://127.0.0.1:8765"
        client = self.provider._gocardless_make_client()
        self.assertEqual(client._api_client.base_url, "http://127.0.0.1:8765")

    def test_non_system_user_cannot_read_credentials(self):
        accountant = self.env["res.users"].create(
            {
                "name": "Accountant",
                "login": "gc_accountant",
                "groups_id": [(6, 0, [self.env.ref("account.group_account_manager").id])],
            }
        )
        provider = self.provider.with_user(accountant)
        for field in ("gocardless_access_token", "gocardless_webhook_secret"):
            with self.assertRaises(AccessError):
                provider.read([field])
            self.assertNotIn(field, provider.fields_get())
        self.assertEqual(
            self.provider.with_user(self.admin_user).gocardless_access_token,
            "sandbox_test_token",
        )

    def test_uninstall_hook_resets_the_provider(self):
        # Odoo refuses to uninstall a provider whose payments exist (the demo data has some).
        payments = self.env["account.payment"].search([("payment_method_code", "=", "gocardless")])
        payments.action_draft()
        payments.unlink()
        uninstall_hook(self.env)
        self.assertEqual(self.provider.code, "none")
        self.assertEqual(self.provider.state, "disabled")
        self.assertFalse(self.provider.redirect_form_view_id)

    def test_neutralize_blanks_the_credentials(self):
        self.provider.gocardless_organisation_id = "OR123"
        self.env["ir.config_parameter"].set_param(
            "isanet_gocardless.oauth_client_secret", "partner-app-secret"
        )
        queries = list(get_neutralization_queries(["isanet_gocardless"]))
        self.assertTrue(queries)
        for query in queries:
            self.env.cr.execute(query)
        self.env.invalidate_all()
        self.assertFalse(self.provider.gocardless_access_token)
        self.assertFalse(self.provider.gocardless_webhook_secret)
        self.assertFalse(self.provider.gocardless_organisation_id)
        self.assertFalse(
            self.env["ir.config_parameter"].get_param("isanet_gocardless.oauth_client_secret")
        )

    def test_french_translations_load_and_apply(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"]._load_module_terms(["isanet_gocardless"], ["fr_FR"])
        provider = self.provider.with_context(lang="fr_FR")
        provider.state = "disabled"
        provider.gocardless_access_token = False
        with self.assertRaisesRegex(ValidationError, "aucun jeton d'accès"):
            provider._gocardless_make_client()
        self.assertEqual(
            provider.fields_get(["gocardless_webhook_secret"])["gocardless_webhook_secret"][
                "string"
            ],
            "Secret du webhook GoCardless",
        )
