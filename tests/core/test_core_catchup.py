"""The catch-up window and GoCardless's timestamps (gocardless_core.catchup)."""

from datetime import datetime, timedelta

import pytest

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


def test_a_batchs_payments_are_listed_with_its_events_window():
    created = [datetime(2026, 3, 10, 9, 0, 5), datetime(2026, 3, 10, 9, 0, 1, 250000)]
    params = catchup.payments_params(created, ["confirmed", "failed"], "EV9")
    assert params == {
        "resource_type": "payments",
        "include": "payment",
        # Down to the oldest event's second (Odoo keeps seconds, GoCardless milliseconds)...
        "created_at[gte]": "2026-03-10T09:00:01.000Z",
        # ... from the newest event (the cursor: events older than it).
        "after": "EV9",
        "limit": 50,
    }


def test_the_page_holds_twice_the_batchs_events_within_gocardlesss_bounds():
    def limit(count):
        return catchup.payments_params([NOW] * count)["limit"]

    assert [limit(1), limit(20), limit(25), limit(26), limit(100), limit(251), limit(5000)] == [
        50,
        50,
        50,
        52,
        200,
        500,
        500,
    ]


def test_a_batch_of_one_action_lists_only_that_action():
    params = catchup.payments_params([NOW, NOW], ["confirmed", "confirmed"])
    assert params["action"] == "confirmed"
    assert "after" not in params


def test_an_empty_window_is_refused():
    with pytest.raises(ValueError):
        catchup.payments_params([], [])


def test_linked_resources_are_read_by_id(load_fixture):
    page = load_fixture("events.json")["list"]["body"]
    payments = catchup.linked(page, "payments")
    assert payments
    assert all(payment["id"] == key for key, payment in payments.items())
    assert catchup.linked(page, "unknown") == {}


def test_linked_resources_that_are_not_resources_are_left_out():
    page = {
        "linked": {
            "payments": [{"id": "PM1", "status": "confirmed"}, {"id": ""}, {"id": 7}, "PM2", None]
        }
    }
    assert catchup.linked(page, "payments") == {"PM1": {"id": "PM1", "status": "confirmed"}}
    for broken in (None, [], "x", {"linked": None}, {"linked": []}, {"linked": {"payments": {}}}):
        assert catchup.linked(broken, "payments") == {}


def test_linked_resources_with_odd_or_many_ids_are_read_as_they_are():
    odd = [{"id": "PM\x00"}, {"id": "PMé€"}, {"id": "PM" + "9" * 10_000}]
    many = [{"id": f"PM{index}"} for index in range(10_000)]
    payments = catchup.linked({"linked": {"payments": odd + many}}, "payments")
    # Only keys: the reader keeps the ids its batch named, nothing else reaches the database.
    assert len(payments) == 10_003
    assert payments["PM\x00"] == {"id": "PM\x00"} and "PMé€" in payments
