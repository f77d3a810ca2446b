from odoo.addons.payment import reset_payment_provider, setup_provider


def post_init_hook(env):
    """Create the provider's account payment method and link it to journals."""
    setup_provider(env, "gocardless")


def uninstall_hook(env):
    """Reset the GoCardless provider to an empty, disabled provider."""
    reset_payment_provider(env, "gocardless")
