#!/usr/bin/env python3
"""Automatic collection of posted invoices, paced under GoCardless's rate limit.

A real Odoo 18 (a fresh database with the addon) and the local GoCardless sandbox, whose rate
limit is GoCardless's (1,000 requests a minute, ``RateLimit-*`` headers on every answer):

1. the sandbox holds one SEPA mandate per customer (``--customers``); Odoo holds them as
   tokens, and its GoCardless provider collects automatically;
2. each round posts ``--invoices`` invoices at once (due in two weeks, on a working day):
   posting only queues them;
3. the collection cron runs (in the Odoo shell, committing as the cron does) until nothing is
   queued: one GoCardless payment per invoice, paced by the ``RateLimit-*`` headers;
4. the sandbox's request log gives the API calls, the refusals (429) and the most requests
   sent in one rate-limit window.

Rounds follow one another on the same sandbox, so a round starts in a window the previous one
partly used: the pacer is what keeps every round under the limit. It prints, per round and as
min / median: seconds to post, seconds to collect, invoices a second, API calls per invoice,
time spent waiting for a new window, 429s, double debits.

    python benchmarks/auto_collect.py [--invoices 1000] [--rounds 3] [--customers 20]
                                      [--rate-limit 1000] [--keep-db]

Needs what the Odoo tests need (``import odoo`` of Odoo 18, PostgreSQL: see tools/odoo_harness.py).
"""

import argparse
import json
import statistics
import sys
from collections import Counter

import gocardless_pro
from _common import (
    TOKEN,
    fulfilled_mandate,
    odoo_shell,
    parse_arguments,
    printed_json,
    start_sandbox,
)

from tools.odoo_harness import create_addon_db, drop_db

SETUP_SCRIPT = """
import json
data = json.loads({data!r})
provider = env.ref("isanet_gocardless.payment_provider_gocardless")
env.ref("base.EUR").active = True
provider.write({{
    "state": "test", "is_published": True, "gocardless_access_token": data["token"],
    "gocardless_api_url": data["api_url"], "gocardless_offer_by_default": True,
    "gocardless_auto_collect": True,
}})
sepa = env.ref("payment.payment_method_sepa_direct_debit")
sepa.active = True
for index, mandate in enumerate(data["mandates"]):
    partner = env["res.partner"].create({{
        "name": f"Bench Customer {{index}}", "email": f"bench{{index}}@example.com",
        "country_id": env.ref("base.fr").id,
    }})
    env["payment.token"].create({{
        "provider_id": provider.id, "payment_method_id": sepa.id, "partner_id": partner.id,
        "provider_ref": mandate["id"], "payment_details": "FR14 •••• 06",
        "gocardless_mandate_status": mandate["status"],
        "gocardless_mandate_reference": mandate["reference"],
    }})
env["product.product"].create({{"name": "Benchmark service", "default_code": "BENCH"}})
env.cr.commit()
print("BENCH_SETUP_DONE")
"""

ROUND_SCRIPT = """
import datetime, json, time
data = json.loads({data!r})
eur = env.ref("base.EUR")
product = env["product.product"].search([("default_code", "=", "BENCH")], limit=1)
partners = env["res.partner"].search([("name", "like", "Bench Customer")], order="id")
due = datetime.date.today() + datetime.timedelta(days=14)
while due.weekday() >= 5:
    due += datetime.timedelta(days=1)
moves = env["account.move"].create([{{
    "move_type": "out_invoice", "partner_id": partners[index % len(partners)].id,
    "currency_id": eur.id, "invoice_date": datetime.date.today(), "invoice_date_due": due,
    "ref": f"{{data['tag']}}-{{index:05d}}",
    "invoice_line_ids": [(0, 0, {{"product_id": product.id, "price_unit": 10.0 + index % 7,
                                  "tax_ids": [(6, 0, [])]}})],
}} for index in range(data["invoices"])])
env.cr.commit()
started = time.perf_counter()
moves.action_post()
env.cr.commit()
post_seconds = time.perf_counter() - started
queued = sum(1 for move in moves if move.gocardless_auto_collect_state == "queued")
provider = env.ref("isanet_gocardless.payment_provider_gocardless")
pacer = provider._gocardless_pacer()
started = time.perf_counter()
runs = 0
while env["account.move"].search_count([("gocardless_auto_collect_state", "=", "queued")]):
    env["account.move"]._cron_gocardless_auto_collect()
    env.cr.commit()
    runs += 1
collect_seconds = time.perf_counter() - started
moves.invalidate_recordset()
states = {{}}
for move in moves:
    state = move.gocardless_auto_collect_state
    states[state] = states.get(state, 0) + 1
charge_ok = sum(1 for move in moves if move.gocardless_debit_charge_date == due)
print("ROUND " + json.dumps({{
    "post_seconds": post_seconds, "collect_seconds": collect_seconds, "queued": queued,
    "runs": runs, "states": states, "charge_date_is_due_date": charge_ok,
    "waits": pacer.waits, "waited": pacer.waited,
    "references": moves.transaction_ids.mapped("reference"),
}}))
"""


