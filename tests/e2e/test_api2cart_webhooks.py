"""API2Cart stores end to end through the local API: a Magento-style and a PrestaShop-style store connected through
the API2Cart emulator, their webhooks subscribed with webhook.create at `/webhooks/api2cart?store=…&token=…`, each
change made on the emulator delivered (signed) to the runner, normalised, synced and written to the Mailchimp
emulator. Forged, altered, re-labelled and stale deliveries are refused with 401 and change nothing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from emulators.api2cart import Api2CartEmulator
from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore, mailchimp_customer_id, register_store

API_KEY = "a2c-e2e-api-key-0123456789abcdef"
TIMEOUT = (3.05, 30)
SUBSCRIBED = (
    ("basket", "add"),
    ("basket", "update"),
    ("customer", "add"),
    ("customer", "update"),
    ("order", "add"),
    ("order", "update"),
    ("order.shipment", "add"),
    ("product", "update"),
)


@dataclass
class Shop:
    emulator: Api2CartEmulator
    store_key: str
    store: RegisteredStore

    @property
    def store_id(self) -> str:
        return self.store.store_id

    def callback(self, runner: LocalRunner, token: str | None = None) -> str:
        return f"{runner.url}/webhooks/api2cart?store={self.store_id}&token={token or self.store.webhook_secret}"


@pytest.fixture
def emulator() -> Iterator[Api2CartEmulator]:
    with Api2CartEmulator(API_KEY) as running:
        yield running


def open_shop(runner: LocalRunner, emulator: Api2CartEmulator, cart_id: str, currency: str) -> Shop:
    store_key = emulator.add_store(cart_id, url=f"https://{cart_id.lower()}.example", currency=currency)
    store = register_store(
        "api2cart",
        identity=store_key,
        currency_code=currency,
        platform_api_url=emulator.base_url,
        platform_api_credentials={"api_key": API_KEY, "store_key": store_key},
    )
    shop = Shop(emulator, store_key, store)
    supported = {(e["entity"], e["action"]) for e in a2c(shop, "webhook.events")["result"]["events"]}
    for entity, action in SUBSCRIBED:
        if (entity, action) in supported:
            made = a2c(shop, "webhook.create", "POST", entity=entity, action=action, callback=shop.callback(runner))
            assert made["return_code"] == 0, made
    return shop


def a2c(shop: Shop, method: str, verb: str = "GET", **params: Any) -> Any:
    headers = {"x-api-key": API_KEY, "x-store-key": shop.store_key}
    url = f"{shop.emulator.base_url}/{method}.json"
    body = {"json": params} if verb in ("POST", "PUT") else {"params": params}
    answer = requests.request(verb, url, headers=headers, timeout=TIMEOUT, **body)
    answer.raise_for_status()
    return answer.json()


@pytest.fixture
def magento(runner: LocalRunner, emulator: Api2CartEmulator) -> Shop:
    return open_shop(runner, emulator, "Magento1212", "EUR")


@pytest.fixture
def prestashop(runner: LocalRunner, emulator: Api2CartEmulator) -> Shop:
    return open_shop(runner, emulator, "Prestashop", "EUR")


def at(minute: int) -> dict[str, str]:
    return {"value": f"2025-03-14T14:{minute:02d}:00+0000", "format": "Y-m-d\\TH:i:sO"}


EMAIL = "zoe.martin-lefevre@example.com"
LINES = [
    {
        "product_id": "41",
        "order_product_id": "501",
        "variant_id": "4101",
        "model": "MUG-BLUE",
        "name": "Blue mug",
        "price": 12.5,
        "price_inc_tax": 15.0,
        "quantity": 2,
        "discount_amount": 0,
    },
    {
        "product_id": "42",
        "order_product_id": "502",
        "model": "TEA-1",
        "name": "Green tea",
        "price": 20.0,
        "price_inc_tax": 24.0,
        "quantity": 1,
    },
]


def order(order_id: str, minute: int, status_id: str, status_name: str, **changes: Any) -> dict[str, Any]:
    return {
        "id": order_id,
        "order_id": f"0000{order_id}",
        "basket_id": "b-77",
        "customer": {"id": "7", "email": EMAIL, "first_name": "Zoé", "last_name": "Martin-Lefèvre"},
        "create_at": at(0),
        "modified_at": at(minute),
        "currency": {"iso3": "EUR"},
        "billing_address": {
            "first_name": "Zoé",
            "last_name": "Martin-Lefèvre",
            "address1": "12 rue des Lilas",
            "city": "Lyon",
            "postcode": "69003",
            "country": {"code2": "FR", "code3": "FRA", "name": "France"},
        },
        "status": {"id": status_id, "name": status_name},
        "totals": {"total": 59.0, "subtotal": 54.0, "shipping": 5.0, "tax": 9.0, "discount": 0},
        "order_products": LINES,
        "discounts": [],
        "refunds": [],
        **changes,
    }


def delivered(deliveries: list[tuple[dict[str, Any], requests.Response]], status: int = 202) -> None:
    assert deliveries, "a webhook of ours received the change"
    assert [response.status_code for _, response in deliveries] == [status] * len(deliveries), [
        response.text for _, response in deliveries
    ]


def mailchimp_order(reader: MailchimpReader, shop: Shop, order_id: str) -> dict[str, Any] | None:
    return reader.resource(f"/ecommerce/stores/{shop.store_id}/orders/{order_id}")


def test_a_magento_cart_becomes_an_order_that_ships_and_is_refunded(
    runner: LocalRunner, magento: Shop, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    emu, key = magento.emulator, magento.store_key
    basket = {
        "id": "b-77",
        "customer": {"id": "7", "email": EMAIL, "first_name": "Zoé"},
        "basket_url": "https://magento1212.example/checkout/cart",
        "currency": {"iso3": "EUR"},
        "created_at": at(0),
        "modified_at": at(0),
        "basket_products": [
            {
                "id": "1",
                "product_id": "41",
                "variant_id": "4101",
                "sku": "MUG-BLUE",
                "name": "Blue mug",
                "price": 15,
                "quantity": 2,
            }
        ],
    }
    delivered(emu.put_basket(key, basket))
    runner.wait_until_idle()
    cart = mailchimp_reader.resource(f"/ecommerce/stores/{magento.store_id}/carts/b-77")
    assert cart is not None
    assert (cart["order_total"], cart["checkout_url"]) == (30.0, "https://magento1212.example/checkout/cart")
    assert cart["customer"]["email_address"] == EMAIL

    states = []
    steps = [
        lambda: emu.put_order(key, order("250", 1, "pending", "Pending")),
        lambda: emu.put_order(key, order("250", 5, "processing", "Processing")),
        lambda: emu.put_shipment(
            key,
            "250",
            {
                "id": "9001",
                "shipment_provider": "ups",
                "tracking_numbers": [{"carrier_id": "ups", "tracking_number": "1Z999AA10123456784"}],
                "created_at": at(10),
                "items": [{"order_product_id": "501", "quantity": 2}],
            },
        ),
        lambda: emu.put_order(
            key,
            order(
                "250",
                30,
                "closed",
                "Closed",
                refunds=[{"id": "r1", "total": 59.0, "modified_time": at(30)}],
            ),
        ),
    ]
    for step in steps:
        delivered(step())
        runner.wait_until_idle()
        held = mailchimp_order(mailchimp_reader, magento, "250")
        assert held is not None
        states.append((held["financial_status"], held.get("fulfillment_status")))

    assert states == [("pending", None), ("paid", None), ("paid", "shipped"), ("refunded", "shipped")]
    assert mailchimp_reader.resource(f"/ecommerce/stores/{magento.store_id}/carts/b-77") is None, (
        "the order (basket_id b-77) ended the cart: no abandoned-cart e-mail after the purchase"
    )
    assert mailchimp.order_status_history(magento.store_id, "250") == [
        ("pending", None),
        ("paid", None),
        ("paid", "shipped"),
        ("refunded", "shipped"),
    ], "each notification fires once, in order"
    held = mailchimp_order(mailchimp_reader, magento, "250")
    assert held is not None
    assert (held["tracking_number"], held["tracking_carrier"], held["currency_code"]) == (
        "1Z999AA10123456784",
        "ups",
        "EUR",
    )
    assert held["customer"]["id"] == mailchimp_customer_id(EMAIL)
    assert sorted((line["product_id"], line["quantity"], line["price"]) for line in held["lines"]) == [
        ("41", 2, 15.0),
        ("42", 1, 24.0),
    ]


def test_a_prestashop_order_is_paid_then_shipped_by_its_state_names(
    runner: LocalRunner, prestashop: Shop, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    emu, key = prestashop.emulator, prestashop.store_key
    delivered(emu.put_order(key, order("31", 1, "2", "Payment accepted")))
    delivered(emu.put_order(key, order("31", 9, "4", "Shipped")))
    runner.wait_until_idle()

    held = mailchimp_order(mailchimp_reader, prestashop, "31")
    assert held is not None and (held["financial_status"], held.get("fulfillment_status")) == ("paid", "shipped")
    assert mailchimp.order_status_history(prestashop.store_id, "31") == [("paid", None), ("paid", "shipped")]
    assert {(hook["entity"], hook["action"]) for hook in emu.webhooks(key)} == {
        ("customer", "add"),
        ("customer", "update"),
        ("order", "add"),
        ("order", "update"),
        ("order.shipment", "add"),
        ("product", "update"),
    }, "webhook.events has no basket webhooks for PrestaShop: its carts wait for the reconciliation"


def test_a_thin_delivery_is_read_through_the_api(
    runner: LocalRunner, magento: Shop, mailchimp_reader: MailchimpReader
) -> None:
    emu, key = magento.emulator, magento.store_key
    emu.put_customer(
        key,
        {"id": "7", "email": EMAIL, "first_name": "Zoé", "news_letter_subscription": True, "modified_time": at(2)},
        notify=False,
    )
    delivered(emu.deliver(key, "customer", "update", {"id": "7"}))
    runner.wait_until_idle()

    customer = mailchimp_reader.resource(
        f"/ecommerce/stores/{magento.store_id}/customers/{mailchimp_customer_id(EMAIL)}"
    )
    assert customer is not None and customer["opt_in_status"] is True
    assert any(r["path"] == "/v1.1/customer.info.json" for r in emu.requests)

    emu.put_product(
        key,
        {"id": "60", "name": "T-shirt", "price": 20, "images": [{"http_path": "https://magento1212.example/t.jpg"}]},
        children=[{"id": "601", "sku": "TS-S", "default_price": 20, "inventory_level": 3}],
        notify=False,
    )
    delivered(emu.deliver(key, "product", "update", {"id": "60"}))
    runner.wait_until_idle()
    product = mailchimp_reader.resource(f"/ecommerce/stores/{magento.store_id}/products/60")
    assert product is not None and product["image_url"] == "https://magento1212.example/t.jpg"
    assert [(v["id"], v["sku"], v["inventory_quantity"]) for v in product["variants"]] == [("601", "TS-S", 3)]

    gone = emu.deliver(key, "order", "update", {"id": "404"})
    assert [(r.status_code, r.json()) for _, r in gone] == [
        (200, {"status": "ignored", "reason": "order 404 no longer exists on API2Cart"})
    ]


def post(runner: LocalRunner, url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(url, data=body, headers=headers, timeout=TIMEOUT)


def test_forged_altered_relabelled_and_stale_deliveries_are_refused(
    runner: LocalRunner, magento: Shop, mailchimp_reader: MailchimpReader
) -> None:
    emu, key = magento.emulator, magento.store_key
    emu.put_order(key, order("77", 1, "processing", "Processing"), notify=False)
    body = json.dumps(order("77", 1, "processing", "Processing")).encode()
    good = emu.signed_headers("order", "update", body)
    url = magento.callback(runner)

    cases = {
        "no token": (f"{runner.url}/webhooks/api2cart?store={magento.store_id}", body, good),
        "wrong token": (magento.callback(runner, token="not-the-secret"), body, good),
        "altered body": (url, body.replace(b"processing", b"complete"), good),
        "relabelled": (url, body, {**good, "X-Webhook-Action": "add"}),
        "unsigned": (url, body, {k: v for k, v in good.items() if k != "X-Webhook-Signature"}),
        "stale": (url, body, emu.signed_headers("order", "update", body, sent_at=int(time.time()) - 3600)),
        "signed by another key": (
            url,
            body,
            Api2CartEmulator("another-account-key").signed_headers("order", "update", body),
        ),
    }
    for name, (where, sent, headers) in cases.items():
        answer = post(runner, where, sent, headers)
        assert answer.status_code == 401, (name, answer.text)
        assert answer.json()["message"], name

    unknown = post(runner, f"{runner.url}/webhooks/api2cart?store=nobody-{uuid.uuid4().hex[:6]}&token=x", body, good)
    assert unknown.status_code == 404
    no_store = post(runner, f"{runner.url}/webhooks/api2cart", body, good)
    assert no_store.status_code == 400 and "store" in no_store.json()["message"]
    runner.wait_until_idle()
    assert mailchimp_order(mailchimp_reader, magento, "77") is None, "nothing refused was synced"

    accepted = post(runner, url, body, good)
    assert accepted.status_code == 202, accepted.text
