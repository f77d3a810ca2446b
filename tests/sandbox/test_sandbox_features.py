"""Persistence, pagination, admin clock, OAuth, hosted pages (FR/EN) and bank validation."""

from __future__ import annotations

import json
import re
import socket
from urllib.parse import parse_qs, urlsplit

import gocardless_pro
import pytest
import requests

from gocardless_sandbox import SandboxServer
from gocardless_sandbox.banking import aba_valid, iban_valid, validate_bank_details
from gocardless_sandbox.server import Handler


def test_state_survives_a_restart(tmp_path, gc):
    db = str(tmp_path / "persist.sqlite3")
    server = SandboxServer(port=0, db_path=db, access_tokens=[gc.TOKEN]).start()
    client = gocardless_pro.Client(access_token=gc.TOKEN, base_url=server.url)
    _, _, mandate = gc.mandate_via_flow(client, server)
    payment = client.payments.create(
        params={"amount": 500, "currency": "EUR", "links": {"mandate": mandate.id}},
        headers={"Idempotency-Key": "persist"},
    )
    server.advance_clock(days=2)
    before = server.clock()
    org = server.default_organisation
    server.stop()

    server = SandboxServer(port=0, db_path=db, access_tokens=[gc.TOKEN]).start()
    try:
        client = gocardless_pro.Client(access_token=gc.TOKEN, base_url=server.url)
        assert server.default_organisation == org
        assert client.payments.get(payment.id).amount == 500
        assert server.clock()["offset_seconds"] == before["offset_seconds"]
        again = client.payments.create(
            params={"amount": 500, "currency": "EUR", "links": {"mandate": mandate.id}},
            headers={"Idempotency-Key": "persist"},
        )
        assert again.id == payment.id
        assert len(client.events.list(params={"mandate": mandate.id}).records) >= 2
    finally:
        server.stop()


def test_cursor_pagination(client, api, sandbox):
    ids = [client.customers.create(params={"company_name": f"Co {i}"}).id for i in range(7)]
    page1 = client.customers.list(params={"limit": 3})
    assert [c.id for c in page1.records] == ids[::-1][:3]  # newest first
    assert page1.after == ids[4] and page1.before is None
    page2 = client.customers.list(params={"limit": 3, "after": page1.after})
    assert [c.id for c in page2.records] == ids[::-1][3:6]
    assert page2.before == ids[3]
    back = client.customers.list(params={"limit": 3, "before": page2.before})
    assert [c.id for c in back.records] == ids[::-1][:3]
    assert [c.id for c in client.customers.all(params={"limit": 2})] == ids[::-1]
    created = api.get(sandbox.url + "/customers").json()["customers"][3]["created_at"]
    newer = api.get(sandbox.url + "/customers", params={"created_at[gt]": created}).json()
    assert len(newer["customers"]) <= 3


def test_pages_are_read_in_chunks_as_the_whole_list_would_give_them(client, sandbox):
    """A list reads the documents a chunk at a time and stops once its page is full: its pages
    are the slices of the whole list, newest first, over several chunks and at their edges."""
    ids = [client.customers.create(params={"company_name": f"Co {i}"}).id for i in range(45)]
    newest_first = ids[::-1]
    store = sandbox.sandbox.store
    for chunk in (1, 7, 200):
        whole = [doc["id"] for _seq, doc in store.scan("customers", chunk=chunk)]
        assert whole[: len(ids)] == newest_first
        oldest_first = [doc["id"] for _seq, doc in store.scan("customers", newest_first=False)]
        assert oldest_first[-len(ids) :] == ids
    for limit in (1, 6, 44, 45, 50):
        page = client.customers.list(params={"limit": limit})
        assert [c.id for c in page.records] == newest_first[:limit]
        assert page.after == (newest_first[limit - 1] if limit < 45 else None)
    after = client.customers.list(params={"limit": 10, "after": newest_first[9]})
    assert [c.id for c in after.records] == newest_first[10:20]
    before = client.customers.list(params={"limit": 10, "before": newest_first[30]})
    assert [c.id for c in before.records] == newest_first[20:30]
    assert before.before == newest_first[20] and before.after == newest_first[29]
    both = client.customers.list(
        params={"limit": 10, "before": newest_first[30], "after": newest_first[25]}
    )
    assert [c.id for c in both.records] == newest_first[26:30]