def seed_mandates(sandbox_url, count):
    """``count`` customers, each with a fulfilled SEPA mandate; return the mandates."""
    client = gocardless_pro.Client(access_token=TOKEN, base_url=sandbox_url)
    mandates = []
    for index in range(count):
        mandate_id = fulfilled_mandate(client, f"Customer {index}", f"bench{index}@example.com")
        mandates.append(client.mandates.get(mandate_id).attributes)
    return client, mandates


def busiest_window(entries):
    """Return the most requests the sandbox counted in one of its one-minute windows."""
    windows = Counter(int(entry["at"] // 60) for entry in entries)
    return max(windows.values(), default=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--rate-limit", type=int, default=1000)
    args = parse_arguments(parser)

    dbname, data_dir, log = create_addon_db()
    sandbox = start_sandbox(rate_limit=args.rate_limit)
    rounds = []
    try:
        print(f"sandbox {sandbox.url}: {args.customers} customers with a mandate...", flush=True)
        client, mandates = seed_mandates(sandbox.url, args.customers)
        data = {"token": TOKEN, "api_url": sandbox.url, "mandates": mandates}
        odoo_shell(dbname, data_dir, log, SETUP_SCRIPT, data, "BENCH_SETUP_DONE")
        for number in range(1, args.rounds + 1):
            print(f"round {number}: post {args.invoices} invoices, collect them...", flush=True)
            mark = sandbox.request_log_mark()
            data = {"invoices": args.invoices, "tag": f"R{number}"}
            out = odoo_shell(dbname, data_dir, log, ROUND_SCRIPT, data, "ROUND ")
            figures = printed_json(out, "ROUND")
            entries = sandbox.request_log(mark)
            creates = [e for e in entries if e["method"] == "POST" and e["path"] == "/payments"]
            references = set(figures.pop("references"))
            payments = [
                p
                for p in client.payments.all(params={"limit": 500})
                if (p.metadata or {}).get("odoo_reference") in references
            ]
            figures.update(
                {
                    "calls": len(entries),
                    "creates": len(creates),
                    "refused_429": sum(1 for e in entries if e["status"] == 429),
                    "busiest_window": busiest_window(entries),
                    "payments": len(payments),
                    "double_debits": len(payments)
                    - len({p.metadata["odoo_reference"] for p in payments}),
                }
            )
            rounds.append(figures)
            print("  " + json.dumps(figures), flush=True)
    finally:
        sandbox.stop()
        if not args.keep_db:
            drop_db(dbname, data_dir)

    n = args.invoices

    def stat(key, scale=1.0):
        values = [r[key] * scale for r in rounds]
        return min(values), statistics.median(values)

    print()
    print(
        f"automatic collection of {n} posted invoices, {args.rounds} rounds (Odoo 18, "
        f"sandbox on loopback, rate limit {args.rate_limit} requests/min, {args.customers} "
        "customers)"
    )
    lo, med = stat("post_seconds")
    print(f"  posting (queues only)     : min {lo:7.2f} s, median {med:7.2f} s")
    lo, med = stat("collect_seconds")
    print(f"  collecting (cron runs)    : min {lo:7.2f} s, median {med:7.2f} s")
    rates = [n / r["collect_seconds"] for r in rounds]
    print(
        f"  invoices a second         : min {min(rates):7.1f},   median "
        f"{statistics.median(rates):7.1f}"
    )
    per_invoice = [r["calls"] / n for r in rounds]
    print(
        f"  API calls per invoice     : min {min(per_invoice):7.3f},   median "
        f"{statistics.median(per_invoice):7.3f} (payment creates: "
        f"{', '.join(str(r['creates']) for r in rounds)})"
    )
    print(
        "  busiest rate-limit window : "
        f"{', '.join(str(r['busiest_window']) for r in rounds)} requests "
        f"(limit {args.rate_limit})"
    )
    waits = ", ".join("{} ({:.1f} s)".format(r["waits"], r["waited"]) for r in rounds)
    print(f"  pacer waits for a window  : {waits}")
    print(f"  429 refusals              : {', '.join(str(r['refused_429']) for r in rounds)}")
    print(
        f"  debits per round          : {', '.join(str(r['payments']) for r in rounds)}; double "
        f"debits: {sum(r['double_debits'] for r in rounds)}; charge date = due date: "
        f"{', '.join(str(r['charge_date_is_due_date']) for r in rounds)}"
    )
    ok = all(
        r["payments"] == n and r["double_debits"] == 0 and r["refused_429"] == 0 for r in rounds
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
