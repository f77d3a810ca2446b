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


# GoCardless-shaped events: ids of ASCII letters and digits, word actions and link keys.
_ids = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1, max_size=20)
_words = st.from_regex(r"[a-z][a-z0-9_]{0,19}", fullmatch=True)
event_dicts = st.fixed_dictionaries(
    {
        "id": _ids,
        "resource_type": st.sampled_from(["payments", "mandates", "refunds", "payouts"]),
        "action": _words,
        "links": st.dictionaries(_words, _ids, max_size=3),
    }
)
# Anything a sender could put in those fields.
hostile_event_dicts = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(max_size=80), st.integers(), st.none(), st.lists(st.text())),
        "resource_type": st.one_of(st.text(max_size=20), st.none()),
        "action": st.one_of(st.text(max_size=20), st.integers()),
        "links": st.one_of(
            st.dictionaries(st.text(max_size=10), st.text(max_size=80), max_size=3),
            st.lists(st.text()),
            st.none(),
        ),
    }
)


@given(st.lists(hostile_event_dicts, min_size=1, max_size=5), st.text(min_size=1, max_size=40))
def test_signed_hostile_events_are_parsed_safe_or_refused(events, secret):
    """Whatever a signed body holds, what reaches the database is short ASCII, or it is
    refused as malformed: never another exception."""
    body = _body(events)
    try:
        parsed = webhooks.parse(body, secret, webhooks.sign(body, secret))
    except MalformedPayload:
        return
    for event in parsed:
        links = [value for value in event.links.values() if value is not None]
        for value in (event.id, event.resource_type, event.action, *links):
            assert isinstance(value, str) and value.isascii() and 0 < len(value) <= 64
            assert "\x00" not in value


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


@pytest.mark.parametrize(
    "event",
    [
        {"id": "EV1\x00", "resource_type": "payments", "action": "confirmed", "links": {}},
        {"id": "EV\ud800", "resource_type": "payments", "action": "confirmed", "links": {}},
        {"id": "E" * 3000, "resource_type": "payments", "action": "confirmed", "links": {}},
        {"id": "EV1", "resource_type": "payments", "action": "con\x00firmed", "links": {}},
        {"id": "EV1", "resource_type": "payments", "action": "confirmed", "links": {"payment": 5}},
        {"id": "EV1", "resource_type": "payments", "action": "confirmed", "links": {"p": "P\x00"}},
        {"id": {"a": 1}, "resource_type": "payments", "action": "confirmed", "links": {}},
        {"id": ["EV1"], "resource_type": "payments", "action": "confirmed", "links": {}},
    ],
)
def test_signed_events_with_unsafe_fields_are_malformed(event):
    body = json.dumps({"events": [event]}).encode()
    with pytest.raises(MalformedPayload):
        webhooks.parse(body, SECRET, webhooks.sign(body, SECRET))


@pytest.mark.parametrize("webhook_id", [{"a": 1}, ["WB1"], 5, "WB\x00", "W" * 3000, None])
def test_a_malformed_webhook_id_is_dropped(webhook_id):
    event = {"id": "EV1", "resource_type": "payments", "action": "confirmed", "links": {}}
    body = json.dumps({"events": [event], "meta": {"webhook_id": webhook_id}}).encode()
    events, parsed_id = webhooks.parse_with_meta(body, SECRET, webhooks.sign(body, SECRET))
    assert parsed_id is None
    assert [e.id for e in events] == ["EV1"]


def test_deeply_nested_signed_body_is_malformed():
    body = b'{"events": [' + b"[" * 100000 + b"]" * 100000 + b"]}"
    with pytest.raises(MalformedPayload):
        webhooks.parse(body, SECRET, webhooks.sign(body, SECRET))


def test_free_text_of_an_event_loses_nul_bytes_and_lone_surrogates():
    event = Event.from_dict(
        {
            "id": "EV1",
            "resource_type": "payments",
            "action": "failed",
            "details": {"description": "Bank\x00 said \ud800no", "cause": "x\x07y"},
        }
    )
    assert event.description == "Bank said no"
    assert event.cause == "xy"


def test_null_links_are_accepted_as_gocardless_sends_them():
    event = {
        "id": "EV1",
        "resource_type": "payments",
        "action": "confirmed",
        "links": {"payment": "PM1", "mandate": None, "parent_event": None},
    }
    body = json.dumps({"events": [event]}).encode()
    (parsed,) = webhooks.parse(body, SECRET, webhooks.sign(body, SECRET))
    assert parsed.resource_id == "PM1"


def _nested_metadata_body(levels):
    """A signed-looking body whose event's metadata nests ``levels`` objects deep (built as
    text: Python's own encoder gives up before 1,000 levels)."""
    metadata = '{"a": ' * levels + '"x"' + "}" * levels
    event = (
        '{"id": "EV1", "resource_type": "payments", "action": "created", '
        '"links": {"payment": "PM1"}, "details": {}, "resource_metadata": {}, '
        f'"metadata": {metadata}}}'
    )
    return f'{{"events": [{event}], "meta": {{"webhook_id": "WB1"}}}}'.encode()


@pytest.mark.parametrize("levels", [webhooks.MAX_JSON_DEPTH, 200, 600, 1000])
def test_an_event_nesting_deeper_than_accepted_is_malformed(levels):
    body = _nested_metadata_body(levels)
    with pytest.raises(MalformedPayload, match="nests deeper"):
        webhooks.parse(body, SECRET, webhooks.sign(body, SECRET))


def test_an_event_nesting_within_the_limit_is_parsed_and_reencoded():
    # The body, its "events" and the event are three levels of the limit.
    body = _nested_metadata_body(webhooks.MAX_JSON_DEPTH - 3)
    assert webhooks.json_depth(body) == webhooks.MAX_JSON_DEPTH
    events = webhooks.parse(body, SECRET, webhooks.sign(body, SECRET))
    assert [event.id for event in events] == ["EV1"]
    # What the ledger does with the raw event next never meets the recursion limit.
    json.dumps(json.loads(body), indent=2, sort_keys=True)


def test_a_deep_unsigned_body_is_still_a_bad_signature():
    body = _nested_metadata_body(1000)
    with pytest.raises(InvalidSignature):
        webhooks.parse(body, SECRET, webhooks.sign(body, "another-secret"))


@pytest.mark.parametrize(
    ("raw", "depth"),
    [
        (b"{}", 1),
        (b'"[[[{"', 0),
        (b'{"a": "[[[{", "b": [1, {"c": "\\"[["}]}', 3),
        (b'{"a": "\\\\", "b": [[]]}', 3),
        (b"]]]][", 1),
    ],
)
def test_json_depth_counts_brackets_outside_strings(raw, depth):
    assert webhooks.json_depth(raw) == depth
