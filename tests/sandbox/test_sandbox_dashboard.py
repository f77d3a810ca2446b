"""The admin dashboard /sandbox/dashboard: real flow, every button, French, escaping."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

DASH = "/sandbox/dashboard"


class Page(HTMLParser):
    """Just enough of a browser: tables' rows and every button with its form."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.text = text
        self.lang = None
        self.rows = {}  # table id -> [(row id, data-status)]
        self.buttons = []  # dicts: action, resource, url, fields
        self.ids = set()
        self._table = self._form = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "html":
            self.lang = attrs.get("lang")
        elif tag == "table":
            self._table = attrs.get("id")
            self.rows[self._table] = []
        elif tag == "tr" and self._table and "id" in attrs:
            self.rows[self._table].append((attrs["id"], attrs.get("data-status")))
        elif tag == "form":
            self._form = {"url": attrs.get("action"), "method": attrs.get("method"), "fields": {}}
        elif tag == "input" and self._form is not None and attrs.get("type") == "hidden":
            self._form["fields"][attrs["name"]] = attrs.get("value", "")
        elif tag == "button" and self._form is not None:
            self.buttons.append(
                {
                    "action": attrs.get("data-action"),
                    "resource": attrs.get("data-resource"),
                    **self._form,
                }
            )

    def handle_endtag(self, tag):
        if tag == "table":
            self._table = None
        elif tag == "form":
            self._form = None

    def row_ids(self, table):
        return [row_id for row_id, _ in self.rows[table]]

    def status(self, table, row_id):
        return dict(self.rows[table])[row_id]

    def button(self, resource, action):
        found = [b for b in self.buttons if b["resource"] == resource and b["action"] == action]
        assert len(found) == 1, (
            resource,
            action,
            [(b["resource"], b["action"]) for b in self.buttons],
        )
        return found[0]


def open_dashboard(sandbox, **params):
    headers = params.pop("headers", {})
    response = requests.get(sandbox.url + DASH, params=params, headers=headers)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"].startswith("text/html")
    return Page(response.text)


def press(sandbox, page, resource, action):
    """Submit a button's form like a browser (no redirect following); returns the 303."""
    button = page.button(resource, action)
    assert button["method"] == "post"
    response = requests.post(
        urljoin(sandbox.url, button["url"]), data=button["fields"], allow_redirects=False
    )
    assert response.status_code == 303, response.text[:500]
    location = response.headers["Location"]
    assert location.startswith(DASH + "?")
    return response, Page(requests.get(urljoin(sandbox.url, location)).text)


def notice(page):
    start = page.text.index('id="notice"')
    return page.text[start : page.text.index("</p>", start)]


@pytest.fixture
def mandate(client, sandbox, gc):
    return gc.mandate_via_flow(client, sandbox)[2]


def new_payment(client, mandate, amount=2500, description="INV/2025/0001"):
    return client.payments.create(
        params={
            "amount": amount,
            "currency": "EUR",
            "links": {"mandate": mandate.id},
            "description": description,
        }
    )


def event_actions(client, **filters):
    return [e.action for e in client.events.all(params=filters)]


