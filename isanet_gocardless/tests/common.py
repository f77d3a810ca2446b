from odoo.addons.payment.tests.common import PaymentCommon


class GoCardlessCommon(PaymentCommon):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.gocardless = cls._prepare_provider(
            "gocardless",
            update_values={
                "gocardless_access_token": "sandbox_test_token",
                "gocardless_webhook_secret": "webhook-secret",
            },
        )
        cls.provider = cls.gocardless
