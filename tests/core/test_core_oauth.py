"""Tests of gocardless_core.oauth: connect URLs, state hashing and GoCardless's answers.

No network: ``requests.post`` is replaced by a fake that records the call and returns a
canned response (or raises).
"""

import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from gocardless_core import oauth


class FakeResponse:
    """The little of :class:`requests.Response` that the module reads."""

    def __init__(self, status_code=200, body=None, text=None):
        self.status_code = status_code
        self._body = body
        self._text = text

    def json(self):
        if self._text is not None:
            raise ValueError(f"not JSON: {self._text!r}")
        return self._body


@pytest.fixture
def post(monkeypatch):
    """Replace ``requests.post``; set ``post.answer`` to a response or an exception."""

    class Post:
        answer = FakeResponse(200, {})
        calls = []

        def __call__(self, url, data=None, timeout=None):
            self.calls.append({"url": url, "data": data, "timeout": timeout})
            if isinstance(self.answer, BaseException):
                raise self.answer
            return self.answer

    fake = Post()
    fake.calls = []
    monkeypatch.setattr(oauth.requests, "post", fake)
    return fake


def _query(url):
    parts = urlsplit(url)
    return parts, {key: values[0] for key, values in parse_qs(parts.query).items()}


# --- connect_url / authorize_url / hash_state -------------------------------------------


@pytest.mark.parametrize(
    ("state", "api_url", "expected"),
    [
        ("enabled", None, oauth.LIVE_CONNECT_URL),
        ("test", None, oauth.SANDBOX_CONNECT_URL),
        ("disabled", None, oauth.SANDBOX_CONNECT_URL),
        ("enabled", "http://127.0.0.1:8765/", "http://127.0.0.1:8765"),
        ("test", "http://127.0.0.1:8765", "http://127.0.0.1:8765"),
    ],
)
def test_connect_url(state, api_url, expected):
    assert oauth.connect_url(state, api_url) == expected


def test_authorize_url_login_view():
    url = oauth.authorize_url(
        "https://connect-sandbox.gocardless.com", "CL123", "https://odoo.example/cb", "st4te"
    )
    parts, query = _query(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        "https://connect-sandbox.gocardless.com/oauth/authorize"
    )
    assert query == {
        "response_type": "code",
        "client_id": "CL123",
        "redirect_uri": "https://odoo.example/cb",
        "scope": "read_write",
        "state": "st4te",
        "initial_view": "login",
    }


def test_authorize_url_signup_with_prefill_leaves_out_empty_values():
    url = oauth.authorize_url(
        "http://127.0.0.1:8765",
        "CL123",
        "https://odoo.example/cb?x=1&y=2",
        "a b/c+d",
        signup=True,
        prefill={
            "email": "ops@example.com",
            "given_name": "Zoé",
            "family_name": "",
            "organisation_name": None,
            "country_code": "FR",
        },
    )
    _parts, query = _query(url)
    assert query["initial_view"] == "signup"
    assert query["state"] == "a b/c+d"  # encoded, then decoded intact
    assert query["redirect_uri"] == "https://odoo.example/cb?x=1&y=2"
    assert query["prefill[email]"] == "ops@example.com"
    assert query["prefill[given_name]"] == "Zoé"
    assert query["prefill[country_code]"] == "FR"
    assert "prefill[family_name]" not in query
    assert "prefill[organisation_name]" not in query


def test_hash_state_is_sha256_hex():
    assert oauth.hash_state("abc") == hashlib.sha256(b"abc").hexdigest()
    assert oauth.hash_state("é") == hashlib.sha256("é".encode()).hexdigest()
    assert len(oauth.hash_state("x")) == 64
    assert oauth.hash_state("x") != oauth.hash_state("y")


# --- exchange_code ----------------------------------------------------------------------


