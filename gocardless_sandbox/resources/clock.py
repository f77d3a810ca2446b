"""The simulated clock and the day-by-day scheduler: what falls due each day happens in order."""

from __future__ import annotations

import datetime as dt

from ..core import fmt_ts

# What falls due on a day, in this order: per resource type, the steps (status, due date's
# key in ``_due``, the method that takes the next step); a document may take several a day.
SCHEDULE = (
    (
        "mandates",
        (
            ("pending_submission", "submitted", "mandate_submit"),
            ("submitted", "active", "mandate_activate"),
        ),
    ),
    (
        "payments",
        (
            ("failed", "autoretry", "payment_autoretry"),
            ("pending_submission", "submitted", "payment_submit"),
            ("submitted", "confirmed", "payment_confirm"),
            ("confirmed", "paid_out", "payment_pay_out"),
        ),
    ),
    (
        "refunds",
        (("created", "submitted", "refund_submit"), ("submitted", "paid", "refund_pay")),
    ),
    ("payouts", (("pending", "paid", "payout_paid"),)),
)


class ClockMixin:
    def now(self) -> dt.datetime:
        offset = self.store.kv_get("clock_offset_seconds", 0)
        return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=offset)

    def today(self) -> dt.date:
        return self.now().date()

    def stamp(self, day: dt.date | None = None) -> str:
        now = self.now()
        if day is None or day >= now.date():
            return fmt_ts(now)
        return fmt_ts(dt.datetime.combine(day, now.timetz()))

    def advance_clock(self, days: float = 0, hours: float = 0) -> None:
        offset = self.store.kv_get("clock_offset_seconds", 0)
        offset += int(days * 86400 + hours * 3600)
        self.store.kv_set("clock_offset_seconds", offset)
        self.tick()

    def tick(self) -> None:
        """Process every simulated day since the last tick (day-by-day, in order)."""
        today = self.today()
        last = self.store.kv_get("last_tick_date")
        last = dt.date.fromisoformat(last) if last else today
        day = last
        while day < today:
            day += dt.timedelta(days=1)
            self.process_day(day)
            self.store.kv_set("last_tick_date", day.isoformat())
        if last > today:
            self.store.kv_set("last_tick_date", today.isoformat())

    def _due(self, doc, key, day):
        due = (doc.get("_due") or {}).get(key)
        return due is not None and due <= day.isoformat()

    def process_day(self, day: dt.date) -> None:
        for rtype, steps in SCHEDULE:
            for _, doc in self.store.all(rtype):
                for status, key, method in steps:
                    if doc["status"] == status and self._due(doc, key, day):
                        getattr(self, method)(doc, day)
        if day.weekday() < 5:
            self.run_payouts(day)
