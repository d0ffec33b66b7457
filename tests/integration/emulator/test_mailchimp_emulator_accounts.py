"""The Mailchimp emulator's accounts over real HTTP on 127.0.0.1: a second account is a full peer of the
first (its own data, campaigns, members, batches and 10 connections), and every record names its account.

One emulator per module (its own, not the session-wide `mailchimp` fixture), reset before each test.
Accounts and keys outlive `reset()`, so a test that revokes a key makes a fresh one.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulators.mailchimp import MailchimpEmulator
from emulators.mailchimp.batch_faults import hold_batches

API_KEY = "0123456789abcdef0123456789abcdef-us6"
OTHER_KEY = "fedcba9876543210fedcba9876543210-us19"
PRIMARY = "acc-1"
OTHER = "acc-2"


def new_key(dc: str = "us6") -> str:
    return f"{secrets.token_hex(16)}-{dc}"


@pytest.fixture(scope="module")
def emu() -> Iterator[MailchimpEmulator]:
    emulator = MailchimpEmulator(api_key=API_KEY, account_id=PRIMARY, port=0)
    emulator.add_account(OTHER, OTHER_KEY, account_name="Second Merchant", dc="us19")
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def _fresh(emu: MailchimpEmulator) -> Iterator[None]:
    emu.reset()
    emu.reset_peak_in_flight()
    yield
    emu.set_faults()


def call(emu: MailchimpEmulator, key: str, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, emu.base_url + path, auth=("u", key), json=body, timeout=10)


def ok(emu: MailchimpEmulator, key: str, method: str, path: str, body: Any = None) -> Any:
    response = call(emu, key, method, path, body)
    assert response.status_code in (200, 204), response.text
    return response.json() if response.status_code == 200 else None


def store_body(store_id: str, name: str) -> dict[str, Any]:
    return {"id": store_id, "list_id": "list-1", "name": name, "currency_code": "USD"}


def test_each_account_sees_only_its_own_data(emu: MailchimpEmulator) -> None:
    # Other tests in this module may add accounts of their own, after these two.
    assert emu.account_ids[:2] == [PRIMARY, OTHER] and emu.primary_account_id == PRIMARY
    # The same store id in both accounts: two different stores, no "already exists".
    ok(emu, API_KEY, "POST", "/ecommerce/stores", store_body("s1", "First's shop"))
    ok(emu, OTHER_KEY, "POST", "/ecommerce/stores", store_body("s1", "Second's shop"))
    ok(emu, OTHER_KEY, "POST", "/ecommerce/stores", store_body("s2", "Second's other shop"))
    assert ok(emu, API_KEY, "GET", "/ecommerce/stores/s1")["name"] == "First's shop"
    assert ok(emu, OTHER_KEY, "GET", "/ecommerce/stores/s1")["name"] == "Second's shop"
    assert call(emu, API_KEY, "GET", "/ecommerce/stores/s2").status_code == 404
    assert ok(emu, API_KEY, "GET", "/")["account_id"] == PRIMARY
    other_root = ok(emu, OTHER_KEY, "GET", "/")
    assert (other_root["account_id"], other_root["account_name"]) == (OTHER, "Second Merchant")

    assert set(emu.state.stores) == {"s1"} and set(emu.state_of(OTHER).stores) == {"s1", "s2"}
    assert emu.snapshot(OTHER)["stores"]["s1"]["store"]["name"] == "Second's shop"
    assert emu.snapshot()["stores"]["s1"]["store"]["name"] == "First's shop"

    # Campaigns and members belong to one account too, through Python and the admin routes.
    emu.add_campaign("camp-2", account_id=OTHER)
    admin = emu.admin_url
    posted = requests.post(f"{admin}/campaigns", json={"id": "camp-1b", "account": OTHER}, timeout=5)
    assert posted.json()["campaigns"] == ["camp-1b", "camp-2"]
    assert requests.get(f"{admin}/campaigns", timeout=5).json()["campaigns"] == []
    member = {"list_id": "list-1", "email_address": "x@shop.test", "status": "unsubscribed", "account": OTHER}
    assert requests.post(f"{admin}/members", json=member, timeout=5).status_code == 200
    assert (emu.member("list-1", "x@shop.test", account_id=OTHER) or {}).get("status") == "unsubscribed"
    assert emu.member("list-1", "x@shop.test") is None
    emu.set_member_status("list-1", "y@shop.test", "cleaned", account_id=OTHER)
    assert (emu.member("list-1", "y@shop.test", account_id=OTHER) or {}).get("status") == "cleaned"

    dump = requests.get(f"{admin}/state", params={"account": OTHER}, timeout=5).json()
    assert set(dump["stores"]) == {"s1", "s2"} and dump["campaigns"] == ["camp-1b", "camp-2"]
    assert dump["account"] == {"account_id": OTHER, "account_name": "Second Merchant", "dc": "us19"}
    assert dump["accounts"][:2] == [PRIMARY, OTHER]
    assert set(requests.get(f"{admin}/state", timeout=5).json()["stores"]) == {"s1"}
    unknown = requests.get(f"{admin}/state", params={"account": "nobody"}, timeout=5)
    assert unknown.status_code == 404 and "nobody" in unknown.json()["error"]

    # Every record names its account; a request without a valid credential names none.
    requests.get(emu.base_url + "/ping", timeout=5)
    by_account = Counter(entry["account_id"] for entry in emu.requests)
    assert by_account == {PRIMARY: 4, OTHER: 4, None: 1}
    only_other = requests.get(f"{admin}/requests", params={"account": OTHER}, timeout=5).json()["requests"]
    assert len(only_other) == 4 and {entry["account_id"] for entry in only_other} == {OTHER}

    # reset() clears every account.
    emu.reset()
    assert emu.state_of(OTHER).stores == {} and emu.state_of(OTHER).campaigns == set()


def test_adding_accounts_and_keys(emu: MailchimpEmulator) -> None:
    third_key = new_key()
    emu.add_api_key(third_key, account_id="acc-3")  # a new account, made by the old call
    assert ok(emu, third_key, "GET", "/")["account_id"] == "acc-3"
    emu.add_account("acc-3", account_name="Renamed?")  # idempotent: the account keeps its settings
    assert ok(emu, third_key, "GET", "/")["account_name"] == "Other account acc-3"
    another = new_key()
    emu.add_account("acc-3", another)  # a second key of the same account
    ok(emu, another, "POST", "/ecommerce/stores", store_body("s3", "Third"))
    assert set(emu.state_of("acc-3").stores) == {"s3"}
    assert emu.revoke(third_key) is True and emu.revoke(third_key) is False
    assert call(emu, third_key, "GET", "/ping").status_code == 401
    assert call(emu, another, "GET", "/ping").status_code == 200

    added = requests.post(
        f"{emu.admin_url}/accounts",
        json={"account_id": "acc-4", "api_key": (fourth := new_key()), "dc": "us2"},
        timeout=5,
    )
    assert {"account_id": "acc-4", "dc": "us2"}.items() <= added.json()["accounts"][-1].items()
    assert ok(emu, fourth, "GET", "/")["account_id"] == "acc-4"
    keys = requests.post(f"{emu.admin_url}/api-keys", json={"revoke": [fourth]}, timeout=5)
    assert keys.status_code == 200 and call(emu, fourth, "GET", "/ping").status_code == 401
    with pytest.raises(LookupError):
        emu.state_of("nobody")


def _held_pings(emu: MailchimpEmulator, keys: list[str]) -> tuple[list[threading.Thread], list[tuple[str, int]]]:
    results: list[tuple[str, int]] = []

    def ping(key: str) -> None:
        results.append((key, call(emu, key, "GET", "/ping").status_code))

    threads = [threading.Thread(target=ping, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    return threads, results


def test_ten_connections_per_account(emu: MailchimpEmulator) -> None:
    with emu.hold(lambda method, path, body: path == "/ping") as hold:
        threads, results = _held_pings(emu, [API_KEY] * 10 + [OTHER_KEY] * 10)
        assert hold.wait_for_requests(20, timeout=10)
        # Both accounts have 10 in flight: the 11th of each is refused, each against its own limit.
        over_primary = call(emu, API_KEY, "GET", "/ping")
        over_other = call(emu, OTHER_KEY, "GET", "/ping")
        assert over_primary.status_code == over_other.status_code == 429
        assert over_other.json()["detail"] == "You have exceeded the limit of 10 simultaneous connections."
        assert emu.in_flight_peaks() == {PRIMARY: 10, OTHER: 10} | {
            account: 0 for account in emu.account_ids if account not in (PRIMARY, OTHER)
        }
    for thread in threads:
        thread.join(timeout=10)
    assert Counter(status for _, status in results) == {200: 20}
    assert emu.peak_in_flight == 10 and emu.peak_in_flight_of(OTHER) == 10
    refused = [(entry["account_id"], entry["fault"]) for entry in emu.requests if entry["status"] == 429]
    assert sorted(refused) == [(PRIMARY, "concurrency"), (OTHER, "concurrency")]
    emu.reset_peak_in_flight()
    assert emu.peak_in_flight == 0 and emu.peak_in_flight_of(OTHER) == 0


def test_one_account_at_its_limit_does_not_slow_the_other(emu: MailchimpEmulator) -> None:
    # A hold scoped to one account: the other account's requests are never held.
    with emu.hold(lambda method, path, body: True, account_id=PRIMARY) as hold:
        threads, results = _held_pings(emu, [API_KEY] * 10)
        assert hold.wait_for_requests(10, timeout=10)
        assert call(emu, API_KEY, "GET", "/ping").status_code == 429
        started = time.monotonic()
        assert [call(emu, OTHER_KEY, "GET", "/ping").status_code for _ in range(5)] == [200] * 5
        assert time.monotonic() - started < 5
        assert ok(emu, OTHER_KEY, "POST", "/ecommerce/stores", store_body("s1", "Busy elsewhere"))["id"] == "s1"
        # Requests without a valid key count against neither account.
        assert requests.get(emu.base_url + "/ping", auth=("u", new_key()), timeout=5).status_code == 401
    for thread in threads:
        thread.join(timeout=10)
    assert Counter(status for _, status in results) == {200: 10}
    assert emu.peak_in_flight_of(OTHER) == 1


def test_a_key_revoked_while_its_request_waits_is_refused(emu: MailchimpEmulator) -> None:
    key = new_key()
    emu.add_account(OTHER, key)
    answer: list[requests.Response] = []
    with emu.hold(lambda method, path, body: path == "/", account_id=OTHER) as hold:
        waiting = threading.Thread(target=lambda: answer.append(call(emu, key, "GET", "/")))
        waiting.start()
        assert hold.wait_for_requests(1, timeout=10)
        emu.revoke(key)
    waiting.join(timeout=10)
    assert answer[0].status_code == 401 and answer[0].json()["title"] == "API Key Invalid"
    assert emu.requests[-1]["account_id"] is None


def _finished(emu: MailchimpEmulator, key: str, batch_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    batch = ok(emu, key, "GET", f"/batches/{batch_id}")
    while batch["status"] != "finished" and time.monotonic() < deadline:
        time.sleep(0.02)
        batch = ok(emu, key, "GET", f"/batches/{batch_id}")
    return dict(batch)


def test_batches_run_per_account(emu: MailchimpEmulator) -> None:
    for key in (API_KEY, OTHER_KEY):
        ok(emu, key, "POST", "/ecommerce/stores", store_body("s1", "Shop"))
    product = {"id": "p1", "title": "Shirt", "variants": [{"id": "v1", "title": "V"}]}
    operation = {
        "method": "POST",
        "path": "/ecommerce/stores/s1/products",
        "operation_id": "product",
        "body": json.dumps(product),
    }
    held = hold_batches(emu, account_id=PRIMARY)
    try:
        first = ok(emu, API_KEY, "POST", "/batches", {"operations": [operation]})
        second = ok(emu, OTHER_KEY, "POST", "/batches", {"operations": [operation]})
        # The second account's worker runs its batch while the first account's batch is held.
        done = _finished(emu, OTHER_KEY, second["id"])
        assert (done["finished_operations"], done["errored_operations"]) == (1, 0)
        assert ok(emu, API_KEY, "GET", f"/batches/{first['id']}")["status"] in ("pending", "started")
        # A batch is its own account's: the other account does not find it.
        assert call(emu, API_KEY, "GET", f"/batches/{second['id']}").status_code == 404
        assert ok(emu, OTHER_KEY, "GET", "/batches")["total_items"] == 1
        archive = requests.get(done["response_body_url"], timeout=5)
        assert archive.status_code == 200 and archive.headers["Content-Type"] == "application/x-gzip"
        assert emu.state.stores["s1"].products == {}
    finally:
        held.remove()
    assert emu.wait_for_batches(timeout=10)
    assert _finished(emu, API_KEY, first["id"])["finished_operations"] == 1
    assert "p1" in emu.state.stores["s1"].products and "p1" in emu.state_of(OTHER).stores["s1"].products
    ran = sorted(entry["account_id"] for entry in emu.requests if entry["source"] == "batch")
    assert ran == [PRIMARY, OTHER]


def test_the_old_view_of_other_accounts_still_works(emu: MailchimpEmulator) -> None:
    # Callers written before accounts were full peers reach another account's data this way.
    emu.app.other_accounts[OTHER].env.state.deleted_audiences.add("list-gone")
    assert call(emu, OTHER_KEY, "GET", "/lists/list-gone").status_code == 404
    assert call(emu, API_KEY, "GET", "/lists/list-gone").status_code != 404
    assert PRIMARY not in emu.app.other_accounts and emu.app.key_accounts[OTHER_KEY] == OTHER
    emu.state_of(OTHER).deleted_audiences.clear()
