"""The promotion readers of the three platforms over HTTP against their emulators on 127.0.0.1: each kind the
mapping knows (percentage and fixed off the order and off each item, free shipping, a date window, used-up
codes), paging, reads by id, and the kinds Mailchimp cannot express left out with their reason."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import Promotion
from commerce_sync.platforms.promotions import PromotionSource, PromotionsUnavailable
from commerce_sync.platforms.registry import promotion_source_for

from emulators.bigcommerce import BigCommerceEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.discounts import price_rule, sample_price_rules
from emulators.woocommerce import WooCommerceEmulator
from tests.harness import platform_store


def everything(source: PromotionSource) -> tuple[dict[str, Promotion], list[tuple[str, str]]]:
    """Every rule with every code, read page by page as the sync reads them."""
    found: dict[str, Promotion] = {}
    skipped: list[tuple[str, str]] = []
    cursor: str | None = None
    while True:
        page = source.page(cursor)
        skipped += page.skipped
        for promotion in page.promotions:
            codes = list(promotion.codes)
            if not promotion.codes_complete:
                code_cursor: str | None = None
                while True:
                    code_page = source.codes(promotion.id, code_cursor)
                    codes += code_page.codes
                    code_cursor = code_page.next_cursor
                    if code_cursor is None:
                        break
            found[promotion.id] = promotion.model_copy(update={"codes": tuple(codes)})
        cursor = page.next_cursor
        if cursor is None:
            return found, skipped


def kind(promotion: Promotion) -> tuple[str, Decimal, str]:
    return promotion.type, promotion.amount, promotion.target


# ---- Shopify ----------------------------------------------------------------------------------------------


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"shop-{uuid.uuid4().hex[:8]}.myshopify.com", "shpat_promos") as emulator:
        for rule, codes in sample_price_rules():
            emulator.put_price_rule(rule, codes)
        yield emulator


def shopify_source(emulator: ShopifyEmulator) -> PromotionSource:
    store = platform_store("shopify", emulator.shop_domain, emulator.base_url)
    return promotion_source_for(
        store.model_copy(update={"domain": "shop.example.com"}), {"access_token": "shpat_promos"}
    )


def test_shopify_price_rules_and_their_codes(shopify: ShopifyEmulator) -> None:
    rules, skipped = everything(shopify_source(shopify))

    assert {rule_id: kind(rule) for rule_id, rule in rules.items()} == {
        "501": ("percentage", Decimal("0.15"), "total"),
        "502": ("fixed", Decimal("10.00"), "total"),
        "503": ("fixed", Decimal("2.00"), "per_item"),
        "504": ("fixed", Decimal("0.00"), "shipping"),
        "505": ("percentage", Decimal("0.2"), "total"),
        "506": ("percentage", Decimal("0.25"), "total"),
    }
    assert skipped == [("507", "buy X get Y: Mailchimp's promo rules have no kind for a free item once N are bought")]
    spring = rules["501"].codes[0]
    assert (spring.code, spring.usage_count, spring.redemption_url) == (
        "SPRING15",
        4,
        "https://shop.example.com/discount/SPRING15",
    )
    summer = {code.code: code.enabled for code in rules["505"].codes}
    assert summer == {"SUMMER-A1": True, "SUMMER-B2": False}, "a code used usage_limit times is disabled"
    assert rules["505"].starts_at is not None and rules["505"].ends_at is not None
    assert rules["501"].title == "SPRING15" and rules["501"].currency_code == "USD"


def test_shopify_pages_rules_and_codes_by_cursor(shopify: ShopifyEmulator) -> None:
    shopify.page_size_cap = 2
    shopify.put_price_rule(
        price_rule(600, "MANY"), [{"id": 6000 + number, "code": f"MANY-{number}"} for number in range(5)]
    )

    rules, _ = everything(shopify_source(shopify))

    assert len(rules) == 7 and [code.code for code in rules["600"].codes] == [f"MANY-{n}" for n in range(5)]
    pages = [r for r in shopify.requests if r["path"].endswith("/price_rules/600/discount_codes.json")]
    assert len(pages) == 3 and all("page_info" in r["query"] for r in pages[1:])


def test_shopify_reads_by_id_leave_out_the_gone_and_the_unexpressible(shopify: ShopifyEmulator) -> None:
    shopify.delete_price_rule(502)

    found = shopify_source(shopify).promotions_by_id(["501", "502", "507", "custom-1"])

    assert [promotion.id for promotion in found] == ["501"]


def test_a_store_without_a_token_or_reader_is_unavailable(shopify: ShopifyEmulator) -> None:
    store = platform_store("shopify", shopify.shop_domain, shopify.base_url)
    with pytest.raises(PromotionsUnavailable):
        promotion_source_for(store, {})
    canonical = Store(**{**store.model_dump(), "platform": "canonical"})
    with pytest.raises(PromotionsUnavailable, match=r"promotion\.updated"):
        promotion_source_for(canonical, {"access_token": "x"})


# ---- WooCommerce ------------------------------------------------------------------------------------------

COUPONS: list[dict[str, Any]] = [
    {"id": 719, "code": "save10", "discount_type": "percent", "amount": "10.00", "usage_count": 3},
    {"id": 720, "code": "shoes5", "discount_type": "percent", "amount": "5.00", "product_ids": [301]},
    {"id": 721, "code": "cart20", "discount_type": "fixed_cart", "amount": "20.00", "description": "Twenty off"},
    {"id": 722, "code": "each2", "discount_type": "fixed_product", "amount": "2.00"},
    {"id": 723, "code": "shipfree", "free_shipping": True},
    {"id": 724, "code": "old", "discount_type": "percent", "amount": "30", "date_expires_gmt": "2024-01-01T00:00:00"},
    {"id": 725, "code": "once", "discount_type": "fixed_cart", "amount": "1", "usage_limit": 1, "usage_count": 1},
    {"id": 726, "code": "credit", "discount_type": "smart_coupon", "amount": "50"},
]


@pytest.fixture
def woocommerce() -> Iterator[WooCommerceEmulator]:
    with WooCommerceEmulator("ck_promos", "cs_promos") as emulator:
        for coupon in COUPONS:
            emulator.put_coupon(coupon)
        yield emulator


def woo_source(emulator: WooCommerceEmulator) -> PromotionSource:
    store = platform_store("woocommerce", "https://shop.example.com", emulator.base_url)
    return promotion_source_for(store, {"consumer_key": "ck_promos", "consumer_secret": "cs_promos"})


def test_woocommerce_coupons_are_a_rule_and_a_code_each(woocommerce: WooCommerceEmulator) -> None:
    woocommerce.per_page_cap = 3
    rules, skipped = everything(woo_source(woocommerce))

    assert {rule_id: kind(rule) for rule_id, rule in rules.items()} == {
        "719": ("percentage", Decimal("0.1"), "total"),
        "720": ("percentage", Decimal("0.05"), "per_item"),
        "721": ("fixed", Decimal("20.00"), "total"),
        "722": ("fixed", Decimal("2.00"), "per_item"),
        "723": ("fixed", Decimal("0.00"), "shipping"),
        "724": ("percentage", Decimal("0.3"), "total"),
        "725": ("fixed", Decimal("1.00"), "total"),
    }
    assert [rule_id for rule_id, _ in skipped] == ["726"] and "smart_coupon" in skipped[0][1]
    save10 = rules["719"]
    assert save10.codes_complete and [(c.id, c.code, c.usage_count) for c in save10.codes] == [("719", "save10", 3)]
    assert save10.codes[0].redemption_url == "https://shop.example.com"
    assert (save10.title, rules["721"].description) == ("save10", "Twenty off")
    assert rules["724"].ends_at is not None and rules["724"].ends_at.year == 2024
    assert (rules["725"].enabled, rules["725"].codes[0].enabled) == (False, False), "used up"


def test_woocommerce_trashed_and_deleted_coupons_are_gone(woocommerce: WooCommerceEmulator) -> None:
    woocommerce.put_coupon({**COUPONS[0], "status": "trash"})
    woocommerce.delete_coupon(721)

    rules, _ = everything(woo_source(woocommerce))

    assert "719" not in rules and "721" not in rules
    assert [p.id for p in woo_source(woocommerce).promotions_by_id(["719", "720", "721"])] == ["720"]


# ---- BigCommerce ------------------------------------------------------------------------------------------


@pytest.fixture
def bigcommerce() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(f"pr{uuid.uuid4().hex[:8]}", "bc-promos") as emulator:
        shelf = emulator.promotions
        shelf.put_coupon(
            {"id": 1, "name": "Five off", "code": "FIVE", "type": "per_total_discount", "amount": "5.0000"}
        )
        shelf.put_coupon({"id": 2, "name": "Ten pct", "code": "TEN", "type": "percentage_discount", "amount": "10"})
        shelf.put_coupon(
            {
                "id": 3,
                "name": "Mugs",
                "code": "MUG1",
                "type": "per_item_discount",
                "amount": "1",
                "applies_to": {"entity": "products", "ids": [113]},
                "expires": "Tue, 31 Dec 2024 23:59:59 +0000",
            }
        )
        shelf.put_coupon({"id": 4, "name": "Ship", "code": "SHIP", "type": "free_shipping"})
        shelf.put_coupon({"id": 5, "name": "Ship 3", "code": "SHIP3", "type": "shipping_discount", "amount": "3"})
        shelf.put_coupon({"id": 6, "name": "Off", "code": "OFF", "type": "per_total_discount", "enabled": False})
        shelf.put_coupon({"id": 7, "name": "Promo code", "code": "PC", "type": "promotion"})
        shelf.put_promotion(
            {
                "id": 11,
                "name": "20% off",
                "display_name": "Twenty percent off",
                "rules": [{"action": {"cart_value": {"discount": {"percentage_amount": "20"}}}}],
                "start_date": "2025-01-01T00:00:00+00:00",
                "end_date": "2030-01-01T00:00:00+00:00",
            },
            codes=[{"id": 110 + n, "code": f"TWENTY-{n}"} for n in range(3)],
        )
        shelf.put_promotion(
            {"id": 12, "name": "Gift", "rules": [{"action": {"gift_item": {"quantity": 1, "product_id": 5}}}]}
        )
        shelf.put_promotion(
            {
                "id": 13,
                "name": "Tiers",
                "rules": [
                    {"action": {"cart_value": {"discount": {"fixed_amount": "5"}}}},
                    {"action": {"cart_value": {"discount": {"fixed_amount": "10"}}}},
                ],
            }
        )
        shelf.put_promotion(
            {"id": 14, "name": "Auto", "redemption_type": "AUTOMATIC", "rules": [{"action": {"shipping": {}}}]}
        )
        yield emulator


def bc_source(emulator: BigCommerceEmulator) -> PromotionSource:
    return promotion_source_for(
        platform_store("bigcommerce", emulator.store_hash, emulator.base_url), {"access_token": "bc-promos"}
    )


def test_bigcommerce_coupons_and_coupon_promotions(bigcommerce: BigCommerceEmulator) -> None:
    rules, skipped = everything(bc_source(bigcommerce))

    assert {rule_id: kind(rule) for rule_id, rule in rules.items()} == {
        "1": ("fixed", Decimal("5.00"), "total"),
        "2": ("percentage", Decimal("0.1"), "total"),
        "3": ("fixed", Decimal("1.00"), "per_item"),
        "4": ("fixed", Decimal("0.00"), "shipping"),
        "5": ("fixed", Decimal("3.00"), "shipping"),
        "6": ("fixed", Decimal("0.00"), "total"),
        "promotion-11": ("percentage", Decimal("0.2"), "total"),
    }
    assert sorted(rule_id for rule_id, _ in skipped) == ["promotion-12", "promotion-13"]
    assert [code.code for code in rules["promotion-11"].codes] == ["TWENTY-0", "TWENTY-1", "TWENTY-2"]
    assert rules["promotion-11"].title == "Twenty percent off"
    assert rules["3"].ends_at is not None and rules["3"].ends_at.year == 2024
    assert rules["6"].enabled is False and rules["1"].codes[0].redemption_url.endswith(".mybigcommerce.com/cart.php")
    assert [p.id for p in bc_source(bigcommerce).promotions_by_id(["1", "7", "promotion-11", "promotion-12"])] == [
        "1",
        "promotion-11",
    ]


def test_bigcommerce_pages_codes_by_cursor(bigcommerce: BigCommerceEmulator) -> None:
    bigcommerce.promotions.put_promotion(
        {"id": 20, "name": "Many", "rules": [{"action": {"cart_items": {"discount": {"fixed_amount": "1"}}}}]},
        codes=[{"id": 2000 + n, "code": f"MANY-{n}"} for n in range(260)],
    )

    rules, _ = everything(bc_source(bigcommerce))

    assert kind(rules["promotion-20"]) == ("fixed", Decimal("1.00"), "per_item")
    assert len(rules["promotion-20"].codes) == 260
    pages = [r for r in bigcommerce.requests if r["path"].endswith("/v3/promotions/20/codes")]
    assert len(pages) == 2 and "after" in pages[1]["query"]
