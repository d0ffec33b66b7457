"""Nothing accepted is dropped without a trace (issue 23): varied deliveries on every platform (carts,
orders, customers, and odd ones: a cart of custom items and gift certificates only, a guest cart without an
address, a shipment of an unknown order), then, for every event
id a 202 named, exactly one of: a Mailchimp write for its entity, a logged deliberate skip naming the
event, or a dead letter naming it. The outcomes are described in docs/outcomes.md.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from emulators.bigcommerce import BigCommerceEmulator
from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from tests.e2e.test_bigcommerce_webhooks import ACCESS_TOKEN, deliver, put_cart, register_bigcommerce, thin
from tests.e2e.test_shopify_cart_lifecycle import visit
from tests.e2e.test_shopify_orders import new_order
from tests.e2e.test_woocommerce_webhooks import customer as woo_customer
from tests.e2e.test_woocommerce_webhooks import deliver as deliver_woo
from tests.harness import RegisteredStore, register_store

# The ids an outcome line names its entity by; a write shows in the path of a Mailchimp request.
ENTITY_KEYS = ("cart_id", "order_id", "customer_id", "platform_customer_id", "product_id")


@pytest.fixture
def bigcommerce() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(f"e2e{uuid.uuid4().hex[:10]}", ACCESS_TOKEN) as running:
        yield running


@pytest.fixture
def bc_store(runner: LocalRunner, bigcommerce: BigCommerceEmulator) -> RegisteredStore:
    return register_bigcommerce(bigcommerce)


@pytest.fixture
def woo_store(runner: LocalRunner) -> RegisteredStore:
    return register_store("woocommerce", identity=f"https://{uuid.uuid4().hex[:12]}.example.com/")


def odd_cart(**changes: Any) -> dict[str, Any]:
    """A cart in the shape of BigCommerce's published Get Cart example (custom items, gift certificates, an
    empty-object parent_id), with values of our own."""
    cart: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "customer_id": 0,
        "email": f"odd.cart.{uuid.uuid4().hex[:6]}@example.org",
        "currency": {"code": "EUR"},
        "tax_included": False,
        "base_amount": 84.0,
        "discount_amount": 0,
        "cart_amount": 84.0,
        "coupons": [],
        "line_items": {
            "physical_items": [
                {
                    "id": str(uuid.uuid4()),
                    "parent_id": {},
                    "variant_id": 811,
                    "product_id": 402,
                    "sku": "CANDLE-FIG",
                    "name": "Bougie figue",
                    "url": "https://shop.example/bougie-figue/",
                    "quantity": 2,
                    "taxable": True,
                    "image_url": "https://cdn.example/bougie.jpg",
                    "discounts": [],
                    "coupons": [],
                    "discount_amount": 0,
                    "coupon_amount": 0,
                    "original_price": 14.0,
                    "list_price": 14.0,
                    "sale_price": 14.0,
                    "extended_list_price": 28.0,
                    "extended_sale_price": 28.0,
                    "is_require_shipping": True,
                    "options": [{"name": "Size", "nameId": 5, "value": "Large", "valueId": 12}],
                }
            ],
            "digital_items": [],
            "custom_items": [
                {
                    "extended_list_price": 6.0,
                    "id": str(uuid.uuid4()),
                    "list_price": 6.0,
                    "name": "Gift wrapping",
                    "quantity": 1,
                    "sku": "WRAP-1",
                }
            ],
            "gift_certificates": [
                {
                    "id": str(uuid.uuid4()),
                    "name": "Merci",
                    "theme": "General",
                    "amount": 50,
                    "quantity": 1,
                    "taxable": False,
                    "sender": {"name": "Sender", "email": "sender.gift@example.org"},
                    "recipient": {"name": "Recipient", "email": "recipient.gift@example.org"},
                    "message": "Enjoy",
                }
            ],
        },
        "created_time": "2026-01-12T09:30:00.000Z",
        "updated_time": "2026-01-12T09:41:00.000Z",
        "meta": {},
    }
    cart.update(changes)
    return cart


def log_records(logs: io.StringIO) -> list[dict[str, Any]]:
    records = []
    for line in logs.getvalue().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def traces(records: list[dict[str, Any]], mailchimp: MailchimpEmulator, event_id: str) -> list[str]:
    """What became of the event: "write", "skip" and "dead letter", once each time one is seen."""
    # A write names its entity in the path (PUT, PATCH, DELETE; a DELETE of what is already gone included)
    # or, when it creates it, in the body (POST …/carts).
    writes = [
        (r["path"], r["body"].get("id") if isinstance(r["body"], dict) else None)
        for r in mailchimp.requests
        if r["method"] != "GET" and (r["status"] < 300 or (r["method"] == "DELETE" and r["status"] == 404))
    ]
    found = []
    for record in records:
        if record.get("event_id") != event_id:
            continue
        if record.get("message") == "record dead-lettered":
            found.append("dead letter")
        elif "outcome" in record and record["outcome"] != "dead_lettered":
            if record.get("deliberate_skip"):
                found.append("skip")
            else:
                ids = [str(record[key]) for key in ENTITY_KEYS if record.get(key)]
                if any(entity in path.split("/") or entity == created for entity in ids for path, created in writes):
                    found.append("write")
    return found


def test_every_accepted_delivery_ends_in_a_write_a_deliberate_skip_or_a_dead_letter(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    bigcommerce: BigCommerceEmulator,
    bc_store: RegisteredStore,
    woo_store: RegisteredStore,
    shopify_store: RegisteredStore,
    captured_logs: io.StringIO,
) -> None:
    accepted: dict[str, str] = {}  # event id -> what was delivered

    def accept(what: str, response: requests.Response) -> None:
        assert response.status_code == 202, (what, response.text)
        for event_id in response.json()["event_ids"]:
            accepted[event_id] = what

    # BigCommerce: the published cart shape, one of custom items and gift certificates only, a guest cart
    # without an address, its conversion, a customer updated and one deleted.
    mixed = bigcommerce.put_cart(odd_cart())
    only_custom = odd_cart()
    only_custom["line_items"]["physical_items"] = []
    only_custom = bigcommerce.put_cart(only_custom)
    guest = bigcommerce.put_cart(odd_cart(email=None))
    known = put_cart(bigcommerce)
    secret = bc_store.webhook_secret
    for what, cart in (("bc mixed cart", mixed), ("bc custom-only cart", only_custom), ("bc guest cart", guest)):
        accept(
            what, deliver(runner, thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": cart["id"]}), secret)
        )
    accept(
        "bc cart", deliver(runner, thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": known["id"]}), secret)
    )
    accept(
        "bc converted",
        deliver(
            runner, thin(bigcommerce, "store/cart/converted", {"type": "cart", "id": known["id"], "orderId": 9}), secret
        ),
    )
    accept(
        "bc customer",
        deliver(runner, thin(bigcommerce, "store/customer/updated", {"type": "customer", "id": 42}), secret),
    )
    accept(
        "bc customer deleted",
        deliver(runner, thin(bigcommerce, "store/customer/deleted", {"type": "customer", "id": 97531}), secret),
    )

    # Shopify: a cart with its checkout, and a shipment of an order commerce-sync never saw.
    cart, checkout = visit()
    for topic, body in (("carts/update", cart), ("checkouts/update", checkout)):
        answer = send_shopify(
            runner.url, shopify_store.webhook_secret, topic, shopify_store.identity, json.dumps(body).encode()
        )
        accept(f"shopify {topic}", answer)
    order = new_order()
    placed = send_shopify(
        runner.url, shopify_store.webhook_secret, "orders/create", shopify_store.identity, json.dumps(order).encode()
    )
    accept("shopify order", placed)
    fulfillment = {
        "id": int(uuid.uuid4().int % 10**12),
        "order_id": int(uuid.uuid4().int % 10**12),
        "status": "success",
        "tracking_number": "TRACK-1",
        "tracking_company": "DHL",
        "created_at": "2026-01-12T10:00:00Z",
        "updated_at": "2026-01-12T10:00:00Z",
    }
    shipped = send_shopify(
        runner.url,
        shopify_store.webhook_secret,
        "fulfillments/create",
        shopify_store.identity,
        json.dumps(fulfillment).encode(),
    )
    accept("shopify shipment of an unknown order", shipped)

    # WooCommerce: a customer, and one without an address.
    accept("woo customer", deliver_woo(runner, woo_store, woo_customer()))
    accept("woo customer without an address", deliver_woo(runner, woo_store, woo_customer(email="")))

    # An unknown order's shipment is retried until it is dead-lettered: give the retries time.
    deadline = time.monotonic() + 60
    while True:
        runner.wait_until_idle(timeout=60)
        records = log_records(captured_logs)
        found = {event_id: traces(records, mailchimp, event_id) for event_id in accepted}
        if all(found.values()) or time.monotonic() > deadline:
            break
        time.sleep(1)

    untraced = {accepted[event_id]: seen for event_id, seen in found.items() if len(seen) != 1}
    assert not untraced, f"deliveries without exactly one trace: {untraced}"
    kinds = {accepted[event_id]: seen[0] for event_id, seen in found.items()}
    # Custom items and gift certificates map to the store's custom-items product (docs/line-items.md).
    assert kinds["bc custom-only cart"] == "write"
    assert kinds["bc guest cart"] == "skip"
    assert kinds["bc mixed cart"] == "write"
    assert kinds["shopify shipment of an unknown order"] == "dead letter"
    assert kinds["shopify order"] == "write"
    # No address reaches a log line (only fixed reasons and ids).
    assert "@example.org" not in captured_logs.getvalue()
