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
import threading

import requests
from gocardless_pro import Client
from gocardless_pro import errors as sdk_errors
from gocardless_pro.api_client import ApiClient
from gocardless_pro.errors import ApiError, MalformedResponseError
from gocardless_pro.rate_limit import update_rate_limit

from .errors import API_ERROR_KINDS, ApiCallError, ConfigurationError, GoCardlessCoreError

SANDBOX_URL = "https://api-sandbox.gocardless.com"
LIVE_URL = "https://api.gocardless.com"
ENVIRONMENT_URLS = {"sandbox": SANDBOX_URL, "live": LIVE_URL}

# Seconds to connect and to wait for each read when no profile is named.
# Note that the SDK retries reads, lists and creates up to 3 times on timeout, unless
# :func:`perform` is told otherwise.
DEFAULT_TIMEOUT = 20

# How long one call may wait, and how many times the SDK may send it, by who is waiting:
# ``(connect, read)`` seconds and tries. A person (pay, return from GoCardless, collect,
# connect) gets an answer within 10 seconds even when GoCardless hangs; background jobs (cron)
# may wait longer but stay well under Odoo's time limits (120 s per request or cron by
# default). The webhook calls no one: it records the events and answers.
PROFILES = {
    "interactive": {"timeout": (3.05, 6), "tries": 1},
    "background": {"timeout": (5, 20), "tries": 2},
}
DEFAULT_PROFILE = "interactive"

# GoCardless's largest page of a list (a larger ``limit`` is refused).
MAX_PAGE_SIZE = 500

# One HTTP session per thread: connections to GoCardless are kept alive and reused between
# calls, clients and requests of the same worker thread (requests' sessions are not shared
# between threads).
_local = threading.local()


def http_session():
    """Return this thread's ``requests.Session``, created on first use."""
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def profile_settings(profile):
    """Return the ``{"timeout", "tries"}`` of a profile name of :data:`PROFILES`.

    :raise ConfigurationError: For an unknown profile.
    """
    try:
        return PROFILES[profile]
    except (KeyError, TypeError):
        raise ConfigurationError(f"Unknown GoCardless request profile {profile!r}.") from None


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
        # The headers of the last answer, an error's included (``RateLimit-*``, ``Retry-After``).
        self.last_headers = {}

    def _send(self, method, path, params=None, body=None, headers=None):
        """Send one request and raise the SDK's typed error for an error response."""
        data = None if method == "GET" else json.dumps(body)
        self.last_headers = {}
        response = http_session().request(
            method,
            self._url_for(path),
            params=params,
            data=data,
            headers=self._headers(headers),
            timeout=self.timeout,
        )
        # Kept before the error handling: a 429 says when the window ends.
        self.last_headers = dict(response.headers)
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


def classify_error(exc):
    """Return the :class:`~.errors.ApiCallError` describing a failed API call.

    The one place that decides what a failure means: its kind, and whether it is transient
    (the same call may succeed later) or permanent (GoCardless refused; retrying is useless).

    :param Exception exc: What the SDK or ``requests`` raised.
    :rtype: ApiCallError
    """
    if isinstance(exc, ApiCallError):
        return exc
    status = reason = None
    if isinstance(exc, requests.Timeout):
        kind = "timeout"
    elif isinstance(exc, requests.RequestException):
        kind = "unreachable"
    elif isinstance(exc, MalformedResponseError):
        kind, status = "unreadable", getattr(exc, "status_code", None)
    elif isinstance(exc, ApiError):
        status = exc.code
        first = next((e for e in exc.errors or () if isinstance(e, dict)), {})
        reason = first.get("reason")
        if isinstance(exc, sdk_errors.RateLimitError) or status == 429:
            kind = "rate_limited"
        elif isinstance(exc, sdk_errors.GoCardlessInternalError) or (
            isinstance(status, int) and status >= 500
        ):
            kind = "internal"
        elif isinstance(exc, sdk_errors.AuthenticationError) or status == 401:
            kind = "authentication"
        elif isinstance(exc, sdk_errors.PermissionsError) or status == 403:
            kind = "permission"
        elif status == 404:
            kind = "not_found"
        elif isinstance(exc, sdk_errors.IdempotentCreationConflictError):
            kind = "conflict"
        elif isinstance(exc, sdk_errors.InvalidStateError):
            kind = "invalid_state"
        elif isinstance(exc, sdk_errors.ValidationFailedError):
            kind = "validation"
        else:
            kind = "invalid_request"
    else:
        kind = "invalid_request"
    return ApiCallError(
        describe_api_error(exc),
        kind,
        API_ERROR_KINDS[kind],
        status=status,
        reason=reason,
        uncertain=may_have_been_processed(exc),
    )


