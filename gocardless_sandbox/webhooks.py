"""Webhook outbox: batches pending events, signs and POSTs them, retries with backoff.

Body ``{"events": [...], "meta": {"webhook_id": "WB..."}}``; header ``Webhook-Signature`` is
hex HMAC-SHA256 of the raw body keyed with the endpoint secret. A retry re-sends the exact same
bytes (so the same signature). Attempts are logged in ``webhook_attempts``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.error
import urllib.request

from .core import fmt_ts, new_id, public

log = logging.getLogger("gocardless_sandbox.webhooks")


def sign(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class Dispatcher:
    def __init__(
        self,
        store,
        engine,
        webhook_url=None,
        webhook_secret="",
        max_batch=250,
        max_attempts=8,
        backoff_base=60.0,
        timeout=10.0,
        poll_interval=0.2,
        origin="https://api-sandbox.gocardless.com",
    ):
        self.store = store
        self.engine = engine
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.max_batch = max_batch
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.origin = origin
        self._stop = threading.Event()
        self._thread = None
        self._send_lock = threading.Lock()

    # -- batching ----------------------------------------------------------------------
    def batch_pending(self) -> int:
        """Turn un-batched outbox events into webhook records; returns how many created."""
        if not self.webhook_url:
            return 0
        created = 0
        with self.store.transaction():
            rows = self.store.execute(
                "SELECT seq, event_id FROM outbox WHERE webhook_id IS NULL ORDER BY seq"
            ).fetchall()
            for start in range(0, len(rows), self.max_batch):
                chunk = rows[start : start + self.max_batch]
                events = []
                for row in chunk:
                    event = self.store.get("events", row["event_id"])
                    if event is not None:
                        events.append(public(event))
                webhook_id = new_id("WB")
                body = json.dumps(
                    {"events": events, "meta": {"webhook_id": webhook_id}}, separators=(",", ":")
                )
                self.store.execute(
                    "INSERT INTO webhooks (id, url, body, signature, created_at, status, "
                    "next_attempt_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)",
                    (
                        webhook_id,
                        self.webhook_url,
                        body,
                        sign(body.encode("utf-8"), self.webhook_secret),
                        fmt_ts(self.engine.now()),
                        time.time(),
                    ),
                )
                self.store.execute(
                    "UPDATE outbox SET webhook_id = ? WHERE seq BETWEEN ? AND ?",
                    (webhook_id, chunk[0]["seq"], chunk[-1]["seq"]),
                )
                created += 1
        return created

    # -- delivery ----------------------------------------------------------------------
    def deliver_due(self, force=False) -> int:
        with self._send_lock:
            with self.store.lock:
                rows = self.store.execute(
                    "SELECT * FROM webhooks WHERE status IN ('pending', 'retrying') "
                    + ("" if force else "AND next_attempt_at <= ? ")
                    + "ORDER BY seq",
                    () if force else (time.time(),),
                ).fetchall()
            for row in rows:
                self._attempt(dict(row))
            return len(rows)

    def _attempt(self, hook: dict) -> None:
        attempt = hook["attempts"] + 1
        started = fmt_ts(self.engine.now())
        body = hook["body"].encode("utf-8")
        request = urllib.request.Request(
            hook["url"],
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Webhook-Signature": hook["signature"],
                "Origin": self.origin,
                "User-Agent": "gocardless-webhook-service/1.1",
            },
        )
        code, response_body, error = None, None, None
        try:
            with _NO_REDIRECTS.open(request, timeout=self.timeout) as response:
                code = response.status
                response_body = response.read(4096).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            code = exc.code
            try:
                response_body = exc.read(4096).decode("utf-8", "replace")
            except Exception:  # noqa: BLE001 - the body is informational only
                response_body = None
        except Exception as exc:  # noqa: BLE001 - timeouts, refused connections, ...
            error = f"{type(exc).__name__}: {exc}"
        ok = code is not None and 200 <= code < 300
        if ok:
            status, next_at = "succeeded", 0.0
        elif attempt >= self.max_attempts:
            status, next_at = "failed", 0.0
        else:
            status = "retrying"
            next_at = time.time() + self.backoff_base * (2 ** (attempt - 1))
        log.info("webhook %s attempt %s -> %s %s", hook["id"], attempt, code, error or "")
        with self.store.transaction():
            self.store.execute(
                "INSERT INTO webhook_attempts (webhook_id, attempt, started_at, finished_at, "
                "response_code, response_body, error) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    hook["id"],
                    attempt,
                    started,
                    fmt_ts(self.engine.now()),
                    code,
                    response_body,
                    error,
                ),
            )
            self.store.execute(
                "UPDATE webhooks SET attempts = ?, status = ?, next_attempt_at = ?, "
                "last_response_code = ?, last_response_body = ? WHERE id = ?",
                (attempt, status, next_at, code, response_body, hook["id"]),
            )

    def flush(self) -> dict:
        """Batch everything pending and try every undelivered webhook now."""
        batched = self.batch_pending()
        attempted = self.deliver_due(force=True)
        return {"batched": batched, "attempted": attempted}

    def retry(self, webhook_id: str) -> bool:
        with self.store.transaction():
            row = self.store.execute(
                "SELECT id FROM webhooks WHERE id = ?", (webhook_id,)
            ).fetchone()
            if row is None:
                return False
            self.store.execute(
                "UPDATE webhooks SET status = 'retrying', next_attempt_at = ? WHERE id = ?",
                (time.time(), webhook_id),
            )
        return True

    # -- log ---------------------------------------------------------------------------
    def deliveries(self) -> list[dict]:
        with self.store.lock:
            hooks = self.store.execute("SELECT * FROM webhooks ORDER BY seq").fetchall()
            attempts = self.store.execute("SELECT * FROM webhook_attempts ORDER BY seq").fetchall()
        by_hook: dict[str, list] = {}
        for row in attempts:
            by_hook.setdefault(row["webhook_id"], []).append(
                {
                    "attempt": row["attempt"],
                    "started_at": row["started_at"],
                    "finished_at": row["finished_at"],
                    "response_code": row["response_code"],
                    "response_body": row["response_body"],
                    "error": row["error"],
                }
            )
        return [
            {
                "id": row["id"],
                "url": row["url"],
                "created_at": row["created_at"],
                "status": row["status"],
                "attempts": row["attempts"],
                "request_body": row["body"],
                "signature": row["signature"],
                "response_code": row["last_response_code"],
                "event_ids": [e["id"] for e in json.loads(row["body"])["events"]],
                "attempt_log": by_hook.get(row["id"], []),
            }
            for row in hooks
        ]

    # -- thread ------------------------------------------------------------------------
    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="gc-sandbox-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=self.timeout + 2)

    def _run(self) -> None:
        last_tick = 0.0
        while not self._stop.is_set():
            try:
                if time.time() - last_tick > 1.0:
                    with self.store.transaction():
                        self.engine.tick()
                    last_tick = time.time()
                self.batch_pending()
                self.deliver_due()
            except Exception:  # noqa: BLE001 - keep the dispatcher alive, but say why
                log.exception("webhook dispatcher cycle failed")
            self._stop.wait(self.poll_interval)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """GoCardless does not follow redirects: a 3xx counts as a failed delivery."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_NO_REDIRECTS = urllib.request.build_opener(_NoRedirect())
