from . import test_payment_provider
from . import test_invoice_offer
from . import test_portal
from . import test_webhook
from . import test_payment_flow
from . import test_event_outcomes
from . import test_connect
from . import test_browser_flow
