#!/usr/bin/env python3
"""How the booking of a GoCardless payout grows with its number of items.

A real Odoo 18 (a fresh database with the addon) and the local GoCardless sandbox: the sandbox
holds paid payouts of N items (half `payment_paid_out` of distinct payments, half
`gocardless_fee` with their VAT). Each paid-out payment is a real Odoo payment: a done
transaction and its posted `account.payment` on the provider's GoCardless clearing account
(created once, committed). Odoo books each payout as on `payouts/paid` (payout read, all items
read by pages of 500, items stored and linked to their transactions, one entry posted, each
payment's clearing line reconciled with the payout's), inside a transaction rolled back
afterwards so that each round starts from the same database (the payments unreconciled).
Rounds are interleaved (500, 2000, 5000, 500, 2000, 5000...); it prints min and median of the
time and of the SQL queries per item, for the whole booking and for its Odoo part alone (the
item pages read from the sandbox apart).

    python benchmarks/payout_booking.py [--sizes 500,2000,5000] [--rounds 3] [--keep-db]

Needs what the Odoo tests need (``import odoo`` of Odoo 18, PostgreSQL: see tools/odoo_harness.py).
"""

import argparse
import statistics
import sys

from _common import (
    BANK_PROVIDER_SETUP,
    TOKEN,
    odoo_shell,
    parse_arguments,
    printed_json,
    start_sandbox,
)

from tools.odoo_harness import create_addon_db, drop_db

BENCH_SCRIPT = (
    """
import json, time
from odoo.addons.isanet_gocardless.gocardless_core import payouts as gc_payouts
data = json.loads({data!r})
"""
    + BANK_PROVIDER_SETUP
    + """
provider.action_gocardless_create_clearing_journal()
# The payments the payouts pay out: done transactions and their posted payments, on the
# clearing account (the payment method line of the GoCardless journal).
sepa = env.ref("payment.payment_method_sepa_direct_debit")
sepa.active = True
partner = env["res.partner"].create({{"name": "Benchmark payer"}})
method_line = provider._gocardless_payment_method_line()
started = time.perf_counter()
for chunk_start in range(0, len(data["payments"]), 500):
    chunk = data["payments"][chunk_start:chunk_start + 500]
    txs = env["payment.transaction"].create([{{
        "provider_id": provider.id, "payment_method_id": sepa.id, "partner_id": partner.id,
        "amount": minor / 100, "currency_id": eur.id, "reference": f"BENCH-{{ref}}",
        "provider_reference": ref, "state": "done",
    }} for ref, minor in chunk])
    payments = env["account.payment"].create([{{
        "amount": tx.amount, "payment_type": "inbound", "partner_type": "customer",
        "partner_id": partner.id, "currency_id": eur.id, "journal_id": provider.journal_id.id,
        "payment_method_line_id": method_line.id, "payment_transaction_id": tx.id,
    }} for tx in txs])
    payments.action_post()
    for tx, payment in zip(txs, payments):
        tx.payment_id = payment
    env.cr.commit()
    env.invalidate_all()
print("BENCH_SETUP " + json.dumps({{
    "payments": len(data["payments"]), "seconds": time.perf_counter() - started,
    "clearing": provider._gocardless_clearing_account().display_name,
}}))
payouts = env["gocardless.payout"]
results = []
for size, payout_id in data["runs"]:
    cr = env.cr
    started, queries = time.perf_counter(), cr.sql_log_count
    items = gc_payouts.all_items(
        lambda params: provider._gocardless_make_request("payout_items", "list", params=params),
        payout_id,
    )
    read_seconds, read_queries = time.perf_counter() - started, cr.sql_log_count - queries
    started, queries = time.perf_counter(), cr.sql_log_count
    payout = payouts._gocardless_fetch(provider, payout_id)
    env.flush_all()
    seconds, count = time.perf_counter() - started, cr.sql_log_count - queries
    assert payout.state in ("booked", "reconciled"), payout.message
    assert payout.item_count == size == len(items), (payout.item_count, size)
    paid_out = payout.item_ids.filtered(lambda item: item.item_type == "payment_paid_out")
    # Each paid-out item is linked to its Odoo payment, whose clearing line the payout emptied.
    assert all(paid_out.mapped("payment_id")) and len(paid_out.payment_id) == size // 2
    clearing = provider._gocardless_clearing_account()
    payment_lines = paid_out.payment_id.move_id.line_ids.filtered(
        lambda line: line.account_id == clearing
    )
    assert len(payment_lines) == size // 2 and all(payment_lines.mapped("reconciled"))
    lines = len(payout.move_id.line_ids)
    results.append({{
        "size": size, "seconds": seconds, "queries": count, "read_seconds": read_seconds,
        "lines": lines, "payments": len(payment_lines),
    }})
    cr.rollback()
    env.invalidate_all()
print("BENCH_RESULTS " + json.dumps(results))
"""
)


