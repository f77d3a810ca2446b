"""Tests of gocardless_core.pacing and of the client's rate-limit reading."""

import email.utils

import pytest

from gocardless_core import client as gc_client
from gocardless_core import pacing
from gocardless_core.errors import ApiCallError
from gocardless_sandbox import SandboxServer


class FakeClock:
    """A clock that only moves when slept on."""

    def __init__(self, now=1_000_000.0):
        self.now = now
        self.slept = []

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def _http_date(epoch):
    return email.utils.formatdate(epoch, usegmt=True)


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def pacer(clock):
    return pacing.RateLimitPacer(clock=clock.time, sleep=clock.sleep)


def test_no_wait_before_any_answer_or_while_requests_are_left(pacer, clock):
    assert pacer.delay() == 0
    pacer.observe_headers(
        {"RateLimit-Limit": "1000", "RateLimit-Remaining": "500", "RateLimit-Reset": "x"}
    )
    assert pacer.remaining == 500 and pacer.limit == 1000
    assert pacer.wait() == 0
    assert clock.slept == []


def test_the_reserve_is_left_to_others_then_the_batch_waits_for_the_new_window(pacer, clock):
    reset = clock.now + 30
    pacer.observe_headers(
        {
            "ratelimit-limit": "1000",
            "ratelimit-remaining": "101",
            "ratelimit-reset": _http_date(reset),
        }
    )
    assert pacer.reserve() == 100
    assert pacer.delay() == 0
    pacer.observe_headers({"RateLimit-Remaining": "100", "RateLimit-Reset": _http_date(reset)})
    # Whole seconds in HTTP dates: the wait ends one margin after the reset.
    assert pacer.delay() == pytest.approx(reset + pacing.RESET_MARGIN - clock.now)
    slept = pacer.wait()
    assert slept == pytest.approx(31.0)
    assert clock.slept == [slept]
    assert pacer.waits == 1 and pacer.waited == pytest.approx(31.0)
    # The new window's count comes with the next answer: go on meanwhile.
    assert pacer.remaining is None
    assert pacer.delay() == 0


def test_a_refusal_with_retry_after_stops_the_batch_until_then(pacer, clock):
    pacer.observe_headers({"RateLimit-Remaining": "900", "RateLimit-Limit": "1000"})
    pacer.observe_headers({"Retry-After": "12"})
    assert pacer.remaining == 0
    assert pacer.delay() == pytest.approx(13.0)


def test_nearly_out_without_a_reset_waits_a_full_window_at_most(pacer):
    pacer.observe(limit=10, remaining=0)
    assert pacer.delay() == pacing.MAX_DELAY


def test_a_reset_far_away_is_capped_and_a_past_reset_is_forgotten(pacer, clock):
    pacer.observe(limit=1000, remaining=0, reset=_http_date(clock.now + 3600))
    assert pacer.delay() == pacing.MAX_DELAY
    pacer.observe(limit=1000, remaining=0, reset=_http_date(clock.now - 10))
    assert pacer.delay() == 0
    assert pacer.remaining is None


@pytest.mark.parametrize(
    "headers",
    [
        {"RateLimit-Remaining": "-3"},
        {"RateLimit-Remaining": "many"},
        {"RateLimit-Remaining": ""},
        {"RateLimit-Reset": "not a date", "RateLimit-Remaining": None},
        {"RateLimit-Limit": "0"},
        {"Retry-After": "soon"},
        {},
        None,
    ],
)
def test_hostile_headers_are_ignored(pacer, headers):
    pacer.observe(limit=1000, remaining=800)
    pacer.observe_headers(headers)
    assert pacer.remaining == 800 and pacer.limit == 1000
    assert pacer.delay() == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, None),
        ("", None),
        ("garbage", None),
        ("Sun, 29 Nov 2026 15:00:00", None),  # no zone: unreadable
        (5, 1_000_005.0),
        ("7", 1_000_007.0),
        ("-4", 1_000_000.0),
    ],
)
def test_parse_reset(value, expected):
    assert pacing.parse_reset(value, 1_000_000.0) == expected


def test_parse_reset_reads_http_dates():
    assert pacing.parse_reset("Thu, 01 Jan 1970 00:16:40 GMT", 0) == 1000.0


@pytest.fixture
def sandbox(tmp_path):
    server = SandboxServer(
        port=0, db_path=str(tmp_path / "gc.sqlite3"), access_tokens=["T"], rate_limit=8
    ).start()
    yield server
    server.stop()


def test_perform_paces_a_batch_under_the_sandbox_rate_limit(sandbox, clock):
    """Against the sandbox: the pacer reads the headers, waits before the reserve is used."""
    api = gc_client.make_client("T", base_url=sandbox.url, timeout=5)
    pacer = pacing.RateLimitPacer(clock=clock.time, sleep=clock.sleep)
    gc_client.perform(api, "creditors", "list", pacer=pacer)
    assert pacer.limit == 8 and pacer.remaining is not None and pacer.remaining < 8
    assert pacer.reset_at is not None
    assert pacer.reserve() == pacing.RESERVE_MIN
    calls = 1
    while pacer.delay() == 0:
        gc_client.perform(api, "creditors", "list", pacer=pacer)
        calls += 1
        assert calls < 8
    # The pacer stops the batch with the reserve still there: nothing refused.
    assert pacer.remaining == pacing.RESERVE_MIN
    assert 0 < pacer.delay() <= pacing.MAX_DELAY


def test_a_429_teaches_the_pacer_when_the_window_ends(sandbox, clock):
    api = gc_client.make_client("T", base_url=sandbox.url, timeout=5)
    pacer = pacing.RateLimitPacer(clock=clock.time, sleep=clock.sleep)
    sandbox.set_fault("429", "/creditors", count=1)
    with pytest.raises(ApiCallError) as info:
        gc_client.perform(api, "creditors", "list", pacer=pacer)
    assert info.value.kind == "rate_limited" and info.value.transient
    assert pacer.remaining == 0
    assert gc_client.rate_limit_headers(api)["RateLimit-Remaining"] == "0"
    assert pacer.delay() > 0


def test_rate_limit_headers_before_any_call_are_empty():
    assert gc_client.rate_limit_headers(gc_client.make_client("T", base_url="http://x")) == {}
    assert gc_client.rate_limit_headers(object()) == {}
