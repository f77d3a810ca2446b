"""Every endpoint the sandbox serves answers with the SDK fixture's fields, types and nesting."""

from __future__ import annotations

import json

import pytest
import requests

from gocardless_sandbox import SandboxServer


def _kind(value):
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# User-supplied maps: only their type is compared, never their keys.
FREE_FORM = {"metadata", "resource_metadata", "request_headers", "response_headers"}


def shape_diff(expected, actual, path="$"):
    """Differences between a fixture (expected) and a response (actual).

    The fixture's keys must all be present; JSON types must match, null being tolerated on
    either side; lists are compared by their first element (an empty list on either side
    is accepted as carrying no shape information).
    """
    if expected is None or actual is None:
        return []
    if path.rsplit(".", 1)[-1] in FREE_FORM:
        return (
            []
            if _kind(expected) == _kind(actual)
            else [f"{path}: fixture has {_kind(expected)}, response has {_kind(actual)}"]
        )
    kind_e, kind_a = _kind(expected), _kind(actual)
    if kind_e != kind_a:
        return [f"{path}: fixture has {kind_e}, response has {kind_a}"]
    problems = []
    if kind_e == "object":
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing from response")
            else:
                problems.extend(shape_diff(value, actual[key], f"{path}.{key}"))
    elif kind_e == "array" and expected and actual:
        problems.extend(shape_diff(expected[0], actual[0], f"{path}[0]"))
    return problems


def test_shape_diff_reports_paths():
    assert shape_diff({"a": {"b": 1}}, {"a": {"b": 2, "c": 3}}) == []
    assert shape_diff({"a": {"b": 1}}, {"a": {}}) == ["$.a.b: missing from response"]
    assert shape_diff({"a": [{"x": "s"}]}, {"a": [{"x": 1}]}) == [
        "$.a[0].x: fixture has string, response has number"
    ]
    assert shape_diff({"a": True}, {"a": 1}) == ["$.a: fixture has boolean, response has number"]
    assert shape_diff({"a": None}, {"a": {"z": 1}}) == []
    assert shape_diff({"a": "x"}, {"a": None}) == []


class Recorder:
    def __init__(self, session, base, fixtures_dir):
        self.session = session
        self.base = base
        self.fixtures_dir = fixtures_dir
        self.problems = []
        self.checked = set()

    def fixture(self, name):
        return json.loads((self.fixtures_dir / name).read_text(encoding="utf-8"))

    def call(self, resource, endpoint, method, path, body=None, status=None, **kwargs):
        response = self.session.request(
            method, self.base + path, data=None if body is None else json.dumps(body), **kwargs
        )
        expected_status = status or (201 if endpoint == "create" else 200)
        assert response.status_code == expected_status, (resource, endpoint, response.text)
        payload = response.json()
        fixture = self.fixture(f"{resource}.json")[endpoint]
        assert fixture["method"] == method, (resource, endpoint)
        self.problems += [
            f"{resource}.{endpoint} {p}" for p in shape_diff(fixture["body"], payload)
        ]
        self.checked.add((resource, endpoint))
        return payload

    def create(self, resource, fields, **kwargs):
        return self.call(resource, "create", "POST", f"/{resource}", {resource: fields}, **kwargs)[
            resource
        ]

    def list(self, resource, query=""):
        return self.call(resource, "list", "GET", f"/{resource}{query}")

    def get(self, resource, doc_id):
        return self.call(resource, "get", "GET", f"/{resource}/{doc_id}")[resource]

    def update(self, resource, doc_id, fields):
        return self.call(resource, "update", "PUT", f"/{resource}/{doc_id}", {resource: fields})

    def action(self, resource, doc_id, action, data=None):
        """``POST /<resource>/<id>/actions/<action>``, with ``{"data": data}`` unless None."""
        body = None if data is None else {"data": data}
        path = f"/{resource}/{doc_id}/actions/{action}"
        return self.call(resource, action, "POST", path, body)

    def error(self, fixture_name, response, status):
        assert response.status_code == status, response.text
        self.problems += [
            f"{fixture_name} {p}" for p in shape_diff(self.fixture(fixture_name), response.json())
        ]
        self.checked.add((fixture_name, "error"))
        return response.json()


