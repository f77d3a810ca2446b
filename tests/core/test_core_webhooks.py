"""Tests of gocardless_core.webhooks: signature check through the SDK, parsing."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gocardless_core import webhooks
from gocardless_core.errors import GoCardlessCoreError, InvalidSignature, MalformedPayload
from gocardless_core.events import Event

SDK_SECRET = "ED7D658C-D8EB-4941-948B-3973214F2D49"
SDK_SIGNATURE = "2693754819d3e32d7e8fcb13c729631f316c6de8dc1cf634d6527f1c07276e7e"
SECRET = "test-secret"


@pytest.fixture(scope="module")
def sdk_body(fixtures_dir):
    """The SDK's webhook_body.json, trailing newline stripped (550 bytes)."""
    body = (fixtures_dir / "webhook_body.json").read_bytes().rstrip(b"\n")
    assert len(body) == 550
    return body


def _body(events, webhook_id="WB123"):
    return json.dumps({"events": events, "meta": {"webhook_id": webhook_id}}).encode()


def test_sdk_known_answer_vector(sdk_body):
    assert webhooks.sign(sdk_body, SDK_SECRET) == SDK_SIGNATURE
    assert webhooks.sign(sdk_body.decode(), SDK_SECRET) == SDK_SIGNATURE
    events = webhooks.parse(sdk_body, SDK_SECRET, SDK_SIGNATURE)
    assert [(e.id, e.resource_type, e.action, e.resource_id) for e in events] == [
        ("EV00BD05S5VM2T", "subscriptions", "created", "SB0003JJQ2MR06"),
        ("EV00BD05TB8K63", "mandates", "created", "MD000AMA19XGEC"),
    ]
    assert events[1].cause == "mandate_created"
    assert events[1].origin == "api"
    assert events[1].description == "Mandate created via the API."
    assert webhooks.parse(sdk_body.decode(), SDK_SECRET, SDK_SIGNATURE) == events
    assert webhooks.parse(bytearray(sdk_body), SDK_SECRET, SDK_SIGNATURE.encode()) == events


def test_sdk_vector_with_wrong_secret_or_trailing_newline(sdk_body):
    with pytest.raises(InvalidSignature):
        webhooks.parse(sdk_body, SDK_SECRET.lower(), SDK_SIGNATURE)
    with pytest.raises(InvalidSignature):
        webhooks.parse(sdk_body + b"\n", SDK_SECRET, SDK_SIGNATURE)
    with pytest.raises(InvalidSignature):
        webhooks.parse(sdk_body, SDK_SECRET, SDK_SIGNATURE.upper())


def test_parse_with_meta_returns_webhook_id():
    body = _body(
        [
            {
                "id": "EV1",
                "resource_type": "payments",
                "action": "confirmed",
                "links": {"payment": "PM1"},
            }
        ]
    )
    events, webhook_id = webhooks.parse_with_meta(body, SECRET, webhooks.sign(body, SECRET))
    assert webhook_id == "WB123"
    assert events == [Event.from_dict(json.loads(body)["events"][0])]
    no_meta = b'{"events": []}'
    assert webhooks.parse_with_meta(no_meta, SECRET, webhooks.sign(no_meta, SECRET)) == ([], None)
    odd_meta = b'{"events": [], "meta": "x"}'
    assert webhooks.parse_with_meta(odd_meta, SECRET, webhooks.sign(odd_meta, SECRET)) == (
        [],
        None,
    )


@pytest.mark.parametrize(
    "header", [None, "", b"", "é" * 64, "\u00e9", b"\xff\xfe", 12345, ["abc"], " ", "0" * 64]
)
def test_bad_headers_raise_invalid_signature_only(header, sdk_body):
    with pytest.raises(InvalidSignature):
        webhooks.parse(sdk_body, SDK_SECRET, header)


@pytest.mark.parametrize("secret", ["", None, b"secret"])
def test_missing_secret_raises_invalid_signature(secret, sdk_body):
    with pytest.raises(InvalidSignature):
        webhooks.parse(sdk_body, secret, SDK_SIGNATURE)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"",
        b"[]",
        b'{"events": {}}',
        b'{"events": "abc"}',
        b'{"events": null}',
        b'{"no_events": []}',
        b'{"events": [1, 2]}',
        b'{"events": ["EV1"]}',
        b"\xff\xfe\x00",
        b"null",
        b"42",
    ],
)
def test_signed_but_malformed_bodies_raise_malformed_payload(body):
    with pytest.raises(MalformedPayload):
        webhooks.parse(body, SECRET, webhooks.sign(body, SECRET))


def test_signature_is_checked_before_json():
    with pytest.raises(InvalidSignature):
        webhooks.parse(b"not json", SECRET, webhooks.sign(b"other", SECRET))


def test_non_bytes_body_is_malformed():
    with pytest.raises(MalformedPayload):
        webhooks.parse({"events": []}, SECRET, "0" * 64)


def test_errors_share_the_core_base_class():
    assert issubclass(InvalidSignature, GoCardlessCoreError)
    assert issubclass(MalformedPayload, GoCardlessCoreError)


event_dicts = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1, max_size=20),
        "resource_type": st.sampled_from(["payments", "mandates", "refunds", "payouts"]),
        "action": st.text(max_size=20),
        "links": st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3),
    }
)


@given(st.lists(event_dicts, max_size=5), st.text(min_size=1, max_size=40), st.binary(max_size=40))
def test_signed_bodies_round_trip(events, secret, padding):
    # Trailing whitespace is part of the signed bytes and still valid JSON.
    body = _body(events) + b" " * (len(padding) % 5) + b"\n" * (len(padding) % 3)
    parsed = webhooks.parse(body, secret, webhooks.sign(body, secret))
    assert [e.to_dict() for e in parsed] == [Event.from_dict(e).to_dict() for e in events]


@given(st.binary(max_size=200), st.text(min_size=1, max_size=40))
def test_arbitrary_bodies_verify_then_parse_or_report_malformed(body, secret):
    signature = webhooks.sign(body, secret)
    try:
        assert isinstance(webhooks.parse(body, secret, signature), list)
    except MalformedPayload:
        pass


@given(st.binary(min_size=1, max_size=300), st.data())
def test_changing_one_byte_of_the_body_breaks_the_signature(body, data):
    signature = webhooks.sign(body, SECRET)
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    delta = data.draw(st.integers(min_value=1, max_value=255))
    tampered = body[:index] + bytes([(body[index] + delta) % 256]) + body[index + 1 :]
    with pytest.raises(InvalidSignature):
        webhooks.parse(tampered, SECRET, signature)


@given(st.data())
def test_changing_one_character_of_the_signature_breaks_it(sdk_body, data):
    index = data.draw(st.integers(min_value=0, max_value=63))
    original = SDK_SIGNATURE[index]
    replacement = data.draw(st.characters(codec="utf-8").filter(lambda c: c != original))
    tampered = SDK_SIGNATURE[:index] + replacement + SDK_SIGNATURE[index + 1 :]
    with pytest.raises(InvalidSignature):
        webhooks.parse(sdk_body, SDK_SECRET, tampered)


@given(st.text(max_size=100))
def test_arbitrary_text_headers_only_raise_invalid_signature(sdk_body, header):
    with pytest.raises(InvalidSignature):
        webhooks.parse(sdk_body, SDK_SECRET, header)


@given(st.binary(max_size=100))
def test_arbitrary_bytes_headers_only_raise_invalid_signature(sdk_body, header):
    with pytest.raises(InvalidSignature):
        webhooks.parse(sdk_body, SDK_SECRET, header)