# ------------------------------------------------------------------------------ rendering
def test_renders_a_real_flow_newest_first(sandbox, client, receiver, mandate, gc):
    first = new_payment(client, mandate, description="first")
    sandbox.advance_clock(days=15)  # first: paid out, payout created
    second = new_payment(client, mandate, description="second")
    refund = client.refunds.create(
        params={"amount": 500, "total_amount_confirmation": 500, "links": {"payment": first.id}}
    )
    sandbox.flush_webhooks()
    assert gc.wait_for(lambda: receiver.requests)

    page = open_dashboard(sandbox)
    assert page.lang == "en"
    for table in ("customers", "mandates", "payments", "refunds", "payouts", "events", "webhooks"):
        assert table in page.ids and page.rows[table], table
    assert {"toolbar", "clock"} <= page.ids
    assert page.row_ids("customers") == [mandate.links.customer]
    assert page.row_ids("mandates") == [mandate.id]
    assert page.status("mandates", mandate.id) == "active"
    assert page.row_ids("payments") == [second.id, first.id]  # newest first
    assert page.status("payments", first.id) == "paid_out"
    assert page.status("payments", second.id) == "pending_submission"
    assert page.row_ids("refunds") == [refund.id]
    payout_id = client.payments.get(first.id).links.payout
    assert payout_id in page.row_ids("payouts")
    assert "25.00 EUR" in page.text and "5.00 EUR" in page.text
    assert "<td>SEPA Direct Debit</td>" in page.text and "<td>sepa_core</td>" not in page.text
    events = [e.id for e in client.events.all(params={"limit": 500})]
    assert page.row_ids("events") == events  # the API's order: newest first
    hooks = sandbox.webhook_deliveries()
    assert page.row_ids("webhooks") == [h["id"] for h in reversed(hooks)]
    assert all(page.status("webhooks", h["id"]) == "succeeded" for h in hooks)
    assert "#1: 200" in page.text  # per-attempt response codes
    # the buttons offered follow the row's state
    offered = {b["action"] for b in page.buttons if b["resource"] == second.id}
    assert offered == {
        "confirm",
        "pay_out",
        "fail",
        "fail_retry",
        "late_failure",
        "charge_back",
        "cancel",
    }
    assert {b["action"] for b in page.buttons if b["resource"] == first.id} == {
        "late_failure",
        "charge_back",
    }
    assert {b["action"] for b in page.buttons if b["resource"] == mandate.id} == {
        "cancel",
        "expire",
    }
    assert {b["action"] for b in page.buttons if b["resource"] == refund.id} == {"paid", "bounced"}
    assert {
        (b["resource"], b["action"])
        for b in page.buttons
        if b["resource"] in ("clock", "payouts", "webhooks")
    } == {
        ("clock", "advance_1d"),
        ("clock", "advance_5d"),
        ("payouts", "run"),
        ("payouts", "pay"),
        ("webhooks", "flush"),
    }


