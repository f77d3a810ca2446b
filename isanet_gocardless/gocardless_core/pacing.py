"""Pace calls under GoCardless's rate limit, from the ``RateLimit-*`` headers it sends.

GoCardless allows a number of requests per minute and account (1,000 in live); every answer
says how many are left in the current window (``RateLimit-Remaining``) and when the window
ends (``RateLimit-Reset``, an HTTP date); a refused call (429) says the same, sometimes with a
``Retry-After`` in seconds. A :class:`RateLimitPacer` remembers the last answer and tells a
batch how long to wait before its next call: nothing while more than a reserve of requests is
left (kept for the people and webhooks using the same account meanwhile), else until the
window ends. No framework; the clock and the sleep are injectable for the tests.
"""

import email.utils
import re
import threading
import time

# Requests of each window left to other callers (people paying, webhooks reading back),
# as a share of the limit, and never fewer than this many.
RESERVE_SHARE = 0.1
RESERVE_MIN = 5
# Seconds added to the reset time: clocks differ a little between GoCardless and us.
RESET_MARGIN = 1.0
# A number of seconds (``Retry-After``), as opposed to an HTTP date.
_SECONDS = re.compile(r"-?\d+(\.\d+)?")
# The longest wait ever asked (GoCardless's windows last a minute).
MAX_DELAY = 61.0


def parse_reset(value, now):
    """Return the epoch second at which the rate-limit window ends, or ``None``.

    :param value: ``RateLimit-Reset`` (an HTTP date) or a number of seconds from ``now``
        (``Retry-After``), as received.
    :param float now: The current epoch second.
    :rtype: float | None
    """
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return now + max(0.0, float(value))
    text = str(value).strip()
    if not text:
        return None
    if _SECONDS.fullmatch(text):
        return now + max(0.0, float(text))
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed.timestamp()


def _int_or_none(value):
    if value is None or isinstance(value, bool):
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number >= 0 else None


class RateLimitPacer:
    """The rate-limit state of one GoCardless account, and the wait it asks of a batch.

    Thread-safe: the workers of one process may share it.

    :param callable clock: Returns the current epoch second (``time.time``).
    :param callable sleep: Sleeps a number of seconds (``time.sleep``).
    """

    def __init__(self, clock=time.time, sleep=time.sleep):
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self.limit = None
        self.remaining = None
        self.reset_at = None
        self.waited = 0.0
        self.waits = 0

    def observe(self, limit=None, remaining=None, reset=None, retry_after=None):
        """Remember what GoCardless's last answer said of the rate limit.

        Unreadable values are ignored (the previous ones are kept); a ``retry_after`` (429)
        means nothing is left until then.
        """
        now = self._clock()
        limit, remaining = _int_or_none(limit), _int_or_none(remaining)
        reset_at = parse_reset(reset, now)
        retry_at = parse_reset(retry_after, now)
        with self._lock:
            if limit:
                self.limit = limit
            if remaining is not None:
                self.remaining = remaining
            if reset_at is not None:
                self.reset_at = reset_at
            if retry_at is not None:
                self.remaining = 0
                self.reset_at = max(retry_at, self.reset_at or 0.0)

    def observe_headers(self, headers):
        """Remember the ``RateLimit-*`` and ``Retry-After`` headers of an answer.

        :param headers: A mapping; names are matched without regard to case.
        """
        lowered = {str(key).lower(): value for key, value in (headers or {}).items()}
        self.observe(
            limit=lowered.get("ratelimit-limit"),
            remaining=lowered.get("ratelimit-remaining"),
            reset=lowered.get("ratelimit-reset"),
            retry_after=lowered.get("retry-after"),
        )

    def reserve(self):
        """Return how many requests of a window are left to other callers."""
        if not self.limit:
            return RESERVE_MIN
        return max(RESERVE_MIN, int(self.limit * RESERVE_SHARE))

    def delay(self):
        """Return the seconds to wait before the next call of a batch (0: go on)."""
        now = self._clock()
        with self._lock:
            if self.remaining is None or self.remaining > self.reserve():
                return 0.0
            if self.reset_at is None:
                # Nearly out, and no word of when the window ends: wait for a new one.
                return MAX_DELAY
            if now >= self.reset_at + RESET_MARGIN:
                # The window is over: its count no longer holds.
                self.remaining = None
                return 0.0
            return min(MAX_DELAY, self.reset_at + RESET_MARGIN - now)

    def wait(self):
        """Sleep as long as :meth:`delay` says; return the seconds slept."""
        seconds = self.delay()
        if seconds > 0:
            self._sleep(seconds)
            with self._lock:
                self.waited += seconds
                self.waits += 1
                # A new window has begun: its count comes with the next answer.
                if self.reset_at is not None and self._clock() >= self.reset_at:
                    self.remaining = None
        return seconds
