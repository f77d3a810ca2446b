"""The catch-up window and GoCardless's timestamps (gocardless_core.catchup)."""

from datetime import datetime, timedelta

from gocardless_core import catchup

NOW = datetime(2026, 3, 10, 12, 0, 0)


def test_timestamps_read_as_naive_utc():
    assert catchup.parse_timestamp("2026-01-02T03:04:05.000Z") == datetime(2026, 1, 2, 3, 4, 5)
    assert catchup.parse_timestamp("2026-01-02T04:04:05+01:00") == datetime(2026, 1, 2, 3, 4, 5)
    assert catchup.parse_timestamp("2026-01-02T03:04:05") == datetime(2026, 1, 2, 3, 4, 5)


def test_unreadable_timestamps_are_none():
    for value in (None, "", "yesterday", 20260102, "2026-13-02T00:00:00Z", ["2026-01-02"]):
        assert catchup.parse_timestamp(value) is None


def test_first_catch_up_looks_a_week_back():
    params = catchup.first_params(None, NOW)
    assert params == {"created_at[gt]": "2026-03-03T12:00:00.000Z", "limit": 500}


def test_later_catch_ups_overlap_the_newest_event_seen():
    params = catchup.first_params(datetime(2026, 3, 10, 11, 0, 0), NOW)
    assert params["created_at[gt]"] == "2026-03-10T10:50:00.000Z"
    assert catchup.OVERLAP == timedelta(minutes=10)


def test_next_page_follows_the_after_cursor():
    params = {"created_at[gt]": "x", "limit": 500}
    page = {"events": [], "meta": {"cursors": {"after": "EV123", "before": None}}}
    assert catchup.next_params(params, page) == {**params, "after": "EV123"}
    assert catchup.next_params(params, {"meta": {"cursors": {"after": None}}}) is None
    assert catchup.next_params(params, {}) is None
    assert catchup.next_params(params, None) is None


def test_newest_moves_only_forward():
    events = [
        {"created_at": "2026-03-10T09:00:00.000Z"},
        {"created_at": "2026-03-10T11:30:00.000Z"},
        {"created_at": "garbage"},
        {},
    ]
    assert catchup.newest(events) == datetime(2026, 3, 10, 11, 30)
    assert catchup.newest(events, datetime(2026, 3, 10, 11, 0)) == datetime(2026, 3, 10, 11, 30)
    assert catchup.newest(events, datetime(2026, 3, 10, 12, 0)) is None
    assert catchup.newest([]) is None
