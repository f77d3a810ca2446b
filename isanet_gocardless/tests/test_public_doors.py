# Copyright 2026 Isanet
# License LGPL-3.0 or later (https://www.gnu.org/licenses/lgpl.html).
"""Only the merchant moves money: every public method the addon defines on its models is a
door of `/web/dataset/call_button`, and each refuses a caller without rights on the records
before anything reaches GoCardless or changes in Odoo."""

import inspect
import json

from odoo import Command, fields
from odoo.models import MetaModel
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from odoo.addons.payment.tests.http_common import PaymentHttpCommon

from .common import (
    GoCardlessLedgerMixin,
    GoCardlessMandateMixin,
    GoCardlessSandboxCommon,
    company_user,
)

MODULE = "isanet_gocardless"
CUSTOMER = "customer's portal user"
# What the customer's own portal pages call on their records: read-only answers, given to the
# customer (still nothing sent to GoCardless, nothing changed); refused to everyone else.
CUSTOMER_READS = {("payment.token", "get_linked_records_info")}
LOGGERS = (
    "odoo.addons.isanet_gocardless.models.payment_transaction",
    "odoo.addons.payment.models.payment_transaction",
    "odoo.http",
)


def addon_public_methods():
    """Return ``{(model name, method name)}`` of every public method the addon's model classes
    define (not those they only inherit), read from the classes themselves."""
    methods = set()
    for cls in MetaModel.module_to_models[MODULE]:
        model = cls._name or cls._inherit
        if isinstance(model, list | tuple):
            model = model[0]
        for name, member in vars(cls).items():
            if name.startswith("_") or not inspect.isfunction(member):
                continue
            methods.add((model, name))
    return methods


