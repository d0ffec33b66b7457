"""The catalog sync over WooCommerce and BigCommerce catalogs (emulators on 127.0.0.1), the removal rule on
all three platforms, and real-time product events through the bus and the product queue, as the runner
runs them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from commerce_sync.platforms.products import UNTRACKED_STOCK_QUANTITY

from emulators.bigcommerce import BigCommerceEmulator
from emulators.bigcommerce.catalog_fixtures import delete_product, put_catalog
from emulators.bigcommerce.catalog_fixtures import sample_catalog as bigcommerce_catalog
from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog as shopify_catalog
from emulators.woocommerce import WooCommerceEmulator
from emulators.woocommerce.fixtures import sample_catalog as woocommerce_catalog
from local_runner.runner import LocalRunner
from tests.harness import API_KEY, MailchimpReader, RegisteredStore, register_store

FUNCTION = "ProductSyncFunction"


def sync(runner: LocalRunner, store_id: str) -> dict[str, Any]:
    return runner.invoke(FUNCTION, {"action": "catalog_sync", "store_id": store_id})


def variants(reader: MailchimpReader, store_id: str, product_id: str) -> dict[str, dict[str, Any]]:
    found = reader.resource(f"/ecommerce/stores/{store_id}/products/{product_id}")
    assert found is not None, product_id
    return {variant["id"]: variant for variant in found["variants"]}


# ---- WooCommerce ------------------------------------------------------------------------------------------


@pytest.fixture
def woocommerce() -> Iterator[WooCommerceEmulator]:
    with WooCommerceEmulator("ck_integration", "cs_integration") as emulator:
        for product, product_variations in woocommerce_catalog():
            emulator.put_product(product, variations=product_variations)
        yield emulator


@pytest.fixture
def woo_store(runner: LocalRunner, woocommerce: WooCommerceEmulator) -> RegisteredStore:
    return register_store(
        "woocommerce",
        identity=f"https://shop-{uuid.uuid4().hex[:8]}.example.com",
        platform_api_url=woocommerce.base_url,
        platform_api_credentials={"consumer_key": "ck_integration", "consumer_secret": "cs_integration"},
    )


def test_woocommerce_catalog_with_variations_unmanaged_stock_and_a_trashed_product(
    runner: LocalRunner,
    woo_store: RegisteredStore,
    woocommerce: WooCommerceEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    first = sync(runner, woo_store.store_id)

    assert (first["status"], first["seen"], first["created"]) == ("done", 4, 4)
    hoodie = mailchimp_reader.resource(f"/ecommerce/stores/{woo_store.store_id}/products/301")
    assert hoodie["image_url"].endswith("/hoodie.jpg") and hoodie["type"] == "Clothing"
    sizes = {v["id"]: v for v in hoodie["variants"]}
    assert {vid: v["title"] for vid, v in sizes.items()} == {"3011": "Small", "3012": "Medium", "3013": "Large"}
    assert sizes["3011"]["image_url"].endswith("/hoodie-s.jpg")
    assert sizes["3012"]["image_url"].endswith("/hoodie.jpg"), "a variation without an image gets the product's"
    assert sizes["3012"]["inventory_quantity"] == 12, "manage_stock 'parent' uses the parent's stock"
    assert sizes["3013"]["inventory_quantity"] == UNTRACKED_STOCK_QUANTITY
    assert sizes["3013"]["backorders"] == "yes"
    assert (
        variants(mailchimp_reader, woo_store.store_id, "302")["302"]["inventory_quantity"] == UNTRACKED_STOCK_QUANTITY
    )
    assert variants(mailchimp_reader, woo_store.store_id, "303")["303"]["inventory_quantity"] == 0  # out of stock
    assert variants(mailchimp_reader, woo_store.store_id, "304")["304"]["visibility"] == "hidden"

    sticker, _ = next(pair for pair in woocommerce_catalog() if pair[0]["id"] == 302)
    woocommerce.put_product({**sticker, "status": "trash"})
    second = sync(runner, woo_store.store_id)

    assert (second["removed"], second["unchanged"], second["created"] + second["updated"]) == (1, 3, 0)
    assert variants(mailchimp_reader, woo_store.store_id, "302")["302"]["inventory_quantity"] == 0


# ---- BigCommerce ------------------------------------------------------------------------------------------


@pytest.fixture
def bigcommerce() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(f"cat{uuid.uuid4().hex[:8]}", "bc-catalog-token") as emulator:
        put_catalog(emulator, bigcommerce_catalog())
        yield emulator


@pytest.fixture
def bc_store(runner: LocalRunner, bigcommerce: BigCommerceEmulator) -> RegisteredStore:
    return register_store(
        "bigcommerce",
        identity=bigcommerce.store_hash,
        currency_code="EUR",
        platform_api_url=bigcommerce.base_url,
        platform_api_credentials={"access_token": "bc-catalog-token"},
    )


def test_bigcommerce_catalog_with_variants_images_untracked_stock_and_a_deleted_product(
    runner: LocalRunner,
    bc_store: RegisteredStore,
    bigcommerce: BigCommerceEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    bigcommerce.set_faults(rate_429=0.3, reset_ms=20, seed=4)  # the first two reads are throttled
    first = sync(runner, bc_store.store_id)
    bigcommerce.set_faults()

    assert (first["status"], first["created"], first["failed"]) == ("done", 4, 0)
    assert any(r["status"] == 429 for r in bigcommerce.requests), "429s were answered and waited out"
    tote = mailchimp_reader.resource(f"/ecommerce/stores/{bc_store.store_id}/products/111")
    assert tote["url"] == f"https://store-{bc_store.identity}.mybigcommerce.com/canvas-tote/"
    assert tote["image_url"].endswith("/tote-zoom.jpg")
    natural, black = sorted(tote["variants"], key=lambda v: v["id"])
    assert (natural["title"], natural["inventory_quantity"], natural["price"]) == ("Natural", 6, 30.0)
    assert natural["image_url"].endswith("/tote-zoom.jpg") and black["image_url"].endswith("/tote-black.jpg")
    voucher = variants(mailchimp_reader, bc_store.store_id, "112")["1121"]
    assert voucher["inventory_quantity"] == UNTRACKED_STOCK_QUANTITY and not voucher.get("image_url")
    assert variants(mailchimp_reader, bc_store.store_id, "113")["1131"]["inventory_quantity"] == 9
    assert variants(mailchimp_reader, bc_store.store_id, "114")["1141"]["visibility"] == "hidden"

    delete_product(bigcommerce, 113)
    second = sync(runner, bc_store.store_id)

    assert (second["removed"], second["unchanged"]) == (1, 3)
    mug = variants(mailchimp_reader, bc_store.store_id, "113")["1131"]
    assert (mug["inventory_quantity"], mug["visibility"]) == (0, "hidden")


# ---- the removal rule, on every platform -----------------------------------------------------------------


@dataclass
class Catalog:
    """One platform's store: its registration, a product of its catalog, and how to delete that product."""

    store: RegisteredStore
    listed_product: str
    delete: Callable[[], None]


