/** @odoo-module **/

import paymentPostProcessing from "@payment/js/post_processing";

paymentPostProcessing.include({
    /**
     * Don't wait for the direct debit to be collected before redirecting customers to the
     * landing route: GoCardless transactions stay `pending` for several working days.
     *
     * @override method from `@payment/js/post_processing`
     * @param {string} providerCode - The code of the provider handling the transaction.
     */
    _getFinalStates(providerCode) {
        const finalStates = this._super(...arguments);
        if (providerCode === "gocardless") {
            finalStates.add("pending");
        }
        return finalStates;
    },
});
