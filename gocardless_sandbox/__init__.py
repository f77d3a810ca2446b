"""A faithful local GoCardless (Pro API) sandbox: stdlib only, state in SQLite.

``python -m gocardless_sandbox --port 8765 ...`` or, from Python::

    from gocardless_sandbox import SandboxServer
    server = SandboxServer(port=0, db_path="gc.sqlite3", access_tokens=["T"],
                           webhook_url="http://127.0.0.1:8069/payment/gocardless/webhook",
                           webhook_secret="S").start()
    ...
    server.stop()
"""

from .server import Sandbox, SandboxServer
from .webhooks import sign

__all__ = ["Sandbox", "SandboxServer", "sign"]
