# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Mandates before invoices: a customer is emailed a link to set up a mandate (a mandate-only
billing request, nothing debited), and the mandates already in the GoCardless account are
imported, matched to partners by GoCardless customer id or email."""

import re

from odoo.exceptions import AccessError, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .common import (
    GoCardlessFlowMixin,
    GoCardlessMandateMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
)


@tagged("post_install", "-at_install")
class TestMandateRequest(
    GoCardlessFlowMixin,
    GoCardlessPortalMixin,
    GoCardlessMandateMixin,
    GoCardlessSandboxCommon,
    PaymentHttpCommon,
):
    def test_the_customer_is_emailed_a_link_and_the_mandate_is_saved_without_a_debit(self):
        customer = self.env["res.partner"].create(
            {
                "name": "Mandate First",
                "email": "first@example.com",
                "street": "1 Rue Royale",
                "city": "Bruxelles",
                "zip": "1000",
                "country_id": self.env.ref("base.be").id,
                "is_company": True,
            }
        )
        mark = self.sandbox.request_log_mark()
        action = customer.action_gocardless_request_mandate()
        self.assertEqual(action["params"]["type"], "success")
        message = customer.message_ids.filtered(lambda m: "direct debit mandate" in (m.body or ""))
        self.assertEqual(len(message), 1)
        self.assertIn(customer, message.partner_ids)
        tx = self.env["payment.transaction"].search([("partner_id", "=", customer.id)])
        self.assertEqual(tx.operation, "validation")
        link = re.search(r"href=['\"]([^'\"]+)", message.body).group(1)
        self.assertTrue(link.startswith(self.sandbox.url + "/flow/"), link)
        page = self.opener.get(link, timeout=30)
        self.assertEqual(page.status_code, 200)
        with mute_logger("odoo.addons.payment.models.payment_transaction"):
            answer = self._approve_mandate(page)
        self.assertEqual(answer.status_code, 200)
        self.assertTrue(answer.url.startswith(self._build_url("/payment/status")), answer.url)
        tx.invalidate_recordset()
        self.assertEqual(tx.state, "done")
        token = tx.token_id
        self.assertEqual(token.partner_id, customer)
        self.assertTrue(token.provider_ref.startswith("MD"))
        self.assertTrue(token.gocardless_mandate_reference)
        sent = self.sandbox.request_log(mark)
        self.assertFalse([e for e in sent if e["path"] == "/payments"])
        mandate_request = [e for e in sent if e["path"] == "/billing_requests"]
        self.assertEqual(len(mandate_request), 1)
        # A later invoice can be collected on it.
        invoice = self._create_customer_invoice(amount=40.0, partner=customer)
        self.assertEqual(invoice.gocardless_token_id, token)

    def test_a_request_needs_an_email_a_provider_and_an_invoicing_user(self):
        nameless = self.env["res.partner"].create({"name": "No Email"})
        with self.assertRaisesRegex(UserError, "email address"):
            nameless.action_gocardless_request_mandate()
        user = new_test_user(self.env, login="gc-mandate-employee", groups="base.group_user")
        with self.assertRaises(AccessError):
            self.partner.with_user(user).action_gocardless_request_mandate()
        self.gocardless.state = "disabled"
        with self.assertRaisesRegex(UserError, "no GoCardless provider"):
            self.partner.action_gocardless_request_mandate()


@tagged("post_install", "-at_install")
class TestMandateImport(GoCardlessMandateMixin, GoCardlessSandboxCommon):
    def test_mandate_statuses_are_shown_in_words_in_the_users_language(self):
        tokens = self.env["payment.token"]
        for index, status in enumerate(("active", "pending_submission", "blocked", "dormant")):
            tokens |= self._create_token(
                provider_ref=f"MDLABEL{index}",
                payment_method_id=self.sepa.id,
                gocardless_mandate_status=status,
            )
        self.assertEqual(
            tokens.mapped("gocardless_mandate_status_label"),
            ["Active", "Being set up", "Blocked", "dormant"],
        )
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"]._get("isanet_gocardless")._update_translations("fr_FR")
        french = tokens.with_context(lang="fr_FR")
        self.assertEqual(
            french.mapped("gocardless_mandate_status_label"),
            ["Actif", "En cours de mise en place", "Bloqué", "dormant"],
        )

    def test_existing_mandates_are_imported_by_customer_id_or_email(self):
        by_email = self.env["res.partner"].create(
            {"name": "By Email", "email": "by.email@example.com", "is_company": True}
        )
        by_id = self.env["res.partner"].create(
            {"name": "By Id", "email": "by.id@example.com", "is_company": True}
        )
        ghost = self.env["res.partner"].create({"name": "Ghost", "email": "ghost@example.com"})
        known_token, _known = self._sandbox_mandate_token(self.partner)
        email_mandate = self._sandbox_mandate(by_email)
        id_mandate = self._sandbox_mandate(by_id)
        by_id.with_company(self.gocardless.company_id).gocardless_customer_id = id_mandate["links"][
            "customer"
        ]
        by_id.email = "changed@example.com"
        self._sandbox_mandate(ghost)
        ghost.email = "gone@example.com"
        ended = self._sandbox_mandate(self.partner)
        client = self.gocardless._gocardless_make_client()
        client.mandates.cancel(ended["id"])
        with mute_logger("odoo.addons.isanet_gocardless.models.payment_provider"):
            action = self.gocardless.action_gocardless_import_mandates()
        self.assertIn(
            "2 mandate(s) imported, 1 already known, 1 without", action["params"]["message"]
        )
        self.assertIn("1 ended", action["params"]["message"])
        Token = self.env["payment.token"]
        email_token = Token.search([("provider_ref", "=", email_mandate["id"])])
        self.assertEqual(email_token.partner_id, by_email)
        self.assertEqual(email_token.gocardless_mandate_reference, email_mandate["reference"])
        self.assertIn("34", email_token.payment_details)
        self.assertEqual(
            by_email.with_company(self.gocardless.company_id).gocardless_customer_id,
            email_mandate["links"]["customer"],
        )
        self.assertEqual(Token.search([("provider_ref", "=", id_mandate["id"])]).partner_id, by_id)
        self.assertFalse(Token.search([("provider_ref", "=", ended["id"])]))
        # Importing again imports nothing twice.
        action = self.gocardless.action_gocardless_import_mandates()
        self.assertIn("0 mandate(s) imported, 3 already known", action["params"]["message"])
        self.assertEqual(Token.search_count([("provider_ref", "=", email_mandate["id"])]), 1)
        self.assertTrue(known_token.active)

    def test_a_mandate_is_attached_only_to_the_one_customer_it_matches(self):
        self._use_own_sandbox()  # the class's sandbox holds the other tests' mandates
        Partner = self.env["res.partner"]
        first = Partner.create(
            {"name": "Shared One", "email": "shared@example.com", "is_company": True}
        )
        second = Partner.create(
            {"name": "Shared Two", "email": "Shared@example.com", "is_company": True}
        )
        # A company and its contact with one email: one customer.
        holder = Partner.create(
            {"name": "Holder SA", "email": "holder@example.com", "is_company": True}
        )
        Partner.create({"name": "Ada", "email": "holder@example.com", "parent_id": holder.id})
        ambiguous = self._sandbox_mandate(first)
        unique = self._sandbox_mandate(holder)
        # A customer id known on a partner wins over an email shared by others.
        by_id = self._sandbox_mandate(second)
        known = Partner.create({"name": "Known Customer", "email": "known@example.com"})
        known.with_company(self.gocardless.company_id).gocardless_customer_id = by_id["links"][
            "customer"
        ]
        with mute_logger("odoo.addons.isanet_gocardless.models.payment_provider"):
            action = self.gocardless.action_gocardless_import_mandates()
        Token = self.env["payment.token"].with_context(active_test=False)
        self.assertFalse(Token.search([("provider_ref", "=", ambiguous["id"])]))
        self.assertEqual(
            (first | second)
            .with_company(self.gocardless.company_id)
            .mapped("gocardless_customer_id"),
            [False, False],
        )
        message = action["params"]["message"]
        self.assertIn("2 mandate(s) imported", message)
        self.assertIn("1 mandate(s) not attached: several customers match them", message)
        self.assertIn(ambiguous["id"], message)
        self.assertIn("Shared One, Shared Two", message)
        self.assertEqual(action["params"]["type"], "warning")
        self.assertTrue(action["params"]["sticky"])
        self.assertIn(ambiguous["id"], "\n".join(self.gocardless.message_ids.mapped("body")))
        self.assertEqual(Token.search([("provider_ref", "=", unique["id"])]).partner_id, holder)
        self.assertEqual(Token.search([("provider_ref", "=", by_id["id"])]).partner_id, known)

    def test_only_administrators_import(self):
        user = new_test_user(
            self.env, login="gc-import-user", groups="account.group_account_invoice"
        )
        with self.assertRaises(AccessError):
            self.gocardless.with_user(user).action_gocardless_import_mandates()
