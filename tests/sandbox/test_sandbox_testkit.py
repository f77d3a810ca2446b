"""Request log and fault injection: the facilities the addon's tests use to prove that nothing
was sent to GoCardless and that a hanging or refusing GoCardless is survived."""

from __future__ import annotations

import json
import socket
import threading
import time

import gocardless_pro
import pytest
import requests
from gocardless_pro import errors as gc_errors

from gocardless_sandbox import SandboxServer
from gocardless_sandbox.testkit import Faults, RequestLog


def customer_body(name="Ada"):
    return json.dumps({"customers": {"given_name": name, "family_name": "L", "email": "a@b.fr"}})


# ---------------------------------------------------------------------------- request log
def test_requests_are_logged_with_method_path_status_and_key(sandbox, api, gc):
    url = sandbox.url
    mark = sandbox.request_log_mark()
    before = time.time()
    assert api.get(url + "/customers?limit=5").status_code == 200
    created = api.post(url + "/customers", data=customer_body(), headers={"Idempotency-Key": "k1"})
    assert created.status_code == 201
    assert api.put(url + "/customers/CU000NOPE", data="{}").status_code == 400
    assert api.get(url + "/payments/PM000NOPE/").status_code == 404
    assert requests.get(url + "/payments").status_code == 401
    # Not GoCardless API calls: admin routes, the dashboard, hosted payer pages.
    assert requests.get(url + "/sandbox/health").status_code == 200
    assert requests.get(url + "/sandbox/dashboard").status_code == 200
    assert requests.get(url + "/flow/BRF000NOPE").status_code == 404
    assert requests.post(url + "/oauth/access_token", data={"code": "x"}).status_code == 401
    log = sandbox.request_log(mark)
    assert [(r["method"], r["path"], r["status"], r["kind"]) for r in log] == [
        ("GET", "/customers", 200, "api"),
        ("POST", "/customers", 201, "api"),
        ("PUT", "/customers/CU000NOPE", 400, "api"),
        ("GET", "/payments/PM000NOPE", 404, "api"),
        ("GET", "/payments", 401, "api"),
        ("POST", "/oauth/access_token", 401, "oauth"),
    ]
    assert log[0]["query"] == {"limit": ["5"]} and log[1]["query"] == {}
    assert [r["idempotency_key"] for r in log] == [None, "k1", None, None, None, None]
    assert all(before <= r["at"] <= time.time() and r["fault"] is None for r in log)
    assert [r["seq"] for r in log] == list(range(mark, mark + 6))
    # The SDK sends its own idempotency key on creates.
    client = gocardless_pro.Client(access_token=gc.TOKEN, base_url=url)
    mark = sandbox.request_log_mark()
    client.customers.create(params={"company_name": "Acme"})
    (entry,) = sandbox.request_log(mark)
    assert entry["method"] == "POST" and entry["status"] == 201 and entry["idempotency_key"]


def test_mark_since_and_clear(sandbox, api):
    url = sandbox.url
    first = sandbox.request_log_mark()
    api.get(url + "/customers")
    second = sandbox.request_log_mark()
    assert second == first + 1
    api.post(url + "/customers", data=customer_body())
    assert [r["method"] for r in sandbox.request_log(second)] == ["POST"]
    assert [r["method"] for r in sandbox.request_log(first)] == ["GET", "POST"]
    assert len(sandbox.request_log()) == second + 1
    assert not [r for r in sandbox.request_log(sandbox.request_log_mark()) if r["method"] == "POST"]
    # The list is a copy: changing it changes nothing in the log.
    sandbox.request_log()[0]["method"] = "DELETE"
    assert sandbox.request_log(first)[0]["method"] == "GET"
    # Clearing drops the entries but keeps the numbering, so earlier marks stay valid.
    sandbox.clear_request_log()
    assert sandbox.request_log() == [] and sandbox.request_log_mark() == second + 1
    api.get(url + "/payments")
    assert [r["path"] for r in sandbox.request_log(second)] == ["/payments"]


def test_request_log_over_http(sandbox, api):
    url = sandbox.url
    api.get(url + "/customers")
    mark = requests.get(url + "/sandbox/requests").json()["mark"]
    api.get(url + "/mandates?customer=CU1")
    answer = requests.get(url + f"/sandbox/requests?since={mark}").json()
    assert answer["mark"] == mark + 1
    assert [(r["method"], r["path"], r["query"], r["status"]) for r in answer["requests"]] == [
        ("GET", "/mandates", {"customer": ["CU1"]}, 200)
    ]
    assert requests.get(url + "/sandbox/requests?since=x").status_code == 422
    assert requests.post(url + "/sandbox/requests/clear").json() == {"mark": mark + 1}
    assert requests.get(url + "/sandbox/requests").json()["requests"] == []


def test_request_log_is_bounded():
    log = RequestLog(maxlen=3)
    for n in range(5):
        log.add("GET", f"/p{n}", {}, None, "api")
    assert log.mark() == 5
    assert [e["path"] for e in log.entries()] == ["/p2", "/p3", "/p4"]
    assert [e["seq"] for e in log.entries(since=4)] == [4]
    assert log.entries(since=0) == log.entries()


