"""What the benchmarks share: the repository on ``sys.path``, their command line's common end,
the local sandbox they start, a fulfilled SEPA mandate on it, and the ``odoo shell`` step that
prints its figures as JSON (with the provider's setup its scripts share).

A benchmark runs as ``python benchmarks/<name>.py``: this folder is then on ``sys.path`` and
``import _common`` finds this module before anything else of the repository is imported.
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "isanet_gocardless")]

from gocardless_sandbox import SandboxServer  # noqa: E402
from tools.odoo_harness import odoo_command, odoo_unavailable_reason  # noqa: E402

TOKEN = "bench_access_token"
IBAN = "FR1420041010050500013M02606"

# The lines of an `odoo shell` script (before its ``.format``) that connect the demo provider
# to the GoCardless at ``data["api_url"]``, in test mode, its bank journal the first one.
BANK_PROVIDER_SETUP = """\
provider = env.ref("isanet_gocardless.payment_provider_gocardless")
eur = env.ref("base.EUR")
eur.active = True
bank = env["account.journal"].search([("type", "=", "bank")], limit=1)
provider.write({{
    "state": "test", "gocardless_access_token": data["token"],
    "gocardless_api_url": data["api_url"], "journal_id": bank.id,
}})"""


def parse_arguments(parser):
    """Add ``--keep-db`` to ``parser`` and return the parsed command line; exit when Odoo
    can't run here."""
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    reason = odoo_unavailable_reason()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    return args


def start_sandbox(**options):
    """A started sandbox on a free port, with its own SQLite file, that accepts ``TOKEN``."""
    return SandboxServer(
        port=0,
        db_path=str(Path(tempfile.mkdtemp()) / "bench.sqlite3"),
        access_tokens=[TOKEN],
        **options,
    ).start()


def fulfilled_mandate(client, family_name, email):
    """A customer "Bench <family_name>" whose SEPA billing request is fulfilled, as a payer
    would (details, bank account, confirmation); return the mandate's id."""
    customer = client.customers.create(
        params={"given_name": "Bench", "family_name": family_name, "email": email}
    )
    actions = client.billing_requests
    request = actions.create(
        params={
            "mandate_request": {"scheme": "sepa_core", "currency": "EUR"},
            "links": {"customer": customer.id},
        }
    )
    actions.collect_customer_details(
        request.id,
        params={
            "customer": {"email": email},
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
        params={"account_holder_name": f"Bench {family_name}", "iban": IBAN},
    )
    actions.confirm_payer_details(request.id, params={})
    return actions.fulfil(request.id).links.mandate_request_mandate


def odoo_shell(dbname, data_dir, log, script, data, marker, timeout=None):
    """Run ``script`` in ``odoo shell`` on the database, ``data`` given to it as JSON (its
    ``{data}``); return what it printed. Exits when the shell fails or never printed ``marker``
    (the line a benchmark's script ends with)."""
    command = odoo_command(dbname, data_dir, "--logfile", str(log), "--no-http", subcommand="shell")
    stdin = script.format(data=json.dumps(data))
    result = subprocess.run(
        command, input=stdin, text=True, capture_output=True, cwd=ROOT, timeout=timeout
    )
    if result.returncode or marker not in result.stdout:
        raise SystemExit(f"odoo shell failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout


def printed_json(stdout, tag):
    """The JSON a shell script printed on its line ``<tag> <json>``."""
    line = next(line for line in stdout.splitlines() if line.startswith(tag + " "))
    return json.loads(line[len(tag) + 1 :])
