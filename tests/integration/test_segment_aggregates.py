"""The segment aggregate in DynamoDB (moto server) under concurrency, and the client's tag call against the
emulator: two containers applying orders of one customer at once lose none; a tag record made for a superseded
aggregate is refused; a tag write for an unknown member answers False."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from commerce_sync.aws.store_registry import SegmentRules, Store
from commerce_sync.aws.sync_state import SyncState
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.canonical.model import Order
from commerce_sync.mailchimp.client import MailchimpClient, RetryPolicy
from commerce_sync.segments.aggregate import Aggregates, OrderEntry
from commerce_sync.segments.tags import SegmentTagger

from emulators.mailchimp import MailchimpEmulator
from tests.harness import API_KEY, new_sync_state_table

T0 = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.fixture
def aggregates(moto_endpoint: str) -> Aggregates:
    dynamodb, table = new_sync_state_table(moto_endpoint)
    return Aggregates(SyncState(table, dynamodb))


def entry(day: int, net: str = "10") -> OrderEntry:
    return OrderEntry(net=Decimal(net), placed_at=T0 + timedelta(days=day), counted=True, version="v1")


def test_two_containers_applying_orders_of_one_customer_lose_none(aggregates: Aggregates) -> None:
    def apply(order: int) -> None:
        aggregates.apply("s1", "cust", f"o{order}", entry(order))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(apply, range(24)))

    stored = aggregates.read("s1", "cust")
    assert stored.aggregate.standing().orders == 24
    assert stored.aggregate.standing().lifetime_value == 240
    assert stored.revision == 24, "one revision per order applied"


def test_a_duplicate_changes_nothing_and_a_superseded_tag_record_is_refused(aggregates: Aggregates) -> None:
    first, changed = aggregates.apply("s1", "cust", "o1", entry(1))
    assert changed and first.revision == 1
    again, changed = aggregates.apply("s1", "cust", "o1", entry(1))
    assert not changed and again.revision == 1

    aggregates.apply("s1", "cust", "o2", entry(2))
    assert not aggregates.record_written("s1", "cust", first.revision, frozenset({"VIP"}))
    assert aggregates.read("s1", "cust").written == frozenset()
    assert aggregates.record_written("s1", "cust", 2, frozenset({"VIP"}))
    assert aggregates.read("s1", "cust").written == frozenset({"VIP"})


def test_update_member_tags_is_false_for_an_unknown_member(mailchimp: MailchimpEmulator) -> None:
    client = MailchimpClient(api_key=API_KEY, base_url=mailchimp.base_url, retry=RetryPolicy(total=0), read_timeout=2.0)
    email = f"tags-{uuid.uuid4().hex[:8]}@example.com"
    assert client.update_member_tags("list-tags", subscriber_hash(email), {"VIP": True}) is False
    client.put_member("list-tags", subscriber_hash(email), {"email_address": email, "status_if_new": "transactional"})
    before = len(mailchimp.requests)
    assert client.update_member_tags("list-tags", subscriber_hash(email), {}) is True
    assert len(mailchimp.requests) == before, "nothing to change sends nothing"
    assert client.update_member_tags("list-tags", subscriber_hash(email), {"VIP": True, "Old": False}, is_syncing=True)
    member = mailchimp.member("list-tags", email)
    assert member is not None and [tag["name"] for tag in member["tags"]] == ["VIP"]
    assert mailchimp.requests[-1]["body"] == {
        "tags": [{"name": "Old", "status": "inactive"}, {"name": "VIP", "status": "active"}],
        "is_syncing": True,
    }


def test_tags_written_for_a_superseded_aggregate_are_declared_again_for_the_newest(
    moto_endpoint: str, mailchimp: MailchimpEmulator
) -> None:
    """Container A writes VIP for a 600 order; while its request is in flight, container B merges the order's
    refund (600 -> 100). A's record of VIP is refused, so A declares the newest aggregate's tags in full."""
    dynamodb, table = new_sync_state_table(moto_endpoint)
    state = SyncState(table, dynamodb)
    client = MailchimpClient(api_key=API_KEY, base_url=mailchimp.base_url, retry=RetryPolicy(total=0), read_timeout=5)
    email = f"race-{uuid.uuid4().hex[:8]}@example.com"
    key = subscriber_hash(email)
    client.put_member("list-tags", key, {"email_address": email, "status_if_new": "subscribed"})
    store = Store(
        store_id="s-race",
        platform="canonical",
        identity="s-race",
        name="Race",
        list_id="list-tags",
        currency_code="EUR",
        secret_id="x",
        segments=SegmentRules(),
    )
    order = Order.model_validate(
        {
            "id": "o1",
            "customer": {"email": email},
            "currency_code": "EUR",
            "order_total": "600.00",
            "lines": [
                {
                    "id": "l1",
                    "product_id": "p1",
                    "variant_id": "p1",
                    "product_title": "Socks",
                    "quantity": 1,
                    "price": "600.00",
                }
            ],
        }
    )
    placed = datetime.now(UTC) - timedelta(days=1)
    paid = OrderEntry(net=Decimal(600), placed_at=placed, counted=True, version="v1")
    refunded = OrderEntry(net=Decimal(100), placed_at=placed, counted=True, version="v1", refunded=Decimal(500))

    tags_posted = lambda method, path, body: method == "POST" and path.endswith("/tags")  # noqa: E731
    with mailchimp.hold(tags_posted, limit=1) as hold, ThreadPoolExecutor(max_workers=1) as pool:
        container_a = pool.submit(SegmentTagger(state).order_applied, client, store, order, paid)
        assert hold.wait_for_requests(1)
        Aggregates(state).apply(store.store_id, key, "o1", refunded)  # container B, whose tags are unchanged
        hold.release()
        outcome = container_a.result(timeout=30)

    assert outcome == {"segments": "written", "segment_tags": []}
    member = mailchimp.member("list-tags", email)
    assert member is not None and member["tags"] == []
    tag_bodies = [r["body"] for r in mailchimp.requests if r["method"] == "POST" and r["path"].endswith(f"{key}/tags")]
    assert tag_bodies[-1] == {
        "tags": [{"name": name, "status": "inactive"} for name in sorted(SegmentRules().tag_names())]
    }
    assert Aggregates(state).read(store.store_id, key).written == frozenset()