def test_empty_sandbox_and_api_untouched(sandbox, api):
    page = open_dashboard(sandbox)
    assert all(rows == [] for rows in page.rows.values())
    assert "Nothing yet." in page.text
    # the admin JSON endpoints and the API behave as before
    assert requests.get(sandbox.url + "/sandbox/health").json() == {"status": "ok"}
    assert requests.get(sandbox.url + "/customers").status_code == 401
    assert api.get(api.url + "/customers").json()["customers"] == []
    missing = requests.get(sandbox.url + "/sandbox/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 404


# ------------------------------------------------------------------------------ row buttons
# A button, and the status its payment takes (its event's action is the same word).
PAYMENT_BUTTONS = {
    "confirm": "confirmed",
    "pay_out": "paid_out",
    "fail": "failed",
    "late_failure": "failed",
    "charge_back": "charged_back",
    "cancel": "cancelled",
}


@pytest.mark.parametrize(("action", "status"), PAYMENT_BUTTONS.items())
def test_payment_buttons(sandbox, client, mandate, action, status):
    payment = new_payment(client, mandate)
    page = open_dashboard(sandbox)
    response, after = press(sandbox, page, payment.id, action)
    assert client.payments.get(payment.id).status == status
    assert status in event_actions(client, payment=payment.id)
    assert after.status("payments", payment.id) == status
    assert 'data-outcome="ok"' in notice(after) and payment.id in notice(after)
    if action == "late_failure":
        assert "paid_out" in event_actions(client, payment=payment.id)


@pytest.mark.parametrize(
    ("action", "status"), [("cancel", "cancelled"), ("fail", "failed"), ("expire", "expired")]
)
def test_mandate_buttons(sandbox, client, mandate, action, status):
    payment = new_payment(client, mandate)
    page = open_dashboard(sandbox)
    press(sandbox, page, mandate.id, action)
    assert client.mandates.get(mandate.id).status == status
    assert status in event_actions(client, mandate=mandate.id, resource_type="mandates")
    # the engine's usual consequences follow: pending payments are cancelled with it
    assert client.payments.get(payment.id).status == "cancelled"


@pytest.mark.parametrize(
    ("action", "status", "event"),
    [
        ("paid", "paid", "paid"),
        ("bounced", "bounced", "failed"),
    ],
)
def test_refund_buttons(sandbox, client, mandate, action, status, event):
    payment = new_payment(client, mandate)
    client.scenario_simulators.run("payment_confirmed", params={"links": {"resource": payment.id}})
    refund = client.refunds.create(
        params={"amount": 1000, "total_amount_confirmation": 1000, "links": {"payment": payment.id}}
    )
    press(sandbox, open_dashboard(sandbox), refund.id, action)
    assert client.refunds.get(refund.id).status == status
    assert event in event_actions(client, refund=refund.id)


# ------------------------------------------------------------------------------ toolbar
@pytest.mark.parametrize(("action", "days"), [("advance_1d", 1), ("advance_5d", 5)])
def test_clock_buttons(sandbox, client, mandate, action, days):
    payment = new_payment(client, mandate)
    for _ in range(4):  # a weekend may need a few presses of "+1 day"
        before = sandbox.clock()["offset_seconds"]
        response, page = press(sandbox, open_dashboard(sandbox), "clock", action)
        assert sandbox.clock()["offset_seconds"] - before == days * 86400
        assert f"by {days} day" in notice(page)
        if client.mandates.get(mandate.id).status != "pending_submission":
            break
    # days were processed: the mandate moved on and said so with events
    assert client.mandates.get(mandate.id).status in ("submitted", "active")
    assert "submitted" in event_actions(client, mandate=mandate.id, resource_type="mandates")
    if days == 5:
        assert client.payments.get(payment.id).status != "pending_submission"


def test_run_payouts_button(sandbox, client, mandate):
    payment = new_payment(client, mandate)
    inner = sandbox.sandbox
    with inner.store.transaction():  # paid out, money in the ledger, no payout yet
        doc = inner.store.get("payments", payment.id)
        inner.engine.payment_pay_out(doc)
    assert client.payouts.list().records == []
    response, page = press(sandbox, open_dashboard(sandbox), "payouts", "run")
    payouts = client.payouts.list().records
    assert len(payouts) == 1 and payouts[0].amount > 0
    assert page.row_ids("payouts") == [payouts[0].id]
    assert "1 payout(s) created." in notice(page)
    assert "paid_out" in event_actions(client, payment=payment.id)  # fires with the payout


def test_flush_webhooks_button(sandbox, client, receiver):
    sandbox.sandbox.dispatcher.stop()  # no background delivery: only the button sends
    client.customers.create(params={"company_name": "Flush Ltd"})
    assert receiver.requests == []
    response, page = press(sandbox, open_dashboard(sandbox), "webhooks", "flush")
    assert [e["action"] for e in receiver.events()] == ["created"]
    assert "1 webhook(s) batched, 1 delivery attempt(s)." in notice(page)
    (hook,) = sandbox.webhook_deliveries()
    assert page.status("webhooks", hook["id"]) == "succeeded"
    assert "#1: 200" in page.text


def test_failed_deliveries_show_codes_and_attempts(sandbox, client, receiver):
    sandbox.sandbox.dispatcher.stop()
    receiver.status = 500
    client.customers.create(params={"company_name": "Down Ltd"})
    page = open_dashboard(sandbox)
    press(sandbox, page, "webhooks", "flush")
    receiver.status = 204
    response, page = press(sandbox, open_dashboard(sandbox), "webhooks", "flush")
    (hook,) = sandbox.webhook_deliveries()
    assert page.status("webhooks", hook["id"]) == "succeeded"
    assert "#1: 500, #2: 204" in page.text


# ------------------------------------------------------------------------------ errors
def test_an_action_that_does_not_apply_reports_the_engine_error(sandbox, client, mandate):
    payment = new_payment(client, mandate)
    page = open_dashboard(sandbox)
    stale_confirm = page.button(payment.id, "confirm")
    press(sandbox, page, payment.id, "cancel")
    response = requests.post(
        urljoin(sandbox.url, stale_confirm["url"]),
        data=stale_confirm["fields"],
        allow_redirects=False,
    )
    assert response.status_code == 303
    page = Page(requests.get(urljoin(sandbox.url, response.headers["Location"])).text)
    assert 'data-outcome="error"' in notice(page)
    assert "Resource is cancelled" in notice(page)
    assert client.payments.get(payment.id).status == "cancelled"
    assert event_actions(client, payment=payment.id) == ["cancelled", "created"]


@pytest.mark.parametrize(
    "path",
    [
        "/actions/payments/PM000NOPE/confirm",
        "/actions/payments/PM000NOPE/explode",
        "/actions/customers/CU000NOPE/cancel",
        "/actions/nothing",
        "/elsewhere",
    ],
)
def test_unknown_actions_are_404(sandbox, path):
    response = requests.post(sandbox.url + DASH + path, data={"lang": "en"}, allow_redirects=False)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")


def test_clock_button_only_takes_its_values(sandbox):
    response = requests.post(
        sandbox.url + DASH + "/actions/clock/advance", data={"days": "-30"}, allow_redirects=False
    )
    assert response.status_code == 303
    assert sandbox.clock()["offset_seconds"] == 0
    assert parse_qs(urlsplit(response.headers["Location"]).query)["outcome"] == ["error"]


# ------------------------------------------------------------------------------ languages
def test_french_page_and_actions_keep_the_language(sandbox, client, mandate):
    payment = new_payment(client, mandate)
    page = open_dashboard(sandbox, lang="fr")
    assert page.lang == "fr"
    assert "Paiements" in page.text and "Mandats" in page.text and "Envois de webhooks" in page.text
    assert "Confirmer" in page.text and "Échec tardif" in page.text
    assert "<td>Prélèvement SEPA</td>" in page.text and "Type de prélèvement" in page.text
    response, after = press(sandbox, page, payment.id, "confirm")
    assert "lang=fr" in response.headers["Location"]
    assert after.lang == "fr" and "Fait : Confirmer" in notice(after)


@pytest.mark.parametrize(
    ("accept", "lang"), [("fr-FR,fr;q=0.9,en;q=0.5", "fr"), ("de-DE,en;q=0.8", "en"), ("", "en")]
)
def test_accept_language(sandbox, accept, lang):
    page = open_dashboard(sandbox, headers={"Accept-Language": accept})
    assert page.lang == lang
    assert open_dashboard(sandbox, lang="en", headers={"Accept-Language": accept}).lang == "en"


# ------------------------------------------------------------------------------ escaping
def test_everything_is_escaped(sandbox, client, api):
    evil = '<script>alert("x")</script>'
    customer = client.customers.create(
        params={
            "given_name": evil,
            "family_name": "O'Hara & <b>Sons</b>",
            "email": "evil@example.com",
        }
    )
    assert customer.id
    page = requests.get(sandbox.url + DASH).text
    assert "<script>" not in page and "<b>Sons</b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "O&#x27;Hara &amp; &lt;b&gt;Sons&lt;/b&gt;" in page
    reflected = requests.get(
        sandbox.url + DASH,
        params={"notice": '"><img src=x onerror=alert(1)>', "outcome": '"><svg>', "lang": "<x>"},
    ).text
    assert "<img" not in reflected and "<svg" not in reflected and "<x>" not in reflected
    assert 'data-outcome="ok"' in reflected
