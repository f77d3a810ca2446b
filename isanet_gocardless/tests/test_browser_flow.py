"""A real Chromium run: an invoice paid from its portal page through GoCardless's hosted page.

Odoo JS tours cannot drive the (local) GoCardless payer page, which is another origin with no
tour runtime, so the browser is driven from Python over the DevTools protocol with Odoo's own
`ChromeBrowser`. Each step is asserted (URL, elements, transaction and invoice states) and
photographed: the screenshots are kept as test artefacts (``--screenshots`` directory) and,
when ``GOCARDLESS_README_SCREENSHOTS=1`` is set, written to ``docs/screenshots/`` (English) and
``docs/screenshots/fr/`` (the same walkthrough in French) for the README (they differ at every
run, so a normal test run leaves the repository alone).
"""

import base64
import contextlib
import io
import json
import os
import time
import unittest
from pathlib import Path

from odoo import Command, fields, http
from odoo.tests import common as odoo_test_common
from odoo.tests import tagged
from odoo.tools import mute_logger
from odoo.tools.misc import format_date

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .common import (
    GoCardlessFlowMixin,
    GoCardlessPayoutMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
README_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
MAX_PNG_BYTES = 300_000

# The payer of the browser run (French SEPA details, as the hosted page asks for them).
PAYER = {
    "given_name": "Camille",
    "family_name": "Martin",
    "email": "camille.martin@example.com",
    "address_line1": "12 rue de la Paix",
    "city": "Paris",
    "postal_code": "75002",
    "country_code": "FR",
    "iban": "FR1420041010050500013M02606",
}

# What each language's walkthrough shows and where its README images go.
WALKTHROUGH_LANGUAGES = {
    "en_US": {
        "screenshots": README_SCREENSHOTS,
        "accept_language": "en-US,en",
        "path": "",  # the prefix of the customer's pages (Odoo's language in the URL)
        "card": "Card",
        "offer": "Direct Debit",
        "scheduled": "scheduled",
        "amount": "250.00",
        "received": "Direct debit received",
        "reversed": "Direct debit reversed after it was collected",
        "paid": "paid",
        "payout_amount": "247.30",
        "labels": ("Website maintenance (May)", "Support plan (June)", "Hosting (July)"),
        "debit_scheduled": "Scheduled",
        "mandate_statuses": ("Active", "Being set up"),
    },
    "fr_FR": {
        "screenshots": README_SCREENSHOTS / "fr",
        "accept_language": "fr-FR,fr",
        "path": "/fr",
        "card": "Carte",
        "offer": "Proposer le prélèvement",
        "scheduled": "programmé",
        "amount": "250,00",
        "received": "Prélèvement reçu",
        "reversed": "Prélèvement annulé après encaissement",
        "paid": "payé",
        "payout_amount": "247,30",
        "labels": (
            "Maintenance du site (mai)",
            "Contrat d'assistance (juin)",
            "Hébergement (juillet)",
        ),
        "debit_scheduled": "Programmé",
        "mandate_statuses": ("Actif", "En cours de mise en place"),
    },
}

# Logged by Odoo's payment module while a transaction moves on; not a problem here.
PAYMENT_TX_LOGGER = "odoo.addons.payment.models.payment_transaction"


@tagged("post_install", "-at_install")
class TestBrowserFlow(
    GoCardlessPayoutMixin,
    GoCardlessFlowMixin,
    GoCardlessPortalMixin,
    GoCardlessSandboxCommon,
    PaymentHttpCommon,
):
    """Configure, offer, pay from the portal, collect, then a failed debit, then the payout:
    in Chromium. Each test has a sandbox of its own (`GoCardlessPayoutMixin`): the payout of
    one language's walkthrough never carries the other's debits."""

    browser_size = "1280x800"
    walkthrough_lang = "en_US"
    # The viewport of the portal and hosted pages; the backend is shown at 1600x1000 CSS pixels
    # (so that the chatter sits beside the form) and captured at 0.8 scale: all PNGs 1280x800.
    viewport = (1280, 800)
    backend_viewport = (1600, 1000)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env.company.name = "Isanet Demo"
        # The administrator works in the test company (the backend screenshots are theirs).
        cls.admin_user.write(
            {"company_ids": [Command.link(cls.env.company.id)], "company_id": cls.env.company.id}
        )
        # A card provider beside GoCardless on the payment form (Odoo's dummy provider).
        cards = cls.env.company._gocardless_demo_card_methods()
        cls.dummy_provider.write({"name": "Card", "payment_method_ids": [Command.set(cards.ids)]})
        cards.write({"active": True})
        cls.payer = cls.env["res.partner"].create(
            {
                "name": "Camille Martin",
                "email": PAYER["email"],
                "street": PAYER["address_line1"],
                "city": PAYER["city"],
                "zip": PAYER["postal_code"],
                "country_id": cls.country_france.id,
                "lang": "en_US",
            }
        )

    # === BROWSER HELPERS === #

    def _start_chromium(self):
        """Start Chromium through Odoo's `ChromeBrowser`; fail (never skip) when it cannot."""
        if odoo_test_common.websocket is None:
            self.fail("websocket-client is not installed: Odoo cannot drive Chromium.")
        try:
            browser = odoo_test_common.ChromeBrowser(self)
        except unittest.SkipTest as error:
            self.fail(f"Chromium could not be started: {error}")
        self.addCleanup(self._wait_remaining_requests)
        self.addCleanup(browser.stop)
        self.browser = browser
        self._paused_requests = []
        browser._handlers["Fetch.requestPaused"] = self._on_request_paused
        # No service worker: the backend's would fetch /web/service-worker.js at any time, even
        # after the page is left, while this thread uses the cursor the requests share.
        self._cdp(
            "Page.addScriptToEvaluateOnNewDocument",
            source="delete Navigator.prototype.serviceWorker;",
        )
        self._set_viewport(*self.viewport)
        return browser

    def _on_request_paused(self, requestId, **_kwargs):
        # Called by the browser's websocket consumer thread: only record it.
        self._paused_requests.append(requestId)

    def _cdp(self, method, timeout=20.0, **params):
        return self.browser._websocket_request(method, params=params, timeout=timeout)

    def _set_viewport(self, width, height):
        self._cdp(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _js(self, expression):
        """Evaluate ``expression`` in the page (promises awaited) and return its JSON value."""
        answer = self._cdp(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in answer:
            self.fail(f"{expression!r} raised in the page: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def _wait_for(self, expression, what, timeout=30.0):
        """Poll ``expression`` until it is truthy and return it; fail after ``timeout`` seconds."""
        guarded = f"(() => {{ try {{ return {expression}; }} catch (e) {{ return null; }} }})()"

        def evaluate():
            try:
                return self._js(guarded)
            except odoo_test_common.ChromeBrowserException:
                return None  # the page navigated while evaluating: try again

        return self._wait_until(evaluate, what, timeout=timeout)

    def _wait_until(self, predicate, what, timeout=30.0):
        """Call ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            self._assert_no_browser_error()
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                href = self._current_url()
                self._save_artefact(self._capture(), "failed_wait_")
                self.fail(f"Waited {timeout:.0f}s for {what}; the browser is at {href}")
            time.sleep(0.1)

    def _current_url(self):
        with contextlib.suppress(Exception):
            return self._js("location.href")
        return "?"

    @staticmethod
    def _visible(selector):
        """JS expression: the first element matching ``selector`` that is rendered."""
        return (
            f"[...document.querySelectorAll({json.dumps(selector)})]"
            f".find(el => el.getClientRects().length > 0)"
        )

    def _wait_for_element(self, selector, what=None, timeout=30.0):
        return self._wait_for(
            f"!!{self._visible(selector)}",
            what or f"a visible {selector}",
            timeout=timeout,
        )

    def _wait_for_url(self, prefix, timeout=30.0):
        return self._wait_for(
            f"document.readyState === 'complete' && location.href.startsWith("
            f"{json.dumps(prefix)}) && location.href",
            f"a loaded page at {prefix}",
            timeout=timeout,
        )

    def _navigate(self, url):
        if url.startswith("/"):
            url = self.base_url() + url
        answer = self._cdp("Page.navigate", url=url)
        self.assertFalse(answer.get("errorText"), f"{url}: {answer}")
        self._wait_for_url(url.split("#")[0])

    def _click(self, selector):
        clicked = self._js(
            f"(el => {{ if (!el) return false; el.scrollIntoView({{block: 'center'}}); "
            f"el.click(); return true; }})({self._visible(selector)})"
        )
        self.assertTrue(clicked, f"nothing to click at {selector} on {self._current_url()}")

    def _text(self, selector="body"):
        return self._js(
            f"(el => el ? el.innerText : '')(document.querySelector({json.dumps(selector)}))"
        )

    def _assert_no_browser_error(self):
        """Odoo's browser records console errors and uncaught exceptions of the pages."""
        result = self.browser._result
        if result.done() and not result.cancelled() and result.exception():
            self.fail(f"The page reported an error: {result.exception()}")

    def _capture(self, backend=False, full_page=False):
        params = {"format": "png"}
        if full_page:
            size = self._cdp("Page.getLayoutMetrics")["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": self.viewport[0],
                "height": max(size["height"], self.viewport[1]),
                "scale": 1,
            }
        elif backend:
            width, height = self.backend_viewport
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": width,
                "height": height,
                "scale": self.viewport[0] / width,
            }
        return base64.b64decode(self._cdp("Page.captureScreenshot", **params)["data"])

    def _save_artefact(self, png, prefix):
        odoo_test_common.save_test_file(type(self).__name__, png, prefix, logger=self._logger)

    def _screenshot(self, name, backend=False, full_page=False):
        """Capture the page as ``name``.png: a test artefact, and a README image if asked."""
        # Let fonts, images and CSS transitions settle (the waits above already saw the DOM).
        self._js(
            "document.fonts.ready.then(() => new Promise(r => requestAnimationFrame("
            "() => requestAnimationFrame(() => setTimeout(r, 150)))))"
        )
        self._assert_no_browser_error()
        self.assertFalse(
            self._js(f"!!{self._visible('.o_error_dialog, .o_dialog_error')}"),
            f"an error dialog is open: {self._text('.o_error_dialog')}",
        )
        png = self._shrink_png(self._capture(backend=backend, full_page=full_page))
        self.assertLess(len(png), MAX_PNG_BYTES, f"{name}.png is too heavy")
        self._save_artefact(png, f"{self.walkthrough_lang}_{name.replace('-', '_')}_")
        if os.environ.get("GOCARDLESS_README_SCREENSHOTS") == "1":
            folder = WALKTHROUGH_LANGUAGES[self.walkthrough_lang]["screenshots"]
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{name}.png").write_bytes(png)
        return png

    @staticmethod
    def _shrink_png(png):
        """Return the PNG optimised, quantised to a palette if it is still heavy."""
        try:
            from PIL import Image  # noqa: PLC0415 - Pillow is an Odoo dependency
        except ImportError:
            return png
        image = Image.open(io.BytesIO(png)).convert("RGB")
        out = io.BytesIO()
        image.save(out, format="PNG", optimize=True)
        if out.tell() > 200_000:
            out = io.BytesIO()
            image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(
                out, format="PNG", optimize=True
            )
        return out.getvalue()

    @contextlib.contextmanager
    def _db(self):
        """Use the test cursor while no request of the browser does (they share it)."""
        with self.registry.test_lock:
            self.env.invalidate_all()
            yield
            self.env.flush_all()

    def _idle_browser(self):
        """Leave the page and let its last requests end: the test may use the cursor freely.

        A request the page sent just before it was left (the chatter's, say) can reach the
        server after a first look finds none running: a second look, a moment later.
        """
        self._navigate("about:blank")
        for _look in range(2):
            self._wait_remaining_requests()
            time.sleep(0.5)
        self._wait_remaining_requests()

    def _login_browser(self, login):
        """Give the browser a session of ``login`` (None: an anonymous visitor)."""
        with self._db():
            self.authenticate(login, login, browser=self.browser)
            if login is None:
                # A visitor's new session speaks the language their browser asks for.
                self.session.context["lang"] = self.walkthrough_lang
                http.root.session_store.save(self.session)

    # === DATA HELPERS === #

    def _create_invoice(self, partner, amount, label):
        invoice = self.env["account.move"].create(
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "currency_id": self.currency_euro.id,
                "invoice_date": fields.Date.today(),
                "invoice_user_id": self.admin_user.id,
                "invoice_line_ids": [
                    Command.create(
                        {"name": label, "quantity": 1, "price_unit": amount, "tax_ids": []}
                    )
                ],
            }
        )
        invoice.action_post()
        return invoice

    def _invoice_transaction(self, invoice):
        return (
            self.env["payment.transaction"]
            .sudo()
            .search([("invoice_ids", "in", invoice.ids)], order="id desc", limit=1)
        )

    def _open_backend_invoice(self, invoice):
        with self._db():
            name = invoice.name
        self._set_viewport(*self.backend_viewport)
        self._navigate(f"/odoo/action-account.action_move_out_invoice_type/{invoice.id}")
        self._wait_for_element(
            ".o_form_view .o_form_sheet .o_field_widget[name='name']", "the invoice form"
        )
        self._wait_for(
            f"document.querySelector('.o_form_view .o_field_widget[name=\"name\"]')"
            f".innerText.includes({json.dumps(name)})",
            f"the form of {name}",
        )

    def _wait_for_chatter_message(self, text):
        return self._wait_for(
            f"[...document.querySelectorAll('.o-mail-Chatter .o-mail-Message-body')]"
            f".some(el => el.innerText.includes({json.dumps(text)}))",
            f"the chatter message {text!r}",
        )

    def _ribbon_text(self):
        return self._js(
            "[...document.querySelectorAll('.o_form_view .ribbon')]"
            ".filter(el => el.getClientRects().length).map(el => el.innerText.trim()).join('|')"
        )

    # === THE WALKTHROUGH === #

    def test_pay_invoice_from_portal_in_chromium(self):
        self._walkthrough("en_US")

    def test_pay_invoice_from_portal_in_chromium_in_french(self):
        """The same walkthrough in French: merchant, customer and GoCardless's page."""
        self.env["res.lang"]._activate_lang("fr_FR")
        self.env["ir.module.module"].search([("state", "=", "installed")])._update_translations(
            "fr_FR"
        )
        self.admin_user.lang = "fr_FR"
        self.env.company.partner_id.lang = "fr_FR"  # the company's notices
        (self.payer | self.partner).write({"lang": "fr_FR"})
        self.dummy_provider.with_context(lang="fr_FR").name = "Carte bancaire"
        # The provider's messages to customers, as the French demo gives them.
        self.env.company._gocardless_demo_translate_provider()
        self._walkthrough("fr_FR")

    def _walkthrough(self, lang):
        """Configure, offer, pay, collect, fail, in ``lang``; each screen checked and captured."""
        self.walkthrough_lang = lang
        texts = WALKTHROUGH_LANGUAGES[lang]
        started = time.monotonic()
        # A language's first backend page is slow to render (its templates are compiled then):
        # rendered once here, not while Chromium holds a connection it opened ahead, which the
        # test server would time out.
        self.authenticate("admin", "admin")
        warm_up = self.url_open(
            f"/odoo/action-payment.action_payment_provider/{self.gocardless.id}", timeout=60
        )
        self.assertEqual(warm_up.status_code, 200)
        self._start_chromium()
        # The customer's browser asks for its language (Odoo serves anonymous visitors in it).
        user_agent = self._cdp("Browser.getVersion")["userAgent"]
        self._cdp(
            "Network.setUserAgentOverride",
            userAgent=user_agent,
            acceptLanguage=texts["accept_language"],
        )
        invoice = self._create_invoice(self.payer, 250.0, texts["labels"][0])
        self.assertTrue(invoice.gocardless_offered)

        # 0. Backend: the GoCardless provider, its credentials and the sandbox's API URL.
        self._login_browser("admin")
        self._set_viewport(*self.backend_viewport)
        self._navigate(f"/odoo/action-payment.action_payment_provider/{self.gocardless.id}")
        self._wait_for_element(
            ".o_form_view .o_field_widget[name='gocardless_access_token']", "the credentials"
        )
        api_url = self._js(
            "document.querySelector(\".o_field_widget[name='gocardless_api_url'] input\").value"
        )
        self.assertEqual(api_url, self.sandbox.url)
        self._screenshot("provider-config", backend=True)

        # 1. Backend: the posted invoice offers direct debit (toggle in "Other Info").
        self._open_backend_invoice(invoice)
        self._click(".o_notebook_headers a[name='other_info']")
        toggle = ".o_field_widget[name='gocardless_offered']"
        self._wait_for_element(toggle, "the Offer Direct Debit toggle")
        self.assertTrue(self._js(f'document.querySelector("{toggle} input").checked'))
        self._js(f"document.querySelector(\"{toggle}\").scrollIntoView({{block: 'center'}})")
        self.assertIn(texts["offer"], self._text(".o_notebook .tab-content"))
        self._screenshot("invoice-toggle", backend=True)

        # 2. Portal, as the customer with the invoice's link: Pay Now lists GoCardless and Card.
        self._login_browser(None)
        self._set_viewport(*self.viewport)
        with self._db():
            portal_url = texts["path"] + invoice.get_portal_url()
        self._navigate(portal_url)
        pay_now = "a[data-bs-target='#pay_with']"
        self._wait_for_element(pay_now, "the Pay Now button")
        self._js(
            "window.__payModalShown = false; document.getElementById('pay_with')"
            ".addEventListener('shown.bs.modal', () => { window.__payModalShown = true; })"
        )
        self._click(pay_now)
        self._wait_for("window.__payModalShown", "the payment modal")
        gocardless_radio = (
            "#pay_with input[name='o_payment_radio'][data-provider-code='gocardless']"
        )
        card_radio = "#pay_with input[name='o_payment_radio'][data-provider-code='none']"
        self._wait_for_element(gocardless_radio, "GoCardless in the payment modal")
        self._wait_for_element(card_radio, "the card provider in the payment modal")
        self._click(gocardless_radio)
        self._wait_for(f'document.querySelector("{gocardless_radio}").checked', "GoCardless chosen")
        submit = "#pay_with button[name='o_payment_submit_button']"
        self._wait_for(f'!document.querySelector("{submit}").disabled', "an enabled Pay button")
        codes = self._js(
            "[...document.querySelectorAll(\"#pay_with input[name='o_payment_radio']\")]"
            ".map(el => el.dataset.providerCode)"
        )
        self.assertEqual(sorted(codes), ["gocardless", "none"])
        self.assertIn(texts["card"], self._text("#pay_with"))
        self._screenshot("portal-payment-choice")

        # 3. Pay: the browser lands on GoCardless's hosted page; the customer fills it in.
        self._click(submit)
        self._wait_for_url(f"{self.sandbox.url}/flow/BRF", timeout=45)
        self._wait_for_element("#payer-form", "the hosted payer form")
        self.assertTrue(self._text("#creditor-name").strip())
        for field, value in PAYER.items():
            filled = self._js(
                f"(el => {{ if (!el) return false; el.value = {json.dumps(value)}; "
                f"el.dispatchEvent(new Event('input', {{bubbles: true}})); return el.value; }})"
                f"(document.getElementById({json.dumps(field)}))"
            )
            self.assertEqual(filled, value, f"hosted page field {field}")
        self._js("window.scrollTo(0, 0)")
        self._screenshot("hosted-page", full_page=True)

        # 4. Confirm: back on Odoo's status page, which tells when the debit is collected. Its
        # poll (which sends the customer on to the invoice) is held until the screenshot.
        self._cdp(
            "Fetch.enable",
            patterns=[{"urlPattern": "*/payment/status/poll*", "requestStage": "Request"}],
        )
        with mute_logger(PAYMENT_TX_LOGGER):
            self._click("#confirm")
            self._wait_for_url(self._build_url(f"{texts['path']}/payment/status"), timeout=45)
            self._wait_for_element(".o_gocardless_charge_date", "the scheduled debit message")
            # The page's script started: its first poll is held.
            self._wait_until(lambda: self._paused_requests, "the status page's poll", timeout=15)
        with self._db():
            tx = self._invoice_transaction(invoice)
            self.assertEqual(tx.provider_code, "gocardless")
            self.assertEqual(tx.state, "pending")
            self.assertTrue(tx.provider_reference.startswith("PM"))
            self.assertTrue(tx.token_id.provider_ref.startswith("MD"))
            self.assertTrue(tx.gocardless_charge_date)
            charge_date = format_date(self.env, tx.gocardless_charge_date, lang_code=lang)
            self.assertEqual(invoice.payment_state, "not_paid")
        status_text = self._text(".o_gocardless_charge_date")
        self.assertIn(texts["scheduled"], status_text)
        self.assertIn(charge_date, status_text)
        self.assertIn(texts["amount"], status_text)
        self._screenshot("status-page")
        for request_id in self._paused_requests:
            self._cdp("Fetch.continueRequest", requestId=request_id)
        self._cdp("Fetch.disable")
        # GoCardless's pending state is final for the status page: on to the invoice.
        with mute_logger(PAYMENT_TX_LOGGER):
            self._wait_for_url(self._build_url(f"{texts['path']}/my/invoices/{invoice.id}"))
        self._wait_for_element(".o_gocardless_charge_date", "the scheduled debit on the invoice")
        self.assertIn(charge_date, self._text(".o_gocardless_charge_date"))
        self.assertFalse(self._js(f"!!{self._visible(pay_now)}"), "Pay Now is still offered")
        self._idle_browser()

        # 5. GoCardless collects the payment; its signed webhooks reach Odoo: invoice paid.
        with self._db():
            payment_id = tx.provider_reference
        self._simulate("payment_confirmed", payment_id)
        self._simulate("payment_paid_out", payment_id)
        with mute_logger(PAYMENT_TX_LOGGER):
            deliveries = self._deliver_webhooks()
        self.assertTrue(deliveries)
        self.assertEqual({hook["response_code"] for hook in deliveries}, {204})
        with self._db():
            self.assertEqual(tx.state, "done")
            self.assertEqual(invoice.payment_state, "paid")
        self._login_browser("admin")
        self._open_backend_invoice(invoice)
        self._wait_for_chatter_message(texts["received"])
        self.assertEqual(self._ribbon_text().lower(), texts["paid"])
        self._screenshot("invoice-paid", backend=True)
        self._idle_browser()

        # 6. Another customer's debit is reversed after it was collected: invoice open again.
        # (Paid over HTTP like the other end-to-end tests: the browser part is shown above.)
        with self._db():
            other = self._create_invoice(self.partner, 80.0, texts["labels"][1])
        self.authenticate(None, None)
        other_tx, _response = self._pay_by_redirect(other)
        with self._db():
            payment_id = other_tx.provider_reference
        self._simulate("payment_confirmed", payment_id)
        with mute_logger(PAYMENT_TX_LOGGER):
            self._deliver_webhooks()
        with self._db():
            self.assertEqual(other.payment_state, "paid")
        self._simulate("payment_late_failure", payment_id)
        with mute_logger(PAYMENT_TX_LOGGER):
            deliveries = self._deliver_webhooks()
        self.assertEqual({hook["response_code"] for hook in deliveries}, {204})
        with self._db():
            self.assertEqual(other_tx.state, "cancel")
            self.assertEqual(other.payment_state, "not_paid")
            self.assertTrue(other._has_to_be_paid())
        self._login_browser("admin")
        self._open_backend_invoice(other)
        self._wait_for_chatter_message(texts["reversed"])
        self.assertEqual(self._ribbon_text(), "")
        self._screenshot("invoice-failed", backend=True)
        self._idle_browser()

        self._walkthrough_payout(tx, texts)
        self._walkthrough_cash_proof()
        # 9-10. The customer's saved mandate at work: a scheduled debit, the mandates.
        self._walkthrough_scheduled_debit(lang, tx.token_id)
        self._walkthrough_mandate_lists(lang, tx.token_id)
        self._logger.info("browser walkthrough done in %.1fs", time.monotonic() - started)

    def _walkthrough_payout(self, tx, texts):
        """GoCardless pays the paid invoice's debit out: the payout booked, shown in its form."""
        # 8. The payout carrying the first invoice's payment is paid: its webhook reaches Odoo,
        # which reads it and its items and books its entry (fees and their VAT apart).
        with self._db():
            payment_id = tx.provider_reference
        payout_id = self._sandbox_client().payments.get(payment_id).links.payout
        self.assertTrue(payout_id)
        with mute_logger(PAYMENT_TX_LOGGER):
            self._pay_payouts()
        with self._db():
            payout = self._payout(payout_id)
            self.assertEqual(payout.state, "booked", payout.message)
            self.assertEqual(payout.transaction_ids, tx)
            # 250.00 less the fee 1 % + 0.20 = 2.70, of which 0.45 is VAT.
            self.assertAlmostEqual(payout.amount, 247.30)
            self.assertAlmostEqual(payout.fee_amount, 2.25)
            self.assertAlmostEqual(payout.fee_tax_amount, 0.45)
            self.assertEqual(payout.move_id.state, "posted")
            entry_name = payout.move_id.name
        self._login_browser("admin")
        self._set_viewport(*self.backend_viewport)
        self._navigate(f"/odoo/action-isanet_gocardless.action_gocardless_payout/{payout.id}")
        self._wait_for_element(".o_form_view .o_field_widget[name='amount']", "the payout form")
        self._wait_for(
            "document.querySelectorAll(\".o_field_widget[name='item_ids'] .o_data_row\")"
            ".length === 2",
            "the payout's two items",
        )
        self.assertIn(texts["payout_amount"], self._text(".o_field_widget[name='amount']"))
        self.assertIn(entry_name, self._text(".o_field_widget[name='move_id']"))
        self._screenshot("payout", backend=True)

    def _walkthrough_cash_proof(self):
        """8b. The month's cash proof: GoCardless's payments and payouts, the transactions and
        entries, the clearing account and the bank lines, compared; the proof's form."""
        with self._db():
            today = fields.Date.context_today(self.gocardless)
            proof = self.env["gocardless.cash.proof"]._gocardless_prove(
                self.gocardless.sudo(), today.replace(day=1), today
            )
            self.assertIn(proof.state, ("balanced", "drifts"), proof.message)
            self.assertTrue(proof.payment_count)
            self.assertTrue(proof.payout_count)
            # Read now: the browser's requests share the test's cursor from here on.
            proof_id, payment_count = proof.id, proof.payment_count
        self._login_browser("admin")
        self._set_viewport(*self.backend_viewport)
        self._navigate(f"/odoo/action-isanet_gocardless.action_gocardless_cash_proof/{proof_id}")
        self._wait_for_element(
            ".o_form_view .o_field_widget[name='payment_count']", "the cash proof's form"
        )
        self._wait_remaining_requests()
        self.assertIn(str(payment_count), self._text(".o_field_widget[name='payment_count']"))
        self._screenshot("cash-proof", backend=True)
        self._idle_browser()

    def _walkthrough_scheduled_debit(self, lang, token):
        """9. Backend: the merchant collects a new invoice on the saved mandate; the invoice
        shows its scheduled debit (banner, status, charge date, mandate, bank account)."""
        texts = WALKTHROUGH_LANGUAGES[lang]
        with self._db():
            invoice = self._create_invoice(self.payer, 120.0, texts["labels"][2])
            with mute_logger(PAYMENT_TX_LOGGER):
                invoice.action_gocardless_collect()
            self.assertEqual(invoice.gocardless_debit_status, "scheduled")
            charge_date = format_date(
                self.env, invoice.gocardless_debit_charge_date, lang_code=lang
            )
            reference = token.gocardless_mandate_reference
        self._login_browser("admin")
        self._open_backend_invoice(invoice)
        banner = self._wait_for(
            "(el => el && el.innerText)(document.querySelector('.o_form_view "
            '.alert .o_field_widget[name="gocardless_debit_summary"]\'))',
            "the scheduled debit's banner",
        )
        self.assertIn(charge_date, banner)
        self._click(".o_notebook_headers a[name='other_info']")
        status = ".o_field_widget[name='gocardless_debit_status']"
        self._wait_for_element(status, "the debit's status")
        self.assertIn(texts["debit_scheduled"], self._text(status))
        self.assertIn(reference, self._text(".o_field_widget[name='gocardless_debit_mandate']"))
        self._js(f"document.querySelector(\"{status}\").scrollIntoView({{block: 'center'}})")
        self._screenshot("invoice-scheduled-debit", backend=True)
        self._idle_browser()

    def _walkthrough_mandate_lists(self, lang, token):
        """10. Backend: the customer's mandates on their form, then the portal: the customer's own
        list of mandates, with Cancel (which cancels at GoCardless too)."""
        texts = WALKTHROUGH_LANGUAGES[lang]
        with self._db():
            reference = token.gocardless_mandate_reference
            partner = token.partner_id
        self._login_browser("admin")
        self._set_viewport(*self.backend_viewport)
        self._navigate(f"/odoo/action-account.res_partner_action_customer/{partner.id}")
        self._wait_for_element(".o_form_view .o_notebook_headers", "the customer's form")
        self._click(".o_notebook_headers a[name='gocardless_mandates']")
        mandates = ".o_field_widget[name='gocardless_mandate_ids'] .o_data_row"
        self._wait_for_element(mandates, "the customer's mandates")
        self.assertIn(reference, self._text(".o_field_widget[name='gocardless_mandate_ids']"))
        self._screenshot("partner-mandates", backend=True)
        self._idle_browser()

        with self._db():
            login = f"camille-{lang}"
            if not self.env["res.users"].search([("login", "=", login)]):
                self.env["res.users"].with_context(no_reset_password=True).create(
                    {
                        "name": partner.name,
                        "login": login,
                        "password": login,
                        "partner_id": partner.id,
                        "groups_id": [Command.set([self.env.ref("base.group_portal").id])],
                    }
                )
        self._login_browser(login)
        self._set_viewport(*self.viewport)
        self._navigate(f"{texts['path']}/my/direct_debit_mandates")
        row = f"tr.o_gocardless_mandate[data-mandate-id='{token.id}']"
        self._wait_for_element(row, "the customer's mandate on the portal")
        self.assertIn(reference, self._text(row))
        self.assertTrue(any(status in self._text(row) for status in texts["mandate_statuses"]))
        self._screenshot("portal-mandates")
        # Cancel: the dialog says what happens to the debits scheduled on it.
        self._js(
            "window.__cancelShown = false; document.addEventListener('shown.bs.modal', "
            "() => { window.__cancelShown = true; })"
        )
        self._click(f"{row} button.o_gocardless_cancel_mandate")
        self._wait_for("window.__cancelShown", "the cancel dialog")
        self._wait_for_element(".modal.show .o_gocardless_cancel_scheduled", "scheduled debits")
        self._click(".modal.show button.o_gocardless_confirm_cancel")
        self._wait_for_element(".o_gocardless_mandate_cancelled", "the cancellation notice")
        self.assertIn(reference, self._text(".o_gocardless_mandate_cancelled"))
        with self._db():
            token.invalidate_recordset()
            self.assertFalse(token.active)
            self.assertEqual(token.gocardless_mandate_status, "cancelled")
        self._idle_browser()
