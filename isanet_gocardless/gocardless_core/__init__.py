"""Framework-free GoCardless helpers for the ``isanet_gocardless`` Odoo addon.

This package never imports ``odoo``: it only uses the standard library,
``gocardless_pro``, ``phonenumbers`` and ``requests`` (OAuth connect), so it is tested with
plain pytest.
"""

from . import (
    amounts,
    catchup,
    client,
    customers,
    debits,
    errors,
    events,
    oauth,
    payouts,
    pacing,
    phones,
    refunds,
    schemes,
    webhooks,
)