def test_concurrent_requests_all_logged(sandbox, api, gc):
    mark = sandbox.request_log_mark()

    def worker():
        with requests.Session() as session:
            for _ in range(10):
                session.get(sandbox.url + "/customers", headers=gc.HEADERS)

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = sandbox.request_log(mark)
    assert len(log) == 50 and {r["status"] for r in log} == {200}
    assert sorted(r["seq"] for r in log) == list(range(mark, mark + 50))


# ---------------------------------------------------------------------------- faults
def assert_gc_error(response, status, err_type):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == err_type and error["code"] == status
    assert error["documentation_url"].startswith("https://developer.gocardless.com/")
    assert error["request_id"] and error["message"]
    return error


@pytest.mark.parametrize("mode", ["500", "503"])
def test_fault_server_errors(sandbox, api, gc, mode):
    url = sandbox.url
    sandbox.set_fault(mode)
    mark = sandbox.request_log_mark()
    assert_gc_error(api.get(url + "/customers"), int(mode), "gocardless")
    assert_gc_error(api.post(url + "/customers", data=customer_body()), int(mode), "gocardless")
    # Neither processed nor even authenticated.
    assert_gc_error(requests.get(url + "/payments"), int(mode), "gocardless")
    # Admin routes and the dashboard are never faulted.
    assert requests.get(url + "/sandbox/health").status_code == 200
    assert requests.get(url + "/sandbox/dashboard").status_code == 200
    client = gocardless_pro.Client(access_token=gc.TOKEN, base_url=url)
    with pytest.raises(gc_errors.GoCardlessInternalError):
        client.customers.list()
    log = sandbox.request_log(mark)
    assert [(r["status"], r["fault"]) for r in log] == [(int(mode), mode)] * 4
    sandbox.clear_fault()
    assert sandbox.current_fault() is None
    assert api.get(url + "/customers").json()["customers"] == []


def test_fault_rate_limited(sandbox, api, gc):
    url = sandbox.url
    sandbox.set_fault("429")
    response = api.get(url + "/customers")
    error = assert_gc_error(response, 429, "invalid_api_usage")
    assert [e["reason"] for e in error["errors"]] == ["rate_limit_exceeded"]
    assert response.headers["RateLimit-Limit"] == "1000"
    assert response.headers["RateLimit-Remaining"] == "0"
    assert response.headers["RateLimit-Reset"].endswith(" GMT")
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    client = gocardless_pro.Client(access_token=gc.TOKEN, base_url=url)
    with pytest.raises(gc_errors.RateLimitError):
        client.customers.create(params={"company_name": "Acme"})
    assert [r["status"] for r in sandbox.request_log()] == [429, 429]
    sandbox.clear_fault()
    assert api.get(url + "/customers").json()["customers"] == []


def test_fault_refuse_with_prefix_and_method(sandbox, api):
    url = sandbox.url
    sandbox.set_fault("refuse", path_prefix="/payments")
    mark = sandbox.request_log_mark()
    assert api.get(url + "/customers").status_code == 200
    with pytest.raises(requests.ConnectionError):
        api.get(url + "/payments")
    with pytest.raises(requests.ConnectionError):
        api.post(url + "/payments/PM1/actions/cancel")
    assert [(r["path"], r["status"], r["fault"]) for r in sandbox.request_log(mark)] == [
        ("/customers", 200, None),
        ("/payments", None, "refuse"),
        ("/payments/PM1/actions/cancel", None, "refuse"),
    ]
    sandbox.set_fault("refuse", method="post")
    assert api.get(url + "/payments").status_code == 200
    with pytest.raises(requests.ConnectionError):
        api.post(url + "/customers", data=customer_body())
    sandbox.clear_fault()
    assert api.get(url + "/customers").json()["customers"] == []  # the refused POST: not run


def test_fault_count_auto_clears(sandbox, api, gc):
    url = sandbox.url
    sandbox.set_fault("500", count=2)
    assert sandbox.current_fault()["count"] == 2
    assert api.get(url + "/customers").status_code == 500
    assert api.get(url + "/customers").status_code == 500
    assert sandbox.current_fault() is None
    assert api.get(url + "/customers").status_code == 200
    # Requests outside the prefix do not use up the count.
    sandbox.set_fault("503", path_prefix="/mandates", count=1)
    assert api.get(url + "/customers").status_code == 200
    assert api.get(url + "/mandates").status_code == 503
    assert api.get(url + "/mandates").status_code == 200
    # The SDK retries a refused create with the same idempotency key: one resource.
    client = gocardless_pro.Client(access_token=gc.TOKEN, base_url=url)
    sandbox.set_fault("refuse", path_prefix="/customers", count=1)
    mark = sandbox.request_log_mark()
    customer = client.customers.create(params={"company_name": "Acme"})
    first, second = sandbox.request_log(mark)
    assert (first["fault"], first["status"], second["status"]) == ("refuse", None, 201)
    assert first["idempotency_key"] == second["idempotency_key"]
    assert [c.id for c in client.customers.list().records] == [customer.id]


