from . import main
from . import portal
from . import oauth
from . import portal_mandates
