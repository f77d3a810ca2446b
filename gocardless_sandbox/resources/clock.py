"""The simulated clock and the day-by-day scheduler: what falls due each day happens in order."""

from __future__ import annotations

import datetime as dt

from ..core import fmt_ts


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
        for _, mandate in self.store.all("mandates"):
            if mandate["status"] == "pending_submission" and self._due(mandate, "submitted", day):
                self.mandate_submit(mandate, day)
            if mandate["status"] == "submitted" and self._due(mandate, "active", day):
                self.mandate_activate(mandate, day)
        for _, payment in self.store.all("payments"):
            if payment["status"] == "failed" and self._due(payment, "autoretry", day):
                self.payment_autoretry(payment, day)
            if payment["status"] == "pending_submission" and self._due(payment, "submitted", day):
                self.payment_submit(payment, day)
            if payment["status"] == "submitted" and self._due(payment, "confirmed", day):
                self.payment_confirm(payment, day)
            if payment["status"] == "confirmed" and self._due(payment, "paid_out", day):
                self.payment_pay_out(payment, day)
        for _, refund in self.store.all("refunds"):
            if refund["status"] == "created" and self._due(refund, "submitted", day):
                self.refund_submit(refund, day)
            if refund["status"] == "submitted" and self._due(refund, "paid", day):
                self.refund_pay(refund, day)
        for _, payout in self.store.all("payouts"):
            if payout["status"] == "pending" and self._due(payout, "paid", day):
                self.payout_paid(payout, day)
        if day.weekday() < 5:
            self.run_payouts(day)
