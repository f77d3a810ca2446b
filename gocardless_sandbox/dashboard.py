"""A small admin web page, ``/sandbox/dashboard``, to watch and drive the sandbox by hand.

Server-rendered HTML, no JavaScript. It lists customers, mandates, payments, refunds,
payouts, events and webhook deliveries (newest first) and offers buttons -- plain forms
POSTing to ``/sandbox/dashboard/actions/...``, answered with a 303 back to the page -- that
run the sandbox's own scenario simulators and API actions on a row, advance the clock, run
payouts and flush webhooks. Nothing here implements business rules: every button calls the
engine, the dispatcher or :class:`~gocardless_sandbox.server.Sandbox` exactly like the API and
the ``/sandbox/...`` admin endpoints do, so events and webhooks follow as usual.

Stable hooks for tests and screenshots:

* tables ``#customers``, ``#mandates``, ``#payments``, ``#refunds``, ``#payouts``,
  ``#events``, ``#webhooks``; each row is ``<tr id="<resource id>" data-status="...">``
* every button has ``data-action`` and ``data-resource`` (the row's id, or ``clock``,
  ``payouts``, ``webhooks`` for the toolbar ``#toolbar``)
* the outcome of the last action is ``#notice`` (``data-outcome="ok|error"``)
* the clock is ``#clock``

Language: ``?lang=fr|en`` (kept through the actions by a hidden ``lang`` input), else
``Accept-Language``; default English.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs, quote, urlencode

from . import hosted
from .core import ApiError, dig
from .engine import ACTIVE_MANDATE

BASE = "/sandbox/dashboard"
ROW_LIMIT = 200

# (resource type, action) -> (how to run it, statuses for which the button is shown).
# The statuses only decide which buttons are displayed: the engine stays the judge and answers
# an invalid_state error (shown in #notice) when a scenario does not apply.
EARLY_PAYMENT = ("pending_submission", "submitted")
ROW_ACTIONS = {
    "payments": {
        "confirm": (("simulator", "payment_confirmed"), EARLY_PAYMENT),
        "pay_out": (("simulator", "payment_paid_out"), EARLY_PAYMENT + ("confirmed",)),
        "fail": (("simulator", "payment_failed"), EARLY_PAYMENT),
        "fail_retry": (("simulator", "payment_failed_will_retry"), EARLY_PAYMENT),
        "autoretry": (("simulator", "payment_autoretried"), ("failed",)),
        "late_failure": (
            ("simulator", "payment_late_failure"),
            EARLY_PAYMENT + ("confirmed", "paid_out"),
        ),
        "charge_back": (
            ("simulator", "payment_charged_back"),
            EARLY_PAYMENT + ("confirmed", "paid_out"),
        ),
        "cancel": (
            ("engine", "cancel_payment"),
            ("pending_submission", "pending_customer_approval"),
        ),
    },
    "mandates": {
        "cancel": (("engine", "cancel_mandate"), ACTIVE_MANDATE),
        "fail": (("simulator", "mandate_failed"), ("pending_submission", "submitted")),
        "expire": (("simulator", "mandate_expired"), ACTIVE_MANDATE),
    },
    "refunds": {
        "paid": (("simulator", "refund_paid"), ("created", "submitted")),
        "bounced": (("simulator", "refund_bounced"), ("created", "submitted", "paid")),
    },
}

TEXT = {
    "en": {
        "title": "GoCardless sandbox",
        "clock": "Sandbox clock",
        "today": "today",
        "advance_1d": "+1 day",
        "advance_5d": "+5 days",
        "run_payouts": "Run payouts",
        "pay_payouts": "Pay payouts now",
        "flush": "Flush webhooks",
        "webhook_url": "Webhook URL",
        "none": "none",
        "customers": "Customers",
        "mandates": "Mandates",
        "payments": "Payments",
        "refunds": "Refunds",
        "payouts": "Payouts",
        "events": "Events",
        "webhooks": "Webhook deliveries",
        "empty": "Nothing yet.",
        "id": "ID",
        "name": "Name",
        "email": "Email",
        "country": "Country",
        "created": "Created",
        "customer": "Customer",
        "scheme": "Scheme",
        "status": "Status",
        "reference": "Reference",
        "next_charge": "Next possible charge",
        "mandate": "Mandate",
        "amount": "Amount",
        "charge_date": "Charge date",
        "description": "Description",
        "details": "Description",
        "refunded": "Refunded",
        "payout": "Payout",
        "payment": "Payment",
        "fees": "Fees",
        "arrival": "Arrival date",
        "resource": "Resource",
        "resource_id": "Resource ID",
        "action": "Action",
        "cause": "Cause",
        "origin": "Origin",
        "events_count": "Events",
        "attempts": "Attempts",
        "response": "Last response",
        "attempt_log": "Responses per attempt",
        "actions": "Actions",
        "shown": "Showing the {shown} newest of {total}.",
        "act_confirm": "Confirm",
        "act_pay_out": "Pay out",
        "act_fail": "Fail",
        "act_fail_retry": "Fail, retry planned",
        "act_autoretry": "Retry now",
        "act_late_failure": "Late failure",
        "act_charge_back": "Charge back",
        "act_cancel": "Cancel",
        "act_expire": "Expire",
        "act_paid": "Paid",
        "act_bounced": "Bounced",
        "done": "Done: {what}.",
        "failed": "Not possible: {what}: {message}",
        "clock_done": "Clock advanced by {days} day(s); now {today}.",
        "payouts_done": "{count} payout(s) created.",
        "payouts_paid": "{count} payout(s) paid.",
        "flush_done": "{batched} webhook(s) batched, {attempted} delivery attempt(s).",
        "not_found": "Not found",
        "lang_switch": "Français",
    },
    "fr": {
        "title": "Bac à sable GoCardless",
        "clock": "Horloge du bac à sable",
        "today": "aujourd'hui",
        "advance_1d": "+1 jour",
        "advance_5d": "+5 jours",
        "run_payouts": "Lancer les virements",
        "pay_payouts": "Payer les virements",
        "flush": "Envoyer les webhooks",
        "webhook_url": "URL des webhooks",
        "none": "aucune",
        "customers": "Clients",
        "mandates": "Mandats",
        "payments": "Paiements",
        "refunds": "Remboursements",
        "payouts": "Virements",
        "events": "Événements",
        "webhooks": "Envois de webhooks",
        "empty": "Rien pour l'instant.",
        "id": "ID",
        "name": "Nom",
        "email": "E-mail",
        "country": "Pays",
        "created": "Créé le",
        "customer": "Client",
        "scheme": "Type de prélèvement",
        "status": "Statut",
        "reference": "Référence",
        "next_charge": "Prochain prélèvement possible",
        "mandate": "Mandat",
        "amount": "Montant",
        "charge_date": "Date de prélèvement",
        "description": "Libellé",
        "details": "Description",
        "refunded": "Remboursé",
        "payout": "Virement",
        "payment": "Paiement",
        "fees": "Frais",
        "arrival": "Date d'arrivée",
        "resource": "Ressource",
        "resource_id": "ID ressource",
        "action": "Action",
        "cause": "Cause",
        "origin": "Origine",
        "events_count": "Événements",
        "attempts": "Tentatives",
        "response": "Dernière réponse",
        "attempt_log": "Réponses par tentative",
        "actions": "Actions",
        "shown": "Les {shown} plus récents sur {total}.",
        "act_confirm": "Confirmer",
        "act_pay_out": "Verser",
        "act_fail": "Échec",
        "act_fail_retry": "Échec, nouvelle tentative prévue",
        "act_autoretry": "Nouvelle tentative",
        "act_late_failure": "Échec tardif",
        "act_charge_back": "Rejet (chargeback)",
        "act_cancel": "Annuler",
        "act_expire": "Expirer",
        "act_paid": "Payé",
        "act_bounced": "Rejeté",
        "done": "Fait : {what}.",
        "failed": "Impossible : {what} : {message}",
        "clock_done": "Horloge avancée de {days} jour(s) ; nous sommes le {today}.",
        "payouts_done": "{count} virement(s) créé(s).",
        "payouts_paid": "{count} virement(s) payé(s).",
        "flush_done": "{batched} webhook(s) préparé(s), {attempted} tentative(s) d'envoi.",
        "not_found": "Introuvable",
        "lang_switch": "English",
    },
}

CSS = (
    "body{font-family:sans-serif;margin:1em 2em;font-size:14px;color:#222}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}"
    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.25em .4em;"
    "text-align:left;vertical-align:top}th{background:#f3f3f3}"
    "tbody tr:nth-child(even){background:#fafafa}code{font-size:.95em}"
    "form.inline{display:inline;margin:0}button{margin:.1em;padding:.2em .6em;cursor:pointer}"
    "#toolbar{display:flex;gap:.5em;align-items:center;flex-wrap:wrap;padding:.6em;"
    "background:#eef4fb;border:1px solid #c9dbef}"
    ".notice{padding:.5em;margin:.8em 0;border:1px solid}"
    ".notice[data-outcome=ok]{background:#eaf7ea;border-color:#9c9}"
    ".notice[data-outcome=error]{background:#fbeaea;border-color:#d99}"
    ".status{font-weight:bold}.muted{color:#777}"
)

esc = html.escape


def handle(sandbox, method, path, query, raw, headers):
    """Entry point from the HTTP handler: returns ``(status, html, extra_headers)``."""
    form = {
        k: v[-1]
        for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()
    }
    lang = hosted.pick_language(
        form.get("lang") or (query.get("lang") or [None])[-1], None, headers.get("Accept-Language")
    )
    if path == BASE and method in ("GET", "HEAD"):
        notice = ((query.get("notice") or [""])[-1], (query.get("outcome") or ["ok"])[-1])
        return 200, render(sandbox, lang, notice), {}
    parts = path[len(BASE) :].strip("/").split("/")
    if method == "POST" and parts[0] == "actions" and len(parts) >= 2:
        outcome, message = run_action(sandbox, lang, parts[1:], form)
        if outcome is not None:
            location = BASE + "?" + urlencode({"lang": lang, "outcome": outcome, "notice": message})
            return 303, "", {"Location": location}
    t = TEXT[lang]
    return (
        404,
        hosted.page(lang, t["not_found"], f"<h1>{esc(t['not_found'])}</h1>", "not-found"),
        {},
    )


# ---------------------------------------------------------------------- actions
def run_action(sandbox, lang, parts, form):
    """Runs one dashboard action; returns ``(outcome, message)`` or ``(None, None)``."""
    t = TEXT[lang]
    if parts == ["clock", "advance"]:
        try:
            days = int(form.get("days", ""))
        except ValueError:
            return "error", t["failed"].format(what="clock", message="days")
        if days not in (1, 5):
            return "error", t["failed"].format(what="clock", message="days")
        clock = sandbox.advance_clock(days, 0)
        return "ok", t["clock_done"].format(days=days, today=clock["today"])
    if parts == ["payouts", "run"]:
        with sandbox.store.transaction():
            payouts = sandbox.engine.run_payouts()
        return "ok", t["payouts_done"].format(count=len(payouts))
    if parts == ["payouts", "pay"]:
        with sandbox.store.transaction():
            payouts = sandbox.engine.pay_pending_payouts()
        return "ok", t["payouts_paid"].format(count=len(payouts))
    if parts == ["webhooks", "flush"]:
        result = sandbox.dispatcher.flush()
        return "ok", t["flush_done"].format(**result)
    if len(parts) != 3 or parts[0] not in ROW_ACTIONS or parts[2] not in ROW_ACTIONS[parts[0]]:
        return None, None
    rtype, doc_id, action = parts
    (kind, name), _statuses = ROW_ACTIONS[rtype][action]
    what = f"{t['act_' + action]} {doc_id}"
    try:
        with sandbox.store.transaction():
            doc = sandbox.store.get(rtype, doc_id)
            if doc is None:
                return None, None
            if kind == "simulator":
                sandbox.engine.run_simulator(doc["_org"], name, {"links": {"resource": doc_id}})
            else:
                getattr(sandbox.engine, name)(doc["_org"], doc_id, {})
    except ApiError as err:
        return "error", t["failed"].format(what=what, message=err.message)
    return "ok", t["done"].format(what=what)


# ---------------------------------------------------------------------- rendering
def money(amount, currency):
    if amount is None:
        return ""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d} {currency or ''}".strip()


def button(lang, url, label, action, resource, hidden=None):
    fields = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(str(v))}">'
        for k, v in (hidden or {}).items()
    )
    return (
        f'<form class="inline" method="post" action="{esc(url)}">'
        f'<input type="hidden" name="lang" value="{esc(lang)}">{fields}'
        f'<button type="submit" data-action="{esc(action)}" data-resource="{esc(resource)}">'
        f"{esc(label)}</button></form>"
    )


def row_buttons(lang, rtype, doc):
    t = TEXT[lang]
    out = []
    for action, (_run, statuses) in ROW_ACTIONS.get(rtype, {}).items():
        if doc.get("status") in statuses:
            url = f"{BASE}/actions/{rtype}/{quote(doc['id'])}/{action}"
            out.append(button(lang, url, t["act_" + action], action, doc["id"]))
    return "".join(out)


def table(lang, table_id, columns, rows, total):
    """rows: list of (row id, status, [cell html...]); cells are already escaped."""
    t = TEXT[lang]
    head = "".join(f"<th>{esc(t[c])}</th>" for c in columns)
    if not rows:
        body = (
            f'<tr class="empty"><td colspan="{len(columns)}" class="muted">'
            f"{esc(t['empty'])}</td></tr>"
        )
    else:
        body = "".join(
            f'<tr id="{esc(row_id)}" data-status="{esc(status or "")}">'
            + "".join(f"<td>{cell}</td>" for cell in cells)
            + "</tr>"
            for row_id, status, cells in rows
        )
    more = ""
    if total > len(rows):
        more = f'<p class="muted">{esc(t["shown"].format(shown=len(rows), total=total))}</p>'
    return (
        f'<section><h2>{esc(t[table_id])} <span class="muted">({total})</span></h2>{more}'
        f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
        "</table></section>"
    )


def _c(value):
    return esc("" if value is None else str(value))


def _name(_sandbox, doc):
    return doc.get("company_name") or " ".join(
        filter(None, (doc.get("given_name"), doc.get("family_name")))
    )


def _next_charge(sandbox, mandate):
    return sandbox.engine.next_possible_charge_date(mandate)


def _event_resource(_sandbox, doc):
    key = doc["resource_type"][:-1] if doc["resource_type"] != "creditors" else "payout"
    return (doc.get("links") or {}).get(key) or ""


def _attempt_log(_sandbox, hook):
    return ", ".join(
        f"#{a['attempt']}: {a['response_code'] if a['response_code'] is not None else '-'}"
        + (f" ({a['error']})" if a.get("error") else "")
        for a in hook["attempt_log"]
    )


def _refunded(_sandbox, payment):
    return payment.get("amount_refunded") or 0


def _event_count(_sandbox, hook):
    return len(hook["event_ids"])


# The tables, in the page's order: the attribute a row shows as data-status, the columns.
TABLES = {
    "customers": ("status", ("id", "name", "email", "country", "created")),
    "mandates": (
        "status",
        ("id", "customer", "scheme", "status", "reference", "next_charge", "created", "actions"),
    ),
    "payments": (
        "status",
        (
            "id",
            "mandate",
            "amount",
            "charge_date",
            "status",
            "description",
            "refunded",
            "payout",
            "actions",
        ),
    ),
    "refunds": ("status", ("id", "payment", "amount", "status", "reference", "created", "actions")),
    "payouts": ("status", ("id", "amount", "fees", "status", "reference", "arrival", "created")),
    "events": (
        "action",
        ("id", "created", "resource", "resource_id", "action", "cause", "origin", "details"),
    ),
    "webhooks": (
        "status",
        (
            "id",
            "created",
            "status",
            "events_count",
            "attempts",
            "response",
            "attempt_log",
            "webhook_url",
        ),
    ),
}
# What a column shows: (kind of cell, a dotted path in the row's document or a function of
# it); a column not named here shows the document's attribute of its name, as text.
CELLS = {
    "id": ("code", "id"),
    "country": ("text", "country_code"),
    "created": ("text", "created_at"),
    "customer": ("code", "links.customer"),
    "scheme": ("scheme", "scheme"),
    "status": ("status", "status"),
    "mandate": ("code", "links.mandate"),
    "amount": ("money", "amount"),
    "payout": ("code", "links.payout"),
    "payment": ("code", "links.payment"),
    "fees": ("money", "deducted_fees"),
    "arrival": ("text", "arrival_date"),
    "resource": ("text", "resource_type"),
    "action": ("status", "action"),
    "cause": ("text", "details.cause"),
    "origin": ("text", "details.origin"),
    "details": ("text", "details.description"),
    "response": ("text", "response_code"),
    "webhook_url": ("text", "url"),
    "name": ("text", _name),
    "next_charge": ("text", _next_charge),
    "refunded": ("money", _refunded),
    "resource_id": ("code", _event_resource),
    "events_count": ("text", _event_count),
    "attempt_log": ("log", _attempt_log),
    "actions": ("actions", None),
}


def cell(sandbox, lang, table_id, doc, kind, value):
    """One cell's HTML (escaped)."""
    value = value(sandbox, doc) if callable(value) else dig(doc, value) if value else None
    if kind == "code":
        return f"<code>{_c(value)}</code>"
    if kind == "status":
        return f'<span class="status">{_c(value)}</span>'
    if kind == "money":
        return _c(money(value, doc.get("currency")))
    if kind == "scheme":
        return _c(hosted.scheme_name(lang, value))
    if kind == "log":
        return f'<span class="attempt-log">{_c(value)}</span>'
    if kind == "actions":
        return row_buttons(lang, table_id, doc)
    return _c(value)


