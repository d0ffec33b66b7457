"""The Mailchimp emulator over real HTTP on 127.0.0.1: rules, errors, records, faults and batches.

One emulator per module (its own, not the session-wide `mailchimp` fixture), reset before each test.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import sys
import tarfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from emulators.mailchimp import MailchimpEmulator

API_KEY = "0123456789abcdef0123456789abcdef-us6"
OTHER_KEY = "fedcba9876543210fedcba9876543210-us6"
LIST_ID = "list-1"
VALIDATION_DETAIL = "The resource submitted could not be validated. For field-specific details, see the 'errors' array."
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def emu() -> Iterator[MailchimpEmulator]:
    emulator = MailchimpEmulator(api_key=API_KEY, account_id="acc-1", host="127.0.0.1", port=0)
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture(autouse=True)
def _fresh(emu: MailchimpEmulator) -> Iterator[None]:
    emu.reset()
    yield
    emu.set_faults()


@pytest.fixture
def api(emu: MailchimpEmulator) -> Iterator[Api]:
    with requests.Session() as session:
        session.auth = ("anystring", API_KEY)
        yield Api(session, emu.base_url)


class Api:
    def __init__(self, session: requests.Session, base_url: str) -> None:
        self.session = session
        self.base_url = base_url

    def __call__(self, method: str, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        if body is not None:
            kwargs["json"] = body
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.base_url + path, **kwargs)

    def ok(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        response = self(method, path, body, **kwargs)
        assert response.status_code in (200, 204), response.text
        return response.json() if response.status_code == 200 else None


def assert_problem(response: requests.Response, status: int, title: str, detail: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail", "instance"}
    assert body["status"] == status
    assert body["title"] == title
    uuid.UUID(body["instance"])
    assert response.headers["X-Request-Id"] == body["instance"]
    if detail is not None:
        assert body["detail"] == detail
    return body


def field_messages(body: dict) -> dict[str, str]:
    return {error["field"]: error["message"] for error in body.get("errors", [])}


def make_store(api: Api, store_id: str = "s1", **extra: Any) -> dict:
    body = {"id": store_id, "list_id": LIST_ID, "name": "Shop", "currency_code": "USD", **extra}
    return api.ok("POST", "/ecommerce/stores", body)


def make_product(api: Api, store_id: str = "s1", product_id: str = "p1", variants: int = 2) -> dict:
    body = {
        "id": product_id,
        "title": "Shirt",
        "variants": [{"id": f"{product_id}-v{n}", "title": f"Size {n}", "price": 10.0} for n in range(variants)],
    }
    return api.ok("POST", f"/ecommerce/stores/{store_id}/products", body)


def line(line_id: str, product_id: str = "p1", variant_id: str = "p1-v0", quantity: int = 1) -> dict:
    return {
        "id": line_id,
        "product_id": product_id,
        "product_variant_id": variant_id,
        "quantity": quantity,
        "price": 10.0,
    }


def cart_body(cart_id: str = "c1", customer_id: str = "cu1", **extra: Any) -> dict:
    return {
        "id": cart_id,
        "customer": {"id": customer_id, "email_address": f"{customer_id}@shop.test", "opt_in_status": False},
        "currency_code": "USD",
        "order_total": 10.0,
        "checkout_url": "https://shop.test/checkout",
        "lines": [line("l1")],
        **extra,
    }


def order_body(order_id: str = "o1", customer_id: str = "cu1", **extra: Any) -> dict:
    return {**cart_body(order_id, customer_id), "financial_status": "pending", **extra}


# ----- auth, ping, root --------------------------------------------------------------------------------


def test_auth_missing_invalid_basic_and_bearer(emu: MailchimpEmulator) -> None:
    missing = requests.get(emu.base_url + "/ping", timeout=5)
    assert_problem(missing, 401, "APIKeyMissing")
    wrong = requests.get(emu.base_url + "/ping", auth=("user", OTHER_KEY), timeout=5)
    assert_problem(
        wrong,
        401,
        "API Key Invalid",
        "Your API key may be invalid, or you've attempted to access the wrong datacenter.",
    )
    basic = requests.get(emu.base_url + "/ping", auth=("whatever", API_KEY), timeout=5)
    assert basic.status_code == 200
    bearer = requests.get(emu.base_url + "/ping", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=5)
    assert bearer.json() == {"health_status": "Everything's Chimpy!"}

    emu.add_api_key(OTHER_KEY)
    assert requests.get(emu.base_url + "/ping", auth=("u", OTHER_KEY), timeout=5).status_code == 200
    emu.revoke_api_key(OTHER_KEY)
    assert requests.get(emu.base_url + "/ping", auth=("u", OTHER_KEY), timeout=5).status_code == 401


def test_root_reports_the_account(api: Api) -> None:
    root = api.ok("GET", "/")
    assert root["account_id"] == "acc-1"
    assert {"login_id", "account_name", "email", "role"} <= set(root)


# ----- stores ------------------------------------------------------------------------------------------


def test_store_create_duplicate_required_list_id_immutable_and_cascade(api: Api) -> None:
    store = make_store(api)
    assert store["list_id"] == LIST_ID
    assert store["created_at"] and store["is_syncing"] is False

    duplicate = api("POST", "/ecommerce/stores", {"id": "s1", "list_id": LIST_ID, "name": "x", "currency_code": "USD"})
    body = assert_problem(duplicate, 400, "Bad Request")
    assert body["detail"].endswith("A store with the provided ID already exists in the account.")

    no_list = api("POST", "/ecommerce/stores", {"id": "s2", "name": "x", "currency_code": "USD"})
    body = assert_problem(no_list, 400, "Invalid Resource", VALIDATION_DETAIL)
    assert field_messages(body) == {"": "Required fields were not provided: list_id"}

    moved = api("PATCH", "/ecommerce/stores/s1", {"list_id": "another-list"})
    assert field_messages(assert_problem(moved, 400, "Invalid Resource")).keys() == {"list_id"}
    assert api.ok("PATCH", "/ecommerce/stores/s1", {"is_syncing": True, "name": "Renamed"})["name"] == "Renamed"
    assert api.ok("GET", "/ecommerce/stores/s1")["list_id"] == LIST_ID

    api.ok(
        "POST", "/ecommerce/stores/s1/customers", {"id": "cu1", "email_address": "a@shop.test", "opt_in_status": True}
    )
    assert api("DELETE", "/ecommerce/stores/s1").status_code == 204
    assert_problem(api("GET", "/ecommerce/stores/s1"), 404, "Resource Not Found")
    assert_problem(api("GET", "/ecommerce/stores/s1/customers/cu1"), 404, "Resource Not Found")


def test_list_pagination_and_fields(api: Api) -> None:
    for n in range(12):
        make_store(api, f"s{n:02d}")
    first = api.ok("GET", "/ecommerce/stores")
    assert first["total_items"] == 12 and len(first["stores"]) == 10
    rest = api.ok("GET", "/ecommerce/stores", params={"count": 5, "offset": 10})
    assert [store["id"] for store in rest["stores"]] == ["s10", "s11"]
    slim = api.ok("GET", "/ecommerce/stores", params={"fields": "stores.id,total_items", "count": 2})
    assert slim == {"stores": [{"id": "s00"}, {"id": "s01"}], "total_items": 12}


# ----- customers and the audience ----------------------------------------------------------------------


def test_every_audience_exists_until_deleted(api: Api, emu: MailchimpEmulator) -> None:
    assert api.ok("GET", f"/lists/{LIST_ID}", params={"fields": "id,name"}) == {
        "id": LIST_ID,
        "name": f"Audience {LIST_ID}",
    }

    emu.delete_audience("list-gone")

    assert_problem(api("GET", "/lists/list-gone"), 404, "Resource Not Found")
    refused = api(
        "POST", "/ecommerce/stores", {"id": "s9", "list_id": "list-gone", "name": "x", "currency_code": "USD"}
    )
    assert field_messages(assert_problem(refused, 400, "Invalid Resource")) == {
        "list_id": "The list_id provided does not exist."
    }
    emu.reset()
    assert api.ok("GET", "/lists/list-gone")["id"] == "list-gone"


def test_customer_put_patch_email_rules(api: Api, emu: MailchimpEmulator) -> None:
    make_store(api)
    base = "/ecommerce/stores/s1/customers"

    no_email = api("POST", base, {"id": "cu1", "opt_in_status": True})
    body = assert_problem(no_email, 400, "Invalid Resource")
    assert field_messages(body) == {"email_address": "An email address is required to create a customer."}

    fake = api("POST", base, {"id": "cu1", "email_address": "not-an-email", "opt_in_status": True})
    body = assert_problem(fake, 400, "Invalid Resource")
    assert field_messages(body)["email_address"] == (
        "not-an-email looks fake or invalid, please enter a real email address."
    )

    too_long = api("POST", base, {"id": "x" * 51, "email_address": "a@shop.test", "opt_in_status": True})
    assert field_messages(assert_problem(too_long, 400, "Invalid Resource")).keys() == {"id"}
    wrong_type = api("POST", base, {"id": "cu1", "email_address": "a@shop.test", "opt_in_status": "yes"})
    body = assert_problem(wrong_type, 400, "Invalid Resource")
    assert field_messages(body) == {"opt_in_status": "Schema describes boolean, string found instead"}

    created = api.ok("PUT", f"{base}/cu1", {"id": "cu1", "email_address": "a@shop.test", "opt_in_status": False})
    assert created["email_address"] == "a@shop.test" and created["orders_count"] == 0
    duplicate = api("POST", base, {"id": "cu1", "email_address": "a@shop.test", "opt_in_status": False})
    assert "A customer with the provided ID already exists" in assert_problem(duplicate, 400, "Bad Request")["detail"]

    other_email = {"id": "cu1", "email_address": "b@shop.test", "opt_in_status": False}
    assert field_messages(assert_problem(api("PUT", f"{base}/cu1", other_email), 400, "Invalid Resource")).keys() == {
        "email_address"
    }
    patch_email = api("PATCH", f"{base}/cu1", {"email_address": "b@shop.test"})
    assert_problem(patch_email, 400, "Invalid Resource")
    assert api.ok("PATCH", f"{base}/cu1", {"first_name": "Ada"})["first_name"] == "Ada"
    assert api.ok("PUT", f"{base}/cu1", {"id": "cu1", "opt_in_status": False, "last_name": "L"})["last_name"] == "L"

    found = api.ok("GET", base, params={"email_address": "A@shop.test"})
    assert [customer["id"] for customer in found["customers"]] == ["cu1"]
    assert api.ok("GET", base, params={"email_address": "nobody@shop.test"})["total_items"] == 0
    assert emu.state.stores["s1"].customers["cu1"]["first_name"] == "Ada"
    assert_problem(api("GET", f"{base}/missing"), 404, "Resource Not Found")
    assert api("DELETE", f"{base}/cu1").status_code == 204


def test_customer_opt_in_drives_list_member_status(api: Api, emu: MailchimpEmulator) -> None:
    make_store(api)
    base = "/ecommerce/stores/s1/customers"
    api.ok("POST", base, {"id": "t", "email_address": "t@shop.test", "opt_in_status": False})
    assert emu.member(LIST_ID, "t@shop.test")["status"] == "transactional"
    api.ok("PATCH", f"{base}/t", {"opt_in_status": True})
    assert emu.member(LIST_ID, "t@shop.test")["status"] == "subscribed"
    api.ok("PATCH", f"{base}/t", {"opt_in_status": False})
    assert emu.member(LIST_ID, "t@shop.test")["status"] == "subscribed"  # false never downgrades

    emu.set_member_status(LIST_ID, "gone@shop.test", "unsubscribed")
    api.ok("POST", base, {"id": "g", "email_address": "gone@shop.test", "opt_in_status": True})
    assert emu.member(LIST_ID, "gone@shop.test")["status"] == "unsubscribed"

    member_hash = hashlib.md5(b"t@shop.test").hexdigest()
    assert api.ok("GET", f"/lists/{LIST_ID}/members/{member_hash}")["status"] == "subscribed"


def test_member_statuses_and_compliance_state(api: Api) -> None:
    email = "Person@Shop.test"
    member = f"/lists/{LIST_ID}/members/{hashlib.md5(email.lower().encode()).hexdigest()}"
    assert_problem(api("GET", member), 404, "Resource Not Found")
    missing = api("PUT", member, {"email_address": email})
    assert field_messages(assert_problem(missing, 400, "Invalid Resource")) == {
        "": "Required fields were not provided: status_if_new"
    }
    assert api.ok("PUT", member, {"email_address": email, "status_if_new": "subscribed"})["status"] == "subscribed"
    no_transactional = api("PATCH", member, {"status": "transactional"})  # PATCH's enum has no transactional
    assert_problem(no_transactional, 400, "Invalid Resource")
    assert api.ok("PATCH", member, {"status": "unsubscribed"})["status"] == "unsubscribed"

    again = api("PATCH", member, {"status": "subscribed"})
    assert_problem(again, 400, "Member In Compliance State")
    put_again = api("PUT", member, {"email_address": email, "status_if_new": "subscribed", "status": "subscribed"})
    assert_problem(put_again, 400, "Member In Compliance State")
    assert api.ok("PATCH", member, {"status": "pending"})["status"] == "pending"


# ----- products ----------------------------------------------------------------------------------------


def test_products_with_variants_and_images(api: Api) -> None:
    make_store(api)
    base = "/ecommerce/stores/s1/products"
    product = make_product(api, variants=2)
    assert [variant["id"] for variant in product["variants"]] == ["p1-v0", "p1-v1"]
    assert product["currency_code"] == "USD"

    no_variants = api("POST", base, {"id": "p2", "title": "Empty", "variants": []})
    assert field_messages(assert_problem(no_variants, 400, "Invalid Resource")).keys() == {"variants"}
    no_title = api("POST", base, {"id": "p2", "variants": [{"id": "v", "title": "V"}]})
    assert field_messages(assert_problem(no_title, 400, "Invalid Resource")) == {
        "": "Required fields were not provided: title"
    }
    duplicate = api("POST", base, {"id": "p1", "title": "Again", "variants": [{"id": "v", "title": "V"}]})
    assert "A product with the provided ID already exists" in assert_problem(duplicate, 400, "Bad Request")["detail"]

    api.ok("POST", f"{base}/p1/variants", {"id": "p1-v2", "title": "Size 2", "inventory_quantity": 3})
    assert api.ok("PATCH", f"{base}/p1/variants/p1-v2", {"price": 12.5})["price"] == 12.5
    api.ok("PUT", f"{base}/p1/variants/p1-v3", {"id": "p1-v3", "title": "Size 3"})
    assert api("DELETE", f"{base}/p1/variants/p1-v0").status_code == 204
    variants = api.ok("GET", f"{base}/p1/variants")
    assert [variant["id"] for variant in variants["variants"]] == ["p1-v1", "p1-v2", "p1-v3"]

    api.ok("POST", f"{base}/p1/images", {"id": "i1", "url": "https://cdn.test/1.png", "variant_ids": ["p1-v1"]})
    assert api.ok("GET", f"{base}/p1")["images"][0]["id"] == "i1"
    assert api.ok("PATCH", f"{base}/p1", {"title": "Better shirt"})["title"] == "Better shirt"
    replaced = api.ok("PUT", f"{base}/p9", {"id": "p9", "title": "New", "variants": [{"id": "p9-v", "title": "One"}]})
    assert replaced["variants"][0]["id"] == "p9-v"
    assert_problem(api("GET", f"{base}/p1/variants/nope"), 404, "Resource Not Found")


# ----- carts -------------------------------------------------------------------------------------------


def test_cart_lines_must_name_known_products_and_variants(api: Api, emu: MailchimpEmulator) -> None:
    make_store(api)
    make_product(api)
    carts = "/ecommerce/stores/s1/carts"
    unknown_product = api("POST", carts, cart_body(lines=[line("l1", product_id="ghost")]))
    assert_problem(
        unknown_product,
        400,
        "Bad Request",
        "A product with the provided ID does not exist in the account for this list.",
    )
    unknown_variant = api("POST", carts, cart_body(lines=[line("l1", variant_id="ghost")]))
    assert_problem(
        unknown_variant,
        400,
        "Bad Request",
        "A product with the provided variant ID does not exist in the account for this list.",
    )
    assert emu.state.stores["s1"].customers == {}  # a refused cart creates no customer

    no_currency = {key: value for key, value in cart_body().items() if key != "currency_code"}
    body = assert_problem(api("POST", carts, no_currency), 400, "Invalid Resource")
    assert field_messages(body) == {"": "Required fields were not provided: currency_code"}
    no_email = cart_body()
    del no_email["customer"]["email_address"]
    body = assert_problem(api("POST", carts, no_email), 400, "Invalid Resource")
    assert field_messages(body) == {"email_address": "An email address is required to create a customer."}


def test_cart_happy_path_then_patch_lines(api: Api, emu: MailchimpEmulator) -> None:
    make_store(api)
    make_product(api)
    carts = "/ecommerce/stores/s1/carts"
    cart = api.ok("POST", carts, cart_body())
    assert cart["customer"]["email_address"] == "cu1@shop.test"
    assert cart["lines"][0]["product_title"] == "Shirt"
    assert emu.member(LIST_ID, "cu1@shop.test")["status"] == "transactional"
    assert (
        "A cart with the provided ID" in assert_problem(api("POST", carts, cart_body()), 400, "Bad Request")["detail"]
    )

    patched = api.ok(
        "PATCH",
        f"{carts}/c1",
        {
            "order_total": 40.0,
            "lines": [
                {"id": "l1", "quantity": 2},
                {"product_id": "p1", "product_variant_id": "p1-v1", "quantity": 2, "price": 10.0},
            ],
        },
    )
    assert [(item["product_variant_id"], item["quantity"]) for item in patched["lines"]] == [
        ("p1-v0", 2),
        ("p1-v1", 2),
    ]
    bad_patch = api("PATCH", f"{carts}/c1", {"lines": [{"product_id": "p1", "product_variant_id": "nope"}]})
    assert_problem(bad_patch, 400, "Invalid Resource")  # a new line needs quantity and price
    email_change = api("PATCH", f"{carts}/c1", {"customer": {"email_address": "other@shop.test"}})
    assert_problem(email_change, 400, "Invalid Resource")

    lines = f"{carts}/c1/lines"
    api.ok("POST", lines, line("l3", variant_id="p1-v1"))
    assert api.ok("PATCH", f"{lines}/l3", {"quantity": 5})["quantity"] == 5
    assert_problem(api("PATCH", f"{lines}/l3", {"product_variant_id": "zzz"}), 400, "Bad Request")
    assert api("DELETE", f"{lines}/l3").status_code == 204
    stored = emu.state.stores["s1"].carts["c1"]
    assert stored["order_total"] == 40.0 and len(stored["lines"]) == 2
    assert api.ok("GET", lines)["total_items"] == 2

    put = api("PUT", f"{carts}/c1", cart_body())
    assert_problem(put, 405, "Method Not Allowed")
    assert api("DELETE", f"{carts}/c1").status_code == 204
    assert_problem(api("GET", f"{carts}/c1"), 404, "Resource Not Found")


def test_unknown_campaign_is_refused_until_known(api: Api, emu: MailchimpEmulator) -> None:
    make_store(api)
    make_product(api)
    message = "A campaign with the provided ID does not exist in the account for this list."
    assert_problem(
        api("POST", "/ecommerce/stores/s1/carts", cart_body(campaign_id="camp1")), 400, "Bad Request", message
    )
    emu.add_campaign("camp1")
    assert api.ok("POST", "/ecommerce/stores/s1/carts", cart_body(campaign_id="camp1"))["campaign_id"] == "camp1"
    api.ok("POST", "/ecommerce/stores/s1/orders", order_body())
    patch = api("PATCH", "/ecommerce/stores/s1/orders/o1", {"campaign_id": "stale"})
    assert_problem(patch, 400, "Bad Request", message)


# ----- orders ------------------------------------------------------------------------------------------


def test_order_put_is_method_not_allowed(api: Api) -> None:
    make_store(api)
    make_product(api)
    api.ok("POST", "/ecommerce/stores/s1/orders", order_body())
    response = api("PUT", "/ecommerce/stores/s1/orders/o1", order_body())
    assert_problem(response, 405, "Method Not Allowed")
    assert "PUT" not in response.headers["Allow"] and "PATCH" in response.headers["Allow"]


def test_order_status_history_and_filters(api: Api, emu: MailchimpEmulator) -> None:
    make_store(api)
    make_product(api)
    emu.add_campaign("camp1")
    orders = "/ecommerce/stores/s1/orders"
    api.ok("POST", orders, order_body(campaign_id="camp1"))
    duplicate = api("POST", orders, order_body())
    assert_problem(
        duplicate,
        400,
        "Bad Request",
        "We were unable to process the request. An order with the provided ID already exists in the account.",
    )
    api.ok("PATCH", f"{orders}/o1", {"financial_status": "paid"})
    api.ok("PATCH", f"{orders}/o1", {"tracking_number": "T1"})  # no status change, no history entry
    api.ok("PATCH", f"{orders}/o1", {"fulfillment_status": "shipped"})
    api.ok("PATCH", f"{orders}/o1", {"financial_status": "refunded"})
    assert emu.order_status_history("s1", "o1") == [
        ("pending", None),
        ("paid", None),
        ("paid", "shipped"),
        ("refunded", "shipped"),
    ]
    admin = requests.get(f"{emu.admin_url}/orders/s1/o1/history", timeout=5).json()["history"]
    assert [entry["financial_status"] for entry in admin] == ["pending", "paid", "paid", "refunded"]

    api.ok("POST", orders, order_body("o2", customer_id="cu2"))
    assert [o["id"] for o in api.ok("GET", orders, params={"customer_id": "cu2"})["orders"]] == ["o2"]
    assert [o["id"] for o in api.ok("GET", orders, params={"campaign_id": "camp1"})["orders"]] == ["o1"]
    assert api.ok("GET", "/ecommerce/orders")["total_items"] == 2
    customer = api.ok("GET", "/ecommerce/stores/s1/customers/cu1")
    assert customer["orders_count"] == 1 and customer["total_spent"] == 10.0
    bad_tracking = api("PATCH", f"{orders}/o1", {"tracking_code": "nope"})
    assert field_messages(assert_problem(bad_tracking, 400, "Invalid Resource")).keys() == {"tracking_code"}
    assert_problem(api("GET", f"{orders}/missing"), 404, "Resource Not Found")


def test_order_notifications_follow_status_changes_and_none_while_syncing_or_without_a_status(
    api: Api, emu: MailchimpEmulator
) -> None:
    make_store(api)
    make_product(api)
    orders = "/ecommerce/stores/s1/orders"
    api.ok("POST", orders, order_body())  # pending: the confirmation
    api.ok("PATCH", f"{orders}/o1", {"financial_status": "pending", "tracking_number": "T1"})  # no change
    api.ok("PATCH", f"{orders}/o1", {"financial_status": "paid"})
    api.ok("PATCH", f"{orders}/o1", {"fulfillment_status": "shipped"})
    api.ok("PATCH", f"{orders}/o1", {"financial_status": "cancelled", "cancelled_at_foreign": "2025-01-02T00:00:00Z"})
    # Written without a status: nothing to notify about, then or when it later changes to the same nothing.
    quiet = {key: value for key, value in order_body("o2", customer_id="cu2").items() if key != "financial_status"}
    api.ok("POST", orders, quiet)
    api.ok("PATCH", f"{orders}/o2", {"tracking_number": "T2"})
    # While the store syncs, no status change sends anything, and the flag dropping later sends nothing either.
    api.ok("PATCH", "/ecommerce/stores/s1", {"is_syncing": True})
    api.ok("POST", orders, order_body("o3", customer_id="cu3", financial_status="paid", fulfillment_status="shipped"))
    api.ok("PATCH", "/ecommerce/stores/s1", {"is_syncing": False})
    api.ok("PATCH", f"{orders}/o3", {"tracking_number": "T3"})
    api.ok("PATCH", f"{orders}/o2", {"financial_status": "refunded"})  # a real change of a quiet order

    sent = [(note.order_id, note.kind) for note in emu.order_notifications("s1")]
    assert sent == [
        ("o1", "order_confirmation"),
        ("o1", "order_invoice"),
        ("o1", "shipping_confirmation"),
        ("o1", "cancellation_confirmation"),
        ("o2", "refund_confirmation"),
    ]
    assert [note.kind for note in emu.order_notifications("s1", "o3")] == []
    admin = requests.get(f"{emu.admin_url}/notifications/s1", timeout=5).json()["notifications"]
    assert [(note["order_id"], note["kind"]) for note in admin] == sent


# ----- promo rules and codes ---------------------------------------------------------------------------


def test_promo_rules_and_codes(api: Api) -> None:
    make_store(api)
    rules = "/ecommerce/stores/s1/promo-rules"
    rule = {"id": "r1", "description": "10% off", "amount": 0.1, "type": "percentage", "target": "total"}
    api.ok("POST", rules, rule)
    too_much = api("POST", rules, {**rule, "id": "r2", "amount": 1.5})
    assert field_messages(assert_problem(too_much, 400, "Invalid Resource")).keys() == {"amount"}
    bad_type = api("POST", rules, {**rule, "id": "r3", "type": "bogo", "target": "everything"})
    assert field_messages(assert_problem(bad_type, 400, "Invalid Resource")).keys() == {"type", "target"}
    codes = f"{rules}/r1/promo-codes"
    api.ok("POST", codes, {"id": "k1", "code": "SAVE10", "redemption_url": "https://shop.test"})
    assert api.ok("GET", codes)["total_items"] == 1
    assert_problem(
        api("POST", f"{rules}/nope/promo-codes", {"id": "k", "code": "C", "redemption_url": "u"}),
        404,
        "Resource Not Found",
    )
    assert api("DELETE", f"{rules}/r1").status_code == 204
    assert_problem(api("GET", f"{codes}/k1"), 404, "Resource Not Found")


# ----- errors, records, admin --------------------------------------------------------------------------


def test_every_error_is_problem_json(api: Api) -> None:
    make_store(api)
    cases = [
        (api("GET", "/no/such/route"), 404, "Resource Not Found"),
        (api("GET", "/ecommerce/stores/ghost/products"), 404, "Resource Not Found"),
        (api("DELETE", "/ecommerce/stores/s1/carts/ghost"), 404, "Resource Not Found"),
        (api("GET", "/batches/ghost"), 404, "Resource Not Found"),
        (
            api("POST", "/ecommerce/stores", data=b"{not json", headers={"Content-Type": "application/json"}),
            400,
            "JSON Parse Exception",
        ),
        (api("POST", "/ecommerce/stores", ["not", "an", "object"]), 400, "Invalid Resource"),
        (api("PUT", "/ecommerce/stores/s1", {}), 405, "Method Not Allowed"),
    ]
    for response, status, title in cases:
        assert_problem(response, status, title)
    array_body = cases[5][0].json()
    assert field_messages(array_body) == {"": "Schema describes object, array found instead"}


def test_request_log_and_admin_routes(api: Api, emu: MailchimpEmulator) -> None:
    make_store(api)
    api("GET", "/ecommerce/stores/ghost")
    log = emu.requests
    assert [(r["method"], r["path"], r["status"]) for r in log] == [
        ("POST", "/3.0/ecommerce/stores", 200),
        ("GET", "/3.0/ecommerce/stores/ghost", 404),
    ]
    assert log[0]["body"]["id"] == "s1" and log[0]["source"] == "http"

    admin = emu.admin_url
    assert requests.post(f"{admin}/campaigns", json={"id": "camp-x"}, timeout=5).json()["campaigns"] == ["camp-x"]
    state = requests.get(f"{admin}/state", timeout=5).json()
    assert "s1" in state["stores"] and state["campaigns"] == ["camp-x"]
    assert len(requests.get(f"{admin}/requests", timeout=5).json()["requests"]) == 2
    faults = requests.post(f"{admin}/faults", json={"rate_500": 1.0, "seed": 3}, timeout=5)
    assert faults.json()["rate_500"] == 1.0
    assert requests.get(f"{admin}/state", timeout=5).status_code == 200  # admin routes are never faulted
    assert_problem(api("GET", "/ping"), 500, "Internal Server Error")
    assert requests.post(f"{admin}/faults", json={"rate_500": 2}, timeout=5).status_code == 400
    assert requests.post(f"{admin}/reset", timeout=5).status_code == 200
    assert api("GET", "/ping").status_code == 200
    assert emu.state.stores == {} and [r["path"] for r in emu.requests] == ["/3.0/ping"]


# ----- concurrency and faults --------------------------------------------------------------------------


def test_more_than_ten_in_flight_get_429(emu: MailchimpEmulator) -> None:
    # Long enough that all fifteen are in flight together even on a loaded machine (at 600 ms, a full run once saw
    # four of them arrive after the first ten had been answered).
    emu.set_faults(latency_ms=3000)
    start = threading.Barrier(15)
    statuses: list[int] = []
    bodies: list[dict] = []

    def call() -> None:
        start.wait()
        response = requests.get(emu.base_url + "/ping", auth=("u", API_KEY), timeout=10)
        statuses.append(response.status_code)
        if response.status_code == 429:
            bodies.append(response.json())

    threads = [threading.Thread(target=call) for _ in range(15)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(statuses) == {200: 10, 429: 5}
    assert bodies[0]["title"] == "Too Many Requests"
    assert bodies[0]["detail"] == "You have exceeded the limit of 10 simultaneous connections."
    assert sum(1 for r in emu.requests if r["fault"] == "concurrency") == 5


def _fault_sequence(emu: MailchimpEmulator, session: requests.Session, count: int) -> list[int]:
    emu.set_faults(rate_429=0.2, rate_500=0.1, rate_403_html=0.1, seed=42)
    return [session.get(emu.base_url + "/ping", timeout=5).status_code for _ in range(count)]


def test_fault_fractions_are_roughly_honoured_and_repeatable(emu: MailchimpEmulator) -> None:
    with requests.Session() as session:
        session.auth = ("u", API_KEY)
        first = _fault_sequence(emu, session, 400)
        second = _fault_sequence(emu, session, 400)
        emu.set_faults(rate_403_html=1.0)
        html = session.get(emu.base_url + "/ping", timeout=5)
    assert first == second
    counts = Counter(first)
    assert 0.14 <= counts[429] / 400 <= 0.26
    assert 0.05 <= counts[500] / 400 <= 0.15
    assert 0.05 <= counts[403] / 400 <= 0.15
    assert 0.45 <= counts[200] / 400 <= 0.75
    assert html.status_code == 403 and html.headers["Content-Type"].startswith("text/html")
    assert "Access Denied" in html.text


def test_timeout_fault_looks_like_a_timeout_and_can_commit(api: Api, emu: MailchimpEmulator) -> None:
    make_store(api)
    make_product(api)
    emu.set_faults(rate_timeout=1.0, timeout_s=0.6, timeout_commits=True)
    with pytest.raises(requests.exceptions.ReadTimeout):
        api("POST", "/ecommerce/stores/s1/orders", order_body(), timeout=0.2)
    emu.set_faults()
    retry = api("POST", "/ecommerce/stores/s1/orders", order_body())
    assert "An order with the provided ID already exists" in assert_problem(retry, 400, "Bad Request")["detail"]


# ----- batches -----------------------------------------------------------------------------------------


def _results(url: str) -> dict[str, dict]:
    archive = requests.get(url, timeout=5)
    assert archive.status_code == 200
    by_operation: dict[str, dict] = {}
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".json"):
                extracted = tar.extractfile(member)
                assert extracted is not None
                for result in json.load(extracted):
                    by_operation[result["operation_id"]] = result
    return by_operation


def test_batches_end_to_end(api: Api, emu: MailchimpEmulator) -> None:
    make_store(api)
    operations = [
        {
            "method": "POST",
            "path": "/ecommerce/stores/s1/products",
            "operation_id": "product",
            "body": json.dumps({"id": "bp", "title": "Batch", "variants": [{"id": "bv", "title": "V"}]}),
        },
        {
            "method": "PUT",
            "path": "/ecommerce/stores/s1/customers/bc",
            "operation_id": "customer",
            "body": json.dumps({"id": "bc", "email_address": "bc@shop.test", "opt_in_status": True}),
        },
        {
            "method": "POST",
            "path": "/ecommerce/stores/s1/customers",
            "operation_id": "no-email",
            "body": json.dumps({"id": "x", "opt_in_status": False}),
        },
        {"method": "GET", "path": "/ecommerce/stores", "operation_id": "list", "params": {"count": 1}},
        {"method": "DELETE", "path": "/ecommerce/stores/s1/carts/ghost", "operation_id": "gone"},
    ]
    submitted = api.ok("POST", "/batches", {"operations": operations})
    assert submitted["status"] == "pending" and submitted["total_operations"] == 5

    deadline = time.monotonic() + 5
    batch = submitted
    while batch["status"] != "finished" and time.monotonic() < deadline:
        time.sleep(0.02)
        batch = api.ok("GET", f"/batches/{submitted['id']}")
    assert batch["status"] == "finished"
    assert (batch["finished_operations"], batch["errored_operations"]) == (5, 2)
    assert batch["completed_at"] and batch["submitted_at"]

    results = _results(batch["response_body_url"])
    assert {key: value["status_code"] for key, value in results.items()} == {
        "product": 200,
        "customer": 200,
        "no-email": 400,
        "list": 200,
        "gone": 404,
    }
    failed = json.loads(results["no-email"]["response"])
    assert failed["detail"] == "An email address is required to create a customer."
    assert json.loads(results["list"]["response"])["total_items"] == 1
    assert emu.state.stores["s1"].products["bp"]["variants"][0]["id"] == "bv"
    assert emu.member(LIST_ID, "bc@shop.test")["status"] == "subscribed"
    assert sum(1 for r in emu.requests if r["source"] == "batch") == 5

    assert api.ok("GET", "/batches")["total_items"] == 1
    bare_array = api("POST", "/batches", operations)
    assert field_messages(assert_problem(bare_array, 400, "Invalid Resource")) == {
        "": "Schema describes object, array found instead"
    }
    lower = api("POST", "/batches", {"operations": [{"method": "get", "path": "/ping"}]})
    assert_problem(lower, 400, "Invalid Resource")
    assert api("DELETE", f"/batches/{submitted['id']}").status_code == 204
    assert_problem(api("GET", f"/batches/{submitted['id']}"), 404, "Resource Not Found")


# ----- command line ------------------------------------------------------------------------------------


def test_command_line_runs_the_server() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "emulators.mailchimp.server", "--port", str(port), "--api-key", API_KEY],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                response = requests.get(f"http://127.0.0.1:{port}/3.0/ping", auth=("u", API_KEY), timeout=1)
                break
            except requests.ConnectionError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline
                time.sleep(0.05)
        assert response.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=5)


def test_a_committed_500_does_the_work_then_answers_500(api: Api, emu: MailchimpEmulator) -> None:
    make_store(api)
    make_product(api)
    emu.set_faults(rate_500_committed=1.0)
    failed = api("POST", "/ecommerce/stores/s1/orders", order_body())
    emu.set_faults()

    assert assert_problem(failed, 500, "Internal Server Error")
    assert [r["fault"] for r in emu.requests if r["path"].endswith("/orders")] == ["500_committed"]
    retry = api("POST", "/ecommerce/stores/s1/orders", order_body())
    assert "An order with the provided ID already exists" in assert_problem(retry, 400, "Bad Request")["detail"]


def test_an_outage_fails_every_request_without_processing_it_until_it_ends(api: Api, emu: MailchimpEmulator) -> None:
    make_store(api)
    emu.start_outage(0.5)
    product = {"id": "p9", "title": "Mug", "variants": [{"id": "v9", "title": "Mug"}]}
    during = [api("GET", "/ping").status_code, api("POST", "/ecommerce/stores/s1/products", product).status_code]
    in_outage = emu.in_outage
    time.sleep(0.6)

    assert during == [503, 503] and in_outage
    assert not emu.in_outage
    assert api("GET", "/ecommerce/stores/s1/products").json()["products"] == [], "nothing was processed"
    assert api("GET", "/ping").status_code == 200
    ours = [r["fault"] for r in emu.requests if r["path"] in ("/3.0/ping", "/3.0/ecommerce/stores/s1/products")]
    assert ours == ["outage", "outage", None, None]


def test_an_outage_can_be_ended_early_and_outlasts_a_change_of_rates(api: Api, emu: MailchimpEmulator) -> None:
    emu.start_outage(60)
    emu.set_faults(rate_429=0.0)
    assert api("GET", "/ping").status_code == 503
    emu.end_outage()
    assert api("GET", "/ping").status_code == 200


def test_the_outage_switch_is_an_admin_route_too(api: Api, emu: MailchimpEmulator) -> None:
    started = requests.post(f"{emu.admin_url}/outage", json={"seconds": 60}, timeout=5)
    during = api("GET", "/ping").status_code
    ended = requests.delete(f"{emu.admin_url}/outage", timeout=5)
    refused = requests.post(f"{emu.admin_url}/outage", json={"seconds": 0}, timeout=5)

    assert (started.json(), during, ended.json()) == ({"in_outage": True}, 503, {"in_outage": False})
    assert refused.status_code == 400
    assert api("GET", "/ping").status_code == 200
