"""The nightly reconciliation end to end through the product_sync function as Lambda runs it (runner.invoke): a
Shopify stand-in whose orders and customers change without a webhook, moto via the local runner (the bus, the
queues, the consumers), the Mailchimp emulator."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from commerce_sync.aws.settings import Settings
from commerce_sync.history.state import HistoryState

from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from emulators.shopify.history import generate_history, history_order, stamp
from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore, register_store

TOKEN = "shpat_reconcile"
FUNCTION = "ProductSyncFunction"
CUSTOMERS, ORDERS = 4, 8


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"rc-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        for product in sample_catalog():
            emulator.put_product(product)
        now = datetime.now(UTC)
        # Changed within the last day: what the first run (no watermark yet) reads.
        customers, orders = generate_history(
            CUSTOMERS, ORDERS, now - timedelta(hours=20), now - timedelta(hours=2), [(1001, 10011)]
        )
        emulator.history["customers"].put_many(customers)
        emulator.history["orders"].put_many(orders)
        emulator.page_size_cap = 3
        yield emulator


@pytest.fixture
def store(runner: LocalRunner, shopify: ShopifyEmulator, monkeypatch: pytest.MonkeyPatch) -> RegisteredStore:
    monkeypatch.setenv("BACKFILL_POLL_INITIAL_SECONDS", "0.05")
    registered = register_store(
        "shopify",
        identity=shopify.shop_domain,
        platform_api_url=shopify.base_url,
        platform_api_credentials={"access_token": TOKEN},
    )
    # Everything the platform holds is in Mailchimp, as the live webhooks (here: a backfill) left it.
    assert runner.invoke(FUNCTION, {"action": "backfill", "store_id": registered.store_id})["status"] == "done"
    return registered


def reconcile(runner: LocalRunner, store_id: str) -> dict[str, Any]:
    result: dict[str, Any] = runner.invoke(FUNCTION, {"action": "reconcile", "store_id": store_id})
    runner.wait_until_idle(timeout=60)
    return result


def writes(mailchimp: MailchimpEmulator, store_id: str) -> list[tuple[str, str]]:
    prefix = f"/3.0/ecommerce/stores/{store_id}"
    return [
        (r["method"], r["path"])
        for r in mailchimp.requests
        if r["method"] != "GET" and (r["path"] == prefix or r["path"].startswith(prefix + "/"))
    ]


def test_changes_without_a_webhook_are_repaired_and_a_second_run_writes_nothing(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    store_id = store.store_id
    before = len(writes(mailchimp, store_id))
    first = reconcile(runner, store_id)
    assert first["status"] == "done", first
    assert first["checked"] == {"customers": CUSTOMERS, "orders": ORDERS}
    assert first["repairs"] == 0 and first["repaired"] == {}
    # Shopify's webhooks are not checked (docs/history.md, "Webhook health"): said, never a failure.
    assert first["webhooks"]["checked"] is False and "does not check its webhooks" in first["webhooks"]["reason"]
    assert len(writes(mailchimp, store_id)) == before, "nothing missed: no Mailchimp write"

    # On the platform, with no webhook: an order is cancelled, a customer renamed, a new order placed.
    now = datetime.now(UTC)
    orders = shopify.history["orders"]
    customers = shopify.history["customers"]
    cancelled = orders.get(900_002)
    assert cancelled is not None
    cancelled |= {"cancelled_at": stamp(now - timedelta(minutes=9)), "updated_at": stamp(now - timedelta(minutes=9))}
    orders.put(cancelled)
    renamed = customers.get(500_001)
    assert renamed is not None
    renamed |= {"first_name": "Renamed", "updated_at": stamp(now - timedelta(minutes=8))}
    customers.put(renamed)
    orders.put(history_order(900_100, customers.get(500_003) or {}, stamp(now - timedelta(minutes=7))))

    second = reconcile(runner, store_id)

    assert second["status"] == "done", second
    assert second["repaired"] == {"customers_outdated": 1, "orders_outdated": 1, "orders_missing": 1}
    assert second["repairs"] == 3 and second["failed"] == 0
    order = mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/orders/900002")
    assert order is not None and order["financial_status"] == "cancelled"
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/orders/900100") is not None
    customer = next(
        c
        for c in mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/customers?count=100")["customers"]  # type: ignore[index]
        if c["email_address"] == renamed["email"]
    )
    assert customer["first_name"] == "Renamed"
    # The watermark moved to the newest change read (the new order), less the overlap for the next window.
    assert second["watermarks"]["orders"] == stamp(now - timedelta(minutes=7))

    settled = len(writes(mailchimp, store_id))
    third = reconcile(runner, store_id)
    assert third["repairs"] == 0 and third["checked"]["orders"] >= 2
    assert len(writes(mailchimp, store_id)) == settled, "a second run publishes nothing and writes nothing"


def test_a_store_without_a_history_reader_or_credentials_is_skipped_with_the_reason(runner: LocalRunner) -> None:
    canonical = register_store("canonical")
    result = runner.invoke(FUNCTION, {"action": "reconcile", "store_id": canonical.store_id})
    assert result["status"] == "skipped" and "cannot read its order and customer history" in result["reason"]

    no_token = register_store("shopify")
    result = runner.invoke(FUNCTION, {"action": "reconcile", "store_id": no_token.store_id})
    assert result["status"] == "skipped" and "no Shopify access token" in result["reason"]


def test_the_schedule_fans_out_one_reconciliation_per_store(
    runner: LocalRunner, store: RegisteredStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only this test's store (the registry is shared by the session's tests); the patch reaches the handler
    # in this process only, so the scheduled invocation runs here and the per-store runs in the runner.
    monkeypatch.setattr("commerce_sync.aws.store_registry.StoreRegistry.list", lambda self: [self.get(store.store_id)])
    answer = runner.in_process(FUNCTION).invoke({"action": "reconcile", "scope": "all_stores"})
    runner.wait_until_idle(timeout=60)

    # The store has segments off: no segment pass is queued for it.
    assert answer == {
        "status": "queued",
        "stores": [store.store_id],
        "segment_passes": {"status": "queued", "stores": []},
    }
    table = boto3.resource("dynamodb").Table(Settings.from_environment().sync_state_table)
    last = HistoryState(table).reconcile_state(store.store_id)["last"]
    assert last["trigger"] == "schedule" and last["status"] == "done" and last["repairs"] == 0
