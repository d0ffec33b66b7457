"""Every line kind, through the local runner to the Mailchimp emulator (docs/line-items.md): a Shopify
checkout and cart with `variant_id: null`, a repeated line key and custom items; a BigCommerce cart with
custom items and a gift certificate and an order with a zero-price pick-list child, a custom product and
a gift certificate; a WooCommerce order whose product was deleted, with a free line. Mailchimp then holds
the whole cart or order, and the products and variants the lines name, the store's single custom-items
product among them. The line shapes are those of the platforms' published examples."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from commerce_sync.canonical.model import CUSTOM_ITEMS_PRODUCT_ID
from commerce_sync.platforms.lines import CUSTOM_ITEMS_TITLE, custom_item_variant_id

from emulators.bigcommerce import BigCommerceEmulator
from local_runner.runner import LocalRunner
from tests.e2e import test_bigcommerce_orders as bc_orders
from tests.e2e import test_bigcommerce_webhooks as bc_webhooks
from tests.e2e import test_woocommerce_orders as woo
from tests.e2e.test_shopify_checkout_slice import checkout, post
from tests.harness import MailchimpReader, RegisteredStore


def lines_of(held: dict[str, Any] | None) -> list[tuple[str, str, str, int, float]]:
    assert held is not None
    return sorted(
        (line["id"], line["product_id"], line["product_variant_id"], line["quantity"], line["price"])
        for line in held["lines"]
    )


def custom_items(reader: MailchimpReader, store_id: str) -> dict[str, str]:
    """The store's custom-items product as Mailchimp holds it: variant id -> title."""
    product = reader.resource(f"/ecommerce/stores/{store_id}/products/{CUSTOM_ITEMS_PRODUCT_ID}")
    assert product is not None
    assert product["title"] == CUSTOM_ITEMS_TITLE
    # Never recommended: every variant hidden at inventory 0.
    assert {(v["visibility"], v["inventory_quantity"]) for v in product["variants"]} == {("hidden", 0)}
    return {variant["id"]: variant["title"] for variant in product["variants"]}


# ---- Shopify ----------------------------------------------------------------------------------------


def shopify_lines(template: dict[str, Any]) -> list[dict[str, Any]]:
    product = str(template["product_id"])
    return [
        # Shopify's checkout example: twice the same key, variant_id null.
        {**copy.deepcopy(template), "key": "k1", "variant_id": None, "sku": "IPOD2008PINK", "product_id": product},
        {**copy.deepcopy(template), "key": "k1", "variant_id": None, "sku": "IPOD2008PINK", "product_id": product},
        # A custom item: neither product nor variant.
        {**copy.deepcopy(template), "key": "k2", "product_id": None, "variant_id": None, "title": "Engraving"},
        # A free gift.
        {**copy.deepcopy(template), "key": "k3", "price": "0.00", "title": "Free sample"},
    ]


