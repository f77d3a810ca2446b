# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
{
    "name": "Payment Provider: GoCardless",
    "version": "18.0.1.0.0",
    "category": "Accounting/Payment Providers",
    "sequence": 350,
    "summary": "Get invoices paid by direct debit (SEPA, Bacs, ACH, BECS, PAD...) "
    "through GoCardless.",
    "author": "Isanet",
    "license": "LGPL-3",
    "depends": ["account_payment"],
    # Plain names: Odoo reads version ranges only where Python's `packaging` is installed,
    # which Odoo's requirements do not bring. The addon's package gets requirements.txt's
    # ranges (pyproject.toml, external_dependencies_override).
    "external_dependencies": {"python": ["gocardless_pro", "phonenumbers"]},
    "data": [
        "views/payment_provider_views.xml",
        "views/payment_provider_connect_views.xml",
        "views/payment_gocardless_templates.xml",
        "views/account_move_views.xml",
        "views/res_partner_views.xml",
        "views/portal_mandate_templates.xml",
        # Payment methods before the provider record, which links them.
        "data/payment_method_data.xml",
        "data/payment_provider_data.xml",
        # Webhook event ledger.
        "security/ir.model.access.csv",
        "security/gocardless_event_security.xml",
        "data/ir_cron_data.xml",
        "data/ir_cron_sync_data.xml",
        "data/ir_cron_attempt_data.xml",
        "views/gocardless_event_views.xml",
        # Payouts.
        "data/ir_cron_payout_data.xml",
        "views/gocardless_payout_views.xml",
        # Cash proof.
        "security/gocardless_cash_proof_security.xml",
        "data/ir_cron_cash_proof_data.xml",
        "views/gocardless_cash_proof_views.xml",
        "report/gocardless_cash_proof_report.xml",
    ],
    "demo": [
        "demo/gocardless_demo.xml",
    ],
    "assets": {
        "web.assets_frontend": [
            "isanet_gocardless/static/src/js/post_processing.js",
        ],
        "web.assets_tests": [
            "isanet_gocardless/static/tests/tours/**/*",
        ],
    },
    "post_init_hook": "post_init_hook",
    "uninstall_hook": "uninstall_hook",
}
