from . import gocardless_demo
