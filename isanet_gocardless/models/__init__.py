from . import payment_method
from . import payment_provider
from . import account_move
from . import account_move_send
from . import payment_token
from . import payment_transaction
from . import res_partner
from . import gocardless_event
