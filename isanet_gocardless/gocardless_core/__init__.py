"""Framework-free GoCardless helpers for the ``isanet_gocardless`` Odoo addon.

This package never imports ``odoo``: it only uses the standard library,
``gocardless_pro`` and ``phonenumbers``, so it is tested with plain pytest.
"""

from . import amounts, client, customers, errors, events, phones, schemes, webhooks
