"""The Shopify history reader against the Shopify stand-in on 127.0.0.1: filters, Link paging, counts, and events
equal to what the orders/updated and customers/update webhooks make of the same bodies."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import CanonicalEvent
from commerce_sync.platforms.adapter import WebhookRequest
from commerce_sync.platforms.history import HistoryUnavailable
from commerce_sync.platforms.registry import history_source_for
from commerce_sync.platforms.shopify.webhooks import ShopifyAdapter

from emulators.shopify import ShopifyEmulator
from emulators.shopify.history import history_customer, history_order

TOKEN = "shpat_history"


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"shop-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        yield emulator


def store_for(shopify: ShopifyEmulator, platform: str = "shopify") -> Store:
    return Store(
        store_id="hist-shop",
        platform=platform,
        identity=shopify.shop_domain,
        name="History",
        list_id="a1b2c3d4e5",
        currency_code="USD",
        secret_id="commerce-sync/stores/hist-shop",
        platform_api_url=shopify.base_url,
    )


def webhook_event(store: Store, topic: str, body: dict[str, object]) -> CanonicalEvent:
    request = WebhookRequest(
        platform="shopify",
        headers={"X-Shopify-Topic": topic, "X-Shopify-Shop-Domain": store.identity},
        body=json.dumps(body).encode(),
    )
    (event,) = ShopifyAdapter().normalise(request, store).events
    return event


def without_id(event: CanonicalEvent) -> dict[str, object]:
    return event.model_dump(mode="json", exclude={"event_id"})


def test_pages_are_filtered_sorted_and_equal_to_webhook_events(shopify: ShopifyEmulator) -> None:
    shopify.page_size_cap = 2
    customers = [history_customer(10 + n, f"c{n}@example.com", f"2025-0{n + 1}-01T10:00:00+00:00") for n in range(5)]
    for customer in customers:
        shopify.put_customer(customer)
    orders = [
        history_order(100 + n, customers[n], f"2025-0{5 - n}-02T10:00:00+00:00", financial_status="paid")
        for n in range(5)
    ]
    orders.append(history_order(200, customers[0], "2025-03-03T00:00:00+00:00", line_items=[]))  # no line: skipped
    for order in orders:
        shopify.put_order(order)
    store = store_for(shopify)
    source = history_source_for(store, {"access_token": TOKEN})
    since, until = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 4, 30, tzinfo=UTC)

    assert source.count("orders", since, until) == 4  # Feb 2, Mar 2, Mar 3, Apr 2
    assert source.count("customers", since, until) == 3

    events, cursor, pages, skipped = [], None, 0, []
    while True:
        page = source.page("orders", since, cursor, until)
        events += page.events
        skipped += page.skipped
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert pages == 2
    assert [event.entity_id for event in events] == ["103", "102", "101"]  # oldest first
    assert [platform_id for platform_id, _ in skipped] == ["200"]
    by_id = {order["id"]: order for order in orders}
    for event in events:
        assert event.event_id.startswith(f"history:shopify:orders:{event.entity_id}:")
        assert without_id(event) == without_id(webhook_event(store, "orders/updated", by_id[int(event.entity_id)]))
    customer_page = source.page("customers", since, None, until)
    assert customer_page.high_water == "2025-03-01T10:00:00+00:00"
    first = customer_page.events[0]
    assert without_id(first) == without_id(webhook_event(store, "customers/update", customers[1]))
    # The later pages carry page_info alone, as Shopify demands.
    later = [r for r in shopify.requests if r["path"].endswith("/orders.json") and "page_info" in r["query"]]
    assert later and all(set(r["query"]) == {"limit", "page_info"} for r in later)
    first_request = next(r for r in shopify.requests if r["path"].endswith("/orders.json"))
    assert first_request["query"]["status"] == "any" and first_request["query"]["order"] == "updated_at asc"


def test_a_store_without_a_token_or_a_readable_platform_is_unavailable(shopify: ShopifyEmulator) -> None:
    with pytest.raises(HistoryUnavailable):
        history_source_for(store_for(shopify), {})
    with pytest.raises(HistoryUnavailable):
        history_source_for(store_for(shopify, platform="canonical"), {"access_token": TOKEN})