def test_exchange_code_success(post):
    post.answer = FakeResponse(
        200,
        {
            "access_token": "live_tok",
            "organisation_id": "OR123",
            "scope": "read_write",
            "email": "ops@example.com",
            "token_type": "bearer",
        },
    )
    answer = oauth.exchange_code("https://connect.gocardless.com", "CL", "SECRET", "c0de", "cb")
    assert answer == {
        "access_token": "live_tok",
        "organisation_id": "OR123",
        "scope": "read_write",
        "email": "ops@example.com",
    }
    (call,) = post.calls
    assert call["url"] == "https://connect.gocardless.com/oauth/access_token"
    assert call["timeout"] == oauth.TIMEOUT
    assert call["data"] == {
        "grant_type": "authorization_code",
        "code": "c0de",
        "redirect_uri": "cb",
        "client_id": "CL",
        "client_secret": "SECRET",
    }


def test_exchange_code_fills_missing_optional_fields(post):
    post.answer = FakeResponse(200, {"access_token": "t", "organisation_id": "OR1"})
    answer = oauth.exchange_code("h", "CL", "S", "c", "cb")
    assert answer["scope"] == "" and answer["email"] == ""


@pytest.mark.parametrize("body", [{"organisation_id": "OR1"}, {"access_token": "t"}, {}])
def test_exchange_code_without_token_or_organisation_is_unreadable(post, body):
    post.answer = FakeResponse(200, body)
    with pytest.raises(oauth.OAuthError) as info:
        oauth.exchange_code("h", "CL", "S", "c", "cb")
    assert info.value.code == "unreadable"


@pytest.mark.parametrize(
    ("status", "body", "code", "description", "text"),
    [
        # GoCardless's error JSON.
        (
            400,
            {"error": "invalid_grant", "error_description": "The code has expired."},
            "invalid_grant",
            "The code has expired.",
            "invalid_grant: The code has expired.",
        ),
        # An error field on HTTP 200 is still an error.
        (200, {"error": "invalid_client"}, "invalid_client", "", "invalid_client"),
        # An HTTP error without an error field.
        (503, {"message": "maintenance"}, "http_503", "", "http_503"),
    ],
    ids=["gocardless_error_json", "error_on_http_200", "http_error_without_error_field"],
)
def test_refused_exchange(post, status, body, code, description, text):
    post.answer = FakeResponse(status, body)
    with pytest.raises(oauth.OAuthError) as info:
        oauth.exchange_code("h", "CL", "S", "c", "cb")
    assert info.value.code == code
    assert info.value.description == description
    assert str(info.value) == text


@pytest.mark.parametrize("error", [requests.Timeout("slow"), requests.ConnectionError("refused")])
def test_unreachable(post, error):
    post.answer = error
    with pytest.raises(oauth.OAuthError) as info:
        oauth.exchange_code("h", "CL", "S", "c", "cb")
    assert info.value.code == "unreachable"
    assert info.value.__cause__ is error


@pytest.mark.parametrize(
    "response",
    [
        FakeResponse(502, text="<html>Bad gateway</html>"),
        FakeResponse(200, body=["not", "an", "object"]),
        FakeResponse(200, body=None),
    ],
)
def test_unreadable(post, response):
    post.answer = response
    with pytest.raises(oauth.OAuthError) as info:
        oauth.exchange_code("h", "CL", "S", "c", "cb")
    assert info.value.code == "unreadable"
    assert f"HTTP {response.status_code}" in info.value.description


# --- revoke_token -----------------------------------------------------------------------


def test_revoke_token(post):
    post.answer = FakeResponse(200, {})
    assert oauth.revoke_token("https://connect.gocardless.com", "CL", "S", "tok") is None
    (call,) = post.calls
    assert call["url"] == "https://connect.gocardless.com/oauth/revoke"
    assert call["data"] == {"token": "tok", "client_id": "CL", "client_secret": "S"}


def test_revoke_token_refused(post):
    post.answer = FakeResponse(401, {"error": "invalid_client", "error_description": "No."})
    with pytest.raises(oauth.OAuthError) as info:
        oauth.revoke_token("h", "CL", "S", "tok")
    assert (info.value.code, info.value.description) == ("invalid_client", "No.")