def test_fault_hang_then_clear(sandbox, api):
    url = sandbox.url
    sandbox.set_fault("hang")
    mark = sandbox.request_log_mark()
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        api.post(url + "/customers", data=customer_body(), timeout=1)
    assert 0.9 <= time.monotonic() - started < 3
    # Other requests (admin, dashboard) are served while the handler hangs.
    assert requests.get(url + "/sandbox/health", timeout=2).status_code == 200
    assert requests.get(url + "/sandbox/dashboard", timeout=2).status_code == 200
    (entry,) = sandbox.request_log(mark)
    assert (entry["method"], entry["status"], entry["fault"]) == ("POST", None, "hang")
    sandbox.clear_fault()
    response = api.get(url + "/customers", timeout=2)
    assert response.status_code == 200
    assert response.json()["customers"] == []  # the hung POST was never processed
    assert [r["status"] for r in sandbox.request_log(mark)] == [None, 200]


def test_fault_hang_is_bounded_and_released_by_clear(sandbox, api, gc):
    url = sandbox.url
    sandbox.set_fault("hang", hang_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        api.get(url + "/customers", timeout=5)  # closed unanswered after 0.2 s
    assert time.monotonic() - started < 2
    sandbox.set_fault("hang")
    errors = []

    def hung_request():
        try:
            requests.get(url + "/customers", headers=api.headers, timeout=10)
        except requests.RequestException as err:
            errors.append(err)

    mark = sandbox.request_log_mark()
    thread = threading.Thread(target=hung_request)
    thread.start()
    assert gc.wait_for(lambda: sandbox.request_log(mark))
    started = time.monotonic()
    requests.post(url + "/sandbox/fault/clear", timeout=2)
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 2
    assert isinstance(errors[0], requests.ConnectionError)


def test_stop_does_not_wait_for_hanging_requests(tmp_path, gc):
    server = SandboxServer(
        port=0,
        db_path=str(tmp_path / "gc.sqlite3"),
        access_tokens=[gc.TOKEN],
        poll_interval=0.05,
    ).start()
    server.set_fault("hang")
    sockets = []
    for _ in range(3):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"GET /customers HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        sockets.append(sock)
    assert gc.wait_for(lambda: len(server.request_log()) == 3)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2
    for sock in sockets:  # released: closed without an answer
        assert sock.recv(100) == b""
        sock.close()


def test_fault_over_http_and_validation(sandbox, api):
    url = sandbox.url
    answer = requests.post(
        url + "/sandbox/fault", json={"mode": "503", "path_prefix": "/customers", "count": 1}
    )
    assert answer.status_code == 200
    assert answer.json()["fault"]["mode"] == "503"
    assert requests.get(url + "/sandbox/fault").json()["fault"]["count"] == 1
    assert api.get(url + "/customers").status_code == 503
    assert requests.get(url + "/sandbox/fault").json() == {"fault": None}
    for bad in ({"mode": "boom"}, {}, {"mode": "500", "count": 0}, {"mode": "500", "count": "2"}):
        response = requests.post(url + "/sandbox/fault", json=bad)
        assert_gc_error(response, 422, "validation_failed")
    requests.post(url + "/sandbox/fault", json={"mode": "500"})
    assert requests.post(url + "/sandbox/fault/clear").json() == {"fault": None}
    assert api.get(url + "/customers").status_code == 200
    faults = Faults()
    with pytest.raises(ValueError):
        faults.set("hang", count=-1)
    with pytest.raises(ValueError):
        faults.set("hang", path_prefix=5)
    assert faults.set("hang", hang_timeout=999)["hang_timeout"] == 120.0


def test_fault_hang_after_processes_the_request_and_withholds_its_answer(sandbox, api):
    url = sandbox.url
    mark = sandbox.request_log_mark()
    sandbox.set_fault("hang_after", path_prefix="/customers", method="POST", count=1)
    body = {"customers": {"email": "late@example.com", "given_name": "A", "family_name": "B"}}
    with pytest.raises(requests.ReadTimeout):
        api.post(
            url + "/customers", json=body, headers={"Idempotency-Key": "late-1"}, timeout=(2, 0.5)
        )
    sandbox.clear_fault()
    (entry,) = sandbox.request_log(mark)
    assert (entry["method"], entry["status"], entry["fault"]) == ("POST", None, "hang_after")
    # The customer was created: the same key again answers with it, not a second one.
    customers = api.get(url + "/customers", timeout=2).json()["customers"]
    assert [c["email"] for c in customers] == ["late@example.com"]
    again = api.post(
        url + "/customers", json=body, headers={"Idempotency-Key": "late-1"}, timeout=2
    )
    assert again.status_code == 409
    assert (
        again.json()["error"]["errors"][0]["links"]["conflicting_resource_id"]
        == (customers[0]["id"])
    )
    assert len(api.get(url + "/customers", timeout=2).json()["customers"]) == 1
