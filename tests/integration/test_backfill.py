"""The backfill end to end through the product_sync function as Lambda runs it (runner.invoke): a Shopify stand-in
with months of paged order and customer history, moto server, the Mailchimp emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from emulators.shopify.history import generate_history
from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore, register_store

TOKEN = "shpat_backfill"
FUNCTION = "ProductSyncFunction"
CUSTOMERS, ORDERS = 12, 30


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"shop-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        for product in sample_catalog():
            emulator.put_product(product)
        now = datetime.now(UTC)
        customers, orders = generate_history(
            CUSTOMERS, ORDERS, now - timedelta(days=150), now - timedelta(days=1), [(1001, 10011), (1003, 10031)]
        )
        emulator.history["customers"].put_many(customers)
        emulator.history["orders"].put_many(orders)
        # Older than six months: outside the default window.
        old_customers, old_orders = generate_history(
            2, 3, now - timedelta(days=400), now - timedelta(days=300), first_customer_id=1, first_order_id=1
        )
        emulator.history["customers"].put_many(old_customers)
        emulator.history["orders"].put_many(old_orders)
        emulator.page_size_cap = 7
        yield emulator


@pytest.fixture
def store(runner: LocalRunner, shopify: ShopifyEmulator) -> RegisteredStore:
    return register_store(
        "shopify",
        identity=shopify.shop_domain,
        platform_api_url=shopify.base_url,
        platform_api_credentials={"access_token": TOKEN},
    )


def backfill(runner: LocalRunner, store_id: str) -> dict[str, Any]:
    return runner.invoke(FUNCTION, {"action": "backfill", "store_id": store_id})


def total(reader: MailchimpReader, store_id: str, collection: str) -> int:
    found = reader.resource(f"/ecommerce/stores/{store_id}/{collection}?count=1")
    assert found is not None
    return int(found["total_items"])


def order_posts(mailchimp: MailchimpEmulator, store_id: str) -> list[str]:
    path = f"/3.0/ecommerce/stores/{store_id}/orders"
    return [
        r["path"] for r in mailchimp.requests if r["method"] == "POST" and r["path"] == path and r["source"] == "http"
    ]


def assert_landed_quietly(mailchimp: MailchimpEmulator, reader: MailchimpReader, store_id: str) -> None:
    assert total(reader, store_id, "orders") == ORDERS
    assert total(reader, store_id, "products") == 4
    # The 12 customers of the history (orders name only them).
    assert total(reader, store_id, "customers") == CUSTOMERS
    assert reader.resource(f"/ecommerce/stores/{store_id}")["is_syncing"] is False  # type: ignore[index]
    for n in range(ORDERS):
        events = mailchimp.order_status_events(store_id, str(900_000 + n))
        # Written once, with its final status, while the store was syncing: no notification.
        assert [(e.statuses, e.store_is_syncing) for e in events] == [(("paid", None), True)], n


def test_a_backfill_brings_six_months_of_history_quietly(
    runner: LocalRunner, store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    result = backfill(runner, store.store_id)

    assert result["status"] == "done", result
    progress = result["progress"]
    assert progress["customers"]["total"] == progress["customers"]["read"] == progress["customers"]["written"] == 12
    assert progress["orders"]["total"] == progress["orders"]["read"] == progress["orders"]["written"] == ORDERS
    assert progress["products"]["written"] == 4
    assert_landed_quietly(mailchimp, mailchimp_reader, store.store_id)
    # Everything went through batches: no order was written by a direct call.
    assert not order_posts(mailchimp, store.store_id)

    again = backfill(runner, store.store_id)
    assert again["status"] == "done"
    assert again["progress"]["orders"]["unchanged"] == ORDERS and again["progress"]["orders"]["written"] == 0


def test_a_run_that_fails_mid_way_resumes_without_duplicates(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKFILL_POLL_INITIAL_SECONDS", "0.05")
    order_pages = {"n": 0}

    def third_order_page_fails(path: str, query: dict[str, str]) -> int | None:
        if path.endswith("/orders.json"):
            order_pages["n"] += 1
            return 422 if order_pages["n"] >= 3 else None  # not retried: the slice fails at once
        return None

    shopify.fail_when(third_order_page_fails)
    with pytest.raises(Exception, match=r"422|Refused|orders"):
        backfill(runner, store.store_id)
    # The failed slice left no flag on.
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}")["is_syncing"] is False  # type: ignore[index]
    shopify.fail_when(None)

    result = backfill(runner, store.store_id)

    assert result["status"] == "done", result
    assert result["slices"] == 2 and result["last_error"]
    assert result["progress"]["orders"]["read"] == ORDERS
    assert_landed_quietly(mailchimp, mailchimp_reader, store.store_id)
