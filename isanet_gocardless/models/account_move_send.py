from markupsafe import Markup

from odoo import api, models


class AccountMoveSend(models.AbstractModel):
    _inherit = "account.move.send"

    @api.model
    def _get_default_mail_body(self, move, mail_template, mail_lang):
        """Override of `account` to put a direct-debit call to action first in the invoice email.

        When the invoice offers direct debit, the email opens with it, in the customer's
        language, above the template's text (its bank transfer instructions and signature).
        Extending the shared abstract model reaches both the single and the batch sending
        wizards; the (noupdate) mail template itself is left untouched.
        """
        body = super()._get_default_mail_body(move, mail_template, mail_lang)
        pre_notice = move.with_context(lang=mail_lang).gocardless_pre_notice
        if pre_notice:
            # A debit is scheduled: tell when and how much (SEPA's pre-notification).
            return (
                Markup(body or "")
                + Markup('<p class="o_gocardless_pre_notice" style="margin: 16px 0px;">%s</p>')
                % pre_notice
            )
        if not move._gocardless_is_payable():
            return body
        return self.with_context(lang=mail_lang)._gocardless_mail_cta(move) + Markup(body or "")

    @api.model
    def _gocardless_mail_cta(self, move):
        """Return the HTML block inviting the customer to pay the invoice by direct debit.

        :param account.move move: The invoice offered to direct debit.
        :return: The call to action, in the language of the context.
        :rtype: markupsafe.Markup
        """
        return Markup(
            '<div class="o_gocardless_mail_cta" style="margin: 0px 0px 24px 0px; padding: 16px; '
            'border: 1px solid #d8dadd; border-radius: 6px;">'
            '<p style="margin: 0px 0px 12px 0px; font-size: 15px;">%(text)s</p>'
            '<a href="%(url)s" style="display: inline-block; background-color: #875A7B; '
            "padding: 10px 20px; font-size: 15px; font-weight: bold; text-decoration: none; "
            'color: #fff; border-radius: 5px;">%(label)s</a>'
            "</div>"
        ) % {
            "text": self.env._(
                "You can pay this invoice by direct debit: authorise it once, and the amount "
                "is collected from your bank account."
            ),
            "url": move._gocardless_get_payment_url(),
            "label": self.env._("Pay by direct debit"),
        }
