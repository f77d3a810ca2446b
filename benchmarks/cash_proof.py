#!/usr/bin/env python3
"""How the cash proof grows with the GoCardless account: time and memory at 10k and 100k.

A real Odoo 18 (a fresh database with the addon) proves the cash of a GoCardless account
served by a stub of GoCardless's list endpoints in this script (``/payments``, ``/refunds``,
``/payouts``, ``/payout_items``: cursor pagination, newest first, 500 a page, the
``RateLimit-*`` headers of a 1,000-a-minute account). Each record is made from its index on
the fly: the stub holds nothing in memory.

The account at size N (and N / 100 payouts): every payment paid out in a paid payout of 100
payments (and a fee item), except one in 2,000 collected but not paid out yet, one in 2,000
unknown to Odoo (an orphan) and one in 2,000 still pending in Odoo; one payout in 100 not
booked in Odoo (its items read during the proof). Odoo holds the transactions, the booked
payouts and their stored items (written in SQL, not timed); a tenth of the booked payouts wait
for their bank line, which is there. The proof is run twice per size: timed (with the growth of
the process's resident memory) and under ``tracemalloc`` (the peak of Python's allocations).

    python benchmarks/cash_proof.py [--sizes 10000,100000] [--keep-db]

Needs what the Odoo tests need (``import odoo`` of Odoo 18, PostgreSQL: see tools/odoo_harness.py).
"""

import argparse
import email.utils
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from _common import BANK_PROVIDER_SETUP, TOKEN, odoo_shell, parse_arguments, printed_json

from tools.odoo_harness import create_addon_db, drop_db

PAGE = 500
PER_PAYOUT = 100
RATE_LIMIT = 1000


class Account:
    """The GoCardless account of a size, every record computed from its index."""

    def __init__(self, size):
        self.size = size
        self.payouts = size // PER_PAYOUT

    @staticmethod
    def amount(index):
        return 1000 + (index * 37) % 9000

    @staticmethod
    def kind(index):
        """``paid_out``, ``collected`` (not paid out yet), ``orphan`` or ``pending_in_odoo``."""
        return {1: "collected", 3: "orphan", 5: "pending_in_odoo"}.get(index % 2000, "paid_out")

    @staticmethod
    def unbooked(payout):
        return payout % 100 == 7

    def payment(self, index):
        kind = self.kind(index)
        paid_out = kind == "paid_out"
        return {
            "id": f"PM{index:010d}",
            "amount": self.amount(index),
            "currency": "EUR",
            "status": "paid_out" if paid_out else "confirmed",
            "charge_date": "2026-11-02",
            "created_at": "2026-10-30T10:00:00.000Z",
            "reference": None,
            "metadata": {},
            "links": {
                "mandate": "MD000BENCH",
                "creditor": "CR000BENCH",
                "payout": f"PO{index // PER_PAYOUT:08d}" if paid_out else None,
            },
        }

    def payout_payments(self, payout):
        start = payout * PER_PAYOUT
        return [i for i in range(start, start + PER_PAYOUT) if self.kind(i) == "paid_out"]

    def payout_amount(self, payout):
        return sum(self.amount(i) for i in self.payout_payments(payout)) - 50

    def payout(self, index):
        return {
            "id": f"PO{index:08d}",
            "amount": self.payout_amount(index),
            "currency": "EUR",
            "status": "paid",
            "arrival_date": "2026-11-05",
            "reference": f"BENCH-{index:08d}",
            "deducted_fees": 50,
            "created_at": "2026-11-04T10:00:00.000Z",
            "links": {"creditor": "CR000BENCH"},
        }

    def items(self, payout):
        items = [
            {
                "type": "payment_paid_out",
                "amount": str(self.amount(i)),
                "links": {"payment": f"PM{i:010d}"},
            }
            for i in self.payout_payments(payout)
        ]
        items.append({"type": "gocardless_fee", "amount": "-50", "taxes": [], "links": {}})
        return items