@tagged("post_install", "-at_install")
class TestPublicDoors(
    GoCardlessLedgerMixin, GoCardlessMandateMixin, GoCardlessSandboxCommon, PaymentHttpCommon
):
    """Each public method, called over JSON-RPC as a stranger with a portal login, as the
    customer's own portal user, as an employee without accounting rights and as a billing user
    of another company, on the records of the customer and the merchant's company."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company = cls.gocardless.company_id
        # A customer of the merchant's company only.
        cls.partner.write({"company_id": cls.company.id, "email": "customer@example.com"})
        other_company = cls.env["res.company"].create({"name": "GoCardless Other Company"})
        cls.callers = {
            "stranger portal user": new_test_user(
                cls.env, login="gc-door-stranger", groups="base.group_portal"
            ),
            CUSTOMER: new_test_user(
                cls.env,
                login="gc-door-customer",
                groups="base.group_portal",
                partner_id=cls.partner.id,
            ),
            "employee without accounting rights": company_user(
                cls.env, "gc-door-employee", "base.group_user", cls.company
            ),
            "billing user of another company": company_user(
                cls.env,
                "gc-door-billing-b",
                "base.group_user,account.group_account_invoice",
                other_company,
            ),
        }

    def setUp(self):
        super().setUp()
        self.token, _mandate = self._sandbox_mandate_token()
        self.client = self.gocardless._gocardless_make_client()
        # An invoice with a scheduled debit, one whose debit failed, one whose collection was
        # interrupted before GoCardless was asked (a draft transaction).
        self.scheduled = self._create_customer_invoice(amount=41.0)
        self.scheduled.action_gocardless_collect()
        self.assertEqual(self.scheduled.gocardless_debit_status, "scheduled")
        self.failed = self._create_customer_invoice(amount=42.0)
        self.failed.action_gocardless_collect()
        failed_tx = self.failed.gocardless_debit_transaction_id
        with mute_logger(*LOGGERS):
            self._sandbox_outcome(failed_tx, "payment_failed")
        self.assertEqual(self.failed.gocardless_debit_status, "failed")
        self.interrupted = self._create_customer_invoice(amount=43.0)
        self.draft_tx = self.interrupted._gocardless_new_collect_transaction()
        self.assertEqual(self.draft_tx.state, "draft")
        invoices = self.scheduled | self.failed | self.interrupted
        payment_id = self.scheduled.gocardless_debit_transaction_id.provider_reference
        self.event = (
            self.env["gocardless.event"]
            .sudo()
            .create(
                {
                    "event_id": "EVDOOR1",
                    "provider_id": self.gocardless.id,
                    "company_id": self.company.id,
                    "resource_type": "payments",
                    "action": "confirmed",
                    "resource_id": payment_id,
                    "raw": json.dumps(
                        {
                            "id": "EVDOOR1",
                            "resource_type": "payments",
                            "action": "confirmed",
                            "links": {"payment": payment_id},
                        }
                    ),
                    "state": "failed",
                }
            )
        )
        Payout = self.env["gocardless.payout"].sudo()
        self.payouts = Payout.create(
            [
                {"name": "PODOORWAIT", "provider_id": self.gocardless.id, "state": "waiting"},
                {
                    "name": "PODOORBOOK",
                    "provider_id": self.gocardless.id,
                    "state": "booked",
                    "reference": "DOOR-REF",
                    "amount": 10.0,
                    "currency_id": self.currency_euro.id,
                },
            ]
        )
        bank_journal = self.company_data["default_journal_bank"]
        self.payment = self.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": self.partner.id,
                "amount": 12.0,
                "journal_id": bank_journal.id,
            }
        )
        # A cash proof with a drift that could be mended (an orphan payment).
        today = fields.Date.today()
        proof = (
            self.env["gocardless.cash.proof"]
            .sudo()
            .create({"provider_id": self.gocardless.id, "date_from": today, "date_to": today})
        )
        drift = (
            self.env["gocardless.cash.proof.drift"]
            .sudo()
            .create(
                {
                    "proof_id": proof.id,
                    "kind": "payment_orphan",
                    "name": "An orphan payment",
                    "gocardless_ref": payment_id,
                }
            )
        )
        # The records each model's doors are tried on.
        self.targets = {
            "gocardless.cash.proof": [proof],
            "gocardless.cash.proof.drift": [drift],
            "account.move": list(invoices),
            "account.move.line": [self.scheduled.line_ids],
            "account.payment": [self.payment],
            "account.bank.statement.line": [self.env["account.bank.statement.line"]],
            "gocardless.event": [self.event],
            "gocardless.payout": list(self.payouts),
            "gocardless.webhook.stat": [self.env["gocardless.webhook.stat"]],
            "payment.provider": [self.gocardless],
            "payment.token": [self.token],
            "payment.transaction": [self.env["payment.transaction"]],
            "res.partner": [self.partner],
        }
        # The arguments of the doors that take some besides the records.
        self.arguments = {
            ("account.move", "write"): [{"gocardless_offered": False}],
            ("payment.token", "write"): [{"active": False}],
            ("payment.provider", "write"): [{"state": "disabled", "gocardless_auto_collect": True}],
            ("payment.transaction", "create"): [
                [
                    {
                        "provider_id": self.gocardless.id,
                        "payment_method_id": self.sepa.id,
                        "reference": "DOOR-TX",
                        "amount": 41.0,
                        "currency_id": self.currency_euro.id,
                        "partner_id": self.partner.id,
                        "token_id": self.token.id,
                        "operation": "offline",
                        "invoice_ids": [Command.set(self.scheduled.ids)],
                    }
                ]
            ],
            ("account.bank.statement.line", "create"): [
                [
                    {
                        "journal_id": bank_journal.id,
                        "amount": 10.0,
                        "payment_ref": "DOOR-REF",
                        "date": fields.Date.to_string(fields.Date.today()),
                    }
                ]
            ],
        }

    # === HELPERS === #

    def _snapshot(self):
        """What the sweep must leave unchanged: every stored field of the target records and
        of the invoices' transactions, and the counts of transactions, messages, activities."""
        self.env.invalidate_all()
        records = [rec for recs in self.targets.values() for rec in recs if rec]
        records.append((self.scheduled | self.failed | self.interrupted).transaction_ids)
        state = {}
        for recordset in records:
            names = [
                name
                for name, field in recordset._fields.items()
                if field.store and field.type not in ("binary", "one2many", "many2many")
            ]
            for values in recordset.sudo().with_context(active_test=False).read(names):
                state[(recordset._name, values["id"])] = values
        for model in ("payment.transaction", "mail.message", "mail.activity", "payment.token"):
            state[model] = self.env[model].sudo().with_context(active_test=False).search_count([])
        return state

    def _call_button(self, model, method, ids, args):
        """POST `/web/dataset/call_button` as the logged-in user; return the HTTP answer."""
        function = getattr(self.env.registry[model], method)
        api = getattr(function, "_api", None)
        call_args = list(args) if api in ("model", "model_create") else [ids, *args]
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": 0,
            "params": {"model": model, "method": method, "args": call_args, "kwargs": {}},
        }
        with mute_logger(*LOGGERS):
            return self.url_open(
                "/web/dataset/call_button",
                data=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )

    def _refusal_problem(self, response, door):
        """Why the answer is not a clear refusal for lack of rights (a JSON-RPC error, never a
        server crash), or None."""
        if response.status_code != 200:
            return f"{door}: HTTP {response.status_code}"
        answer = response.json()
        if "error" not in answer:
            return f"{door} was not refused: {answer.get('result')!r}"
        data = answer["error"]["data"]
        if data["name"] != "odoo.exceptions.AccessError" or "Traceback" in data["message"]:
            return f"{door}: {data['name']}: {data['message']}"
        return None

    # === TESTS === #

    def test_no_public_method_moves_money_for_a_caller_without_rights(self):
        methods = addon_public_methods()
        self.assertTrue(methods, "no public method found on the addon's models")
        # The doors of the issue are among them (a sanity check of the introspection).
        for door in (
            ("account.move", "action_gocardless_cancel_debit"),
            ("account.move", "action_gocardless_retry_debit"),
            ("account.move", "action_gocardless_collect"),
            ("payment.token", "action_gocardless_cancel_mandate"),
        ):
            self.assertIn(door, methods)
        for model, method in sorted(methods):
            self.assertIn(model, self.targets, f"no record to try {model}.{method} on")
            signature = inspect.signature(getattr(self.env.registry[model], method))
            required = [
                p
                for p in list(signature.parameters.values())[1:]
                if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ]
            if required:
                self.assertIn((model, method), self.arguments, f"{model}.{method} needs arguments")
        before = self._snapshot()
        calls, problems = 0, []
        for role, user in self.callers.items():
            self.authenticate(user.login, user.login)
            for model, method in sorted(methods):
                for records in self.targets[model]:
                    door = f"{model}.{method}{tuple(records.ids)} as {role}"
                    mark = self.sandbox.request_log_mark()
                    response = self._call_button(
                        model, method, records.ids, self.arguments.get((model, method), [])
                    )
                    if role == CUSTOMER and (model, method) in CUSTOMER_READS:
                        if "result" not in response.json():
                            problems.append(f"{door} refused to the customer: {response.text}")
                    else:
                        problems.append(self._refusal_problem(response, door))
                    sent = self.sandbox.request_log(mark)
                    if sent:
                        problems.append(
                            f"{door} reached GoCardless: "
                            + ", ".join(f"{r['method']} {r['path']}" for r in sent)
                        )
                    calls += 1
            if self._snapshot() != before:
                problems.append(f"something changed in Odoo as {role}")
        self.assertEqual([problem for problem in problems if problem], [])
        self.assertGreaterEqual(calls, len(self.callers) * len(methods))
        # The customer's money is where it was at GoCardless.
        for invoice, status in ((self.scheduled, "pending_submission"), (self.failed, "failed")):
            tx = invoice.gocardless_debit_transaction_id
            payment = self._sandbox_payment(tx.provider_reference)
            self.assertEqual(payment["status"], status)
        self.assertEqual(self.client.mandates.get(self.token.provider_ref).status, "active")

    def test_the_merchant_still_moves_money_and_is_told_of_a_cancelled_debit(self):
        """The same doors work for the merchant's billing user: the checks refuse strangers,
        not the merchant."""
        merchant = company_user(
            self.env,
            "gc-door-merchant",
            "base.group_user,account.group_account_invoice",
            self.company,
        )
        self.authenticate(merchant.login, merchant.login)
        response = self._call_button(
            "account.move", "action_gocardless_cancel_debit", self.scheduled.ids, []
        )
        self.assertIn("result", response.json(), response.json().get("error"))
        self.env.invalidate_all()
        self.assertEqual(self.scheduled.gocardless_debit_status, "cancelled")
        tx = self.scheduled.transaction_ids[:1]
        self.assertEqual(self._sandbox_payment(tx.provider_reference)["status"], "cancelled")
        bodies = "\n".join(self.scheduled.message_ids.mapped("body"))
        self.assertIn(f"cancelled at GoCardless by {merchant.name}", bodies)