SERVED = {
    ("creditors", "list"),
    ("creditors", "get"),
    ("customers", "create"),
    ("customers", "list"),
    ("customers", "get"),
    ("customers", "update"),
    ("customer_bank_accounts", "create"),
    ("customer_bank_accounts", "list"),
    ("customer_bank_accounts", "get"),
    ("customer_bank_accounts", "update"),
    ("customer_bank_accounts", "disable"),
    ("billing_requests", "create"),
    ("billing_requests", "collect_customer_details"),
    ("billing_requests", "collect_bank_account"),
    ("billing_requests", "confirm_payer_details"),
    ("billing_requests", "fulfil"),
    ("billing_requests", "cancel"),
    ("billing_requests", "list"),
    ("billing_requests", "get"),
    ("billing_request_flows", "create"),
    ("billing_request_flows", "initialise"),
    ("mandates", "list"),
    ("mandates", "get"),
    ("mandates", "update"),
    ("mandates", "cancel"),
    ("mandates", "reinstate"),
    ("payments", "create"),
    ("payments", "list"),
    ("payments", "get"),
    ("payments", "update"),
    ("payments", "cancel"),
    ("payments", "retry"),
    ("refunds", "create"),
    ("refunds", "list"),
    ("refunds", "get"),
    ("refunds", "update"),
    ("events", "list"),
    ("events", "get"),
    ("payouts", "list"),
    ("payouts", "get"),
    ("payouts", "update"),
    ("payout_items", "list"),
    ("scenario_simulators", "run"),
    ("webhooks", "list"),
    ("webhooks", "get"),
    ("webhooks", "retry"),
}


def test_every_endpoint_matches_its_fixture(sandbox, api, gc):
    rec = Recorder(api, sandbox.url, gc.fixtures_dir())
    creditor = rec.list("creditors")["creditors"][0]
    rec.get("creditors", creditor["id"])
    customer = rec.create(
        "customers",
        {
            "given_name": "Frank",
            "family_name": "Osborne",
            "email": "frank@example.com",
            "address_line1": "221B Baker Street",
            "city": "London",
            "postal_code": "NW1 6XE",
            "country_code": "GB",
        },
    )
    rec.list("customers")
    rec.get("customers", customer["id"])
    rec.update("customers", customer["id"], {"metadata": {"k": "v"}})
    frank_account = {
        "account_holder_name": "Frank Osborne",
        "account_number": "55779911",
        "branch_code": "200000",
        "country_code": "GB",
        "links": {"customer": customer["id"]},
    }
    account = rec.create("customer_bank_accounts", frank_account)
    rec.list("customer_bank_accounts")
    rec.get("customer_bank_accounts", account["id"])
    rec.update("customer_bank_accounts", account["id"], {"metadata": {"a": "b"}})
    rec.error(
        "validation_failed_duplicate_bank_account_error.json",
        api.post(
            sandbox.url + "/customer_bank_accounts",
            data=json.dumps({"customer_bank_accounts": frank_account}),
        ),
        409,
    )
    rec.action("customer_bank_accounts", account["id"], "disable")

    br = rec.create(
        "billing_requests",
        {
            "mandate_request": {"scheme": "bacs", "currency": "GBP", "description": "Top-up"},
            "links": {"customer": customer["id"]},
        },
    )
    rec.action(
        "billing_requests",
        br["id"],
        "collect_customer_details",
        {
            "customer": {"email": "frank@example.com"},
            "customer_billing_detail": {
                "address_line1": "221B Baker Street",
                "city": "London",
                "postal_code": "NW1 6XE",
                "country_code": "GB",
            },
        },
    )
    flow = rec.create("billing_request_flows", {"links": {"billing_request": br["id"]}})
    rec.action("billing_request_flows", flow["id"], "initialise")
    rec.action(
        "billing_requests",
        br["id"],
        "collect_bank_account",
        {
            "account_holder_name": "Frank Osborne",
            "account_number": "31926819",
            "branch_code": "601613",
            "country_code": "GB",
        },
    )
    rec.action("billing_requests", br["id"], "confirm_payer_details", {})
    fulfilled = rec.action("billing_requests", br["id"], "fulfil")["billing_requests"]
    rec.list("billing_requests")
    rec.get("billing_requests", br["id"])
    other = api.post(
        sandbox.url + "/billing_requests",
        data=json.dumps({"billing_requests": {"mandate_request": {"currency": "EUR"}}}),
    ).json()["billing_requests"]
    rec.action("billing_requests", other["id"], "cancel")

    mandate_id = fulfilled["links"]["mandate_request_mandate"]
    rec.list("mandates")
    mandate = rec.get("mandates", mandate_id)
    rec.update("mandates", mandate_id, {"metadata": {"x": "y"}})
    rec.error(
        "invalid_state_error.json",
        api.post(sandbox.url + f"/mandates/{mandate_id}/actions/reinstate"),
        422,
    )
    gbp_1000 = {"amount": 1000, "currency": "GBP", "links": {"mandate": mandate_id}}
    payment = rec.create(
        "payments",
        {**gbp_1000, "charge_date": mandate["next_possible_charge_date"]},
        headers={"Idempotency-Key": "conformance-1"},
    )
    rec.error(
        "idempotent_creation_conflict_error.json",
        api.post(
            sandbox.url + "/payments",
            data=json.dumps({"payments": gbp_1000}),
            headers={"Idempotency-Key": "conformance-1"},
        ),
        409,
    )
    rec.list("payments")
    rec.get("payments", payment["id"])
    rec.update("payments", payment["id"], {"metadata": {"a": "1"}})
    rec.action(
        "scenario_simulators", "payment_failed", "run", {"links": {"resource": payment["id"]}}
    )
    rec.action("payments", payment["id"], "retry", {})
    rec.action("payments", payment["id"], "cancel")

    paid = api.post(
        sandbox.url + "/payments",
        data=json.dumps({"payments": {**gbp_1000, "amount": 5000}}),
    ).json()
    paid_id = paid["payments"]["id"]
    api.post(
        sandbox.url + "/scenario_simulators/payment_paid_out/actions/run",
        data=json.dumps({"data": {"links": {"resource": paid_id}}}),
    )
    refund = rec.create(
        "refunds",
        {"amount": 150, "total_amount_confirmation": 150, "links": {"payment": paid_id}},
    )
    rec.list("refunds")
    rec.get("refunds", refund["id"])
    rec.update("refunds", refund["id"], {"metadata": {"a": "1"}})

    payout_id = api.get(sandbox.url + f"/payments/{paid_id}").json()["payments"]["links"]["payout"]
    rec.list("payouts")
    rec.get("payouts", payout_id)
    rec.update("payouts", payout_id, {"metadata": {"salesforce_id": "ABCD1234"}})
    rec.list("payout_items", f"?payout={payout_id}")
    events = rec.list("events")["events"]
    rec.get("events", events[0]["id"])
    included = rec.list("events", "?resource_type=payments&include=payment")
    assert included["linked"]["payments"], "include=payment returned nothing"

    rec.action("mandates", mandate_id, "cancel")
    rec.action("mandates", mandate_id, "reinstate")

    sandbox.flush_webhooks()
    hooks = rec.list("webhooks")["webhooks"]
    assert hooks, "no webhook was delivered"
    rec.get("webhooks", hooks[0]["id"])
    rec.action("webhooks", hooks[0]["id"], "retry")

    rec.error(
        "unauthorized_error.json",
        requests.get(
            sandbox.url + "/payments",
            headers={"Authorization": "Bearer nope", "GoCardless-Version": "2015-07-06"},
        ),
        401,
    )
    rec.error(
        "invalid_api_usage_error.json", api.post(sandbox.url + "/payments", data="[1, 2]"), 400
    )
    rec.error(
        "validation_failed_error.json",
        api.post(
            sandbox.url + "/customer_bank_accounts",
            data=json.dumps(
                {
                    "customer_bank_accounts": {
                        **frank_account,
                        "account_holder_name": "X",
                        "account_number": "1",
                        "branch_code": "abc",
                    }
                }
            ),
        ),
        422,
    )

    assert SERVED <= rec.checked, sorted(SERVED - rec.checked)
    assert not rec.problems, "\n".join(rec.problems)


