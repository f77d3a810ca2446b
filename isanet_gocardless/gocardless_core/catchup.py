"""The ledger's reads of GoCardless's ``GET /events``: the events a webhook may have missed,
and the current state of the payments a batch of events names.

The catch-up's window: from a little before the newest event already seen (events may be listed
late; the ledger skips those it has), or a few days back the first time; pages of GoCardless's
maximum size, newest first, a bounded number per run. A batch's payments: the page of payment
events just older than the batch's newest, with their payments (``include=payment``, in the
answer's ``linked`` key): one request in place of one per event, GoCardless's rate limit
spared. Timestamps are GoCardless's ISO 8601 ``created_at`` values, read as naive UTC datetimes
(as Odoo stores them, to the second).
"""

from datetime import datetime, timedelta, timezone

from .client import MAX_PAGE_SIZE

DEFAULT_PAGE_SIZE = 50  # GoCardless's, when a list names no limit

FIRST_LOOKBACK = timedelta(days=7)
OVERLAP = timedelta(minutes=10)
MAX_PAGES = 200


def parse_timestamp(value):
    """Return GoCardless's ISO 8601 timestamp as a naive UTC datetime, or ``None``.

    >>> parse_timestamp("2026-01-02T03:04:05.000Z")
    datetime.datetime(2026, 1, 2, 3, 4, 5)
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def format_timestamp(moment):
    """Return a naive UTC datetime as GoCardless's ISO 8601 form (milliseconds, ``Z``)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def first_params(synced_at, now):
    """Return the query of the first page of a catch-up.

    :param datetime synced_at: The newest event seen so far (naive UTC), or ``None``.
    :param datetime now: The current time (naive UTC).
    """
    since = synced_at - OVERLAP if synced_at else now - FIRST_LOOKBACK
    return {"created_at[gt]": format_timestamp(since), "limit": MAX_PAGE_SIZE}


def next_params(params, page):
    """Return the query of the page after ``page``, or ``None`` when it was the last one."""
    after = (((page or {}).get("meta") or {}).get("cursors") or {}).get("after")
    return {**params, "after": after} if after else None


def newest(raw_events, known=None):
    """Return the newest ``created_at`` of ``raw_events`` if it is later than ``known``, else
    ``None`` (nothing to move forward)."""
    moment = max(
        filter(None, (parse_timestamp((raw or {}).get("created_at")) for raw in raw_events)),
        default=None,
    )
    if moment and (not known or moment > known):
        return moment
    return None


def payments_params(created_ats, actions=(), newest_id=None):
    """Return the query of one page of the payment events of a batch's window, each with its
    payment's current state (``include=payment``).

    A day's confirmations share their second by the thousand: the page is the one just older
    than the batch's newest event (GoCardless's ``after`` cursor, newest first, the cursor's
    own event excluded), down to the batch's oldest second. It holds twice as many events as
    the batch (GoCardless's default page at least): room for the events of other payments
    created meanwhile, and no more (a page's size is paid in time by both sides).

    :param created_ats: When the batch's events were created (naive UTC datetimes).
    :param actions: Their actions: when they are all the same, only that action is listed.
    :param str newest_id: The id of the batch's newest event.
    :rtype: dict
    :raise ValueError: if ``created_ats`` is empty.
    """
    if not created_ats:
        raise ValueError("A window of events needs at least one event.")
    params = {
        "resource_type": "payments",
        "include": "payment",
        "created_at[gte]": format_timestamp(min(created_ats)),
        "limit": min(MAX_PAGE_SIZE, max(DEFAULT_PAGE_SIZE, 2 * len(created_ats))),
    }
    if newest_id:
        params["after"] = newest_id
    actions = set(actions)
    if len(actions) == 1:
        params["action"] = actions.pop()
    return params


def linked(page, resource_type):
    """Return the resources of one type in the ``linked`` key of a page of events, by id.

    Anything else GoCardless may put there (not a resource, no id) is left out.

    :rtype: dict
    """
    linked_resources = page.get("linked") if isinstance(page, dict) else None
    resources = linked_resources.get(resource_type) if isinstance(linked_resources, dict) else None
    if not isinstance(resources, list):
        return {}
    return {
        resource["id"]: resource
        for resource in resources
        if isinstance(resource, dict) and isinstance(resource.get("id"), str) and resource["id"]
    }
