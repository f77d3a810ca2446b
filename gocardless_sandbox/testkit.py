"""Test facilities of the HTTP layer: a request log and fault injection.

Both apply to the requests a GoCardless client sends: the Pro API and ``/oauth/…``
(``kind`` ``"api"`` / ``"oauth"``), never to the admin routes, the dashboard (``/sandbox/…``)
or the hosted payer pages (``/flow…``), so a test can always clear a fault or read the log.
"""

from __future__ import annotations

import collections
import threading
import time

FAULT_MODES = ("hang", "hang_after", "refuse", "500", "503", "429")
MAX_HANG_SECONDS = 120.0


def request_kind(path):
    """``api``, ``oauth``, ``admin`` (``/sandbox/…``, dashboard included) or ``hosted``."""
    if path == "/sandbox" or path.startswith("/sandbox/"):
        return "admin"
    if path == "/flow" or path.startswith("/flow/"):
        return "hosted"
    if path.startswith("/oauth/"):
        return "oauth"
    return "api"


LOGGED_KINDS = frozenset({"api", "oauth"})


class RequestLog:
    """Thread-safe, bounded, in-memory log of the requests received.

    Entries are numbered from 0 since the server started (``seq``); the numbering never goes
    back, not even on :meth:`clear` or when old entries fall off, so a mark stays valid.
    """

    def __init__(self, maxlen=10000):
        self._lock = threading.Lock()
        self._entries = collections.deque(maxlen=maxlen)
        self._count = 0

    def add(self, method, path, query, idempotency_key, kind):
        entry = {
            "seq": None,
            "method": method,
            "path": path,
            "query": query,
            "status": None,
            "idempotency_key": idempotency_key,
            "kind": kind,
            "fault": None,
            "at": time.time(),
        }
        with self._lock:
            entry["seq"] = self._count
            self._count += 1
            self._entries.append(entry)
        return entry

    def update(self, entry, **values):
        with self._lock:
            entry.update(values)

    def entries(self, since=None):
        with self._lock:
            return [dict(e) for e in self._entries if since is None or e["seq"] >= since]

    def mark(self):
        with self._lock:
            return self._count

    def clear(self):
        with self._lock:
            self._entries.clear()


class Faults:
    """At most one fault at a time; see :meth:`set`."""

    def __init__(self):
        self._lock = threading.Lock()
        self._fault = None
        self._released = threading.Event()  # the event of the current fault

    def set(self, mode, path_prefix=None, count=None, method=None, hang_timeout=MAX_HANG_SECONDS):
        """Fault the matching requests (all by default) until cleared, or ``count`` of them.

        ``hang``: never answered; the connection is closed unanswered (and the request never
        processed) once the fault is cleared or replaced, the server stops or ``hang_timeout``
        (≤ 120 s) elapses. ``hang_after``: the same, but the request is processed first (the
        payment is created, the client times out without knowing it). ``refuse``: connection
        closed at once, unanswered. ``500``/``503``:
        a ``gocardless`` error. ``429``: the ``rate_limit_exceeded`` error with
        ``RateLimit-*`` headers.
        """
        if mode not in FAULT_MODES:
            raise ValueError(f"fault mode must be one of {', '.join(FAULT_MODES)}: {mode!r}")
        if count is not None and (
            isinstance(count, bool) or not isinstance(count, int) or count < 1
        ):
            raise ValueError(f"count must be a positive integer or None: {count!r}")
        if path_prefix is not None and not isinstance(path_prefix, str):
            raise ValueError(f"path_prefix must be a string or None: {path_prefix!r}")
        if (
            isinstance(hang_timeout, bool)
            or not isinstance(hang_timeout, (int, float))
            or hang_timeout < 0
        ):
            raise ValueError(f"hang_timeout must be a non-negative number: {hang_timeout!r}")
        with self._lock:
            self._released.set()
            self._released = threading.Event()
            self._fault = {
                "mode": mode,
                "path_prefix": path_prefix or "/",
                "count": count,
                "method": method.upper() if method else None,
                "hang_timeout": min(float(hang_timeout), MAX_HANG_SECONDS),
                "hits": 0,
            }
        return self.current()

    def clear(self):
        """Removes the fault and releases every hanging request."""
        with self._lock:
            self._fault = None
            self._released.set()

    release_all = clear

    def current(self):
        with self._lock:
            return dict(self._fault) if self._fault else None

    def take(self, method, path):
        """The fault for this request, counted, or None: ``(mode, hang_timeout, event)``."""
        with self._lock:
            fault = self._fault
            if (
                fault is None
                or not path.startswith(fault["path_prefix"])
                or (fault["method"] and fault["method"] != method)
            ):
                return None
            fault["hits"] += 1
            event = self._released
            if fault["count"] is not None:
                fault["count"] -= 1
                if fault["count"] <= 0:
                    # Auto-clear; requests already hanging stay until clear/stop/timeout.
                    self._fault = None
            return fault["mode"], fault["hang_timeout"], event