# What `requests` or urllib3 raise when no byte of the request could reach the server.
_NOT_SENT_ERRORS = (
    requests.ConnectTimeout,
    requests.exceptions.SSLError,
    requests.exceptions.ProxyError,
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
)
_NOT_CONNECTED_REASONS = ("NewConnectionError", "ConnectTimeoutError", "NameResolutionError")


def may_have_been_processed(exc):
    """Return whether GoCardless may have carried out a request whose answer was lost.

    True for a read time-out, a connection dropped after the request was sent, and an
    answer that could not be read: a create may then exist at GoCardless although the
    caller never learnt it. False when the request never left (the connection could not be
    made) and when GoCardless answered with an error of its own (nothing was done).

    :param Exception exc: What the SDK or ``requests`` raised.
    :rtype: bool
    """
    if isinstance(exc, MalformedResponseError):
        return True
    if isinstance(exc, ApiError) or not isinstance(exc, requests.RequestException):
        return False
    if isinstance(exc, _NOT_SENT_ERRORS):
        return False
    if isinstance(exc, requests.Timeout):
        return True  # a read time-out: the request was sent
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        # urllib3's MaxRetryError names why the connection failed in `reason`.
        cause = getattr(reason, "reason", None) or reason
        return type(cause).__name__ not in _NOT_CONNECTED_REASONS
    return False


def result_dict(result):
    """Return an SDK answer as plain JSON data.

    A resource gives its attributes; a list gives the whole response body (``{"events": [...],
    "meta": {"cursors": ...}}``); anything else is returned as it is.
    """
    api_response = getattr(result, "api_response", None)
    if hasattr(result, "records") and api_response is not None:
        return api_response.body
    attributes = getattr(result, "attributes", None)
    return attributes if attributes is not None else result


def rate_limit_headers(client):
    """Return the headers of the last answer the client received (empty before any).

    :param gocardless_pro.Client client: From :func:`make_client`.
    :rtype: dict
    """
    transport = getattr(client, "_api_client", None)
    return dict(getattr(transport, "last_headers", None) or {})


def perform(client, resource, action, *args, params=None, headers=None, tries=1, pacer=None):
    """Call ``client.<resource>.<action>(*args, params=..., headers=...)`` and return JSON data.

    The one way the addon calls GoCardless: the SDK's typed errors are turned into one
    :class:`~.errors.ApiCallError` by :func:`classify_error`, and the SDK's own retries are
    set to ``tries`` (the SDK retries time-outs and connection errors of reads and creates;
    creates carry an idempotency key, so a retried create never creates twice).

    :param gocardless_pro.Client client: From :func:`make_client`.
    :param str resource: The SDK service, e.g. ``"payments"``.
    :param str action: Its method, e.g. ``"create"``, ``"get"``, ``"list"``, ``"cancel"``.
    :param args: Positional arguments (the resource id).
    :param dict params: The request's parameters, if any.
    :param dict headers: Extra headers (``Idempotency-Key``), if any.
    :param int tries: How many times a timed-out or unreachable call is sent (>= 1).
    :param pacing.RateLimitPacer pacer: For a batch: waits first as the rate limit asks, then
        learns the rate limit from the answer (a refusal's included).
    :return: See :func:`result_dict`.
    :raise ApiCallError: If the call fails, whatever the reason.
    """
    service = getattr(client, resource)
    if hasattr(service, "max_network_retries"):
        service.max_network_retries = max(1, int(tries))
    kwargs = {}
    if params is not None:
        kwargs["params"] = params
    if headers:
        kwargs["headers"] = headers
    if pacer is not None:
        pacer.wait()
    try:
        result = getattr(service, action)(*args, **kwargs)
    except (sdk_errors.GoCardlessProError, requests.RequestException) as error:
        raise classify_error(error) from error
    finally:
        if pacer is not None:
            pacer.observe_headers(rate_limit_headers(client))
    return result_dict(result)


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