def test_admin_clock_endpoints(sandbox, client, gc):
    clock = requests.get(sandbox.url + "/sandbox/clock").json()
    advanced = requests.post(sandbox.url + "/sandbox/clock/advance", json={"days": 3}).json()
    assert advanced["offset_seconds"] - clock["offset_seconds"] == 3 * 86400
    assert (
        requests.post(sandbox.url + "/sandbox/clock/advance", json={"days": "x"}).status_code == 422
    )
    _, _, mandate = gc.mandate_via_flow(client, sandbox)
    requests.post(sandbox.url + "/sandbox/clock/advance", json={"days": 7})
    assert client.mandates.get(mandate.id).status == "active"
    events = [
        e.action
        for e in client.events.list(
            params={"mandate": mandate.id, "resource_type": "mandates"}
        ).records
    ]
    assert {"created", "submitted", "active"} <= set(events)
    log = requests.get(sandbox.url + "/sandbox/webhooks").json()["webhooks"]
    assert isinstance(log, list)
    assert requests.post(sandbox.url + "/sandbox/webhooks/flush").status_code == 200


def test_oauth_authorize_exchange_and_use(sandbox):
    redirect = "https://partner.example/callback"
    params = {
        "response_type": "code",
        "client_id": "app_1",
        "redirect_uri": redirect,
        "scope": "read_write",
        "state": "xyz",
        "initial_view": "login",
        "prefill[email]": "boss@merchant.example",
        "prefill[organisation_name]": "Merchant SARL",
    }
    page = requests.get(sandbox.url + "/oauth/authorize", params=params)
    assert page.status_code == 200 and 'id="approve"' in page.text
    assert 'id="view-login"' in page.text and "boss@merchant.example" in page.text
    form = {k: params[k] for k in ("response_type", "client_id", "redirect_uri", "scope", "state")}
    form.update(email="boss@merchant.example", organisation_name="Merchant SARL")
    denied = requests.post(
        sandbox.url + "/oauth/authorize", data={**form, "decision": "deny"}, allow_redirects=False
    )
    assert parse_qs(urlsplit(denied.headers["Location"]).query) == {
        "error": ["access_denied"],
        "state": ["xyz"],
    }
    approved = requests.post(
        sandbox.url + "/oauth/authorize",
        data={**form, "decision": "approve"},
        allow_redirects=False,
    )
    assert approved.status_code == 303 and approved.headers["Location"].startswith(redirect)
    query = parse_qs(urlsplit(approved.headers["Location"]).query)
    assert query["state"] == ["xyz"]
    code = query["code"][0]
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "app_1",
        "client_secret": "app_secret",
        "redirect_uri": redirect + "/",
    }
    mismatch = requests.post(sandbox.url + "/oauth/access_token", data=exchange)
    assert mismatch.status_code == 400 and mismatch.json()["error"] == "invalid_grant"
    wrong_secret = requests.post(
        sandbox.url + "/oauth/access_token", data={**exchange, "client_secret": "bad"}
    )
    assert wrong_secret.status_code == 401
    exchange["redirect_uri"] = redirect
    token = requests.post(sandbox.url + "/oauth/access_token", json=exchange)
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["token_type"] == "bearer" and body["scope"] == "read_write"
    assert body["email"] == "boss@merchant.example"
    assert body["organisation_id"].startswith("OR")
    assert body["organisation_id"] != sandbox.default_organisation
    reused = requests.post(sandbox.url + "/oauth/access_token", data=exchange)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    client = gocardless_pro.Client(access_token=body["access_token"], base_url=sandbox.url)
    creditors = client.creditors.list().records
    assert [c.name for c in creditors] == ["Merchant SARL"]
    customer = client.customers.create(params={"company_name": "Their customer"})
    event = client.events.list(params={"resource_type": "customers"}).records[0]
    assert event.links.organisation == body["organisation_id"]
    main = requests.get(
        sandbox.url + f"/customers/{customer.id}",
        headers={"Authorization": "Bearer test-token", "GoCardless-Version": "2015-07-06"},
    )
    assert main.status_code == 404  # organisations are isolated
    bad_client = requests.get(
        sandbox.url + "/oauth/authorize", params={**params, "client_id": "nope"}
    )
    assert bad_client.status_code == 400


def _flow(client, scheme, currency, language=None, redirect=None):
    br = client.billing_requests.create(
        params={
            "mandate_request": {"scheme": scheme, "currency": currency, "description": "Abonnement"}
        }
    )
    params = {"links": {"billing_request": br.id}, "exit_uri": "https://shop.example/exit"}
    if language:
        params["language"] = language
    if redirect:
        params["redirect_uri"] = redirect
    return br, client.billing_request_flows.create(params=params)