def section(sandbox, lang, table_id, status_key, columns):
    """The table of a resource type (or of the webhook deliveries), newest first."""
    cells = [CELLS.get(column, ("text", column)) for column in columns]
    if table_id == "webhooks":
        docs = sandbox.dispatcher.deliveries()
    else:
        docs = [doc for _, doc in sandbox.store.all(table_id)]
    docs.reverse()
    rows = [
        (
            doc["id"],
            doc.get(status_key),
            [cell(sandbox, lang, table_id, doc, kind, value) for kind, value in cells],
        )
        for doc in docs[:ROW_LIMIT]
    ]
    return table(lang, table_id, columns, rows, len(docs))


def toolbar(sandbox, lang):
    t = TEXT[lang]
    clock = sandbox.clock()
    other = "en" if lang == "fr" else "fr"
    return (
        f'<div id="toolbar"><span>{esc(t["clock"])}: <strong id="clock" '
        f'data-today="{esc(clock["today"])}">{esc(clock["now"])}</strong></span>'
        + button(
            lang,
            f"{BASE}/actions/clock/advance",
            t["advance_1d"],
            "advance_1d",
            "clock",
            {"days": 1},
        )
        + button(
            lang,
            f"{BASE}/actions/clock/advance",
            t["advance_5d"],
            "advance_5d",
            "clock",
            {"days": 5},
        )
        + button(lang, f"{BASE}/actions/payouts/run", t["run_payouts"], "run", "payouts")
        + button(lang, f"{BASE}/actions/payouts/pay", t["pay_payouts"], "pay", "payouts")
        + button(lang, f"{BASE}/actions/webhooks/flush", t["flush"], "flush", "webhooks")
        + f'<span class="muted">{esc(t["webhook_url"])}: '
        f'<code id="webhook-url">{_c(sandbox.dispatcher.webhook_url or t["none"])}</code></span>'
        f'<a id="lang-switch" href="{BASE}?lang={other}">{esc(t["lang_switch"])}</a></div>'
    )


def render(sandbox, lang, notice=("", "ok")):
    t = TEXT[lang]
    message, outcome = notice
    parts = [f"<h1>{esc(t['title'])}</h1>", toolbar(sandbox, lang)]
    if message:
        outcome = "error" if outcome == "error" else "ok"
        parts.append(f'<p id="notice" class="notice" data-outcome="{outcome}">{esc(message)}</p>')
    with sandbox.store.transaction():  # one consistent snapshot
        for table_id, (status_key, columns) in TABLES.items():
            parts.append(section(sandbox, lang, table_id, status_key, columns))
    return (
        f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{esc(t['title'])}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{CSS}</style></head>"
        f'<body id="dashboard">{"".join(parts)}</body></html>'
    )
