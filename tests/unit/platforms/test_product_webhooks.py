"""Product webhooks → canonical product.updated / product.deleted events, for the deliveries that need no
store API (the ones that do are covered end to end in tests/e2e/test_product_webhooks.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import EventType
from commerce_sync.platforms.adapter import StoreApi, WebhookRequest
from commerce_sync.platforms.bigcommerce.webhooks import BigCommerceAdapter
from commerce_sync.platforms.http import StoreApiUnavailable
from commerce_sync.platforms.shopify.webhooks import ShopifyAdapter
from commerce_sync.platforms.woocommerce.webhooks import WooCommerceAdapter

from tests.paths import EVENTS


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def store(platform: str) -> Store:
    return Store(
        store_id="s1",
        platform=platform,
        identity={"shopify": "demo.myshopify.com", "bigcommerce": "abc123"}.get(platform, "https://shop.example.com"),
        name="Demo",
        list_id="l1",
        currency_code="USD",
        secret_id="x",
    )


def shopify_request(topic: str, body: Any) -> WebhookRequest:
    return WebhookRequest(
        "shopify",
        {"X-Shopify-Topic": topic, "X-Shopify-Event-Id": "evt-1", "X-Shopify-Triggered-At": "2025-03-15T08:00:00Z"},
        json.dumps(body).encode(),
    )


def test_shopify_products_update_is_a_product_updated_event() -> None:
    body = sample("shopify_product_update_body.json")
    (event,) = ShopifyAdapter().normalise(shopify_request("products/update", body), store("shopify")).events

    assert (event.type, event.event_id, event.entity_id) == (
        EventType.PRODUCT_UPDATED,
        "shopify:evt-1",
        str(body["id"]),
    )
    assert event.entity_version == "2025-03-14T13:12:44.000000Z"
    product = event.product()
    assert [v.inventory_quantity for v in product.variants] == [7, 0]
    assert product.url == "https://demo.myshopify.com/products/trail-running-socks"


def test_shopify_products_delete_carries_only_the_id_and_is_dated_by_a_recent_triggered_at() -> None:
    fired = datetime.now(UTC) - timedelta(hours=1)
    request = shopify_request("products/delete", sample("shopify_product_delete_body.json"))
    request = replace(request, headers={**request.headers, "X-Shopify-Triggered-At": fired.isoformat()})
    (event,) = ShopifyAdapter().normalise(request, store("shopify")).events

    assert (event.type, event.deleted().id) == (EventType.PRODUCT_DELETED, "8821334556733")
    assert event.entity_version == fired.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest.mark.parametrize("claimed", [timedelta(days=-3), timedelta(hours=2), timedelta(days=365 * 7000)])
def test_a_triggered_at_far_from_now_is_not_believed(claimed: timedelta) -> None:
    """The header is not signed: a replayed deletion must not date itself into the future (it would
    outrank every later genuine change) nor far into the past."""
    before = datetime.now(UTC)
    fired = before + claimed
    request = shopify_request("products/delete", sample("shopify_product_delete_body.json"))
    request = replace(request, headers={**request.headers, "X-Shopify-Triggered-At": fired.isoformat()})
    (event,) = ShopifyAdapter().normalise(request, store("shopify")).events

    assert before.strftime("%Y-%m-%dT%H:%M:%S.%fZ") <= event.entity_version
    assert event.entity_version <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_shopify_products_create_with_an_unusable_product_is_a_400() -> None:
    with pytest.raises(BadRequest):
        ShopifyAdapter().normalise(shopify_request("products/create", {"title": "no id"}), store("shopify"))


def woo_request(topic: str, body: Any, delivery: str = "d-1") -> WebhookRequest:
    return WebhookRequest(
        "woocommerce", {"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Delivery-ID": delivery}, json.dumps(body).encode()
    )


def test_woocommerce_simple_product_needs_no_store_api() -> None:
    body = {**sample("woocommerce_product_updated.json"), "type": "simple", "variations": [], "manage_stock": False}
    (event,) = WooCommerceAdapter().normalise(woo_request("product.updated", body), store("woocommerce")).events

    assert event.type is EventType.PRODUCT_UPDATED
    assert event.event_id == "woocommerce:product:301:2025-03-14T13:20:11.000000Z"
    (variant,) = event.product().variants
    assert (variant.id, variant.inventory_quantity) == ("301", 1_000_000)


def test_woocommerce_variable_product_without_api_credentials_is_unavailable() -> None:
    request = woo_request("product.updated", sample("woocommerce_product_updated.json"))
    with pytest.raises(StoreApiUnavailable):
        WooCommerceAdapter().normalise(request, store("woocommerce"), StoreApi(base_url="http://127.0.0.1:9"))


@pytest.mark.parametrize(
    ("topic", "body"),
    [
        ("product.deleted", {"id": 301}),
        ("product.updated", {"id": 301, "status": "trash", "permalink": "https://shop.example.com/?p=301"}),
    ],
)
def test_woocommerce_deleted_or_trashed_product(topic: str, body: dict[str, Any]) -> None:
    (event,) = WooCommerceAdapter().normalise(woo_request(topic, body), store("woocommerce")).events

    assert (event.type, event.deleted().id, event.event_id) == (EventType.PRODUCT_DELETED, "301", "woocommerce:d-1")


def test_bigcommerce_product_deleted_reads_nothing() -> None:
    body = {**sample("bigcommerce_product_updated_webhook.json"), "scope": "store/product/deleted"}
    request = WebhookRequest("bigcommerce", {}, json.dumps(body).encode())
    (event,) = BigCommerceAdapter().normalise(request, store("bigcommerce"), StoreApi(base_url=None)).events

    assert (event.type, event.deleted().id) == (EventType.PRODUCT_DELETED, "111")


def test_bigcommerce_product_updated_without_a_token_is_unavailable() -> None:
    body = sample("bigcommerce_product_updated_webhook.json")
    request = WebhookRequest("bigcommerce", {}, json.dumps(body).encode())
    with pytest.raises(StoreApiUnavailable):
        BigCommerceAdapter().normalise(request, store("bigcommerce"), StoreApi(base_url=None))
