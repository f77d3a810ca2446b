"""Verify and parse GoCardless webhooks.

GoCardless signs the raw request body with the endpoint secret:
``Webhook-Signature = hex(HMAC-SHA256(secret as UTF-8, raw body))``. The check
is done by the SDK's :func:`gocardless_pro.webhooks.parse` on the raw
bytes, *before* any JSON parsing; this module only guards its inputs (the SDK
raises ``TypeError`` on a missing or non-ASCII header) and turns every failure
into :class:`~.errors.InvalidSignature` or :class:`~.errors.MalformedPayload`.

:func:`sign` ships the signer next to the verifier so tests sign their own
fixtures instead of hard-coding digests.
"""

import hashlib
import hmac
import json
import re

from gocardless_pro import webhooks as sdk_webhooks
from gocardless_pro.errors import InvalidSignatureError

from .errors import InvalidSignature, MalformedPayload
from .events import Event

# The deepest nesting of objects and lists a webhook body may have. GoCardless's events are
# three levels deep (body, events, event, details or metadata); anything far deeper is not
# GoCardless's, and would make whoever walks it recursively (JSON encoders, copies, logs)
# fail on Python's recursion limit.
MAX_JSON_DEPTH = 32
# A JSON string (escapes included), then any bracket outside strings.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_JSON_BRACKETS = re.compile(rb"[\[\]{}]")


def _body_bytes(body):
    """Return the webhook body as bytes (text is encoded as UTF-8).

    :raise MalformedPayload: if the body is neither bytes nor text.
    """
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise MalformedPayload("The webhook body must be bytes or text.")


def sign(body, secret):
    """Return the ``Webhook-Signature`` GoCardless would send for ``body``.

    :param body: raw body, ``bytes`` or ``str`` (encoded as UTF-8).
    :param str secret: webhook endpoint secret.
    :return: 64 lowercase hexadecimal characters.
    :rtype: str
    """
    return hmac.new(secret.encode("utf-8"), _body_bytes(body), hashlib.sha256).hexdigest()


def _signature_text(signature_header):
    """Return the header as an ASCII string, or raise :class:`InvalidSignature`."""
    if isinstance(signature_header, (bytes, bytearray)):
        try:
            signature_header = signature_header.decode("ascii")
        except UnicodeDecodeError:
            raise InvalidSignature("The webhook signature is not ASCII.") from None
    if not isinstance(signature_header, str) or not signature_header:
        raise InvalidSignature("The webhook has no signature.")
    if not signature_header.isascii():
        raise InvalidSignature("The webhook signature is not ASCII.")
    return signature_header


def json_depth(raw):
    """Return how deeply the objects and lists of a JSON text nest, without recursion.

    Brackets inside strings are not counted; the text need not be valid JSON (a bracket
    closing more than was opened counts as nothing).

    :param bytes raw: The JSON text, UTF-8.
    :rtype: int
    """
    depth = deepest = 0
    for match in _JSON_BRACKETS.finditer(_JSON_STRING.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth = max(0, depth - 1)
    return deepest


def _check_depth(raw):
    """Raise :class:`MalformedPayload` if ``raw`` nests deeper than :data:`MAX_JSON_DEPTH`."""
    if json_depth(raw) > MAX_JSON_DEPTH:
        raise MalformedPayload(f"The webhook body nests deeper than {MAX_JSON_DEPTH} levels.")


def _decode(raw):
    """Decode a verified body into its events and webhook id.

    :raise MalformedPayload: if the body is not a UTF-8 JSON object whose
        ``events`` is a list of objects, or nests deeper than :data:`MAX_JSON_DEPTH`.
    """
    _check_depth(raw)
    try:
        document = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError, JSONDecodeError, deep nesting
        raise MalformedPayload("The webhook body is not valid JSON.") from None
    events = document.get("events") if isinstance(document, dict) else None
    if not isinstance(events, list):
        raise MalformedPayload('The webhook body has no "events" list.')
    meta = document.get("meta")
    webhook_id = meta.get("webhook_id") if isinstance(meta, dict) else None
    if not is_identifier(webhook_id):
        webhook_id = None  # informative only: a malformed one is not kept
    parsed = [Event.from_dict(item) for item in events]
    for event in parsed:
        check_event(event)
    return parsed, webhook_id


# GoCardless ids (``EV0123ABC``, ``PM...``), resource types and actions: short ASCII words.
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{1,64}")
_WORD = re.compile(r"[a-z][a-z0-9_]{0,63}")


def is_identifier(value):
    """Return whether ``value`` is a plausible GoCardless id (ASCII letters, digits, ``_-``)."""
    return isinstance(value, str) and _IDENTIFIER.fullmatch(value) is not None


def check_event(event):
    """Refuse an event whose id, resource type, action or links could not be GoCardless's.

    What reaches the database (ids, resource type, action, the linked resource ids) is then
    short ASCII text: no NUL byte, no lone surrogate, nothing over an index's size.

    :param Event event: A parsed event.
    :raise MalformedPayload: If a field has the wrong type, length or characters.
    """
    if not is_identifier(event.id):
        raise MalformedPayload("A webhook event has no valid id.")
    if not (
        isinstance(event.resource_type, str)
        and _WORD.fullmatch(event.resource_type)
        and isinstance(event.action, str)
        and _WORD.fullmatch(event.action)
    ):
        raise MalformedPayload(f"The webhook event {event.id} has no valid resource or action.")
    for key, value in event.links.items():
        # GoCardless lists every link of the resource type, null when absent.
        if not (
            isinstance(key, str)
            and _WORD.fullmatch(key)
            and (value is None or is_identifier(value))
        ):
            raise MalformedPayload(f"The webhook event {event.id} has an invalid link.")


def parse_with_meta(body, secret, signature_header):
    """Verify a webhook and return its events and its ``meta.webhook_id``.

    :param body: the raw request body (``bytes``; ``str`` is encoded as UTF-8).
        Never pass re-serialised JSON: the signature covers the exact bytes.
    :param str secret: webhook endpoint (or partner app) secret.
    :param signature_header: value of the ``Webhook-Signature`` header.
    :return: ``(events, webhook_id)``; ``webhook_id`` is ``None`` if absent.
    :rtype: tuple[list[Event], str | None]
    :raise InvalidSignature: missing, empty, non-ASCII or wrong signature, or
        an empty secret. No other exception is raised for a bad header.
    :raise MalformedPayload: correctly signed body that is not
        ``{"events": [{...}, ...]}`` JSON (or a body that is not bytes/text).
    """
    raw = _body_bytes(body)
    header = _signature_text(signature_header)
    if not isinstance(secret, str) or not secret:
        raise InvalidSignature("No webhook secret is configured.")
    try:
        # The SDK checks the HMAC of the raw bytes first, then parses JSON.
        sdk_webhooks.parse(raw, secret, header)
    except InvalidSignatureError:
        raise InvalidSignature("The webhook signature does not match its body.") from None
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        # Only reachable once the signature matched: the SDK failed on the JSON.
        _check_depth(raw)
        raise MalformedPayload('The webhook body is not {"events": [...]} JSON.') from None
    return _decode(raw)


def parse(body, secret, signature_header):
    """Verify a webhook and return its events; see :func:`parse_with_meta`.

    :rtype: list[Event]
    """
    return parse_with_meta(body, secret, signature_header)[0]
