"""Platform products → canonical Product → Mailchimp body: the catalog rules (stock, visibility, images,
absolute URLs, at least one variant), the removal body and the content hash."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import Product, ProductImage, ProductVariant
from commerce_sync.catalog.writer import removal_write, unchanged, upsert_write
from commerce_sync.mailchimp.mapping import (
    absolute_url,
    product_content_hash,
    to_mailchimp_hidden_product,
    to_mailchimp_product,
    with_retired_variants,
)
from commerce_sync.platforms.bigcommerce.catalog import BcProduct
from commerce_sync.platforms.bigcommerce.catalog import to_canonical_product as bigcommerce_product
from commerce_sync.platforms.products import UNTRACKED_STOCK_QUANTITY, build_products, parse_products, stock
from commerce_sync.platforms.shopify.catalog import ShopifyProduct, next_page_info
from commerce_sync.platforms.shopify.catalog import to_canonical_product as shopify_product
from commerce_sync.platforms.woocommerce.catalog import WooProduct, WooVariation
from commerce_sync.platforms.woocommerce.catalog import to_canonical_product as woo_product

from emulators.bigcommerce.catalog_fixtures import sample_catalog as bigcommerce_catalog
from emulators.shopify.fixtures import sample_catalog as shopify_catalog
from emulators.woocommerce.fixtures import sample_catalog as woo_catalog


def store(platform: str, **fields: str) -> Store:
    values = {
        "store_id": "s1",
        "platform": platform,
        "identity": "demo.myshopify.com" if platform == "shopify" else "abc123",
        "name": "Demo",
        "list_id": "l1",
        "currency_code": "USD",
        "secret_id": "x",
    }
    return Store(**{**values, **fields})


@pytest.mark.parametrize(
    ("visible", "tracked", "quantity", "in_stock", "expected"),
    [
        (True, True, 7, True, 7),
        (True, True, -3, True, 0),
        (True, True, None, True, 0),
        (True, False, None, True, UNTRACKED_STOCK_QUANTITY),
        (True, False, None, False, 0),
        (False, True, 7, True, 0),
        (False, False, None, True, 0),
    ],
)
def test_the_stock_rule(visible: bool, tracked: bool, quantity: int | None, in_stock: bool, expected: int) -> None:
    assert stock(visible=visible, tracked=tracked, quantity=quantity, in_stock=in_stock) == expected


def shopify(product_id: int) -> Product:
    raw = next(p for p in shopify_catalog() if p["id"] == product_id)
    return shopify_product(ShopifyProduct.model_validate(raw), store("shopify", domain="shop.example.com"))


def test_shopify_product_maps_every_field() -> None:
    socks = shopify(1001)
    body = to_mailchimp_product(socks, "USD").body()

    assert body["url"] == "https://shop.example.com/products/trail-running-socks"
    assert (body["handle"], body["type"], body["vendor"]) == ("trail-running-socks", "Socks", "Demo Outfitters")
    assert body["published_at_foreign"].startswith("2025-01-10T09:00:00")
    medium, large = body["variants"]
    assert medium == {
        "id": "10011",
        "title": "M / Blue",
        "url": "https://shop.example.com/products/trail-running-socks?variant=10011",
        "sku": "SKU-10011",
        "price": 19.99,
        "inventory_quantity": 7,
        "image_url": "https://cdn.shopify.com/s/files/1/0000/0001/products/socks.jpg",
        "backorders": "no",
        "visibility": "visible",
    }
    assert large["image_url"].endswith("/socks-l.jpg")
    assert [image["variant_ids"] for image in body["images"]] == [["10011"], ["10012"]]


def test_shopify_untracked_default_variant_and_draft() -> None:
    (card,) = shopify(1002).variants
    assert (card.title, card.inventory_quantity, card.image_url) == ("Gift Card", UNTRACKED_STOCK_QUANTITY, None)
    (jacket,) = shopify(1004).variants
    assert (jacket.visibility, jacket.inventory_quantity) == ("hidden", 0)


def test_a_shopify_variant_with_a_blank_title_is_titled_by_its_options() -> None:
    # Shopify's own products/update example sends `title: ""` with option1 "Small" and "Medium".
    raw = copy.deepcopy(shopify_catalog()[0])
    raw["variants"] = [
        {**raw["variants"][0], "title": "", "option1": "Small", "option2": None, "option3": None},
        {**raw["variants"][1], "title": "", "option1": "Medium", "option2": "Blue", "option3": None},
        {**raw["variants"][1], "id": 9, "title": "Default Title", "option1": "Default Title"},
    ]
    product = shopify_product(ShopifyProduct.model_validate(raw), store("shopify"))
    assert [v.title for v in product.variants] == ["Small", "Medium / Blue", product.title]


def test_a_product_without_variants_still_gets_one() -> None:
    raw = {**copy.deepcopy(shopify_catalog()[0]), "variants": []}
    product = shopify_product(ShopifyProduct.model_validate(raw), store("shopify"))
    assert [v.id for v in product.variants] == ["1001"]


def test_an_unmappable_product_is_a_reason_not_an_exception() -> None:
    good, untitled = copy.deepcopy(shopify_catalog()[0]), {**copy.deepcopy(shopify_catalog()[0]), "title": "  "}
    untitled["id"] = 1002
    models, unparsed = parse_products([good, untitled, "not a product"], ShopifyProduct)
    products, skipped = build_products(models, lambda model: shopify_product(model, store("shopify")))

    assert [product.id for product in products] == [str(good["id"])]
    assert [(reason[0], reason[1].startswith("unmappable")) for reason in skipped] == [("1002", True)]
    assert unparsed and unparsed[0][0] == "?"


def test_shopify_link_header_cursor() -> None:
    header = (
        '<https://s.myshopify.com/admin/api/2025-01/products.json?limit=250&page_info=abc>; rel="previous", '
        '<https://s.myshopify.com/admin/api/2025-01/products.json?limit=250&page_info=def>; rel="next"'
    )
    assert next_page_info(header) == "def"
    assert next_page_info('<https://x/products.json?page_info=abc>; rel="previous"') is None
    assert next_page_info(None) is None


def woo(product_id: int) -> Product:
    raw, variations = next(pair for pair in woo_catalog() if pair[0]["id"] == product_id)
    return woo_product(
        WooProduct.model_validate(raw), [WooVariation.model_validate(v) for v in variations], store("woocommerce")
    )


def test_woocommerce_variations_stock_and_images() -> None:
    hoodie = woo(301)
    small, medium, large = hoodie.variants
    assert [v.title for v in hoodie.variants] == ["Small", "Medium", "Large"]
    assert small.inventory_quantity == 3 and small.image_url.endswith("hoodie-s.jpg")
    assert medium.inventory_quantity == 12  # manage_stock "parent"
    assert (large.inventory_quantity, large.backorders, large.price) == (
        UNTRACKED_STOCK_QUANTITY,
        "yes",
        Decimal("49.00"),
    )
    assert hoodie.type == "Clothing" and hoodie.url == "https://shop.example.com/product/hoodie/"


def test_woocommerce_simple_products() -> None:
    (sticker,) = woo(302).variants
    assert (sticker.id, sticker.inventory_quantity) == ("302", UNTRACKED_STOCK_QUANTITY)
    assert woo(303).variants[0].inventory_quantity == 0  # not managed, out of stock
    assert woo(304).variants[0].visibility == "hidden"  # catalog_visibility hidden


def bigcommerce(product_id: int) -> Product:
    raw = next(p for p in bigcommerce_catalog() if p["id"] == product_id)
    return bigcommerce_product(BcProduct.model_validate(raw), store("bigcommerce"))


def test_bigcommerce_variants_tracking_and_images() -> None:
    tote = bigcommerce(111)
    assert tote.url == "https://store-abc123.mybigcommerce.com/canvas-tote/"
    assert tote.image_url.endswith("tote-zoom.jpg")
    assert [(v.title, v.inventory_quantity) for v in tote.variants] == [("Natural", 6), ("Black", 0)]
    (voucher,) = bigcommerce(112).variants
    assert (voucher.title, voucher.inventory_quantity) == ("Digital Gift Voucher", UNTRACKED_STOCK_QUANTITY)
    assert bigcommerce(113).variants[0].inventory_quantity == 9  # tracked at product level
    assert bigcommerce(114).variants[0].visibility == "hidden"


@pytest.mark.parametrize(
    ("value", "base", "expected"),
    [
        ("https://cdn/x.jpg", None, "https://cdn/x.jpg"),
        ("//cdn/x.jpg", None, "https://cdn/x.jpg"),
        ("/images/x.jpg", "https://shop.example.com/p/1", "https://shop.example.com/images/x.jpg"),
        ("/images/x.jpg", None, None),
        ("ftp://cdn/x.jpg", None, None),
        ("  ", None, None),
    ],
)
def test_urls_go_out_absolute(value: str, base: str | None, expected: str | None) -> None:
    assert absolute_url(value, base) == expected


def test_image_fallbacks() -> None:
    product = Product(
        id="p",
        title="P",
        images=(
            ProductImage(id="i1", url="https://cdn/1.jpg"),
            ProductImage(id="i2", url="https://cdn/2.jpg", variant_ids=("b",)),
        ),
        variants=(ProductVariant(id="a", title="A"), ProductVariant(id="b", title="B")),
    )
    body = to_mailchimp_product(product).body()
    assert body["image_url"] == "https://cdn/1.jpg"  # the first image when the product names none
    assert [v["image_url"] for v in body["variants"]] == ["https://cdn/1.jpg", "https://cdn/2.jpg"]


def test_removal_keeps_the_product_and_hides_every_variant() -> None:
    body = to_mailchimp_hidden_product("p", "Pen", {"a": "Blue", "b": "Red"}).body()
    assert body == {
        "id": "p",
        "title": "Pen",
        "variants": [
            {"id": "a", "title": "Blue", "inventory_quantity": 0, "visibility": "hidden"},
            {"id": "b", "title": "Red", "inventory_quantity": 0, "visibility": "hidden"},
        ],
    }


def test_variants_gone_from_a_product_are_sent_hidden() -> None:
    product = to_mailchimp_product(Product(id="p", title="P", variants=(ProductVariant(id="a", title="A"),)))
    body = with_retired_variants(product, {"a": "A", "old": "Old"}).body()
    assert [(v["id"], v.get("visibility")) for v in body["variants"]] == [("a", None), ("old", "hidden")]


def test_the_content_hash_changes_with_content_only() -> None:
    one = to_mailchimp_product(shopify(1001))
    assert product_content_hash(one) == product_content_hash(to_mailchimp_product(shopify(1001)))
    cheaper = one.model_copy(update={"variants": [one.variants[0].model_copy(update={"price": Decimal("1.00")})]})
    assert product_content_hash(cheaper) != product_content_hash(one)


def test_writes_compare_with_the_record() -> None:
    socks = shopify(1001)
    first = upsert_write(socks, None, store("shopify"), "v1")
    assert first.kind == "created" and first.read_hash is None
    assert unchanged(upsert_write(socks, first.record, store("shopify"), "v1"), first.record)
    removal = removal_write(first.record, "v2")
    assert removal.kind == "removed" and removal.record.removed and removal.read_hash == first.record.hash
    back = upsert_write(socks, removal.record, store("shopify"), "v3")
    assert back.kind == "updated" and not unchanged(back, removal.record)
