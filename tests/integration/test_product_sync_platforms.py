"""The catalog sync over WooCommerce and BigCommerce catalogs (emulators on 127.0.0.1), and real-time
product events through the bus and the product queue, as the runner runs them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from commerce_sync.platforms.products import UNTRACKED_STOCK_QUANTITY

from emulators.bigcommerce import BigCommerceEmulator
from emulators.bigcommerce.catalog_fixtures import delete_product, put_catalog
from emulators.bigcommerce.catalog_fixtures import sample_catalog as bigcommerce_catalog
from emulators.mailchimp import MailchimpEmulator
from emulators.woocommerce import WooCommerceEmulator
from emulators.woocommerce.fixtures import sample_catalog as woocommerce_catalog
from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore, register_store

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
