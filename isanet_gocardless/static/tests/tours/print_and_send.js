/** @odoo-module */
// Copyright 2026 Isanet
// License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).

import {registry} from "@web/core/registry";

// The merchant's first Print & Send from an invoice's form: Odoo first asks for the document
// layout (Continue), then shows the sending wizard, which emails the invoice.
registry.category("web_tour.tours").add("isanet_gocardless_print_and_send", {
    steps: () => [
        {
            content: "Print & Send the posted invoice",
            trigger: ".o_form_view .o_statusbar_buttons button[name='action_invoice_sent']",
            run: "click",
        },
        {
            content: "The document layout dialog: Continue",
            trigger: ".modal button[name='document_layout_save']",
            run: "click",
        },
        {
            content: "The sending wizard, in place of the layout dialog: Print & Send",
            trigger: ".modal button[name='action_send_and_print']",
            run: "click",
        },
        {
            content: "The wizard closed without an error; the invoice's chatter has the email",
            trigger: "body:not(:has(.modal)) .o-mail-Message .o_gocardless_mail_cta",
        },
    ],
});
