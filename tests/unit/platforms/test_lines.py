"""The line rule (commerce_sync.platforms.lines, docs/line-items.md): every line kind the platforms send is
mapped on purpose or left out with a counted reason, and never costs the rest of the cart or order.

The Shopify bodies are the project's samples with lines changed into the shapes Shopify's published
examples show: a checkout line with `variant_id: null` and a repeated `key`, custom items with both ids
null, gift cards (a product of their own, `gift_card: true`), zero prices.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import CUSTOM_ITEMS_PRODUCT_ID, Cart, MarketingConsent
from commerce_sync.mailchimp.mapping import product_from_line, variant_from_line
from commerce_sync.platforms.lines import (
    CUSTOM_ITEMS_TITLE,
    PlatformLine,
    custom_item_variant_id,
    to_lines,
)
from commerce_sync.platforms.shopify.orders import ShopifyOrder, order_to_order
from commerce_sync.platforms.shopify.webhooks import ShopifyCart, cart_to_cart

from tests.paths import EVENTS
from tests.unit.platforms.shopify.test_webhooks import normalise


def line(**changes: Any) -> PlatformLine:
    fields: dict[str, Any] = {
        "id": "l1",
        "product_id": "10",
        "variant_id": "11",
        "title": "Mug",
        "quantity": 1,
        "price": Decimal("9.50"),
    }
    return PlatformLine(**{**fields, **changes})


def skipped_reasons(out: str) -> list[str]:
    """The `reason` dimension of every LineSkipped metric printed (Powertools' EMF lines on stdout)."""
    metrics = (json.loads(text) for text in out.splitlines() if text.startswith("{") and "LineSkipped" in text)
    return [metric["reason"] for metric in metrics if "_aws" in metric]


# ---- the rule -----------------------------------------------------------------------------------------


def test_a_line_with_product_and_variant_maps_to_them() -> None:
    [mapped] = to_lines("test", "c1", [line()])
    assert (mapped.id, mapped.product_id, mapped.variant_id, mapped.product_title) == ("l1", "10", "11", "Mug")


@pytest.mark.parametrize("variant_id", [None, "", "0"])
def test_a_line_without_variant_uses_its_product_id(variant_id: str | None) -> None:
    [mapped] = to_lines("test", "c1", [line(variant_id=variant_id)])
    assert (mapped.product_id, mapped.variant_id) == ("10", "10")


@pytest.mark.parametrize("product_id", [None, "", "0"])
def test_a_line_without_product_is_a_variant_of_the_custom_items_product(product_id: str | None) -> None:
    [mapped] = to_lines("test", "c1", [line(product_id=product_id, variant_id=None, title="Gift wrap", sku="GW")])
    assert mapped.product_id == CUSTOM_ITEMS_PRODUCT_ID
    assert mapped.variant_id == custom_item_variant_id("Gift wrap", "GW")
    # What Mailchimp is given to create when it lacks them: one product, the line's title on the variant.
    assert product_from_line(mapped).title == CUSTOM_ITEMS_TITLE
    variant = variant_from_line(mapped)
    assert variant.title == "Gift wrap"
    # Never recommended: hidden at inventory 0, as the catalog sync retires products.
    assert (variant.visibility, variant.inventory_quantity) == ("hidden", 0)
    # A catalog product's variant created from a line says nothing of either (the catalog sync does).
    [plain] = to_lines("test", "c1", [line()])
    assert (variant_from_line(plain).visibility, variant_from_line(plain).inventory_quantity) == (None, None)


def test_custom_item_variants_are_one_per_title_and_sku() -> None:
    assert custom_item_variant_id("Gift wrap", "GW") == custom_item_variant_id(" gift WRAP ", "gw")
    assert custom_item_variant_id("Gift wrap", "GW") != custom_item_variant_id("Gift wrap", None)
    assert custom_item_variant_id("Gift wrap", None) != custom_item_variant_id("Engraving", None)
    assert custom_item_variant_id("Gift wrap", None).startswith("custom-")


def test_a_custom_item_without_title_still_maps() -> None:
    [mapped] = to_lines("test", "c1", [line(product_id=None, variant_id=None, title=None)])
    assert mapped.variant_title == "Custom item"


def test_zero_price_lines_are_kept() -> None:
    [mapped] = to_lines("test", "c1", [line(price=Decimal(0))])
    assert mapped.price == Decimal(0)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"quantity": -1}, "negative_quantity"),
        ({"price": Decimal("-0.01")}, "negative_price"),
        ({"price": Decimal(10) ** 13}, "out_of_range"),
        ({"quantity": 2**31}, "out_of_range"),
    ],
)
def test_an_odd_line_is_left_out_logged_and_counted_and_the_rest_kept(
    changes: dict[str, Any], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    kept = to_lines("test", "c1", [line(**{"id": "odd", **changes}), line(id="fine")])
    assert [mapped.id for mapped in kept] == ["fine"]
    assert skipped_reasons(capsys.readouterr().out) == [reason]


@pytest.mark.parametrize("name", ["id", "product_id", "variant_id"])
def test_an_id_with_path_syntax_is_a_400_naming_the_field(name: str) -> None:
    with pytest.raises(BadRequest) as refused:
        to_lines("test", "c1", [line(), line(**{name: "../../other-store"})])
    assert refused.value.field == f"line_items.1.{name}"


def test_repeated_line_ids_are_made_unique() -> None:
    kept = to_lines("test", "c1", [line(id="k"), line(id="k"), line(id=None, variant_id="11")])
    assert [mapped.id for mapped in kept] == ["k", "k-2", "11"]


# ---- Shopify: checkouts, carts, orders --------------------------------------------------------------


def odd_shopify_lines(template: dict[str, Any]) -> list[dict[str, Any]]:
    """The sample's first line turned into the kinds Shopify sends besides a plain variant."""
    no_variant = {**copy.deepcopy(template), "variant_id": None, "title": "IPod Nano - 8GB", "sku": "IPOD2008PINK"}
    repeated = copy.deepcopy(no_variant)
    custom = {**copy.deepcopy(template), "product_id": None, "variant_id": None, "title": "Engraving", "sku": ""}
    gift_card = {**copy.deepcopy(template), "key": "gc", "gift_card": True, "title": "Gift card", "price": "25.00"}
    free = {**copy.deepcopy(template), "key": "free", "title": "Free sample", "price": "0.00"}
    custom["key"] = "custom"
    return [no_variant, repeated, custom, gift_card, free]


def test_a_checkout_with_every_line_kind_keeps_them_all(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    template = checkout_payload["line_items"][0]
    checkout_payload["line_items"] = odd_shopify_lines(template)

    [event] = normalise(checkout_payload, shopify_store).events
    cart = event.cart()

    key, product = template["key"], str(template["product_id"])
    assert [(x.id, x.product_id, x.variant_id, x.price) for x in cart.lines] == [
        (key, product, product, Decimal(str(template["price"]))),
        (f"{key}-2", product, product, Decimal(str(template["price"]))),
        ("custom", CUSTOM_ITEMS_PRODUCT_ID, custom_item_variant_id("Engraving", None), Decimal(str(template["price"]))),
        ("gc", product, str(template["variant_id"]), Decimal("25.00")),
        ("free", product, str(template["variant_id"]), Decimal("0.00")),
    ]


def test_a_checkout_with_an_odd_line_keeps_the_rest(
    checkout_payload: dict[str, Any], shopify_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    checkout_payload["line_items"][0]["price"] = "-1.00"

    [event] = normalise(checkout_payload, shopify_store).events

    assert [x.id for x in event.cart().lines] == [checkout_payload["line_items"][1]["key"]]
    assert skipped_reasons(capsys.readouterr().out) == ["negative_price"]


def test_a_shopify_cart_with_null_ids_keeps_every_line_and_totals_what_it_keeps() -> None:
    body = json.loads((EVENTS / "shopify_cart_update_body.json").read_text())
    body["line_items"] = odd_shopify_lines(body["line_items"][0])
    body["line_items"].append({**body["line_items"][0], "key": "odd", "quantity": -3})

    cart = cart_to_cart(ShopifyCart.model_validate(body), "USD")

    assert isinstance(cart, Cart)
    assert len(cart.lines) == 5
    assert cart.order_total == sum((x.price * x.quantity for x in cart.lines), Decimal(0))


def test_a_shopify_order_with_custom_deleted_and_free_lines() -> None:
    payload = json.loads((EVENTS / "shopify_order_body.json").read_text())
    template = payload["line_items"][0]
    payload["line_items"] = [
        {**template, "id": 1, "product_id": None, "variant_id": None, "title": "Custom engraving", "sku": None},
        {**template, "id": 2, "variant_id": None},
        {**template, "id": 3, "price": "0.00", "title": "Free gift"},
    ]

    lines = order_to_order(ShopifyOrder.model_validate(payload), MarketingConsent()).lines

    assert [(x.id, x.product_id, x.variant_id, x.price) for x in lines] == [
        ("1", CUSTOM_ITEMS_PRODUCT_ID, custom_item_variant_id("Custom engraving", None), lines[0].price),
        ("2", str(template["product_id"]), str(template["product_id"]), lines[1].price),
        ("3", str(template["product_id"]), str(template["variant_id"]), Decimal("0.00")),
    ]
