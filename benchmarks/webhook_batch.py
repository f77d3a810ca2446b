#!/usr/bin/env python3
"""How fast Odoo answers a GoCardless webhook of a full batch of events.

GoCardless counts a delivery as failed when no 2xx comes back within 10 seconds, and sends
batches of events. This benchmark puts a real Odoo 18 (a fresh database with the addon) and the
local GoCardless sandbox face to face:

1. the sandbox holds one fulfilled SEPA mandate and N payments on it; Odoo holds N posted
   invoices, each with its pending GoCardless transaction;
2. the sandbox's clock is advanced until the payments are confirmed;
3. the N ``payments/confirmed`` events are POSTed to Odoo's webhook in one signed batch, as
   GoCardless would: every event makes Odoo read the payment back from the sandbox, set the
   transaction done, post the account.payment and reconcile the invoice;
4. the same batch is POSTed again (GoCardless retries): every event is a duplicate.

It prints the answer times, how many events were applied inside the request (the rest is left
to the cron, by design), the ratio of each time to GoCardless's 10-second limit, and the cost of
one event applied against Odoo's own path to the same result (the payment framework's
``_set_done()`` and account_payment's ``_post_process()``: account.payment posted and
reconciled), measured in the same database.

    python benchmarks/webhook_batch.py [--events 250] [--keep-db]

Needs what the Odoo tests need (``import odoo`` of Odoo 18, PostgreSQL: see tools/odoo_harness.py).
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gocardless_pro
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "isanet_gocardless")]

from gocardless_core import webhooks  # noqa: E402
from gocardless_sandbox import SandboxServer  # noqa: E402
from tools.odoo_harness import (  # noqa: E402
    create_fresh_db,
    drop_db,
    free_port,
    odoo_command,
    odoo_unavailable_reason,
    psql,
)

TOKEN = "bench_access_token"
SECRET = "bench-webhook-secret"
GOCARDLESS_LIMIT = 10.0

SETUP_SCRIPT = """
import json
data = json.loads({data!r})
provider = env.ref("isanet_gocardless.payment_provider_gocardless")
eur = env.ref("base.EUR")
eur.active = True
provider.write({{
    "state": "test", "is_published": True, "gocardless_access_token": data["token"],
    "gocardless_webhook_secret": data["secret"], "gocardless_api_url": data["api_url"],
}})
partner = env["res.partner"].create({{
    "name": "Benchmark Customer", "email": "bench@example.com",
    "country_id": env.ref("base.fr").id,
}})
sepa = env.ref("payment.payment_method_sepa_direct_debit")
product = env["product.product"].create({{"name": "Benchmark service"}})
for payment_id, reference in data["payments"]:
    invoice = env["account.move"].create({{
        "move_type": "out_invoice", "partner_id": partner.id, "currency_id": eur.id,
        "invoice_line_ids": [(0, 0, {{"product_id": product.id, "price_unit": 10.0,
                                      "tax_ids": [(6, 0, [])]}})],
    }})
    invoice.action_post()
    env["payment.transaction"].create({{
        "provider_id": provider.id, "payment_method_id": sepa.id, "reference": reference,
        "amount": 10.0, "currency_id": eur.id, "partner_id": partner.id,
        "operation": "online_redirect", "provider_reference": payment_id, "state": "pending",
        "invoice_ids": [(6, 0, invoice.ids)],
    }})
env.cr.commit()

# Odoo's own path to the same outcome, without the webhook: the payment framework's
# _set_done() and account_payment's _post_process() (account.payment posted and reconciled).
import time
own = env["payment.transaction"]
for index in range(data["own_count"]):
    invoice = env["account.move"].create({{
        "move_type": "out_invoice", "partner_id": partner.id, "currency_id": eur.id,
        "invoice_line_ids": [(0, 0, {{"product_id": product.id, "price_unit": 10.0,
                                      "tax_ids": [(6, 0, [])]}})],
    }})
    invoice.action_post()
    own |= env["payment.transaction"].create({{
        "provider_id": provider.id, "payment_method_id": sepa.id,
        "reference": f"OWN-{{index}}", "state": "pending", "amount": 10.0, "currency_id": eur.id,
        "partner_id": partner.id, "invoice_ids": [(6, 0, invoice.ids)],
    }})
