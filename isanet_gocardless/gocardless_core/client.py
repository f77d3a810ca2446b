"""Build GoCardless API clients that never wait forever, and name their errors.

``gocardless_pro`` up to at least 3.6 calls ``requests`` without ``timeout=``,
so a stalled API would hold an Odoo worker indefinitely (SDK issues #11 and
#120); later releases default to 60 seconds. :func:`make_client` returns a
real :class:`gocardless_pro.Client` whose transport is :class:`TimeoutApiClient`,
an ``ApiClient`` subclass sending every request with a finite timeout whatever
the installed SDK release.

Idempotency: the SDK adds a random ``Idempotency-Key`` to each POST unless the
caller passes one; callers pass ``headers={"Idempotency-Key": idempotency_key(...)}``
so a create retried for the same Odoo transaction can never charge twice.
"""

import hashlib
import json
import math
import re

import requests
from gocardless_pro import Client
from gocardless_pro.api_client import ApiClient
from gocardless_pro.errors import ApiError, MalformedResponseError
from gocardless_pro.rate_limit import update_rate_limit

from .errors import ConfigurationError, GoCardlessCoreError

SANDBOX_URL = "https://api-sandbox.gocardless.com"
LIVE_URL = "https://api.gocardless.com"
ENVIRONMENT_URLS = {"sandbox": SANDBOX_URL, "live": LIVE_URL}

# Seconds to connect and to wait for each read: short enough for a web request.
# Note that the SDK retries reads, lists and creates up to 3 times on timeout.
DEFAULT_TIMEOUT = 20

IDEMPOTENCY_KEY_MAX_LENGTH = 128
# Characters kept verbatim in a readable key part; anything else forces hashing.
_SAFE_PART = re.compile(r"[A-Za-z0-9._/-]+")


def _check_timeout(timeout):
    """Return ``timeout`` if it is a positive finite number or a pair of them.

    :raise ConfigurationError: otherwise (``None`` included: never wait forever).
    """
    values = timeout if isinstance(timeout, tuple) and len(timeout) == 2 else (timeout,)
    for value in values:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ConfigurationError(
                f"The GoCardless timeout must be a positive number of seconds, not {timeout!r}."
            )
    return timeout


class TimeoutApiClient(ApiClient):
    """The SDK's ``ApiClient`` with a mandatory, finite timeout on every request.

    Headers, URL building, error mapping and rate-limit tracking are the SDK's
    own; only the four HTTP verbs are redefined so that each call passes
    ``timeout=self.timeout`` to ``requests``.
    """

    def __init__(self, base_url, access_token, timeout=DEFAULT_TIMEOUT):
        super().__init__(base_url, access_token)
        self.timeout = _check_timeout(timeout)

    def _send(self, method, path, params=None, body=None, headers=None):
        """Send one request and raise the SDK's typed error for an error response."""
        data = None if method == "GET" else json.dumps(body)
        response = requests.request(
            method,
            self._url_for(path),
            params=params,
            data=data,
            headers=self._headers(headers),
            timeout=self.timeout,
        )
        self._handle_errors(response)
        return response

    @update_rate_limit
    def get(self, path, params=None, headers=None):
        """GET ``path`` with query-string ``params``; see ``ApiClient.get``."""
        return self._send("GET", path, params=params, headers=headers)

    @update_rate_limit
    def post(self, path, body, headers=None):
        """POST ``body`` as JSON; see ``ApiClient.post``."""
        return self._send("POST", path, body=body, headers=headers)

    @update_rate_limit
    def put(self, path, body, headers=None):
        """PUT ``body`` as JSON; see ``ApiClient.put``."""
        return self._send("PUT", path, body=body, headers=headers)

    @update_rate_limit
    def delete(self, path, body, headers=None):
        """DELETE with ``body`` as JSON; see ``ApiClient.delete``."""
        return self._send("DELETE", path, body=body, headers=headers)


