"""Lists: filters, date ranges, cursor pagination (newest first) and ``include``."""

from __future__ import annotations

import datetime as dt
import itertools
import re

from .core import Validation, dig, field_error, invalid_api_usage, parse_ts
from .resources.payouts import PAYOUT_ITEMS_RETENTION_DAYS

LINK_FILTERS = {
    "customer_bank_accounts": {"customer": "links.customer"},
    "billing_requests": {"customer": "links.customer"},
    "mandates": {
        "customer": "links.customer",
        "customer_bank_account": "links.customer_bank_account",
        "creditor": "links.creditor",
        "reference": "reference",
        "scheme": "scheme",
    },
    "payments": {
        "mandate": "links.mandate",
        "creditor": "links.creditor",
        "currency": "currency",
        "scheme": "scheme",
        "subscription": "links.subscription",
    },
    "refunds": {"payment": "links.payment", "mandate": "links.mandate"},
    "payouts": {
        "currency": "currency",
        "payout_type": "payout_type",
        "reference": "reference",
        "creditor": "links.creditor",
    },
    "events": {
        key: "links." + key
        for key in (
            "payment",
            "mandate",
            "billing_request",
            "refund",
            "payout",
            "customer",
            "parent_event",
            "subscription",
            "creditor",
        )
    }
    | {"resource_type": "resource_type", "action": "action"},
}


INCLUDES = {
    "billing_request": "billing_requests",
    "creditor": "creditors",
    "customer": "customers",
    "mandate": "mandates",
    "payment": "payments",
    "payout": "payouts",
    "refund": "refunds",
}


LINKED_KEYS = [
    "billing_requests",
    "creditors",
    "customers",
    "instalment_schedules",
    "mandates",
    "outbound_payments",
    "payer_authorisations",
    "payment_account_transactions",
    "payments",
    "payouts",
    "refunds",
    "scheme_identifiers",
    "subscriptions",
]


class ListingMixin:
    def _list_params(self, rtype, query):
        q = {k: v[-1] for k, v in query.items()}
        v = Validation(rtype)
        limit = 50
        if "limit" in q:
            if not re.fullmatch(r"\d{1,6}", q["limit"]) or not 1 <= int(q["limit"]) <= 500:
                v.add("limit", "must be a number between 1 and 500")
            else:
                limit = int(q["limit"])
        ranges = []
        for key, value in q.items():
            match = re.fullmatch(r"(created_at|charge_date)\[(gt|gte|lt|lte)\]", key)
            if match:
                try:
                    bound = (
                        parse_ts(value)
                        if match.group(1) == "created_at"
                        else dt.date.fromisoformat(value)
                    )
                except ValueError:
                    v.add(match.group(1), "is not a valid date/time")
                    continue
                ranges.append((match.group(1), match.group(2), bound))
        if rtype == "payout_items" and not q.get("payout"):
            v.add("payout", "is required")
        include = q.get("include")
        if include is not None:
            if rtype != "events" or include not in INCLUDES:
                v.add("include", "is invalid")
            elif not q.get("resource_type"):
                v.add("include", "requires resource_type")
        v.check()
        return q, limit, ranges, include

    def _check_payout_items_available(self, org, payout_id):
        """GoCardless answers 410 Gone for the items of a payout older than six months."""
        payout = self.store.get("payouts", payout_id, org)
        if payout is None:
            return
        age = self.engine.now() - parse_ts(payout["created_at"])
        if age > dt.timedelta(days=PAYOUT_ITEMS_RETENTION_DAYS):
            raise invalid_api_usage(
                410,
                "payout_items_gone",
                "Payout items are not available for payouts older than 6 months",
            )

    def _matches(self, rtype, doc, q, ranges):
        if rtype == "payout_items" and doc["_payout"] != q["payout"]:
            return False
        if "status" in q and doc.get("status") not in q["status"].split(","):
            return False
        if (
            rtype == "customer_bank_accounts"
            and "enabled" in q
            and str(doc["enabled"]).lower() != q["enabled"].lower()
        ):
            return False
        if rtype == "payments" and "customer" in q:
            mandate = self.store.get("mandates", doc["links"]["mandate"] or "")
            if not mandate or mandate["links"]["customer"] != q["customer"]:
                return False
        if any(
            param in q and dig(doc, path) != q[param]
            for param, path in LINK_FILTERS.get(rtype, {}).items()
        ):
            return False
        return self._in_ranges(doc, ranges)

    def list(self, rtype, org, query):
        q, limit, ranges, include = self._list_params(rtype, query)
        if rtype == "payout_items":
            self._check_payout_items_available(org, q["payout"])

        created = [item for item in ranges if item[0] == "created_at"]

        def keep(created_at):
            # Out of the ``created_at`` ranges: left without decoding the document.
            return self._in_ranges({"created_at": created_at}, created)

        def matching(newest_first, after_seq):
            return (
                (seq, doc)
                for seq, doc in self.store.scan(
                    rtype, org, newest_first, after_seq, keep if created else None
                )
                if self._matches(rtype, doc, q, ranges)
            )

        cursors = {}
        for name in ("after", "before"):
            if name in q:
                cursors[name] = self.store.seq_of(q[name])
                if cursors[name] is None:
                    raise field_error(name, "is not a valid cursor")
        if "before" in q:
            # The page just newer than the cursor, newest first.
            candidates = matching(False, cursors["before"])
            if "after" in cursors:  # both cursors: between them
                below = cursors["after"]
                candidates = itertools.takewhile(lambda item: item[0] < below, candidates)
            newer = list(itertools.islice(candidates, limit + 1))
            page = newer[:limit][::-1]
            has_newer = len(newer) > limit
            has_older = True
        else:
            older = list(itertools.islice(matching(True, cursors.get("after")), limit + 1))
            page = older[:limit]
            has_newer = "after" in q
            has_older = len(older) > limit
        records = [self.engine.render(rtype, doc) for _, doc in page]
        body = {
            rtype: records,
            "meta": {
                "cursors": {
                    "before": page[0][1]["id"] if page and has_newer else None,
                    "after": page[-1][1]["id"] if page and has_older else None,
                },
                "limit": limit,
            },
        }
        if rtype == "events":
            body["linked"] = {key: [] for key in LINKED_KEYS}
        if include:
            linked_type = INCLUDES[include]
            seen, linked = set(), []
            for record in records:
                linked_id = (record.get("links") or {}).get(include)
                if linked_id and linked_id not in seen:
                    seen.add(linked_id)
                    doc = self.store.get(linked_type, linked_id, org)
                    if doc:
                        linked.append(self.engine.render(linked_type, doc))
            body["linked"][linked_type] = linked
        return body

    @staticmethod
    def _in_ranges(doc, ranges):
        for field, op, bound in ranges:
            raw = doc.get(field)
            if raw is None:
                return False
            value = parse_ts(raw) if field == "created_at" else dt.date.fromisoformat(raw)
            if not {
                "gt": value > bound,
                "gte": value >= bound,
                "lt": value < bound,
                "lte": value <= bound,
            }[op]:
                return False
        return True
