"""An API2Cart store's pull paths end to end, through the product_sync function as Lambda runs it (runner.invoke),
against the API2Cart emulator: the backfill reads orders (two pages by cursor) and customers with modified-since
filters and lands them in Mailchimp quietly (the store syncing: no notification); the nightly reconciliation
repairs an order changed without a webhook; the catalog sync writes the products."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulators.api2cart import Api2CartEmulator
from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore, register_store

FUNCTION = "ProductSyncFunction"
API_KEY = "a2c-history-api-key-0123456789ab"
ORDERS, CUSTOMERS = 63, 5  # orders are read 50 a page: two pages


def when(days_ago: float) -> dict[str, str]:
    moment = datetime.now(UTC).replace(microsecond=0) - timedelta(days=days_ago)
    return {"value": moment.strftime("%Y-%m-%dT%H:%M:%S+0000"), "format": "Y-m-d\\TH:i:sO"}


def a2c_order(number: int, days_ago: float, status: tuple[str, str] = ("processing", "Processing")) -> dict[str, Any]:
    return {
        "id": str(number),
        "customer": {"id": str(number % CUSTOMERS), "email": f"shopper{number % CUSTOMERS}@example.com"},
        "create_at": when(days_ago),
        "modified_at": when(days_ago),
        "currency": {"iso3": "EUR"},
        "status": {"id": status[0], "name": status[1]},
        "totals": {"total": 20.0},
        "order_products": [
            {"product_id": "1", "order_product_id": "1", "name": "Notebook", "price": 20.0, "quantity": 1}
        ],
    }


@pytest.fixture
def emulator() -> Iterator[Api2CartEmulator]:
    with Api2CartEmulator(API_KEY) as running:
        yield running


@pytest.fixture
def shop(
    runner: LocalRunner, emulator: Api2CartEmulator, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, RegisteredStore]:
    monkeypatch.setenv("BACKFILL_POLL_INITIAL_SECONDS", "0.05")
    store_key = emulator.add_store("Magento1212", currency="EUR")
    for n in range(CUSTOMERS):
        emulator.put_customer(
            store_key,
            {"id": str(n), "email": f"shopper{n}@example.com", "first_name": f"S{n}", "modified_time": when(100 - n)},
        )
    for n in range(ORDERS):
        emulator.put_order(store_key, a2c_order(1000 + n, 120 - n))
    # Older than the backfill's window: never read.
    emulator.put_order(store_key, a2c_order(999, 2000))
    store = register_store(
        "api2cart",
        identity=store_key,
        currency_code="EUR",
        platform_api_url=emulator.base_url,
        platform_api_credentials={"api_key": API_KEY, "store_key": store_key},
    )
    return store_key, store


def run(runner: LocalRunner, action: str, store_id: str) -> dict[str, Any]:
    result: dict[str, Any] = runner.invoke(FUNCTION, {"action": action, "store_id": store_id})
    runner.wait_until_idle(timeout=60)
    return result


def total(reader: MailchimpReader, store_id: str, collection: str) -> int:
    found = reader.resource(f"/ecommerce/stores/{store_id}/{collection}?count=1")
    assert found is not None
    return int(found["total_items"])


def test_backfill_then_reconciliation_of_an_api2cart_store(
    runner: LocalRunner,
    emulator: Api2CartEmulator,
    shop: tuple[str, RegisteredStore],
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    store_key, store = shop
    result = run(runner, "backfill", store.store_id)

    assert result["status"] == "done", result
    progress = result["progress"]
    assert progress["orders"]["read"] == progress["orders"]["written"] == ORDERS, progress
    assert progress["customers"]["written"] == CUSTOMERS, progress
    assert total(mailchimp_reader, store.store_id, "orders") == ORDERS
    assert total(mailchimp_reader, store.store_id, "customers") == CUSTOMERS
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/orders/999") is None
    events = mailchimp.order_status_events(store.store_id, "1000")
    assert len(events) == 1 and events[0].store_is_syncing is True, "written quietly while the store synced"
    lists = [r for r in emulator.requests if r["path"] == "/v1.1/order.list.json"]
    assert any("modified_from" in r["query"] for r in lists)
    assert any("page_cursor" in r["query"] for r in lists), "the second page by cursor"

    # On the store, with no webhook: order 1004 is cancelled.
    emulator.put_order(store_key, a2c_order(1004, 0.01, ("canceled", "Canceled")), notify=False)
    repaired = run(runner, "reconcile", store.store_id)

    assert repaired["status"] == "done", repaired
    assert repaired["repaired"] == {"orders_outdated": 1} and repaired["failed"] == 0, repaired
    order = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/orders/1004")
    assert order is not None and order["financial_status"] == "cancelled"


def test_the_catalog_sync_writes_the_products(
    runner: LocalRunner,
    emulator: Api2CartEmulator,
    shop: tuple[str, RegisteredStore],
    mailchimp_reader: MailchimpReader,
) -> None:
    store_key, store = shop
    for n in range(3):
        emulator.put_product(
            store_key,
            {
                "id": str(50 + n),
                "name": f"Tea {n}",
                "price": 4.5 + n,
                "quantity": 10,
                "u_sku": f"TEA-{n}",
                "url": f"https://magento.example/tea-{n}",
                "images": [{"id": "1", "http_path": f"https://magento.example/tea-{n}.jpg"}],
            },
        )

    emulator.put_product(
        store_key,
        {"id": "60", "name": "T-shirt", "price": 20, "url": "https://magento.example/t-shirt"},
        children=[
            {"id": "601", "sku": "TS-S", "name": "T-shirt S", "default_price": 20, "inventory_level": 4},
            {"id": "602", "sku": "TS-M", "name": "T-shirt M", "default_price": 22, "inventory_level": 0},
            {"id": "603", "sku": "TS-L", "name": "T-shirt L", "default_price": 22, "avail_for_sale": False},
        ],
    )

    result = run(runner, "catalog_sync", store.store_id)

    assert (result["status"], result["created"], result["failed"]) == ("done", 4, 0), result
    shirt = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/products/60")
    assert shirt is not None
    assert sorted((v["id"], v["sku"], v["price"], v["inventory_quantity"]) for v in shirt["variants"]) == [
        ("601", "TS-S", 20.0, 4),
        ("602", "TS-M", 22.0, 0),
        ("603", "TS-L", 22.0, 0),
    ], "each child item a variant; one not for sale is hidden at 0"
    children_reads = [r for r in emulator.requests if r["path"] == "/v1.1/product.child_item.list.json"]
    assert len(children_reads) == 1, "one child item read for the page"
    product = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/products/51")
    assert product is not None
    assert product["title"] == "Tea 1" and product["image_url"] == "https://magento.example/tea-1.jpg"
    assert [(v["sku"], v["price"], v["inventory_quantity"]) for v in product["variants"]] == [("TEA-1", 5.5, 10)]


def abandoned(
    cart_id: str, minutes_ago: float, email: str | None = "carter@example.com", **extra: Any
) -> dict[str, Any]:
    """An abandoned checkout as order.abandoned.list lists it (API2Cart's OpenAPI description, ModelResponseOrder-
    AbandonedList: the order shape with `customer`, `totals`, `order_products`)."""
    return {
        "id": cart_id,
        "customer": {"id": "c-9", "email": email, "first_name": "Carter"},
        "basket_url": f"https://magento.example/checkout/cart/?quote={cart_id}",
        "created_at": when(minutes_ago / 1440 + 0.01),
        "modified_at": when(minutes_ago / 1440),
        "currency": {"iso3": "EUR"},
        "totals": {"total": 49.0, "subtotal": 49.0},
        "order_products": [
            {
                "product_id": "71",
                "order_product_id": "1",
                "model": "MUG-1",
                "name": "Mug",
                "price": 12.0,
                "quantity": 2,
            },
            {
                "product_id": "72",
                "order_product_id": "2",
                "model": "TEA-9",
                "name": "Tea",
                "price": 25.0,
                "quantity": 1,
            },
        ],
        **extra,
    }


def mailchimp_writes(mailchimp: MailchimpEmulator, store_id: str) -> list[str]:
    return [
        f"{r['method']} {r['path']}"
        for r in mailchimp.requests
        if r["method"] != "GET" and f"/ecommerce/stores/{store_id}/" in str(r["path"])
    ]


def test_the_reconciliation_brings_an_abandoned_cart_and_a_second_run_writes_nothing(
    runner: LocalRunner,
    emulator: Api2CartEmulator,
    shop: tuple[str, RegisteredStore],
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    store_key, store = shop
    emulator.put_abandoned(store_key, abandoned("q-41", minutes_ago=30))
    emulator.put_abandoned(store_key, abandoned("q-42", minutes_ago=20, email=None))

    result = run(runner, "reconcile", store.store_id)

    assert result["status"] == "done", result
    assert result["pulled"] == {"carts_missing": 1} and result["repairs"] == 0, result
    assert result["failed"] == 0 and result["skipped"] == 1, "the cart without an e-mail is skipped, not failed"
    assert result["not_read"] == {}, result
    cart = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/carts/q-41")
    assert cart is not None
    assert cart["customer"]["email_address"] == "carter@example.com"
    assert cart["order_total"] == 49.0 and cart["currency_code"] == "EUR"
    assert cart["checkout_url"] == "https://magento.example/checkout/cart/?quote=q-41"
    assert sorted((line["product_id"], line["quantity"], line["price"]) for line in cart["lines"]) == [
        ("71", 2, 12.0),
        ("72", 1, 25.0),
    ]
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/carts/q-42") is None
    reads = [r for r in emulator.requests if r["path"] == "/v1.1/order.abandoned.list.json"]
    assert reads and all("modified_from" in r["query"] for r in reads), "changed since the watermark"

    mailchimp.clear_requests()
    again = run(runner, "reconcile", store.store_id)

    assert again["status"] == "done" and again["pulled"] == {} and again["repairs"] == 0, again
    assert mailchimp_writes(mailchimp, store.store_id) == [], "nothing new: Mailchimp gets no write"


def test_a_cart_converted_into_an_order_is_not_brought_back(
    runner: LocalRunner,
    emulator: Api2CartEmulator,
    shop: tuple[str, RegisteredStore],
    mailchimp_reader: MailchimpReader,
) -> None:
    store_key, store = shop
    # The shopper bought what was in quote q-51 (the order names it): API2Cart still lists the checkout.
    order = a2c_order(2051, 0.02)
    order["basket_id"] = "q-51"
    order["customer"] = {"id": "c-9", "email": "carter@example.com"}
    emulator.put_order(store_key, order, notify=False)
    emulator.put_abandoned(store_key, abandoned("q-51", minutes_ago=40))

    first = run(runner, "reconcile", store.store_id)

    assert first["status"] == "done" and first["repaired"] == {"orders_missing": 1}, first
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/orders/2051") is not None
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/carts/q-51") is None

    # The store touches the old checkout again: the next run reads it and still leaves it out.
    emulator.put_abandoned(store_key, abandoned("q-51", minutes_ago=5))
    second = run(runner, "reconcile", store.store_id)

    assert second["status"] == "done" and second["pulled"] == {} and second["skipped"] == 1, second
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/carts/q-51") is None


def test_a_cart_type_without_abandoned_carts_is_skipped_with_the_reason(
    runner: LocalRunner, emulator: Api2CartEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store_key = emulator.add_store("Squarespace", currency="EUR")
    emulator.put_order(store_key, a2c_order(3001, 0.02), notify=False)
    store = register_store(
        "api2cart",
        identity=store_key,
        currency_code="EUR",
        platform_api_url=emulator.base_url,
        platform_api_credentials={"api_key": API_KEY, "store_key": store_key},
    )

    result = run(runner, "reconcile", store.store_id)

    assert result["status"] == "done" and result["failed"] == 0, result
    assert "not supported" in result["not_read"]["carts"], result
    assert result["repaired"] == {"orders_missing": 1}, "the orders are reconciled all the same"
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/orders/3001") is not None
