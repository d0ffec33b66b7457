"""Promotion webhooks normalised without the network: Shopify's discounts/* that need no read (deletions, a
removed code, automatic discounts, refusals) and WooCommerce's coupon.* (the coupon in the body). The deliveries
that read the price rule from Shopify run against its emulator in tests/e2e/test_promotion_webhooks.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import EventType
from commerce_sync.platforms.adapter import IgnoredKind, StoreApi, WebhookRequest
from commerce_sync.platforms.http import StoreApiUnavailable
from commerce_sync.platforms.shopify.webhooks import ShopifyAdapter
from commerce_sync.platforms.woocommerce.webhooks import WooCommerceAdapter


def store(platform: str, identity: str) -> Store:
    return Store(
        store_id=f"{platform}-1",
        platform=platform,
        identity=identity,
        name="Shop",
        list_id="l1",
        currency_code="EUR",
        secret_id="x",
    )


def shopify(topic: str, body: Any) -> WebhookRequest:
    headers = {"X-Shopify-Topic": topic, "X-Shopify-Event-Id": "ev-1", "X-Shopify-Shop-Domain": "s.myshopify.com"}
    return WebhookRequest("shopify", headers, json.dumps(body).encode())


def gid(kind: str, number: int) -> str:
    return f"gid://shopify/{kind}/{number}"


def test_a_discount_deletion_names_the_rule_and_reads_nothing() -> None:
    request = shopify("discounts/delete", {"admin_graphql_api_id": gid("DiscountCodeNode", 801)})

    (event,) = ShopifyAdapter().normalise(request, store("shopify", "s.myshopify.com"), None).events

    assert (event.type, event.entity_id, event.event_id) == (EventType.PROMOTION_DELETED, "801", "shopify:ev-1")
    assert event.promotion_removal().code_ids == ()


def test_a_removed_code_names_the_rule_and_the_code() -> None:
    body = {"admin_graphql_api_id": gid("DiscountCodeNode", 801), "redeem_code": {"id": gid("DiscountRedeemCode", 9)}}

    (event,) = (
        ShopifyAdapter().normalise(shopify("discounts/redeemcode_removed", body), store("shopify", "s"), None).events
    )

    assert (event.type, event.promotion_removal().id, event.promotion_removal().code_ids) == (
        EventType.PROMOTION_DELETED,
        "801",
        ("9",),
    )


def test_an_automatic_discount_is_acknowledged_and_ignored() -> None:
    body = {"admin_graphql_api_id": gid("DiscountAutomaticNode", 5), "title": "Auto", "status": "ACTIVE"}

    result = ShopifyAdapter().normalise(shopify("discounts/update", body), store("shopify", "s"), None)

    assert result.events == () and result.ignored_kind is IgnoredKind.NOT_HANDLED


def test_an_update_without_the_stores_token_is_unavailable_not_refused() -> None:
    body = {"admin_graphql_api_id": gid("DiscountCodeNode", 801), "title": "FLASH"}

    with pytest.raises(StoreApiUnavailable):
        ShopifyAdapter().normalise(shopify("discounts/update", body), store("shopify", "s"), StoreApi(None, {}))


@pytest.mark.parametrize(
    "body",
    [
        {"admin_graphql_api_id": "801"},
        {"admin_graphql_api_id": "gid://shopify/DiscountCodeNode/../1"},
        {"title": "no id"},
        {"admin_graphql_api_id": gid("DiscountCodeNode", 1), "line_items": [{"id": 1}]},
    ],
)
def test_a_discount_delivery_without_a_usable_id_is_a_bad_request(body: dict[str, Any]) -> None:
    with pytest.raises(BadRequest):
        ShopifyAdapter().normalise(shopify("discounts/delete", body), store("shopify", "s"), None)


def woo(topic: str, body: Any) -> WebhookRequest:
    headers = {"X-WC-Webhook-Topic": topic, "X-WC-Webhook-Delivery-ID": "d-1", "X-WC-Webhook-Source": "https://w"}
    return WebhookRequest("woocommerce", headers, json.dumps(body).encode())


COUPON = {
    "id": 719,
    "code": "free-ship",
    "amount": "0.00",
    "discount_type": "fixed_cart",
    "free_shipping": True,
    "status": "publish",
    "date_modified_gmt": "2025-03-01T10:00:00",
    "usage_count": 0,
}


def test_a_coupon_delivery_is_a_promotion_with_its_one_code() -> None:
    (event,) = WooCommerceAdapter().normalise(woo("coupon.updated", COUPON), store("woocommerce", "https://w")).events

    promotion = event.promotion()
    assert (event.type, event.entity_version) == (EventType.PROMOTION_UPDATED, "2025-03-01T10:00:00.000000Z")
    assert (promotion.type, promotion.target, promotion.amount, promotion.codes_complete) == (
        "fixed",
        "shipping",
        0,
        True,
    )
    assert [(code.id, code.code, code.redemption_url) for code in promotion.codes] == [
        ("719", "free-ship", "https://w")
    ]


@pytest.mark.parametrize(
    ("topic", "body"), [("coupon.deleted", {"id": 719}), ("coupon.updated", {**COUPON, "status": "trash"})]
)
def test_a_deleted_or_trashed_coupon_is_a_promotion_deletion(topic: str, body: dict[str, Any]) -> None:
    (event,) = WooCommerceAdapter().normalise(woo(topic, body), store("woocommerce", "https://w")).events

    assert (event.type, event.promotion_removal().id) == (EventType.PROMOTION_DELETED, "719")


def test_a_coupon_body_replayed_as_a_deletion_is_refused() -> None:
    with pytest.raises(BadRequest):
        WooCommerceAdapter().normalise(woo("coupon.deleted", COUPON), store("woocommerce", "https://w"))
