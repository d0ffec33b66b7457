"""The catalog sync end to end through the product_sync function as Lambda runs it (runner.invoke), against
a Shopify emulator serving a fixture catalog, moto server for the sync state and the Mailchimp emulator.

The Shopify catalog (emulators/shopify/fixtures.py) has variants with images, a product without images,
untracked stock, oversold stock and a draft; WooCommerce and BigCommerce catalogs are in
test_product_sync_platforms.py.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.sync_lock import SyncLock
from commerce_sync.catalog.state import LOCK, CatalogState, partition
from commerce_sync.platforms.products import UNTRACKED_STOCK_QUANTITY

from emulators.mailchimp import MailchimpEmulator
from emulators.mailchimp.batch_faults import expire_batch_downloads, fail_batch_operations
from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from local_runner.runner import LocalRunner
from tests.harness import API_KEY, MailchimpReader, RegisteredStore, register_store

TOKEN = "shpat_integration"
FUNCTION = "ProductSyncFunction"


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"shop-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        for product in sample_catalog():
            emulator.put_product(product)
        yield emulator


@pytest.fixture
def store(runner: LocalRunner, shopify: ShopifyEmulator) -> RegisteredStore:
    return register_store(
        "shopify",
        identity=shopify.shop_domain,
        platform_api_url=shopify.base_url,
        platform_api_credentials={"access_token": TOKEN},
    )


@pytest.fixture
def state(runner: LocalRunner) -> CatalogState:
    import boto3

    return CatalogState(Settings.from_environment().sync_state_table, boto3.resource("dynamodb"))


def sync(runner: LocalRunner, store_id: str) -> dict[str, Any]:
    return runner.invoke(FUNCTION, {"action": "catalog_sync", "store_id": store_id})


def product_writes(mailchimp: MailchimpEmulator, store_id: str) -> list[tuple[str, str]]:
    """Every product write Mailchimp ran for the store, direct or inside a batch: (product id, source)."""
    prefix = f"/3.0/ecommerce/stores/{store_id}/products/"
    return [
        (request["path"].removeprefix(prefix), request["source"])
        for request in mailchimp.requests
        if request["method"] in ("PUT", "POST", "PATCH", "DELETE") and request["path"].startswith(prefix)
    ]


def product(reader: MailchimpReader, store_id: str, product_id: str) -> dict[str, Any]:
    found = reader.resource(f"/ecommerce/stores/{store_id}/products/{product_id}")
    assert found is not None, product_id
    return found


def variants(found: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variant["id"]: variant for variant in found["variants"]}


def test_first_run_creates_every_product_as_mapped(
    runner: LocalRunner, store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    result = sync(runner, store.store_id)

    assert result["status"] == "done"
    assert (result["seen"], result["created"], result["unchanged"], result["failed"]) == (4, 4, 0, 0)
    assert sorted(pid for pid, _ in product_writes(mailchimp, store.store_id)) == ["1001", "1002", "1003", "1004"]
    socks = product(mailchimp_reader, store.store_id, "1001")
    assert socks["url"] == f"https://{store.identity}/products/trail-running-socks"
    assert socks["image_url"].endswith("/socks.jpg")
    assert {v["id"]: (v["inventory_quantity"], v["image_url"].rsplit("/", 1)[1]) for v in socks["variants"]} == {
        "10011": (7, "socks.jpg"),
        "10012": (0, "socks-l.jpg"),
    }
    gift = product(mailchimp_reader, store.store_id, "1002")
    (card,) = gift["variants"]
    # No image anywhere, and stock Shopify does not track: recommendable, with the documented quantity.
    assert not gift.get("image_url") and not card.get("image_url")
    assert card["inventory_quantity"] == UNTRACKED_STOCK_QUANTITY and card["title"] == "Gift Card"
    beanie = variants(product(mailchimp_reader, store.store_id, "1003"))
    assert beanie["10031"]["inventory_quantity"] == 0  # oversold to -2
    assert beanie["10032"]["backorders"] == "yes"
    assert beanie["10031"]["image_url"] == "https://cdn.shopify.com/beanie.jpg"  # scheme-relative made absolute
    draft = variants(product(mailchimp_reader, store.store_id, "1004"))
    assert (draft["10041"]["visibility"], draft["10041"]["inventory_quantity"]) == ("hidden", 0)


def test_a_second_run_without_changes_makes_no_mailchimp_write(
    runner: LocalRunner, store: RegisteredStore, mailchimp: MailchimpEmulator
) -> None:
    sync(runner, store.store_id)
    before = len(product_writes(mailchimp, store.store_id))

    result = sync(runner, store.store_id)

    assert (result["status"], result["seen"], result["unchanged"]) == ("done", 4, 4)
    assert result["created"] + result["updated"] + result["removed"] == 0
    assert len(product_writes(mailchimp, store.store_id)) == before
    # The one request reads Mailchimp's product ids, for products no record names (docs/product-sync.md).
    assert result["mailchimp_requests"] == 1


def test_a_platform_change_the_mapping_ignores_records_the_new_fingerprint_and_writes_nothing(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    state: CatalogState,
) -> None:
    sync(runner, store.store_id)
    before = len(product_writes(mailchimp, store.store_id))
    first = state.product(store.store_id, "1003")
    assert first is not None and first.source  # the fingerprint of the Shopify product it was written from
    beanie = next(p for p in sample_catalog() if p["id"] == 1003)
    beanie["tags"] = "winter, wool"  # Shopify data the Mailchimp body does not carry
    shopify.put_product(beanie)

    result = sync(runner, store.store_id)

    assert (result["seen"], result["unchanged"], result["updated"]) == (4, 4, 0)
    assert len(product_writes(mailchimp, store.store_id)) == before
    second = state.product(store.store_id, "1003")
    assert second is not None and second.hash == first.hash and second.version == first.version
    assert second.source and second.source != first.source
    # The other products kept theirs, and the next run finds every product unchanged by its fingerprint alone.
    assert sync(runner, store.store_id)["unchanged"] == 4
    assert len(product_writes(mailchimp, store.store_id)) == before


def test_a_changed_price_updates_exactly_that_product(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    sync(runner, store.store_id)
    before = len(product_writes(mailchimp, store.store_id))
    beanie = next(p for p in sample_catalog() if p["id"] == 1003)
    beanie["variants"][1]["price"] = "19.00"
    beanie["updated_at"] = "2025-03-02T10:00:00-05:00"
    shopify.put_product(beanie)

    result = sync(runner, store.store_id)

    assert (result["updated"], result["unchanged"]) == (1, 3)
    assert product_writes(mailchimp, store.store_id)[before:] == [("1003", "http")]
    assert variants(product(mailchimp_reader, store.store_id, "1003"))["10032"]["price"] == 19.0


def test_a_product_gone_from_the_catalog_is_hidden_not_deleted_and_orders_still_work(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    sync(runner, store.store_id)
    socks = next(p for p in sample_catalog() if p["id"] == 1001)
    socks["variants"] = socks["variants"][:1]  # the L variant is removed too
    socks["updated_at"] = "2025-03-02T10:00:00-05:00"
    shopify.put_product(socks)
    shopify.delete_product(1003)

    result = sync(runner, store.store_id)

    assert (result["removed"], result["updated"]) == (1, 1)
    gone = product(mailchimp_reader, store.store_id, "1003")
    assert {(v["inventory_quantity"], v["visibility"]) for v in gone["variants"]} == {(0, "hidden")}
    assert variants(product(mailchimp_reader, store.store_id, "1001"))["10012"]["visibility"] == "hidden"
    order = {
        "id": f"order-{uuid.uuid4().hex[:8]}",
        "customer": {"id": "c1", "email_address": "buyer@example.com", "opt_in_status": False},
        "currency_code": "USD",
        "order_total": 24.5,
        "lines": [{"id": "l1", "product_id": "1003", "product_variant_id": "10031", "quantity": 1, "price": 24.5}],
    }
    import requests

    answer = requests.post(
        f"{mailchimp_reader._base_url}/ecommerce/stores/{store.store_id}/orders",
        json=order,
        auth=("test", "0123456789abcdef0123456789abcdef-us6"),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    # A third run leaves the retired product alone.
    assert sync(runner, store.store_id)["removed"] == 0


def test_large_change_sets_go_through_batches_and_failed_operations_are_retried(
    runner: LocalRunner,
    store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CATALOG_DIRECT_MAX", "1")
    monkeypatch.setenv("CATALOG_POLL_INITIAL_SECONDS", "0.05")
    fault = fail_batch_operations(mailchimp, lambda op: "/products/1002" in op["path"], status=500)
    expired = expire_batch_downloads(mailchimp, count=1)
    try:
        result = sync(runner, store.store_id)
    finally:
        fault.remove()
        expired.remove()

    assert result["status"] == "done" and result["batches"] == 1
    assert (result["created"], result["retried"], result["failed"]) == (4, 1, 0)
    assert expired.failed, "the first download met an expired URL and a fresh one was asked for"
    writes = product_writes(mailchimp, store.store_id)
    # The failed operation was answered 500 without being applied (so it is not in the emulator's log).
    assert [op_id.split(":")[1] for op_id in fault.failed if f":{store.store_id}" not in op_id] == ["1002"]
    assert sorted(pid for pid, source in writes if source == "batch") == ["1001", "1003", "1004"]
    assert [pid for pid, source in writes if source == "http"] == ["1002"]  # the retry, as a direct write
    assert product(mailchimp_reader, store.store_id, "1002")["title"] == "Gift Card"
    batch_posts = [r for r in mailchimp.requests if r["method"] == "POST" and r["path"] == "/3.0/batches"]
    operations = [op for r in batch_posts for op in r["body"]["operations"]]
    ours = [op for op in operations if f"/stores/{store.store_id}/" in op["path"]]
    assert all(isinstance(op["body"], str) for op in ours), "batch bodies are JSON strings"
    assert {op["operation_id"].split(":")[:2][1] for op in ours} == {"1001", "1002", "1003", "1004"}
    assert all(op["operation_id"].startswith("product:") for op in ours)


def test_platform_429s_are_waited_out(
    runner: LocalRunner, store: RegisteredStore, shopify: ShopifyEmulator, mailchimp: MailchimpEmulator
) -> None:
    shopify.set_faults(rate_429=0.5, retry_after=0.05, seed=3)

    result = sync(runner, store.store_id)

    throttled = [r for r in shopify.requests if r["status"] == 429]
    assert throttled, "the emulator throttled some reads"
    assert (result["status"], result["created"]) == ("done", 4)


def test_an_interrupted_run_resumes_where_it_stopped_without_duplicate_writes(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    state: CatalogState,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Two products a page, and every change flushed at once: the first page is committed before the
    # platform starts failing on the second.
    shopify.page_size_cap = 2
    monkeypatch.setenv("CATALOG_FLUSH_INTERVAL_SECONDS", "0")
    # The store's token is refused from the second page on (401 is final: no retries to wait through).
    shopify.fail_when(lambda path, query: 401 if "page_info" in query else None)

    with pytest.raises(Exception, match="401"):
        sync(runner, store.store_id)
    interrupted = state.load_run(store.store_id)
    assert interrupted is not None and interrupted.status == "running" and interrupted.cursor
    assert sorted(pid for pid, _ in product_writes(mailchimp, store.store_id)) == ["1001", "1002"]

    shopify.fail_when(None)
    shopify.clear_requests()
    result = sync(runner, store.store_id)

    assert result["status"] == "done" and result["run_id"] == interrupted.run_id
    assert (result["seen"], result["created"]) == (4, 4)
    assert all("page_info" in r["query"] for r in shopify.requests if r["path"].endswith("products.json")), (
        "the resumed run starts at the checkpointed page, not the first"
    )
    writes = sorted(pid for pid, _ in product_writes(mailchimp, store.store_id))
    assert writes == ["1001", "1002", "1003", "1004"], "each product written once"


def test_a_run_near_the_time_limit_continues_through_the_queue(
    runner: LocalRunner,
    store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    shopify: ShopifyEmulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shopify.page_size_cap = 1
    monkeypatch.setenv("CATALOG_QUEUE_SLICE_SECONDS", "0")
    sqs = runner.client("sqs")
    sqs.send_message(
        QueueUrl=runner.queue_url("ProductSyncQueue"),
        MessageBody=json.dumps({"action": "catalog_sync", "store_id": store.store_id}),
    )
    runner.wait_until_idle(timeout=30)

    summary = _last_summary(store.store_id)
    assert summary["slices"] >= 4 and summary["created"] == 4 and summary["seen"] == 4
    assert sorted(pid for pid, _ in product_writes(mailchimp, store.store_id)) == ["1001", "1002", "1003", "1004"]


def test_the_walk_through_mailchimps_products_continues_through_the_queue_page_by_page(
    runner: LocalRunner,
    store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import requests

    # Products an order line made before the store was connected, long gone from Shopify.
    for product_id in ("9001", "9002", "9003"):
        answer = requests.put(
            f"{mailchimp.base_url}/ecommerce/stores/{store.store_id}/products/{product_id}",
            json={"id": product_id, "title": f"Old {product_id}", "variants": [{"id": product_id, "title": "Old"}]},
            auth=("test", API_KEY),
            timeout=10,
        )
        assert answer.status_code == 200, answer.text
    # One Mailchimp product id a page, and a slice that stops after each: the offset is checkpointed.
    monkeypatch.setenv("CATALOG_LISTING_PAGE", "1")
    monkeypatch.setenv("CATALOG_QUEUE_SLICE_SECONDS", "0")
    runner.client("sqs").send_message(
        QueueUrl=runner.queue_url("ProductSyncQueue"),
        MessageBody=json.dumps({"action": "catalog_sync", "store_id": store.store_id}),
    )
    runner.wait_until_idle(timeout=30)

    summary = _last_summary(store.store_id)
    assert (summary["created"], summary["removed"]) == (4, 3)
    assert summary["slices"] >= 7, "one slice a Mailchimp page (4 catalog products, 3 old ones)"
    for product_id in ("9001", "9002", "9003"):
        held = variants(product(mailchimp_reader, store.store_id, product_id))[product_id]
        assert (held["inventory_quantity"], held["visibility"]) == (0, "hidden")
    writes = sorted(pid for pid, _ in product_writes(mailchimp, store.store_id))
    assert writes == ["1001", "1002", "1003", "1004", "9001", "9001", "9002", "9002", "9003", "9003"], (
        "each old product seeded once and retired once"
    )


def test_two_runs_for_one_store_never_overlap(runner: LocalRunner, store: RegisteredStore, state: CatalogState) -> None:
    other = SyncLock(state.table, partition(store.store_id), LOCK)
    assert other.acquire("another-invocation", lease_seconds=60)

    assert sync(runner, store.store_id)["status"] == "already_running"

    other.release("another-invocation")
    assert sync(runner, store.store_id)["status"] == "done"


def test_a_crashed_holders_lock_expires_and_the_next_run_takes_over(
    runner: LocalRunner, store: RegisteredStore, state: CatalogState
) -> None:
    crashed = SyncLock(state.table, partition(store.store_id), LOCK, clock=lambda: time.time() - 3600)
    assert crashed.acquire("crashed-invocation", lease_seconds=300)

    assert sync(runner, store.store_id)["status"] == "done"


def test_the_sync_never_sets_is_syncing(
    runner: LocalRunner, store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    sync(runner, store.store_id)

    store_path = f"/3.0/ecommerce/stores/{store.store_id}"
    assert not [r for r in mailchimp.requests if r["path"] == store_path and r["method"] != "GET"]
    assert not mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}").get("is_syncing")


def _last_summary(store_id: str) -> dict[str, Any]:
    import boto3

    found = CatalogState(Settings.from_environment().sync_state_table, boto3.resource("dynamodb")).last_summary(
        store_id
    )
    assert found is not None
    return found
