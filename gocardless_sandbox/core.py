"""Storage, clock, ids and error helpers shared by the whole sandbox.

Everything is stdlib: one SQLite connection guarded by a re-entrant lock. Each API call runs
inside :meth:`Store.transaction`, so a failing call leaves no half-written state.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sqlite3
import threading
import uuid
from contextlib import contextmanager

API_VERSION = "2015-07-06"
DOC_BASE = "https://developer.gocardless.com/api-reference#"
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    """GoCardless-looking id: prefix + 12 upper-case characters (e.g. ``PM000A1B2C3D4E``)."""
    return prefix + "00" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


def request_id() -> str:
    return str(uuid.uuid4())


def fmt_ts(moment: dt.datetime) -> str:
    """ISO 8601 UTC with milliseconds, as GoCardless returns (``2025-03-04T10:00:00.000Z``)."""
    moment = moment.astimezone(dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_ts(value: str) -> dt.datetime:
    text = value.strip().replace("Z", "+00:00")
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment


def parse_date(value) -> dt.date | None:
    if not isinstance(value, str) or len(value) != 10:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def add_working_days(day: dt.date, count: int) -> dt.date:
    """Mon-Fri working days (bank holidays are deliberately ignored)."""
    step = 1 if count >= 0 else -1
    remaining = abs(count)
    while day.weekday() >= 5:
        day += dt.timedelta(days=step)
    while remaining:
        day += dt.timedelta(days=step)
        if day.weekday() < 5:
            remaining -= 1
    return day


def roll_forward(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


class ApiError(Exception):
    """An error answered with GoCardless's JSON error envelope."""

    def __init__(self, status, err_type, message, errors=None, reason=None, headers=None):
        super().__init__(message)
        self.status, self.err_type, self.message = status, err_type, message
        self.errors, self.reason, self.headers = errors, reason, headers or {}

    def body(self, req_id: str) -> dict:
        anchor = self.reason or (self.errors[0].get("reason") if self.errors else None)
        anchor = anchor or self.err_type
        error = {
            "type": self.err_type,
            "code": self.status,
            "message": self.message,
            "documentation_url": DOC_BASE + anchor,
            "request_id": req_id,
        }
        if self.errors is not None:
            error["errors"] = self.errors
        return {"error": error}


def invalid_state(reason: str, message: str, status: int = 422, links=None) -> ApiError:
    item = {"reason": reason, "message": message}
    if links is not None:
        item["links"] = links
    return ApiError(status, "invalid_state", message, [item], reason)


def invalid_api_usage(status: int, reason: str | None, message: str, headers=None) -> ApiError:
    item = {"message": message}
    if reason:
        item["reason"] = reason
    return ApiError(status, "invalid_api_usage", message, [item], reason, headers)


def field_error(field: str, message: str, pointer: str | None = None) -> ApiError:
    """A 422 ``validation_failed`` on one field (``pointer``: ``/<field>`` unless given)."""
    item = {"field": field, "message": message, "request_pointer": pointer or "/" + field}
    return ApiError(422, "validation_failed", "Validation failed", [item])


def not_found(what: str = "Resource") -> ApiError:
    return invalid_api_usage(404, "resource_not_found", f"{what} not found")


