#!/usr/bin/env python3
"""How the booking of a GoCardless payout grows with its number of items.

A real Odoo 18 (a fresh database with the addon) and the local GoCardless sandbox: the sandbox
holds paid payouts of N items (half `payment_paid_out` of distinct payments, half
`gocardless_fee` with their VAT); Odoo books each one as on `payouts/paid` (payout read, all
items read by pages of 500, items stored, one entry posted), inside a transaction rolled back
afterwards so that each round starts from the same database. Rounds are interleaved (500,
2000, 5000, 500, 2000, 5000...); it prints min and median of the time and of the SQL queries
per item, for the whole booking and for its Odoo part alone (the item pages read from the
sandbox apart).

    python benchmarks/payout_booking.py [--sizes 500,2000,5000] [--rounds 3] [--keep-db]

Needs what the Odoo tests need (``import odoo`` of Odoo 18, PostgreSQL: see tools/odoo_harness.py).
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]

from gocardless_sandbox import SandboxServer  # noqa: E402
from tools.odoo_harness import (  # noqa: E402
    create_fresh_db,
    drop_db,
    free_port,
    odoo_command,
    odoo_unavailable_reason,
)

TOKEN = "bench_access_token"

BENCH_SCRIPT = """
import json, time
from odoo.addons.isanet_gocardless.gocardless_core import payouts as gc_payouts
data = json.loads({data!r})
provider = env.ref("isanet_gocardless.payment_provider_gocardless")
env.ref("base.EUR").active = True
bank = env["account.journal"].search([("type", "=", "bank")], limit=1)
provider.write({{
    "state": "test", "gocardless_access_token": data["token"],
    "gocardless_api_url": data["api_url"], "journal_id": bank.id,
}})
env.cr.commit()
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
    lines = len(payout.move_id.line_ids)
    results.append({{
        "size": size, "seconds": seconds, "queries": count, "read_seconds": read_seconds,
        "lines": lines,
    }})
    cr.rollback()
    env.invalidate_all()
print("BENCH_RESULTS " + json.dumps(results))
"""


def seed_payout(sandbox, size, round_index):
    """A paid payout of ``size`` items: payments paid out and their fees (VAT included)."""
    inner = sandbox.sandbox
    org = sandbox.default_organisation
    with inner.store.transaction():
        for index in range(size // 2):
            payment = {"id": f"PMB{round_index}X{size}X{index:05d}", "links": {"mandate": None}}
            inner.engine.ledger(org, "EUR", "payment_paid_out", 10000 + index * 10, payment)
            inner.engine.ledger(org, "EUR", "gocardless_fee", -(1200 + index % 7), payment)
    (payout,) = sandbox.run_payouts(force=True)
    sandbox.pay_payouts()
    return payout["id"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="500,2000,5000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    reason = odoo_unavailable_reason()
    if reason:
        raise SystemExit(f"cannot run: {reason}")

    var = ROOT / "var"
    data_dir = var / "odoo-data"
    data_dir.mkdir(parents=True, exist_ok=True)
    dbname = create_fresh_db(data_dir, var, prefix="isanet_gc_bench")
    log = var / f"{dbname}.log"
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
        runs = []
        for round_index in range(args.rounds):
            for size in sizes:
                runs.append((size, seed_payout(sandbox, size, round_index)))
        print(f"sandbox {sandbox.url}: {len(runs)} paid payouts; booking them...", flush=True)
        data = {"token": TOKEN, "api_url": sandbox.url, "runs": runs}
        bench = subprocess.run(
            odoo_command(dbname, data_dir, "--logfile", str(log), "--no-http", subcommand="shell"),
            input=BENCH_SCRIPT.format(data=json.dumps(data)),
            text=True,
            cwd=ROOT,
            check=False,
            capture_output=True,
        )
        if bench.returncode or "BENCH_RESULTS" not in bench.stdout:
            raise SystemExit(f"odoo shell failed:\n{bench.stdout[-3000:]}\n{bench.stderr[-3000:]}")
        results = json.loads(
            next(
                line.split(" ", 1)[1]
                for line in bench.stdout.splitlines()
                if line.startswith("BENCH_RESULTS ")
            )
        )
    finally:
        sandbox.stop()
        if not args.keep_db:
            drop_db(dbname, data_dir)

    print()
    print(
        f"payout booking (Odoo 18, sandbox API on loopback; {args.rounds} interleaved rounds; "
        "items: payments paid out + fees with VAT)"
    )
    print(
        f"{'items':>6} {'lines':>6} | {'total s':>8} {'ms/item min':>11} {'median':>7} | "
        f"{'Odoo part ms/item min':>21} {'median':>7} | {'queries/item min':>16} {'median':>7}"
    )
    for size in sizes:
        rows = [row for row in results if row["size"] == size]
        per_item = [row["seconds"] / size * 1000 for row in rows]
        odoo_part = [(row["seconds"] - row["read_seconds"]) / size * 1000 for row in rows]
        queries = [row["queries"] / size for row in rows]
        print(
            f"{size:>6} {rows[0]['lines']:>6} | {min(r['seconds'] for r in rows):>8.2f} "
            f"{min(per_item):>11.3f} {statistics.median(per_item):>7.3f} | "
            f"{min(odoo_part):>21.3f} {statistics.median(odoo_part):>7.3f} | "
            f"{min(queries):>16.3f} {statistics.median(queries):>7.3f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