def test_a_shopify_checkout_with_null_variants_and_custom_items_lands_whole(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    body = checkout()
    template = body["line_items"][0]
    body["line_items"] = shopify_lines(template)
    body["total_price"] = "40.00"

    response = post(runner, shopify_store, body)

    assert response.status_code == 202, response.text
    runner.wait_until_idle()
    store = shopify_store.store_id
    held = mailchimp_reader.resource(f"/ecommerce/stores/{store}/carts/{body['cart_token']}")
    product, variant, price = str(template["product_id"]), str(template["variant_id"]), float(template["price"])
    engraving = custom_item_variant_id("Engraving", template.get("sku"))
    assert lines_of(held) == sorted(
        [
            ("k1", product, product, template["quantity"], price),
            ("k1-2", product, product, template["quantity"], price),
            ("k2", CUSTOM_ITEMS_PRODUCT_ID, engraving, template["quantity"], price),
            ("k3", product, variant, template["quantity"], 0.0),
        ]
    )
    assert custom_items(mailchimp_reader, store) == {engraving: "Engraving"}
    # The line without variant named its product as the variant: Mailchimp holds it under that id.
    held_product = mailchimp_reader.resource(f"/ecommerce/stores/{store}/products/{product}")
    assert held_product is not None
    assert product in {v["id"] for v in held_product["variants"]}


# ---- BigCommerce ------------------------------------------------------------------------------------


@pytest.fixture
def bigcommerce() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(f"l{uuid.uuid4().hex[:10]}", bc_webhooks.ACCESS_TOKEN) as running:
        yield running


def test_a_bigcommerce_cart_with_custom_items_and_a_gift_certificate_lands_whole(
    runner: LocalRunner, bigcommerce: BigCommerceEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store = bc_webhooks.register_bigcommerce(bigcommerce)
    certificate = {
        "id": "6e38bbc2-0000-4000-8000-8bd4aaea5d3a",
        "name": "Joyeux anniversaire",
        "theme": "Birthday",
        "amount": 50,
        "quantity": 1,
        "taxable": False,
    }
    sample = bc_webhooks.sample("bigcommerce_cart.json")["data"]["line_items"]
    line_items = {**sample, "gift_certificates": [certificate]}
    cart = bc_webhooks.put_cart(bigcommerce, line_items=line_items)
    body = bc_webhooks.thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": cart["id"]})

    response = bc_webhooks.deliver(runner, body, store.webhook_secret)

    assert response.status_code == 202, response.text
    runner.wait_until_idle()
    held = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/carts/{cart['id']}")
    [custom] = sample["custom_items"]
    wrap = custom_item_variant_id(custom["name"], custom["sku"])
    gift = custom_item_variant_id("Gift certificate: Joyeux anniversaire", None)
    catalog = [*sample["physical_items"], *sample["digital_items"]]
    assert lines_of(held) == sorted(
        [
            *(
                (i["id"], str(i["product_id"]), str(i["variant_id"]), i["quantity"], float(i["sale_price"]))
                for i in catalog
            ),
            (custom["id"], CUSTOM_ITEMS_PRODUCT_ID, wrap, 1, float(custom["list_price"])),
            (certificate["id"], CUSTOM_ITEMS_PRODUCT_ID, gift, 1, 50.0),
        ]
    )
    assert custom_items(mailchimp_reader, store.store_id) == {
        wrap: custom["name"],
        gift: "Gift certificate: Joyeux anniversaire",
    }


def test_a_bigcommerce_order_keeps_its_free_child_custom_product_and_gift_certificate(
    runner: LocalRunner, mailchimp_reader: MailchimpReader
) -> None:
    with BigCommerceEmulator(f"o{uuid.uuid4().hex[:10]}", bc_orders.ACCESS_TOKEN) as emulator:
        shop = bc_orders.open_shop(emulator)
        products = bc_orders.sample("bigcommerce_order_products.json")
        # As in BigCommerce's order products example: a child picked through its parent's option, at 0.
        products[1].update(parent_order_product_id=products[0]["id"], price_inc_tax="0.0000")
        products[2].update(product_id=0, variant_id=0, name="Gravure", sku="")
        gift = {**copy.deepcopy(products[2]), "id": 111, "name": "Gift Certificate", "type": "giftcertificate"}
        order = dict(bc_orders.sample("bigcommerce_order.json"), id=bc_orders.ORDER_ID, status_id=11)
        emulator.put_order(
            order, products=[*products, gift], shipments=[], coupons=bc_orders.sample("bigcommerce_order_coupons.json")
        )

        bc_orders.send(
            runner, shop, bc_orders.thin(shop, "store/order/created", {"type": "order", "id": bc_orders.ORDER_ID})
        )
        runner.wait_until_idle()

        held = bc_orders.mailchimp_order(mailchimp_reader, shop)
        engraving = custom_item_variant_id("Gravure", None)
        certificate = custom_item_variant_id("Gift Certificate", None)
        assert [(line[0], line[1], line[2]) for line in lines_of(held)] == sorted(
            [
                (str(products[0]["id"]), str(products[0]["product_id"]), str(products[0]["variant_id"])),
                (str(products[1]["id"]), str(products[1]["product_id"]), str(products[1]["variant_id"])),
                (str(products[2]["id"]), CUSTOM_ITEMS_PRODUCT_ID, engraving),
                ("111", CUSTOM_ITEMS_PRODUCT_ID, certificate),
            ]
        )
        free = next(line for line in lines_of(held) if line[0] == str(products[1]["id"]))
        assert free[4] == 0.0
        assert custom_items(mailchimp_reader, shop.store_id) == {
            engraving: "Gravure",
            certificate: "Gift Certificate",
        }


# ---- WooCommerce ------------------------------------------------------------------------------------


def test_a_woocommerce_order_with_a_deleted_product_and_a_free_line_lands_whole(
    runner: LocalRunner, mailchimp_reader: MailchimpReader
) -> None:
    store = woo.new_woo_store()
    order = woo.new_order()
    first, second = order["line_items"][0], order["line_items"][1]
    # The product was deleted since: WooCommerce keeps the line with product_id 0 and its name.
    first.update(product_id=0, variation_id=0)
    free = {**copy.deepcopy(second), "id": 999, "subtotal": "0.00", "total": "0.00", "price": 0}
    order["line_items"].append(free)

    woo.send(runner, store, "order.created", order)
    runner.wait_until_idle()

    held = woo.mailchimp_order(mailchimp_reader, store, order["id"])
    deleted = custom_item_variant_id(first["name"], first["sku"])
    assert [(line[0], line[1], line[2]) for line in lines_of(held)] == sorted(
        [
            (str(first["id"]), CUSTOM_ITEMS_PRODUCT_ID, deleted),
            (str(second["id"]), str(second["product_id"]), str(second["variation_id"])),
            ("999", str(second["product_id"]), str(second["variation_id"])),
        ]
    )
    assert next(line for line in lines_of(held) if line[0] == "999")[4] == 0.0
    assert custom_items(mailchimp_reader, store.store_id) == {deleted: first["name"]}


def test_the_custom_items_product_is_created_once_and_gains_a_variant_per_new_item(
    runner: LocalRunner, mailchimp_reader: MailchimpReader
) -> None:
    store = woo.new_woo_store()
    names = ["Gravure", "Gravure", "Emballage"]
    for name in names:
        order = woo.new_order()
        order["line_items"][0].update(product_id=0, variation_id=0, name=name, sku="")
        woo.send(runner, store, "order.created", order)
        runner.wait_until_idle()

    assert custom_items(mailchimp_reader, store.store_id) == {
        custom_item_variant_id("Gravure", None): "Gravure",
        custom_item_variant_id("Emballage", None): "Emballage",
    }
