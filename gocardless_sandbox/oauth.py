"""OAuth (GoCardless Connect): the authorise page, the code exchange, revocation."""

from __future__ import annotations

import base64
import html
import json
import re
import secrets
import time
from urllib.parse import parse_qs, urlencode

from . import hosted
from .core import new_id

# The connect page's words; ``language`` (GoCardless's parameter) or Accept-Language picks.
TEXT = {
    "en": {
        "title": "Connect to GoCardless",
        "signup": "Sign up to GoCardless (sandbox)",
        "login": "Log in to GoCardless (sandbox)",
        "asks": "An app wants {scope} access to your account.",
        "read_write": "read and write",
        "read_only": "read-only",
        "email": "Email",
        "given_name": "First name",
        "family_name": "Last name",
        "organisation_name": "Organisation name",
        "country_code": "Country code",
        "approve": "Connect",
        "deny": "Deny",
        "invalid_client": "Unknown client_id",
        "invalid_redirect": "Missing or invalid redirect_uri",
        "not_found": "Not found",
    },
    "fr": {
        "title": "Se connecter à GoCardless",
        "signup": "Créer un compte GoCardless (bac à sable)",
        "login": "Se connecter à GoCardless (bac à sable)",
        "asks": "Une application demande un accès en {scope} à votre compte.",
        "read_write": "lecture et écriture",
        "read_only": "lecture seule",
        "email": "E-mail",
        "given_name": "Prénom",
        "family_name": "Nom",
        "organisation_name": "Nom de l'organisation",
        "country_code": "Code pays",
        "approve": "Connecter",
        "deny": "Refuser",
        "invalid_client": "client_id inconnu",
        "invalid_redirect": "redirect_uri absente ou invalide",
        "not_found": "Introuvable",
    },
}
FORM_FIELDS = ("email", "given_name", "family_name", "organisation_name", "country_code")


def _page(lang, status, key, page_id):
    """A one-line page (an error) in ``lang``."""
    text = TEXT[lang][key]
    body = f"<h1>{html.escape(text)}</h1>"
    return status, "text/html", hosted.page(lang, text, body, page_id), {}


