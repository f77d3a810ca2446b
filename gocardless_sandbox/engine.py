"""GoCardless business rules, one module a resource (``resources/``), composed here.

All methods expect to run inside ``store.transaction()`` (the HTTP layer and the admin helpers
take care of that). Documents keep GoCardless's public shape plus private ``_`` keys.
"""

from __future__ import annotations

from .core import Store, Validation, public
from .resources.bank_accounts import BankAccountsMixin
from .resources.billing_request_flows import BillingRequestFlowsMixin
from .resources.billing_requests import BillingRequestsMixin
from .resources.clock import ClockMixin
from .resources.creditors import CreditorsMixin
from .resources.customers import CUSTOMER_KEYS, CustomersMixin
from .resources.events import EventsMixin
from .resources.mandates import ACTIVE_MANDATE, MandatesMixin
from .resources.payments import PaymentsMixin
from .resources.payouts import PAYOUT_ITEMS_RETENTION_DAYS, PayoutsMixin, tenths_str
from .resources.refunds import RefundsMixin
from .resources.simulators import SimulatorsMixin
from .resources.state import StateMixin

__all__ = ["ACTIVE_MANDATE", "PAYOUT_ITEMS_RETENTION_DAYS", "Engine"]


class Engine(
    ClockMixin,
    CreditorsMixin,
    EventsMixin,
    StateMixin,
    CustomersMixin,
    BankAccountsMixin,
    BillingRequestsMixin,
    BillingRequestFlowsMixin,
    MandatesMixin,
    PaymentsMixin,
    RefundsMixin,
    PayoutsMixin,
    SimulatorsMixin,
):
    def __init__(
        self,
        store: Store,
        creditor_name: str = "Sandbox Creditor Ltd",
        fee_percent_tenths: int = 10,
        fee_fixed: int = 20,
        fee_cap: int = 400,
    ):
        self.store = store
        self.creditor_name = creditor_name
        # fee = amount * fee_percent_tenths / 1000 + fee_fixed, capped (all minor units)
        self.fee_percent_tenths = fee_percent_tenths
        self.fee_fixed = fee_fixed
        self.fee_cap = fee_cap
        self.event_listeners = []

    def render(self, rtype: str, doc: dict) -> dict:
        if rtype == "mandates":
            doc = dict(doc)
            doc["next_possible_charge_date"] = self.next_possible_charge_date(doc)
        elif rtype == "billing_requests":
            return self.render_billing_request(doc)
        elif rtype == "payout_items":
            doc = dict(doc)
            doc["amount"] = tenths_str(doc["_tenths"])
        return public(doc)

    def update_metadata(self, rtype, org, doc_id, body, envelope):
        doc = self.fetch(rtype, doc_id, org)
        v = Validation(envelope)
        meta = v.metadata(body)
        extra = {}
        if rtype == "customers":
            for key in CUSTOMER_KEYS:
                if key in body:
                    extra[key] = v.string(body, key, max_len=500)
            self._check_common_customer(v, extra, "")
        if rtype == "payments" and "retry_if_possible" in body:
            extra["retry_if_possible"] = v.boolean(body, "retry_if_possible")
        v.check()
        doc.update(extra)
        if meta is not None:
            doc["metadata"] = meta
        self.store.save(doc)
        return doc