@pytest.fixture(params=["shopify", "woocommerce", "bigcommerce"])
def catalog(request: pytest.FixtureRequest, runner: LocalRunner) -> Iterator[Catalog]:
    platform = request.param
    if platform == "shopify":
        with ShopifyEmulator(f"shop-{uuid.uuid4().hex[:8]}.myshopify.com", "shpat_rule") as shopify:
            for product in shopify_catalog():
                shopify.put_product(product)
            store = register_store(
                "shopify",
                identity=shopify.shop_domain,
                platform_api_url=shopify.base_url,
                platform_api_credentials={"access_token": "shpat_rule"},
            )
            yield Catalog(store, "1003", lambda: shopify.delete_product(1003))
    elif platform == "woocommerce":
        with WooCommerceEmulator("ck_rule", "cs_rule") as woo:
            for product, product_variations in woocommerce_catalog():
                woo.put_product(product, variations=product_variations)
            store = register_store(
                "woocommerce",
                identity=f"https://shop-{uuid.uuid4().hex[:8]}.example.com",
                platform_api_url=woo.base_url,
                platform_api_credentials={"consumer_key": "ck_rule", "consumer_secret": "cs_rule"},
            )
            yield Catalog(store, "303", lambda: woo.delete_product(303))
    else:
        with BigCommerceEmulator(f"rule{uuid.uuid4().hex[:8]}", "bc-rule-token") as bc:
            put_catalog(bc, bigcommerce_catalog())
            store = register_store(
                "bigcommerce",
                identity=bc.store_hash,
                currency_code="EUR",
                platform_api_url=bc.base_url,
                platform_api_credentials={"access_token": "bc-rule-token"},
            )
            yield Catalog(store, "113", lambda: delete_product(bc, 113))