def test_rate_limit_and_internal_error_shapes(tmp_path, gc, monkeypatch):
    server = SandboxServer(
        port=0, db_path=str(tmp_path / "rl.sqlite3"), access_tokens=[gc.TOKEN], rate_limit=3
    ).start()
    try:
        rec = Recorder(requests.Session(), server.url, gc.fixtures_dir())
        headers = dict(gc.HEADERS)
        responses = [requests.get(server.url + "/customers", headers=headers) for _ in range(4)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        assert [r.headers["RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
        assert all(r.headers["RateLimit-Limit"] == "3" for r in responses)
        assert responses[0].headers["RateLimit-Reset"].endswith("GMT")
        rec.error("rate_limit_exceeded.json", responses[3], 429)
        assert not rec.problems, rec.problems

        def boom(*args, **kwargs):
            raise RuntimeError("simulated bug")

        monkeypatch.setattr(server.sandbox, "route", boom)
        monkeypatch.setattr(server.sandbox, "rate_limit", 1000)
        broken = requests.get(server.url + "/customers", headers=headers)
        rec.error("gocardless_error.json", broken, 500)
        assert "Traceback" not in broken.text and not rec.problems, rec.problems
    finally:
        server.stop()


@pytest.mark.parametrize("name", ["payments", "mandates", "events", "payouts"])
def test_list_meta_shape(api, sandbox, name):
    body = api.get(f"{sandbox.url}/{name}").json()
    assert set(body) >= {name, "meta"}
    assert set(body["meta"]["cursors"]) == {"before", "after"} and body["meta"]["limit"] == 50