PAYER = {
    "given_name": "Jean",
    "family_name": "Dupont",
    "email": "jean@example.fr",
    "address_line1": "1 rue de Rivoli",
    "city": "Paris",
    "postal_code": "75001",
    "country_code": "FR",
    "action": "confirm",
}


def test_hosted_page_languages_and_iban_errors(client, sandbox):
    br, flow = _flow(client, "sepa_core", "EUR", language="fr")
    french = requests.get(flow.authorisation_url)
    assert '<html lang="fr">' in french.text and "Valider le mandat" in french.text
    english = requests.get(flow.authorisation_url + "?lang=en")
    assert '<html lang="en">' in english.text and "Set up Direct Debit" in english.text
    _, plain = _flow(client, "sepa_core", "EUR")
    by_header = requests.get(plain.authorisation_url, headers={"Accept-Language": "fr-FR,fr"})
    assert '<html lang="fr">' in by_header.text
    bad_iban = "FR1420041010050500013M02607"  # checksum off by one
    bad = requests.post(flow.authorisation_url, data={**PAYER, "iban": bad_iban, "lang": "fr"})
    assert bad.status_code == 200 and 'id="errors"' in bad.text
    assert 'data-field="iban"' in bad.text and '<html lang="fr">' in bad.text
    assert 'value="Jean"' in bad.text  # input kept
    short = requests.post(flow.authorisation_url, data={**PAYER, "iban": "FR14200410100505"})
    assert 'data-field="iban"' in short.text
    missing = requests.post(flow.authorisation_url, data={"action": "confirm", "iban": "x"})
    assert 'data-field="email"' in missing.text and 'data-field="given_name"' in missing.text
    assert client.billing_requests.get(br.id).status == "pending"
    ok = requests.post(flow.authorisation_url, data={**PAYER, "iban": "DE89370400440532013000"})
    assert ok.status_code == 200 and 'id="success"' in ok.text
    assert client.billing_requests.get(br.id).status == "fulfilled"
    assert 'id="done"' in requests.get(flow.authorisation_url).text