def make_client(access_token, environment="sandbox", base_url=None, timeout=DEFAULT_TIMEOUT):
    """Return a ``gocardless_pro.Client`` whose requests all time out.

    :param str access_token: merchant access token or OAuth token.
    :param str environment: ``"sandbox"`` or ``"live"``; picks the official URL.
    :param str base_url: overrides the environment's URL (local sandbox, tests).
    :param timeout: seconds (or a ``(connect, read)`` pair), positive and finite.
    :rtype: gocardless_pro.Client
    :raise ConfigurationError: empty token, unknown environment, bad timeout.
    """
    if not isinstance(access_token, str) or not access_token.strip():
        raise ConfigurationError("No GoCardless access token is configured.")
    if base_url is None:
        if environment not in ENVIRONMENT_URLS:
            raise ConfigurationError(
                f"The GoCardless environment must be 'sandbox' or 'live', not {environment!r}."
            )
        base_url = ENVIRONMENT_URLS[environment]
    transport = TimeoutApiClient(base_url, access_token, timeout)
    client = Client(access_token=access_token, base_url=base_url)
    # The SDK's services all reach HTTP through this one attribute.
    client._api_client = transport
    return client


def idempotency_key(namespace, reference, action):
    """Return a deterministic ``Idempotency-Key`` for one intent.

    Readable ``"{namespace}:{reference}:{action}"`` when every part is made of
    ``[A-Za-z0-9._/-]`` and the whole fits in 128 characters; otherwise
    ``"sha256:"`` followed by the hex digest of the three parts. Distinct
    triples always give distinct keys (the hashed form has one colon, the
    readable one two).

    :param namespace: the Odoo database uuid.
    :param reference: the Odoo transaction reference (or record id).
    :param action: what is created, e.g. ``"payment"`` or ``"refund-2"``.
    :rtype: str
    :raise GoCardlessCoreError: if a part is empty.
    """
    parts = [str(part) if part is not None else "" for part in (namespace, reference, action)]
    if not all(part.strip() for part in parts):
        raise GoCardlessCoreError(
            "An idempotency key needs a namespace, a reference and an action."
        )
    key = ":".join(parts)
    if len(key) <= IDEMPOTENCY_KEY_MAX_LENGTH and all(_SAFE_PART.fullmatch(p) for p in parts):
        return key
    digest = hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()
    return f"sha256:{digest}"


def _one_line(text):
    """Collapse whitespace so a message fits on one line."""
    return " ".join(str(text).split())


def _field_errors(exc):
    """Return the API error's detail messages, ``field`` first when present."""
    messages = []
    for error in exc.errors or ():
        if not isinstance(error, dict):
            continue
        message = error.get("message") or error.get("reason") or ""
        text = " ".join(part for part in (error.get("field"), message) if part)
        if text and message != exc.message:
            messages.append(text)
    return messages


def describe_api_error(exc):
    """Return a one-line English description of a GoCardless call failure.

    :param Exception exc: a ``gocardless_pro`` error (``ApiError`` and
        subclasses, ``MalformedResponseError``) or a ``requests`` error; any
        other exception is described by its own message.
    :rtype: str
    """
    if isinstance(exc, ApiError):
        message = exc.message or "GoCardless refused the request"
        details = _field_errors(exc)
        if details:
            message = f"{message}: {'; '.join(details)}"
        if exc.request_id:
            message = f"{message} (request id {exc.request_id})"
        return _one_line(message)
    if isinstance(exc, requests.Timeout):
        return "GoCardless did not answer in time."
    if isinstance(exc, requests.ConnectionError):
        return "Could not connect to GoCardless."
    if isinstance(exc, MalformedResponseError):
        status = f" (HTTP {exc.status_code})" if exc.status_code else ""
        return f"GoCardless sent an unreadable response{status}."
    return _one_line(str(exc)) or type(exc).__name__
