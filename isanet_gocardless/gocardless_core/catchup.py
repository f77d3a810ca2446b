"""Reading back the events a webhook may have missed: GoCardless's ``GET /events``.

The window: from a little before the newest event already seen (events may be listed late;
the ledger skips those it has), or a few days back the first time; pages of GoCardless's
maximum size, newest first, a bounded number per run. Timestamps are GoCardless's ISO 8601
``created_at`` values, read as naive UTC datetimes (as Odoo stores them).
"""

from datetime import datetime, timedelta, timezone

from .client import MAX_PAGE_SIZE

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