def put_in_mailchimp(mailchimp: MailchimpEmulator, store_id: str, product: dict[str, Any]) -> None:
    """A product Mailchimp holds that no catalog run wrote: an order line's, another tool's, an old one."""
    answer = requests.put(
        f"{mailchimp.base_url}/ecommerce/stores/{store_id}/products/{product['id']}",
        json=product,
        auth=("test", API_KEY),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text


def retired(reader: MailchimpReader, store_id: str, product_id: str) -> bool:
    """Still in Mailchimp (orders name it), every variant hidden at inventory 0 (never recommended)."""
    held = reader.resource(f"/ecommerce/stores/{store_id}/products/{product_id}")
    assert held is not None, f"product {product_id} must stay in Mailchimp"
    return {(v["inventory_quantity"], v["visibility"]) for v in held["variants"]} == {(0, "hidden")}


def test_every_platform_retires_what_its_catalog_no_longer_lists(
    runner: LocalRunner, catalog: Catalog, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store_id = catalog.store.store_id
    # Sold before the store was connected and deleted since: an order line made it; the catalog never had it.
    put_in_mailchimp(
        mailchimp,
        store_id,
        {
            "id": "8801",
            "title": "Discontinued Mug",
            "variants": [
                {"id": "88011", "title": "Blue", "inventory_quantity": 5, "visibility": "visible"},
                {"id": "88012", "title": "Red", "inventory_quantity": 2},
            ],
        },
    )
    # A custom line item's product (no catalog product at all): the platform is not even asked about it.
    put_in_mailchimp(
        mailchimp,
        store_id,
        {"id": "custom-77", "title": "Gift wrap", "variants": [{"id": "custom-77", "title": "Gift wrap"}]},
    )

    first = sync(runner, store_id)

    assert (first["status"], first["created"], first["removed"], first["failed"]) == ("done", 4, 2, 0)
    assert retired(mailchimp_reader, store_id, "8801") and retired(mailchimp_reader, store_id, "custom-77")
    assert not retired(mailchimp_reader, store_id, catalog.listed_product)

    catalog.delete()
    second = sync(runner, store_id)

    assert (second["removed"], second["unchanged"], second["created"] + second["updated"]) == (1, 3, 0)
    assert retired(mailchimp_reader, store_id, catalog.listed_product)
    path = f"/3.0/ecommerce/stores/{store_id}/products/8801"
    writes = [r for r in mailchimp.requests if r["method"] == "PUT" and r["path"] == path]
    assert len(writes) == 2, "the seeding and one retirement: a retired product is left alone afterwards"
    assert sync(runner, store_id)["removed"] == 0


# ---- real-time events -------------------------------------------------------------------------------------


def publish(runner: LocalRunner, event: dict[str, Any]) -> None:
    answer = runner.client("events").put_events(
        Entries=[
            {
                "EventBusName": runner.environment()["EVENT_BUS_NAME"],
                "Source": "commerce-sync.erp",
                "DetailType": event["type"],
                "Detail": json.dumps(event),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0


def product_event(store_id: str, version: str, price: str, event_type: str = "product.updated") -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "erp-1",
        "title": "Fountain Pen",
        "url": "https://erp.example.com/p/erp-1",
        "image_url": "https://erp.example.com/img/pen.jpg",
        "variants": [{"id": "erp-1-blue", "title": "Blue", "price": price, "inventory_quantity": 4}],
    }
    if event_type == "product.deleted":
        data = {"id": "erp-1"}
    return {
        "schema_version": "1",
        "event_id": f"erp:product:{uuid.uuid4().hex}",
        "type": event_type,
        "store_id": store_id,
        "platform": "erp",
        "occurred_at": "2025-03-14T13:18:02Z",
        "entity_id": "erp-1",
        "entity_version": version,
        "data": data,
    }


def test_product_events_update_mailchimp_within_seconds_and_stale_ones_are_skipped(
    runner: LocalRunner, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store = register_store("canonical", currency_code="EUR")
    path = f"/ecommerce/stores/{store.store_id}/products/erp-1"

    started = time.monotonic()
    publish(runner, product_event(store.store_id, "2025-03-14T13:18:02.000000Z", "12.00"))
    runner.wait_until_idle()
    assert time.monotonic() - started < 10
    assert mailchimp_reader.resource(path)["variants"][0]["price"] == 12.0

    # An older version arriving late, then the same content again: neither writes.
    writes_before = [r for r in mailchimp.requests if r["path"] == "/3.0" + path and r["method"] == "PUT"]
    publish(runner, product_event(store.store_id, "2025-03-14T10:00:00.000000Z", "9.00"))
    publish(runner, product_event(store.store_id, "2025-03-14T13:18:02.000000Z", "12.00"))
    runner.wait_until_idle()
    writes_after = [r for r in mailchimp.requests if r["path"] == "/3.0" + path and r["method"] == "PUT"]
    assert len(writes_after) == len(writes_before)
    assert mailchimp_reader.resource(path)["variants"][0]["price"] == 12.0

    publish(runner, product_event(store.store_id, "2025-03-15T08:00:00.000000Z", "", "product.deleted"))
    runner.wait_until_idle()
    (pen,) = mailchimp_reader.resource(path)["variants"]
    assert (pen["inventory_quantity"], pen["visibility"]) == (0, "hidden")
