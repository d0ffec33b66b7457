"""A backfilled history feeds the segment aggregates: a Shopify stand-in whose history holds a VIP, a one-time buyer
and a customer at risk, backfilled through the product_sync function (runner.invoke), ends with those tags on
their members in the Mailchimp emulator — written once each, by the segment pass the backfill's end queues, as
history (`is_syncing`), none per order — and a second backfill moves nothing. moto server, the emulator over
HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import SegmentRules, StoreRegistry
from commerce_sync.aws.sync_state import SyncState
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.segments.nightly import PassRecords

from emulators.mailchimp import MailchimpEmulator
from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from emulators.shopify.history import history_customer, history_order, stamp
from local_runner.runner import LocalRunner
from tests.harness import RegisteredStore, register_store

TOKEN = "shpat_backfill_segments"
FUNCTION = "ProductSyncFunction"
NOW = datetime.now(UTC)
# Each shopper's orders: (days ago, total).
HISTORY = {
    "vip": [(10, "600.00")],
    "once": [(50, "20.00")],
    "lapsed": [(150, "20.00"), (120, "20.00")],
    "new": [(3, "20.00")],
}


def email_of(name: str, domain: str) -> str:
    return f"{name}@{domain}"


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"seg-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        for product in sample_catalog():
            emulator.put_product(product)
        order_id = 700_000
        for number, (name, orders) in enumerate(HISTORY.items(), start=1):
            first = NOW - timedelta(days=orders[0][0])
            customer = history_customer(number, email_of(name, emulator.shop_domain), stamp(first))
            emulator.history["customers"].put(customer)
            for days_ago, total in orders:
                order_id += 1
                placed = stamp(NOW - timedelta(days=days_ago))
                emulator.history["orders"].put(history_order(order_id, customer, placed, price=total))
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
    store = registered.store.model_copy(update={"segments": SegmentRules()})
    StoreRegistry(Settings.from_environment().stores_table).update(store, ["segments"])
    return registered


def tag_requests(mailchimp: MailchimpEmulator, email: str) -> list[dict[str, Any]]:
    path = f"/members/{subscriber_hash(email)}/tags"
    return [r for r in mailchimp.requests if r["method"] == "POST" and r["path"].endswith(path)]


def test_a_backfilled_history_gives_its_vip_one_time_buyer_and_customer_at_risk_their_tags(
    runner: LocalRunner, store: RegisteredStore, shopify: ShopifyEmulator, mailchimp: MailchimpEmulator
) -> None:
    since = (NOW - timedelta(days=200)).date().isoformat()
    result = runner.invoke(FUNCTION, {"action": "backfill", "store_id": store.store_id, "since": since})
    assert result["status"] == "done", result
    assert result["progress"]["orders"]["written"] == 5
    assert result["segment_pass"] == "queued"
    runner.wait_until_idle(timeout=60)

    expected = {"vip": {"VIP"}, "once": {"One-time buyer"}, "lapsed": {"At risk"}, "new": set()}
    for name, tags in expected.items():
        email = email_of(name, shopify.shop_domain)
        member = mailchimp.member(store.store.list_id, email)
        assert member is not None, name
        assert {tag["name"] for tag in member["tags"]} == tags, name
        requests = tag_requests(mailchimp, email)
        # One request each, by the pass, as history: a tag for the past starts no automation.
        assert [r["body"].get("is_syncing") for r in requests] == ([True] if tags else []), name

    table = SyncState(Settings.from_environment().sync_state_table).table
    last = PassRecords(table).last_summary(store.store_id)
    assert last is not None and last["trigger"] == "backfill" and last["history"] is True
    assert (last["examined"], last["changed"], last["tags_added"]) == (4, 3, 3)

    again = runner.invoke(FUNCTION, {"action": "backfill", "store_id": store.store_id, "since": since})
    assert again["status"] == "done" and again["progress"]["orders"]["written"] == 0
    assert "segment_pass" not in again
    runner.wait_until_idle(timeout=60)
    assert sum(len(tag_requests(mailchimp, email_of(name, shopify.shop_domain))) for name in HISTORY) == 3
