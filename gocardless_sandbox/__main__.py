"""CLI: ``python -m gocardless_sandbox --port 8765 --webhook-url URL --webhook-secret S``."""

from __future__ import annotations

import argparse
import logging
import sys

from .server import SandboxServer


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gocardless_sandbox", description="Local GoCardless API sandbox"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--db",
        default="gocardless_sandbox.sqlite3",
        help="SQLite file (state survives restarts); ':memory:' for none",
    )
    parser.add_argument("--public-url", help="base URL for hosted pages (authorisation_url)")
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret", default="")
    parser.add_argument(
        "--access-token",
        action="append",
        default=[],
        help="accepted API token (repeatable); default: sandbox_token",
    )
    parser.add_argument(
        "--oauth-client",
        action="append",
        default=[],
        metavar="CLIENT_ID:SECRET",
        help="OAuth app credentials (repeatable)",
    )
    parser.add_argument("--creditor-name", default="Sandbox Creditor Ltd")
    parser.add_argument("--rate-limit", type=int, default=1000, help="requests per minute")
    parser.add_argument(
        "--webhook-backoff",
        type=float,
        default=60.0,
        help="seconds before the first webhook retry (doubles each time)",
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    clients = {}
    for item in args.oauth_client:
        client_id, sep, secret = item.partition(":")
        if not sep:
            parser.error("--oauth-client must be CLIENT_ID:SECRET")
        clients[client_id] = secret
    tokens = args.access_token or ["sandbox_token"]
    server = SandboxServer(
        port=args.port,
        host=args.host,
        db_path=args.db,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        access_tokens=tokens,
        oauth_clients=clients,
        public_url=args.public_url,
        rate_limit=args.rate_limit,
        creditor_name=args.creditor_name,
        backoff_base=args.webhook_backoff,
    )
    print(
        f"GoCardless sandbox on {server.url} (db {args.db}); tokens: {len(tokens)}",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
