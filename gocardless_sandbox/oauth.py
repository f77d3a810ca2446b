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
            return self.oauth_authorize(method, params)
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
        return 404, "text/html", hosted.page("en", "Not found", "<h1>Not found</h1>"), {}

    def oauth_authorize(self, method, params):
        client_id, redirect = params.get("client_id"), params.get("redirect_uri")
        if client_id not in self.oauth_clients:
            return (
                400,
                "text/html",
                hosted.page("en", "Invalid client", "<h1>Unknown client_id</h1>", "oauth-error"),
                {},
            )
        if not redirect or not re.match(r"https?://", redirect):
            return (
                400,
                "text/html",
                hosted.page(
                    "en",
                    "Invalid redirect",
                    "<h1>Missing or invalid redirect_uri</h1>",
                    "oauth-error",
                ),
                {},
            )
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
        view = params.get("initial_view") or "signup"
        esc = html.escape
        hidden = "".join(
            f'<input type="hidden" name="{k}" id="{k}" value="{esc(params.get(k) or "")}">'
            for k in ("client_id", "redirect_uri", "scope", "state", "response_type")
        )
        fields = "".join(
            f'<label for="{name}">{label}</label><input type="text" id="{name}" '
            f'name="{name}" value="{esc(params.get("prefill[" + name + "]") or "")}">'
            for name, label in (
                ("email", "Email"),
                ("given_name", "First name"),
                ("family_name", "Last name"),
                ("organisation_name", "Organisation name"),
                ("country_code", "Country code"),
            )
        )
        body = (
            f'<h1 id="view-{esc(view)}">{"Log in" if view == "login" else "Sign up"} '
            f'to GoCardless (sandbox)</h1><p>An app wants <strong id="scope">'
            f"{esc(scope)}</strong> access to your account.</p>"
            f'<form id="oauth-form" method="post" action="/oauth/authorize">{hidden}'
            f'{fields}<button type="submit" id="approve" name="decision" value="approve">'
            'Connect</button> <button type="submit" id="deny" name="decision" '
            'value="deny">Deny</button></form>'
        )
        return 200, "text/html", hosted.page("en", "Connect to GoCardless", body, "oauth"), {}

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