env.cr.commit()
started = time.perf_counter()
for tx in own:
    tx._set_done()
    tx._post_process()
elapsed = time.perf_counter() - started
print("ODOO_OWN_SECONDS_PER_TX", elapsed / len(own))
env.cr.rollback()
"""


def seed_sandbox(sandbox_url, count):
    """One fulfilled SEPA mandate and ``count`` payments on it; return (payment id, ref)."""
    client = gocardless_pro.Client(access_token=TOKEN, base_url=sandbox_url)
    customer = client.customers.create(
        params={"given_name": "Bench", "family_name": "Customer", "email": "bench@example.com"}
    )
    request = client.billing_requests.create(
        params={
            "mandate_request": {"scheme": "sepa_core", "currency": "EUR"},
            "links": {"customer": customer.id},
        }
    )
    actions = client.billing_requests
    actions.collect_customer_details(
        request.id,
        params={
            "customer": {"email": "bench@example.com"},
            "customer_billing_detail": {
                "address_line1": "1 rue de la Paix",
                "city": "Paris",
                "postal_code": "75002",
                "country_code": "FR",
            },
        },
    )
    actions.collect_bank_account(
        request.id,
        params={"account_holder_name": "Bench Customer", "iban": "FR1420041010050500013M02606"},
    )
    actions.confirm_payer_details(request.id, params={})
    mandate = actions.fulfil(request.id).links.mandate_request_mandate
    payments = []
    for index in range(count):
        reference = f"BENCH-{index:04d}"
        payment = client.payments.create(
            params={
                "amount": 1000,
                "currency": "EUR",
                "links": {"mandate": mandate},
                "metadata": {"odoo_reference": reference},
            },
            headers={"Idempotency-Key": f"bench-{reference}"},
        )
        payments.append((payment.id, reference))
    return client, payments


def confirmed_events(client, count):
    events, after = [], None
    while True:
        params = {"resource_type": "payments", "action": "confirmed", "limit": 500}
        if after:
            params["after"] = after
        page = client.events.list(params=params)
        events += page.api_response.body["events"]
        after = page.after
        if not after:
            break
    if len(events) != count:
        raise SystemExit(f"the sandbox confirmed {len(events)} payments, not {count}")
    return events


def post(url, body):
    started = time.perf_counter()
    response = requests.post(
        url,
        data=body,
        headers={
            "Content-Type": "application/json",
            "Webhook-Signature": webhooks.sign(body, SECRET),
        },
        timeout=60,
    )
    return response.status_code, time.perf_counter() - started


def count_rows(dbname, sql):
    return psql(sql, dbname=dbname).stdout.strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=250)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    reason = odoo_unavailable_reason()
    if reason:
        raise SystemExit(f"cannot run: {reason}")

    var = ROOT / "var"
    data_dir = var / "odoo-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    dbname = create_fresh_db(data_dir, var, prefix="isanet_gc_bench")
    log = var / f"{dbname}.log"
    odoo = None
    sandbox = SandboxServer(
        port=0, db_path=str(Path(tempfile.mkdtemp()) / "bench.sqlite3"), access_tokens=[TOKEN]
    ).start()
    try:
        print(f"database {dbname}: installing the addon...", flush=True)
        subprocess.run(
            odoo_command(
                dbname,
                data_dir,
                "-i",
                "isanet_gocardless",
                "--stop-after-init",
                "--logfile",
                str(log),
                "--http-port",
                str(free_port()),
            ),
            cwd=ROOT,
            check=True,
        )
        print(f"sandbox {sandbox.url}: one mandate, {args.events} payments...", flush=True)
        client, payments = seed_sandbox(sandbox.url, args.events)
        print(f"odoo: {args.events} posted invoices with their pending transactions...", flush=True)
        data = {
            "token": TOKEN,
            "secret": SECRET,
            "api_url": sandbox.url,
            "payments": payments,
            "own_count": 20,
        }
        setup = subprocess.run(
            odoo_command(dbname, data_dir, "--logfile", str(log), "--no-http", subcommand="shell"),
            input=SETUP_SCRIPT.format(data=json.dumps(data)),
            text=True,
            cwd=ROOT,
            check=False,
            capture_output=True,
        )
        if setup.returncode:
            raise SystemExit(f"odoo shell failed:\n{setup.stdout[-3000:]}\n{setup.stderr[-3000:]}")
        own_per_tx = float(
            next(
                line.split()[-1]
                for line in setup.stdout.splitlines()
                if line.startswith("ODOO_OWN_SECONDS_PER_TX")
            )
        )
        sandbox.advance_clock(days=10)
        events = confirmed_events(client, args.events)
        body = json.dumps({"events": events, "meta": {"webhook_id": "WBBENCH"}}).encode()

        port = free_port()
        odoo = subprocess.Popen(
            odoo_command(
                dbname,
                data_dir,
                "--http-port",
                str(port),
                "--workers",
                "0",
                "--max-cron-threads",
                "0",
                "--logfile",
                str(log),
            ),
            cwd=ROOT,
        )
        base = f"http://127.0.0.1:{port}"
        for _attempt in range(120):
            try:
                if requests.get(base + "/web/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.5)
        health = min(post_health(base) for _ in range(5))
        webhook = base + "/payment/gocardless/webhook"
        first_code, first = post(webhook, body)
        applied = count_rows(
            dbname, "SELECT count(*) FROM gocardless_event WHERE state = 'processed'"
        )
        # Only this benchmark's records: the database holds the addon's demo data too.
        done = count_rows(
            dbname,
            "SELECT count(*) FROM payment_transaction "
            "WHERE state = 'done' AND reference LIKE 'BENCH-%'",
        )
        paid = count_rows(
            dbname,
            "SELECT count(*) FROM account_move m "
            "JOIN account_invoice_transaction_rel r ON r.invoice_id = m.id "
            "JOIN payment_transaction t ON t.id = r.transaction_id "
            "WHERE t.reference LIKE 'BENCH-%' AND m.payment_state IN ('paid', 'in_payment')",
        )
        again_code, again = post(webhook, body)
        events_rows = count_rows(dbname, "SELECT count(*) FROM gocardless_event")
    finally:
        if odoo:
            odoo.terminate()
            odoo.wait(30)
        sandbox.stop()
        if not args.keep_db:
            drop_db(dbname, data_dir)

    n = args.events
    print()
    print(f"webhook of {n} payments/confirmed events (Odoo 18, 1 worker, sandbox API on loopback)")
    print(
        f"  first delivery : HTTP {first_code} in {first:6.2f} s  "
        f"({first / GOCARDLESS_LIMIT:.0%} of GoCardless's 10 s; {first / n * 1000:.1f} ms/event)"
    )
    print(
        f"    applied in the request: {applied}/{n} events; transactions done: {done}; "
        f"invoices paid: {paid}; the rest is left to the cron"
    )
    print(
        f"  redelivery     : HTTP {again_code} in {again:6.2f} s  "
        f"({again / GOCARDLESS_LIMIT:.0%} of the limit); ledger rows: {events_rows} (no duplicate)"
    )
    per_event = first / max(int(done), 1)
    print(
        f"  per event applied in the request: {per_event * 1000:.0f} ms (payment read back from "
        "GoCardless, transaction done, payment posted and reconciled, merchant notified)"
    )
    print(
        "  Odoo's own path, _set_done() + _post_process() of a transaction: "
        f"{own_per_tx * 1000:.0f} ms (ratio {per_event / own_per_tx:.2f}x)"
    )
    print(f"  Odoo's own /web/health on the same server: {health * 1000:.1f} ms")
    return 0 if first_code < 300 and again_code < 300 and first < GOCARDLESS_LIMIT else 1


def post_health(base):
    started = time.perf_counter()
    requests.get(base + "/web/health", timeout=10)
    return time.perf_counter() - started


if __name__ == "__main__":
    sys.exit(main())
