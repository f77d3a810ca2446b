# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""GoCardless OAuth connect ("GoCardless Partners"): URLs and the code-for-token exchange.

The SDK does not cover OAuth. This module shapes the requests and reads the answers; it imports
nothing from Odoo, the caller translates the messages of :class:`OAuthError`.

Reference: https://developer.gocardless.com/getting-started/partners/connecting-your-users-accounts
"""

import hashlib
from urllib.parse import urlencode

import requests

from .client import PROFILES

SANDBOX_CONNECT_URL = "https://connect-sandbox.gocardless.com"
LIVE_CONNECT_URL = "https://connect.gocardless.com"
AUTHORIZE_PATH = "/oauth/authorize"
TOKEN_PATH = "/oauth/access_token"
REVOKE_PATH = "/oauth/revoke"
# Seconds to connect to GoCardless's connect host and to wait for its answer: it is called
# while a person waits, as the API's interactive calls are.
TIMEOUT = PROFILES["interactive"]["timeout"]
# The only scope that lets the addon create payments and refunds.
SCOPE = "read_write"


class OAuthError(Exception):
    """GoCardless refused the exchange, or could not be reached.

    :param str code: ``unreachable``, ``unreadable`` or GoCardless's ``error`` (e.g.
        ``invalid_grant``, ``invalid_client``).
    :param str description: GoCardless's ``error_description`` or an English explanation.
    """

    def __init__(self, code, description=""):
        super().__init__(f"{code}: {description}" if description else code)
        self.code = code
        self.description = description


def connect_url(state, api_url=None):
    """Return the connect host for a provider.

    :param str state: the provider's state; ``enabled`` connects a live account, any other state
        a sandbox account.
    :param str api_url: the provider's custom API URL (e.g. the local sandbox), which then also
        serves the connect pages.
    :rtype: str
    """
    if api_url:
        return api_url.rstrip("/")
    return LIVE_CONNECT_URL if state == "enabled" else SANDBOX_CONNECT_URL


def authorize_url(host, client_id, redirect_uri, state, signup=False, prefill=None):
    """Return the URL sending the merchant to GoCardless to connect (or create) an account.

    :param str host: the connect host, see :func:`connect_url`.
    :param str client_id: the partner app's client id.
    :param str redirect_uri: where GoCardless sends the merchant back; must match the app's.
    :param str state: the anti-forgery token, echoed back on the redirect.
    :param bool signup: open the sign-up view instead of the log-in view.
    :param dict prefill: ``email``, ``given_name``, ``family_name``, ``organisation_name``,
        ``country_code``; empty values are left out.
    :rtype: str
    """
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": SCOPE,
        "state": state,
        "initial_view": "signup" if signup else "login",
    }
    for key, value in (prefill or {}).items():
        if value:
            params[f"prefill[{key}]"] = value
    return f"{host}{AUTHORIZE_PATH}?{urlencode(params)}"


def hash_state(state):
    """Return the SHA-256 hex digest under which a ``state`` token is stored."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _post(url, data):
    try:
        response = requests.post(url, data=data, timeout=TIMEOUT)
    except requests.Timeout as error:
        raise OAuthError("unreachable", "GoCardless did not answer in time.") from error
    except requests.RequestException as error:
        raise OAuthError("unreachable", "Could not connect to GoCardless.") from error
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise OAuthError(
            "unreadable",
            f"GoCardless sent an unreadable response (HTTP {response.status_code}).",
        )
    if response.status_code != 200 or body.get("error"):
        raise OAuthError(
            str(body.get("error") or f"http_{response.status_code}"),
            str(body.get("error_description") or ""),
        )
    return body


def exchange_code(host, client_id, client_secret, code, redirect_uri):
    """Exchange an authorisation code for the merchant's access token.

    :return: ``access_token``, ``organisation_id``, ``scope`` and ``email`` of the answer.
    :rtype: dict
    :raise OAuthError: if GoCardless refuses, cannot be reached or answers without a token.
    """
    body = _post(
        f"{host}{TOKEN_PATH}",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )
    if not body.get("access_token") or not body.get("organisation_id"):
        raise OAuthError("unreadable", "GoCardless answered without a token or organisation.")
    return {
        "access_token": str(body["access_token"]),
        "organisation_id": str(body["organisation_id"]),
        "scope": str(body.get("scope") or ""),
        "email": str(body.get("email") or ""),
    }


def revoke_token(host, client_id, client_secret, token):
    """Revoke an access token issued to the partner app.

    :raise OAuthError: if GoCardless refuses or cannot be reached.
    """
    _post(
        f"{host}{REVOKE_PATH}",
        {"token": token, "client_id": client_id, "client_secret": client_secret},
    )
