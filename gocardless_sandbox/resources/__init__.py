"""The sandbox's resources, one module each, as GoCardless's API reference groups them; each
module gives :class:`gocardless_sandbox.engine.Engine` one mixin."""