def test_hosted_page_words_amount_and_french(client, sandbox):
    """The payer reads the scheme in words, the amount asked for, in French when asked."""
    br, flow = _flow(client, "sepa_core", "EUR")
    english = requests.get(flow.authorisation_url).text
    assert ">SEPA Direct Debit</span>" in english and 'data-scheme="sepa_core"' in english
    assert ">sepa_core<" not in english and 'id="amount"' not in english  # a mandate alone
    french = requests.get(flow.authorisation_url, headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert ">Prélèvement SEPA</span>" in french.text and "Type de prélèvement" in french.text
    instant = client.billing_requests.create(
        params={"payment_request": {"amount": 123456, "currency": "EUR", "description": "Facture"}}
    )
    paid = client.billing_request_flows.create(params={"links": {"billing_request": instant.id}})
    amount = re.compile(r'id="amount">([^<]+)<')
    fr_page = requests.get(paid.authorisation_url, headers={"Accept-Language": "fr"}).text
    assert amount.search(fr_page).group(1) == "1\u202f234,56\u00a0€"
    en_page = requests.get(paid.authorisation_url + "?lang=en").text
    assert amount.search(en_page).group(1) == "€1,234.56"
    _, bacs = _flow(client, "bacs", "GBP")
    assert ">Prélèvement Bacs</span>" in requests.get(bacs.authorisation_url + "?lang=fr").text


def test_connect_page_in_french(sandbox):
    """The OAuth connect page follows Accept-Language (or ``language``); scopes in words."""
    params = {
        "response_type": "code",
        "client_id": "app_1",
        "redirect_uri": "https://partner.example/callback",
        "scope": "read_only",
    }
    url = sandbox.url + "/oauth/authorize"
    french = requests.get(url, params=params, headers={"Accept-Language": "fr-FR,fr"}).text
    assert '<html lang="fr">' in french and ">Connecter</button>" in french
    assert 'data-scope="read_only">lecture seule</strong>' in french
    assert ">read_only<" not in french
    english = requests.get(url, params=params).text
    assert '<html lang="en">' in english and ">Connect</button>" in english
    assert 'data-scope="read_only">read-only</strong>' in english
    by_param = requests.get(url, params={**params, "language": "fr"}).text
    assert '<html lang="fr">' in by_param and 'name="language"' in by_param
    unknown = requests.get(
        url, params={**params, "client_id": "nope"}, headers={"Accept-Language": "fr"}
    )
    assert unknown.status_code == 400 and "client_id inconnu" in unknown.text


def test_hosted_page_exit_and_cancelled_flow(client, sandbox):
    br, flow = _flow(client, "sepa_core", "EUR")
    page = requests.get(flow.authorisation_url)
    exit_href = re.search(r'id="exit" href="([^"]+)"', page.text).group(1)
    left = requests.get(sandbox.url + exit_href, allow_redirects=False)
    assert left.status_code == 303 and left.headers["Location"] == "https://shop.example/exit"
    actions = [e.action for e in client.events.list(params={"billing_request": br.id}).records]
    assert {"created", "flow_created", "flow_visited", "flow_exited"} <= set(actions)
    client.billing_requests.cancel(br.id)
    assert requests.get(flow.authorisation_url).status_code == 410
    assert requests.get(sandbox.url + "/flow/BRF000NOPE").status_code == 404


@pytest.mark.parametrize(
    "scheme,currency,bank,bad,extra",
    [
        (
            "bacs",
            "GBP",
            {"branch_code": "20-00-00", "account_number": "55779911"},
            {"branch_code": "2000", "account_number": "55779911"},
            {"country_code": "GB"},
        ),
        (
            "ach",
            "USD",
            {"bank_code": "026073150", "account_number": "2715500356", "account_type": "checking"},
            {"bank_code": "026073151", "account_number": "2715500356", "account_type": "checking"},
            {"country_code": "US", "region": "NY"},
        ),
        (
            "autogiro",
            "SEK",
            {"branch_code": "5491", "account_number": "1234567"},
            {"branch_code": "54", "account_number": "1234567"},
            {"country_code": "SE", "swedish_identity_number": "556564-5404"},
        ),
        (
            "betalingsservice",
            "DKK",
            {"bank_code": "0400", "account_number": "4405011223"},
            {"bank_code": "04000", "account_number": "4405011223"},
            {"country_code": "DK", "danish_identity_number": "2205506218"},
        ),
    ],
)
def test_hosted_page_per_scheme(client, sandbox, gc, scheme, currency, bank, bad, extra):
    _, flow = _flow(client, scheme, currency, redirect="https://shop.example/ok")
    page = requests.get(flow.authorisation_url)
    for name in bank:
        assert f'name="{name}"' in page.text
    rejected = requests.post(flow.authorisation_url, data={**PAYER, **extra, **bad})
    assert 'id="errors"' in rejected.text
    _, _, mandate = gc.mandate_via_flow(client, sandbox, scheme, currency, bank=bank, extra=extra)
    assert mandate.scheme == scheme and mandate.status == "pending_submission"


def test_bank_validators():
    assert iban_valid("GB82 WEST 1234 5698 7654 32") is None
    assert iban_valid("GB82WEST12345698765433") is not None
    assert iban_valid("FR14200410100505") is not None
    assert aba_valid("026073150") and not aba_valid("026073151")
    details, errors = validate_bank_details(
        "bacs", {"branch_code": "200000", "account_number": "5577991"}
    )
    assert [f for f, _ in errors] == ["account_number"]
    details, errors = validate_bank_details(None, {"iban": "BE68539007547034"})
    assert not errors and details["currency"] == "EUR" and details["country_code"] == "BE"


def test_sdk_style_envelope_for_actions_without_params(client, sandbox, api):
    br = client.billing_requests.create(params={"mandate_request": {"currency": "GBP"}})
    assert br.mandate_request.scheme == "bacs"
    response = api.post(f"{sandbox.url}/billing_requests/{br.id}/actions/cancel", data="null")
    assert (
        response.status_code == 200 and response.json()["billing_requests"]["status"] == "cancelled"
    )
    assert (
        json.loads(api.get(f"{sandbox.url}/billing_requests/{br.id}").text)["billing_requests"][
            "status"
        ]
        == "cancelled"
    )


def test_kept_alive_answers_leave_without_waiting_for_the_clients_ack(sandbox):
    """Headers and body leave in two writes: with Nagle's algorithm, each answer after the
    first on a kept-alive connection waited for the client's delayed ACK (40 ms on Linux).
    The accepted connections have TCP_NODELAY set."""
    seen = []
    setup = Handler.setup

    def recording_setup(handler):
        setup(handler)
        seen.append(handler.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    Handler.setup = recording_setup
    try:
        with requests.Session() as session:
            for _ in range(3):
                assert session.get(sandbox.url + "/payments", timeout=5).status_code == 401
    finally:
        Handler.setup = setup
    assert seen and all(seen), seen