def make_handler(account, counter):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args):
            pass

        def do_GET(self):  # noqa: N802 - http.server's name
            url = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            resource = url.path.strip("/")
            limit = min(int(query.get("limit", 50)), PAGE)
            after = query.get("after")
            if resource == "payments":
                start = int(after[2:]) - 1 if after else account.size - 1
                records = [account.payment(i) for i in range(start, max(start - limit, -1), -1)]
                more = start - limit >= 0
            elif resource == "payouts":
                start = int(after[2:]) - 1 if after else account.payouts - 1
                records = [account.payout(i) for i in range(start, max(start - limit, -1), -1)]
                more = start - limit >= 0
            elif resource == "payout_items":
                records = account.items(int(query["payout"][2:]))
                more = False
            elif resource == "refunds":
                records, more = [], False
            else:
                self.answer(404, {"error": {"message": "not found", "errors": []}})
                return
            body = {
                resource: records,
                "meta": {
                    "cursors": {
                        "before": None,
                        "after": records[-1]["id"] if more and records else None,
                    },
                    "limit": limit,
                },
            }
            self.answer(200, body)

        def answer(self, status, body):
            payload = json.dumps(body).encode()
            now = time.time()
            window = int(now // 60)
            with counter["lock"]:
                if counter["window"] != window:
                    counter["window"], counter["used"] = window, 0
                counter["used"] += 1
                counter["requests"] += 1
                remaining = max(0, RATE_LIMIT - counter["used"])
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("RateLimit-Limit", str(RATE_LIMIT))
            self.send_header("RateLimit-Remaining", str(remaining))
            self.send_header(
                "RateLimit-Reset", email.utils.formatdate((window + 1) * 60, usegmt=True)
            )
            self.end_headers()
            self.wfile.write(payload)

    return Handler


BENCH_SCRIPT = (
    """
import json, resource, time, tracemalloc
from odoo import fields
data = json.loads({data!r})
size, per_payout = data["size"], data["per_payout"]
payouts_count = size // per_payout
cr = env.cr
"""
    + BANK_PROVIDER_SETUP
    + """
if not provider._gocardless_has_clearing_account():
    provider.action_gocardless_create_clearing_journal()
sepa = env.ref("payment.payment_method_sepa_direct_debit")
sepa.active = True
partner = env["res.partner"].search([("name", "=", "Benchmark payer")], limit=1) or env[
    "res.partner"].create({{"name": "Benchmark payer"}})
env.flush_all()
started = time.perf_counter()
cr.execute("DELETE FROM payment_transaction WHERE provider_id = %s", [provider.id])
cr.execute("DELETE FROM gocardless_payout WHERE provider_id = %s", [provider.id])
cr.execute("DELETE FROM account_bank_statement_line WHERE payment_ref LIKE 'BENCH-%%'")
# Transactions of every payment but the orphans (one in 2000, index % 2000 == 3); those of
# index % 2000 == 5 still pending (GoCardless confirmed them).
cr.execute(
    '''
    INSERT INTO payment_transaction (provider_id, payment_method_id, currency_id, partner_id,
        company_id, reference, provider_reference, state, amount, operation,
        is_post_processed, create_date, write_date, create_uid, write_uid)
    SELECT %(provider)s, %(method)s, %(currency)s, %(partner)s, %(company)s,
           'BENCH-' || i, 'PM' || lpad(i::text, 10, '0'),
           CASE WHEN i %% 2000 = 5 THEN 'pending' ELSE 'done' END,
           (1000 + (i * 37) %% 9000) / 100.0, 'offline', FALSE, now(), now(), 1, 1
      FROM generate_series(0, %(last)s) AS i
     WHERE i %% 2000 != 3
    ''',
    {{"provider": provider.id, "method": sepa.id, "currency": eur.id, "partner": partner.id,
      "company": provider.company_id.id, "last": size - 1}},
)
# The booked payouts (all but one in 100) and their stored items.
cr.execute(
    '''
    INSERT INTO gocardless_payout (name, provider_id, company_id, currency_id, state, amount,
        raw_amount, arrival_date, reference, gocardless_status, create_date, write_date,
        create_uid, write_uid)
    SELECT 'PO' || lpad(k::text, 8, '0'), %(provider)s, %(company)s, %(currency)s,
           CASE WHEN k %% 10 = 0 THEN 'booked' ELSE 'reconciled' END, 0, 0,
           DATE '2026-11-05', 'BENCH-' || lpad(k::text, 8, '0'), 'paid', now(), now(), 1, 1
      FROM generate_series(0, %(last)s) AS k
     WHERE k %% 100 != 7
    ''',
    {{"provider": provider.id, "company": provider.company_id.id, "currency": eur.id,
      "last": payouts_count - 1}},
)
cr.execute(
    '''
    INSERT INTO gocardless_payout_item (payout_id, sequence, item_type, amount_exact,
        payment_reference, create_date, write_date, create_uid, write_uid)
    SELECT p.id, i, 'payment_paid_out', (1000 + (i * 37) %% 9000)::text,
           'PM' || lpad(i::text, 10, '0'), now(), now(), 1, 1
      FROM generate_series(0, %(last)s) AS i
      JOIN gocardless_payout p ON p.provider_id = %(provider)s
                              AND p.name = 'PO' || lpad((i / %(per)s)::text, 8, '0')
     WHERE i %% 2000 NOT IN (1, 3, 5)
    ''',
    {{"provider": provider.id, "last": size - 1, "per": per_payout}},
)
cr.execute(
    '''
    UPDATE gocardless_payout p SET raw_amount = s.total - 50,
           amount = (s.total - 50) / 100.0
      FROM (SELECT payout_id, sum(amount_exact::bigint) AS total
              FROM gocardless_payout_item GROUP BY payout_id) s
     WHERE s.payout_id = p.id
    '''
)
# The bank lines of the payouts waiting for theirs.
payout_journal = provider._gocardless_payout_journal()
cr.execute(
    "SELECT reference, amount FROM gocardless_payout WHERE provider_id = %s AND state = 'booked'",
    [provider.id],
)
env["account.bank.statement.line"].create([
    {{"journal_id": payout_journal.id, "payment_ref": ref, "amount": amount,
      "date": "2026-11-05"}}
    for ref, amount in cr.fetchall()
])
cr.execute("ANALYZE payment_transaction")
cr.execute("ANALYZE gocardless_payout_item")
env.flush_all()
cr.commit()
env.invalidate_all()
setup = time.perf_counter() - started


def rss_kb(key):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


Proof = env["gocardless.cash.proof"]
today = fields.Date.today()
before = rss_kb("VmRSS:")
started, queries = time.perf_counter(), cr.sql_log_count
proof = Proof._gocardless_prove(provider, today.replace(day=1), today)
seconds, count = time.perf_counter() - started, cr.sql_log_count - queries
peak_rss = rss_kb("VmHWM:")
assert proof.state == "drifts", (proof.state, proof.message)
kinds = {{}}
for drift in proof.drift_ids:
    kinds[drift.kind] = kinds.get(drift.kind, 0) + 1
requests, payments, message = proof.request_count, proof.payment_count, proof.message
cr.rollback()
env.invalidate_all()
tracemalloc.start()
proof = Proof._gocardless_prove(provider, today.replace(day=1), today)
_current, traced_peak = tracemalloc.get_traced_memory()
tracemalloc.stop()
cr.rollback()
print("BENCH_RESULT " + json.dumps({{
    "size": size, "payouts": payouts_count, "setup": setup, "seconds": seconds,
    "queries": count, "requests": requests, "payments": payments, "message": message,
    "rss_before_mb": before / 1024, "rss_growth_mb": max(0, peak_rss - before) / 1024,
    "traced_peak_mb": traced_peak / 2 ** 20, "drifts": kinds,
}}))
"""
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    args = parse_arguments(parser)
    sizes = [int(size) for size in args.sizes.split(",")]

    dbname, data_dir, log = create_addon_db()
    results = []
    try:
        for size in sizes:
            account = Account(size)
            counter = {"lock": threading.Lock(), "window": None, "used": 0, "requests": 0}
            server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(account, counter))
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            try:
                data = {
                    "token": TOKEN,
                    "api_url": f"http://127.0.0.1:{server.server_address[1]}",
                    "size": size,
                    "per_payout": PER_PAYOUT,
                }
                print(f"{size} payments, {account.payouts} payouts: proving...", flush=True)
                out = odoo_shell(dbname, data_dir, log, BENCH_SCRIPT, data, "BENCH_RESULT ")
            finally:
                server.shutdown()
                server.server_close()
            results.append(printed_json(out, "BENCH_RESULT"))
    finally:
        if not args.keep_db:
            drop_db(dbname, data_dir)

    print()
    print(
        "cash proof (Odoo 18; stub GoCardless API on loopback, 500 a page, RateLimit headers of "
        "a 1,000-a-minute account; each size in its own process)"
    )
    print(
        f"{'payments':>9} {'payouts':>7} | {'proof s':>7} {'requests':>8} {'queries':>7} | "
        f"{'RSS growth MB':>13} {'tracemalloc peak MB':>19} | drifts"
    )
    for row in results:
        drifts = ", ".join(f"{kind} {count}" for kind, count in sorted(row["drifts"].items()))
        print(
            f"{row['size']:>9} {row['payouts']:>7} | {row['seconds']:>7.2f} "
            f"{row['requests']:>8} {row['queries']:>7} | {row['rss_growth_mb']:>13.1f} "
            f"{row['traced_peak_mb']:>19.1f} | {drifts}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
