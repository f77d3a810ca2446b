from . import payment_method
from . import payment_provider