class OAuthMixin:
    def oauth(self, method, path, query, raw, headers):
        """Returns (status, content_type, body, extra_headers)."""
        if path == "/oauth/authorize":
            params = {k: v[-1] for k, v in query.items()}
            if method == "POST":
                params = {
                    k: v[-1]
                    for k, v in parse_qs(
                        raw.decode("utf-8", "replace"), keep_blank_values=True
                    ).items()
                }
            lang = hosted.pick_language(
                params.get("language"), None, headers.get("Accept-Language")
            )
            return self.oauth_authorize(method, params, lang)
        if path == "/oauth/access_token" and method == "POST":
            return self.oauth_token(raw, headers)
        if path == "/oauth/revoke" and method == "POST":
            params = self._oauth_params(raw, headers)
            client = self._oauth_client(params, headers)
            if client is None:
                return self._oauth_error(401, "invalid_client", "Unknown client")
            with self.store.transaction():
                self.store.execute(
                    "UPDATE tokens SET revoked = 1 WHERE token = ? AND client_id = ?",
                    (params.get("token"), client),
                )
            return 200, "application/json", "{}", {}
        lang = hosted.pick_language(None, None, headers.get("Accept-Language"))
        return _page(lang, 404, "not_found", "page")

    def oauth_authorize(self, method, params, lang="en"):
        client_id, redirect = params.get("client_id"), params.get("redirect_uri")
        if client_id not in self.oauth_clients:
            return _page(lang, 400, "invalid_client", "oauth-error")
        if not redirect or not re.match(r"https?://", redirect):
            return _page(lang, 400, "invalid_redirect", "oauth-error")
        state = params.get("state")

        def back(**values):
            if state is not None:
                values["state"] = state
            sep = "&" if "?" in redirect else "?"
            return 303, "text/html", "", {"Location": redirect + sep + urlencode(values)}

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type")
        scope = params.get("scope") or "read_write"
        if scope not in ("read_write", "read_only"):
            return back(error="invalid_scope")
        if method == "POST":
            if params.get("decision") != "approve":
                return back(error="access_denied")
            code = "sbx_code_" + secrets.token_urlsafe(18)
            data = {
                "client_id": client_id,
                "redirect_uri": redirect,
                "scope": scope,
                "email": params.get("email") or "merchant@example.com",
                "organisation_name": params.get("organisation_name") or "Connected Merchant",
                "expires": time.time() + 600,
            }
            with self.store.transaction():
                self.store.execute(
                    "INSERT INTO oauth_codes (code, data) VALUES (?, ?)", (code, json.dumps(data))
                )
            return back(code=code)
        return 200, "text/html", self._connect_page(lang, params, scope), {}

    @staticmethod
    def _connect_page(lang, params, scope):
        """The sign-up (or log-in) page an app sends a merchant to."""
        t, esc = TEXT[lang], html.escape
        view = params.get("initial_view") or "signup"
        hidden = "".join(
            f'<input type="hidden" name="{k}" id="{k}" value="{esc(params.get(k) or "")}">'
            for k in ("client_id", "redirect_uri", "scope", "state", "response_type", "language")
            if k != "language" or params.get(k)
        )
        fields = "".join(
            f'<label for="{name}">{esc(t[name])}</label><input type="text" id="{name}" '
            f'name="{name}" value="{esc(params.get("prefill[" + name + "]") or "")}">'
            for name in FORM_FIELDS
        )
        scope_html = f'<strong id="scope" data-scope="{esc(scope)}">{esc(t[scope])}</strong>'
        asks = esc(t["asks"]).replace("{scope}", scope_html)
        body = (
            f'<h1 id="view-{esc(view)}">{esc(t["login" if view == "login" else "signup"])}</h1>'
            f'<p>{asks}</p><form id="oauth-form" method="post" action="/oauth/authorize">'
            f'{hidden}{fields}<button type="submit" id="approve" name="decision" '
            f'value="approve">{esc(t["approve"])}</button> <button type="submit" id="deny" '
            f'name="decision" value="deny">{esc(t["deny"])}</button></form>'
        )
        return hosted.page(lang, t["title"], body, "oauth")

    def _oauth_params(self, raw, headers):
        ctype = headers.get("Content-Type") or ""
        text = raw.decode("utf-8", "replace")
        if "json" in ctype:
            try:
                data = json.loads(text)
            except ValueError:
                return {}
            return (
                {k: v for k, v in data.items() if isinstance(v, str)}
                if isinstance(data, dict)
                else {}
            )
        return {k: v[-1] for k, v in parse_qs(text, keep_blank_values=True).items()}

    def _oauth_client(self, params, headers):
        client_id, secret = params.get("client_id"), params.get("client_secret")
        auth = headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return None
        expected = self.oauth_clients.get(client_id)
        if expected is None or not secrets.compare_digest(expected, secret or ""):
            return None
        return client_id

    @staticmethod
    def _oauth_error(status, code, description):
        return (
            status,
            "application/json",
            json.dumps({"error": code, "error_description": description}),
            {},
        )

    def oauth_token(self, raw, headers):
        params = self._oauth_params(raw, headers)
        client = self._oauth_client(params, headers)
        if client is None:
            return self._oauth_error(401, "invalid_client", "Client authentication failed")
        if params.get("grant_type") != "authorization_code":
            return self._oauth_error(
                400, "unsupported_grant_type", "grant_type must be authorization_code"
            )
        with self.store.transaction():
            row = self.store.execute(
                "SELECT * FROM oauth_codes WHERE code = ?", (params.get("code") or "",)
            ).fetchone()
            if row is None or row["used"]:
                return self._oauth_error(400, "invalid_grant", "Invalid or used code")
            data = json.loads(row["data"])
            if data["client_id"] != client or data["expires"] < time.time():
                return self._oauth_error(400, "invalid_grant", "Invalid code")
            if params.get("redirect_uri") != data["redirect_uri"]:
                return self._oauth_error(400, "invalid_grant", "redirect_uri does not match")
            self.store.execute("UPDATE oauth_codes SET used = 1 WHERE code = ?", (row["code"],))
            orgs = self.store.kv_get("oauth_orgs", {})
            org = orgs.get(data["email"])
            if org is None:
                org = new_id("OR")
                orgs[data["email"]] = org
                self.store.kv_set("oauth_orgs", orgs)
            self.engine.ensure_org(org, data["organisation_name"], data["email"])
            token = "sandbox_oauth_" + secrets.token_urlsafe(24)
            self.store.execute(
                "INSERT INTO tokens (token, org, scope, client_id, email) VALUES (?, ?, ?, ?, ?)",
                (token, org, data["scope"], client, data["email"]),
            )
        return (
            200,
            "application/json",
            json.dumps(
                {
                    "access_token": token,
                    "token_type": "bearer",
                    "scope": data["scope"],
                    "email": data["email"],
                    "organisation_id": org,
                }
            ),
            {},
        )
