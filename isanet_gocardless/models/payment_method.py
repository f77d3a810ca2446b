from odoo import api, models

from .. import const
from ..gocardless_core import schemes


class PaymentMethod(models.Model):
    _inherit = "payment.method"

    @api.model
    def _gocardless_apply_scheme_rules(self):
        """Restrict the methods this module declares to their scheme's currency and countries.

        The rules are read from the framework-free core, so that they are written once. Odoo's
        own direct-debit methods keep the restrictions Odoo gives them.

        :return: None
        """
        Currency = self.env["res.currency"].with_context(active_test=False)
        Country = self.env["res.country"]
        for method in self.with_context(active_test=False).search(
            [("code", "in", sorted(const.OWN_PAYMENT_METHOD_CODES))]
        ):
            currency = Currency.search(
                [("name", "=", schemes.currency_for_payment_method(method.code))]
            )
            countries = Country.search(
                [("code", "in", sorted(schemes.countries_for_payment_method(method.code)))]
            )
            method.write(
                {
                    "supported_currency_ids": [(6, 0, currency.ids)],
                    "supported_country_ids": [(6, 0, countries.ids)],
                }
            )

    @api.model
    def _gocardless_translate_scheme_names(self):
        """Give Odoo's direct-debit methods the name of their scheme in each installed language
        where Odoo leaves it in English (e.g. "BACS Direct Debit" on a French screen).

        A translation Odoo or the merchant gave is kept.

        :return: None
        """
        Provider = self.env["payment.provider"]
        methods = self.with_context(active_test=False).search(
            [("code", "in", [scheme.payment_method_code for scheme in schemes.SCHEMES.values()])]
        )
        for lang, _name in self.env["res.lang"].get_installed():
            if lang == "en_US":
                continue
            labels = Provider.with_context(lang=lang)._gocardless_scheme_labels()
            for method in methods:
                scheme = schemes.scheme_from_payment_method_code(method.code)
                english = method.with_context(lang="en_US").name
                translated = method.with_context(lang=lang)
                if translated.name == english and labels[scheme] != english:
                    translated.name = labels[scheme]
