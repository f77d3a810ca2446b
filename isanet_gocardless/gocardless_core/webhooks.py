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

from gocardless_pro import webhooks as sdk_webhooks
from gocardless_pro.errors import InvalidSignatureError

from .errors import InvalidSignature, MalformedPayload
from .events import Event


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


def _decode(raw):
    """Decode a verified body into its events and webhook id.

    :raise MalformedPayload: if the body is not a UTF-8 JSON object whose
        ``events`` is a list of objects.
    """
    try:
        document = json.loads(raw.decode("utf-8"))
    except ValueError:  # includes UnicodeDecodeError and JSONDecodeError
        raise MalformedPayload("The webhook body is not valid JSON.") from None
    events = document.get("events") if isinstance(document, dict) else None
    if not isinstance(events, list):
        raise MalformedPayload('The webhook body has no "events" list.')
    meta = document.get("meta")
    webhook_id = meta.get("webhook_id") if isinstance(meta, dict) else None
    return [Event.from_dict(item) for item in events], webhook_id


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
    except (ValueError, KeyError, TypeError, AttributeError):
        # Only reachable once the signature matched: the SDK failed on the JSON.
        raise MalformedPayload('The webhook body is not {"events": [...]} JSON.') from None
    return _decode(raw)


def parse(body, secret, signature_header):
    """Verify a webhook and return its events; see :func:`parse_with_meta`.

    :rtype: list[Event]
    """
    return parse_with_meta(body, secret, signature_header)[0]