class Validation:
    """Collects field errors, then raises one 422 ``validation_failed``."""

    def __init__(self, envelope: str):
        self.envelope = envelope
        self.errors: list[dict] = []

    def add(self, field: str, message: str) -> None:
        pointer = "/" + "/".join([self.envelope] + field.split("."))
        self.errors.append({"field": field, "message": message, "request_pointer": pointer})

    def check(self) -> None:
        if self.errors:
            raise ApiError(422, "validation_failed", "Validation failed", self.errors)

    def string(self, data: dict, field: str, required=False, max_len=None, choices=None):
        value = dig(data, field)
        if value is None:
            if required:
                self.add(field, "is required" if required is True else required)
            return None
        if not isinstance(value, str):
            self.add(field, "must be a string")
            return None
        if required and not value.strip():
            self.add(field, "can't be blank")
            return None
        if max_len and len(value) > max_len:
            self.add(field, f"is too long (maximum is {max_len} characters)")
        if choices and value not in choices:
            self.add(field, "is invalid")
        return value

    def integer(self, data: dict, field: str, required=False, minimum=None):
        value = dig(data, field)
        if value is None:
            if required:
                self.add(field, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(field, "must be a number")
            return None
        if minimum is not None and value < minimum:
            self.add(field, f"must be greater than or equal to {minimum}")
        return value

    def boolean(self, data: dict, field: str):
        value = dig(data, field)
        if value is not None and not isinstance(value, bool):
            self.add(field, "must be a boolean")
            return None
        return value

    def metadata(self, data: dict, field: str = "metadata"):
        value = dig(data, field)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.add(field, "must be an object")
            return None
        if len(value) > 3:
            self.add(field, "must have at most 3 keys")
        for key, val in value.items():
            if len(key) > 50:
                self.add(field, "keys must be at most 50 characters")
            if not isinstance(val, str):
                self.add(f"{field}.{key}", "must be a string")
            elif len(val) > 500:
                self.add(f"{field}.{key}", "is too long (maximum is 500 characters)")
        return dict(value)

    def obj(self, data: dict, field: str) -> dict:
        value = dig(data, field)
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.add(field, "must be an object")
            return {}
        return value


def dig(data, dotted: str):
    cur = data
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    type TEXT NOT NULL,
    org TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_type ON docs(type, seq);
CREATE TABLE IF NOT EXISTS idempotency (
    org TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, resource_id TEXT NOT NULL,
    PRIMARY KEY (org, key)
);
CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, org TEXT NOT NULL, scope TEXT NOT NULL, client_id TEXT,
    email TEXT, revoked INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS oauth_codes (code TEXT PRIMARY KEY, data TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL,
    webhook_id TEXT);
CREATE TABLE IF NOT EXISTS webhooks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT UNIQUE NOT NULL, url TEXT NOT NULL,
    body TEXT NOT NULL, signature TEXT NOT NULL, created_at TEXT NOT NULL,
    status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at REAL NOT NULL,
    last_response_code INTEGER, last_response_body TEXT
);
CREATE TABLE IF NOT EXISTS webhook_attempts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, webhook_id TEXT NOT NULL, attempt INTEGER NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT, response_code INTEGER, response_body TEXT,
    error TEXT
);
"""


class Store:
    """JSON documents in SQLite. Private keys (starting with ``_``) never leave the sandbox."""

    def __init__(self, path: str):
        self.path = path
        self.lock = threading.RLock()
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        if path != ":memory:":
            self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(SCHEMA)
        self._depth = 0

    @contextmanager
    def transaction(self):
        with self.lock:
            if self._depth == 0:
                self.conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self.conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self.conn.execute("COMMIT")

    def execute(self, sql: str, params=()):
        with self.lock:
            return self.conn.execute(sql, params)

    # -- documents -----------------------------------------------------------------
    def insert(self, rtype: str, doc: dict, org: str | None) -> dict:
        self.execute(
            "INSERT INTO docs (id, type, org, data) VALUES (?, ?, ?, ?)",
            (doc["id"], rtype, org, json.dumps(doc)),
        )
        return doc

    def save(self, doc: dict) -> dict:
        self.execute("UPDATE docs SET data = ? WHERE id = ?", (json.dumps(doc), doc["id"]))
        return doc

    def get(self, rtype: str, doc_id, org: str | None = None) -> dict | None:
        if not isinstance(doc_id, str):
            return None
        row = self.execute("SELECT type, org, data FROM docs WHERE id = ?", (doc_id,)).fetchone()
        if row is None or row["type"] != rtype or (org is not None and row["org"] != org):
            return None
        return json.loads(row["data"])

    def seq_of(self, doc_id: str) -> int | None:
        row = self.execute("SELECT seq FROM docs WHERE id = ?", (doc_id,)).fetchone()
        return row["seq"] if row else None

    def all(self, rtype: str, org: str | None = None) -> list[tuple[int, dict]]:
        """Every document of a type, oldest first, as (seq, doc)."""
        if org is None:
            rows = self.execute(
                "SELECT seq, data FROM docs WHERE type = ? ORDER BY seq", (rtype,)
            ).fetchall()
        else:
            rows = self.execute(
                "SELECT seq, data FROM docs WHERE type = ? AND org = ? ORDER BY seq", (rtype, org)
            ).fetchall()
        return [(row["seq"], json.loads(row["data"])) for row in rows]

    def scan(self, rtype, org=None, newest_first=True, after_seq=None, keep=None, chunk=200):
        """The documents of a type as (seq, doc), newest first (else oldest first), beyond
        ``after_seq`` in that order (older than it, else newer), read a chunk at a time: a
        list stops reading once its page is full. ``keep``: a test of a document's
        ``created_at`` (its text, or None), made before the document is decoded."""
        bound = after_seq
        while True:
            clauses, params = ["type = ?"], [rtype]
            if org is not None:
                clauses.append("org = ?")
                params.append(org)
            if bound is not None:
                clauses.append("seq < ?" if newest_first else "seq > ?")
                params.append(bound)
            rows = self.execute(
                "SELECT seq, data, json_extract(data, '$.created_at') AS created_at FROM docs"
                f" WHERE {' AND '.join(clauses)}"
                f" ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT ?",
                (*params, chunk),
            ).fetchall()
            for row in rows:
                if keep is None or keep(row["created_at"]):
                    yield row["seq"], json.loads(row["data"])
            if len(rows) < chunk:
                return
            bound = rows[-1]["seq"]

    # -- key/value -----------------------------------------------------------------
    def kv_get(self, key: str, default=None):
        row = self.execute("SELECT v FROM kv WHERE k = ?", (key,)).fetchone()
        return json.loads(row["v"]) if row else default

    def kv_set(self, key: str, value) -> None:
        self.execute(
            "INSERT INTO kv (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
            (key, json.dumps(value)),
        )

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def public(doc):
    """Strip private ``_`` keys (recursively) before a document goes out."""
    if isinstance(doc, dict):
        return {k: public(v) for k, v in doc.items() if not k.startswith("_")}
    if isinstance(doc, list):
        return [public(v) for v in doc]
    return doc