def payout_payments(size):
    """The GoCardless payments (id, minor units) of a payout of ``size`` items: the same in each
    round, so that Odoo's payments are created once."""
    return [(f"PMBX{size}X{index:05d}", 1000 + index) for index in range(size // 2)]


def seed_payout(sandbox, size):
    """A paid payout of ``size`` items: payments paid out and their fees (VAT included)."""
    inner = sandbox.sandbox
    org = sandbox.default_organisation
    with inner.store.transaction():
        for index, (payment_id, minor) in enumerate(payout_payments(size)):
            payment = {"id": payment_id, "links": {"mandate": None}}
            inner.engine.ledger(org, "EUR", "payment_paid_out", minor * 10, payment)
            inner.engine.ledger(org, "EUR", "gocardless_fee", -(1200 + index % 7), payment)
    (payout,) = sandbox.run_payouts(force=True)
    sandbox.pay_payouts()
    return payout["id"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,2000,5000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parse_arguments(parser)
    sizes = [int(size) for size in args.sizes.split(",")]

    dbname, data_dir, log = create_addon_db()
    sandbox = start_sandbox()
    try:
        runs = []
        for _round_index in range(args.rounds):
            for size in sizes:
                runs.append((size, seed_payout(sandbox, size)))
        payments = [payment for size in sizes for payment in payout_payments(size)]
        print(
            f"sandbox {sandbox.url}: {len(runs)} paid payouts; creating {len(payments)} Odoo "
            "payments, then booking the payouts...",
            flush=True,
        )
        data = {"token": TOKEN, "api_url": sandbox.url, "runs": runs, "payments": payments}
        out = odoo_shell(dbname, data_dir, log, BENCH_SCRIPT, data, "BENCH_RESULTS")
        results, setup = printed_json(out, "BENCH_RESULTS"), printed_json(out, "BENCH_SETUP")
    finally:
        sandbox.stop()
        if not args.keep_db:
            drop_db(dbname, data_dir)

    print()
    print(
        f"payout booking (Odoo 18, sandbox API on loopback; {args.rounds} interleaved rounds; "
        "items: payments paid out + fees with VAT; each paid-out item linked to its Odoo "
        f"payment, reconciled out of {setup['clearing']})"
    )
    print(f"{setup['payments']} Odoo payments created in {setup['seconds']:.1f}s (once)")
    print(
        f"{'items':>6} {'lines':>6} {'paymts':>6} | {'total s':>8} {'ms/item min':>11} "
        f"{'median':>7} | "
        f"{'Odoo part ms/item min':>21} {'median':>7} | {'queries/item min':>16} {'median':>7}"
    )
    for size in sizes:
        rows = [row for row in results if row["size"] == size]
        per_item = [row["seconds"] / size * 1000 for row in rows]
        odoo_part = [(row["seconds"] - row["read_seconds"]) / size * 1000 for row in rows]
        queries = [row["queries"] / size for row in rows]
        print(
            f"{size:>6} {rows[0]['lines']:>6} {rows[0]['payments']:>6} | "
            f"{min(r['seconds'] for r in rows):>8.2f} "
            f"{min(per_item):>11.3f} {statistics.median(per_item):>7.3f} | "
            f"{min(odoo_part):>21.3f} {statistics.median(odoo_part):>7.3f} | "
            f"{min(queries):>16.3f} {statistics.median(queries):>7.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
