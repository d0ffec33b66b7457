"""Customer segments as member tags, end to end through the local runner (moto, the Mailchimp emulator, real HTTP):
canonical order events in, the member's tags in the emulator and the customer's aggregate in DynamoDB out.

Time-based rules are crossed by the orders' own processing times (an order placed 100 days ago); the rules at
every edge, with a controlled clock, are tests/unit/segments."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.store_registry import SegmentRules, StoreRegistry
from commerce_sync.aws.sync_state import SyncState
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.segments.aggregate import Aggregates, Stored

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_canonical
from tests.harness import RegisteredStore, register_store

LIST_ID = "list-e2e"
# Orders are placed relative to one moment, so two shoppers' same history has the same times.
NOW = datetime.now(UTC)


def segmented_store(rules: SegmentRules | None = None) -> RegisteredStore:
    registered = register_store("canonical", currency_code="EUR")
    store = registered.store.model_copy(update={"segments": rules or SegmentRules()})
    StoreRegistry(Settings.from_environment().stores_table).update(store, ["segments"])
    return registered


@pytest.fixture
def store(runner: LocalRunner) -> RegisteredStore:
    return segmented_store()


class Shopper:
    """One shopper of one store: sends their order events, reads their member's tags and their aggregate."""

    def __init__(self, runner: LocalRunner, mailchimp: MailchimpEmulator, store: RegisteredStore) -> None:
        self.runner, self.mailchimp, self.store = runner, mailchimp, store
        self.email = f"seg-{uuid.uuid4().hex[:10]}@example.com"
        self.hash = subscriber_hash(self.email)

    def order(
        self,
        order_id: str,
        total: str,
        *,
        days_ago: float = 1,
        minute: int = 0,
        status: str = "paid",
        **data: Any,
    ) -> dict[str, Any]:
        placed = NOW - timedelta(days=days_ago)
        body = {
            "id": order_id,
            "customer": {"email": self.email, "consent": {"state": "granted"}},
            "currency_code": "EUR",
            "order_total": total,
            "financial_status": status,
            "processed_at": placed.isoformat(),
            "lines": [
                {
                    "id": "l1",
                    "product_id": "p1",
                    "variant_id": "p1-m",
                    "product_title": "Socks",
                    "quantity": 1,
                    "price": total,
                }
            ],
            **data,
        }
        return self.event("order.updated", order_id, body, minute)

    def refund(self, order_id: str, refund_id: str, amount: str, minute: int) -> dict[str, Any]:
        body = {"order_id": order_id, "refund": {"id": refund_id, "amount": amount}}
        return self.event("order.refund", order_id, body, minute)

    def event(self, event_type: str, entity_id: str, data: dict[str, Any], minute: int) -> dict[str, Any]:
        version = f"2026-01-12T10:{minute:02d}:00.000000Z"
        return {
            "schema_version": "1",
            "event_id": f"seg:{event_type}:{entity_id}:{version}:{uuid.uuid4().hex[:6]}",
            "type": event_type,
            "store_id": self.store.store_id,
            "platform": "canonical",
            "occurred_at": f"2026-01-12T10:{minute:02d}:00Z",
            "entity_id": entity_id,
            "entity_version": version,
            "data": data,
        }

    def send(self, *events: dict[str, Any]) -> None:
        for event in events:
            response = send_canonical(
                self.runner.url, self.store.webhook_secret, self.store.store_id, json.dumps(event).encode()
            )
            assert response.status_code == 202, response.text
            self.runner.wait_until_idle()

    def tags(self) -> set[str]:
        member = self.mailchimp.member(LIST_ID, self.email)
        assert member is not None
        assert member["tags_count"] == len(member["tags"])
        return {tag["name"] for tag in member["tags"]}

    def tag_requests(self) -> list[dict[str, Any]]:
        return [
            request
            for request in self.mailchimp.requests
            if request["method"] == "POST" and request["path"].endswith(f"/members/{self.hash}/tags")
        ]

    def aggregate(self) -> Stored:
        state = SyncState(Settings.from_environment().sync_state_table)
        return Aggregates(state).read(self.store.store_id, self.hash)

    def skipped(self) -> str | None:
        state = SyncState(Settings.from_environment().sync_state_table)
        item = state.applied(self.store.store_id, "segment", self.hash) or {}
        return item.get("skipped") or None


def test_crossing_500_makes_a_vip_and_a_refund_below_it_drops_the_vip(
    runner: LocalRunner, mailchimp: MailchimpEmulator, store: RegisteredStore
) -> None:
    shopper = Shopper(runner, mailchimp, store)
    shopper.send(shopper.order("a1", "300.00"))
    assert shopper.tags() == set() and shopper.tag_requests() == []

    shopper.send(shopper.order("a2", "250.00", minute=1))
    assert shopper.tags() == {"VIP"}
    assert [r["body"] for r in shopper.tag_requests()] == [{"tags": [{"name": "VIP", "status": "active"}]}]
    standing = shopper.aggregate().aggregate.standing()
    assert (standing.orders, standing.lifetime_value) == (2, 550)

    shopper.send(shopper.refund("a2", "r1", "100.00", minute=2))
    assert shopper.tags() == set()
    assert shopper.tag_requests()[-1]["body"] == {"tags": [{"name": "VIP", "status": "inactive"}]}
    assert shopper.aggregate().aggregate.standing().lifetime_value == 450
    assert shopper.aggregate().written == frozenset()

    # The same refund again, and a shipment (no change of revenue): no tag request.
    shopper.send(shopper.refund("a2", "r1", "100.00", minute=3))
    assert len(shopper.tag_requests()) == 2


def test_five_orders_make_a_vip_three_recent_an_advocate_and_a_cancellation_undoes_it(
    runner: LocalRunner, mailchimp: MailchimpEmulator, store: RegisteredStore
) -> None:
    shopper = Shopper(runner, mailchimp, store)
    shopper.send(shopper.order("b0", "10.00", days_ago=41))
    assert shopper.tags() == {"One-time buyer"}
    shopper.send(shopper.order("b1", "10.00", days_ago=40))
    assert shopper.tags() == set()
    shopper.send(*(shopper.order(f"b{n}", "10.00", days_ago=n) for n in range(2, 5)))
    assert shopper.tags() == {"Advocate", "VIP"}
    # Only changes are written: the third and fourth orders changed no segment; the fifth made the shopper both
    # a VIP (5 orders) and an advocate (3 in 30 days), in one request.
    assert [request["body"]["tags"] for request in shopper.tag_requests()] == [
        [{"name": "One-time buyer", "status": "active"}],
        [{"name": "One-time buyer", "status": "inactive"}],
        [{"name": "Advocate", "status": "active"}, {"name": "VIP", "status": "active"}],
    ]

    cancelled = shopper.order("b4", "10.00", days_ago=4, minute=5, status="cancelled")
    shopper.send(cancelled)
    assert shopper.tags() == set(), "4 orders, 2 of them recent"
    assert shopper.aggregate().aggregate.standing().orders == 4


def test_duplicates_and_out_of_order_deliveries_give_the_same_tags_and_aggregate(
    runner: LocalRunner, mailchimp: MailchimpEmulator
) -> None:
    in_order, shuffled = Shopper(runner, mailchimp, segmented_store()), Shopper(runner, mailchimp, segmented_store())

    def history(shopper: Shopper) -> list[dict[str, Any]]:
        return [
            shopper.order("c1", "300.00", days_ago=100),
            shopper.order("c1", "300.00", days_ago=100, minute=1, status="cancelled"),
            shopper.order("c2", "600.00", days_ago=95),
            shopper.order("c3", "20.00", days_ago=94),
        ]

    first, cancel, big, small = history(in_order)
    in_order.send(first, cancel, big, small)
    first, cancel, big, small = history(shuffled)
    duplicate = {**big, "event_id": big["event_id"] + ":again"}
    shuffled.send(small, cancel, big, first, duplicate, cancel)

    # c1 cancelled counts for nothing; c2 and c3: two orders, 620, the last 94 days ago.
    assert in_order.tags() == shuffled.tags() == {"VIP", "At risk"}
    assert in_order.aggregate().aggregate.standing() == shuffled.aggregate().aggregate.standing()
    assert in_order.aggregate().aggregate.standing().orders == 2


def test_one_order_long_ago_is_a_one_time_buyer_until_the_second(
    runner: LocalRunner, mailchimp: MailchimpEmulator, store: RegisteredStore
) -> None:
    shopper = Shopper(runner, mailchimp, store)
    shopper.send(shopper.order("d1", "20.00", days_ago=45))
    assert shopper.tags() == {"One-time buyer"}
    shopper.send(shopper.order("d2", "20.00", days_ago=1))
    assert shopper.tags() == set()
    assert len(shopper.tag_requests()) == 2


def test_a_shopper_without_a_member_or_unsubscribed_is_skipped_with_the_reason_and_never_touched(
    runner: LocalRunner, mailchimp: MailchimpEmulator, store: RegisteredStore
) -> None:
    gone = Shopper(runner, mailchimp, store)
    gone.send(gone.order("e1", "20.00"))
    # The address was permanently deleted in Mailchimp: a customer write no longer makes it a member.
    with mailchimp.state.lock:
        audience = mailchimp.state.lists[LIST_ID]
        del audience.members[gone.hash]
        audience.forgotten.add(gone.hash)
    gone.send(gone.order("e2", "600.00", minute=1))
    assert gone.skipped() == "no_audience_member"
    assert gone.tag_requests() == [] and mailchimp.member(LIST_ID, gone.email) is None

    unsubscribed = Shopper(runner, mailchimp, store)
    mailchimp.set_member_status(LIST_ID, unsubscribed.email, "unsubscribed")
    unsubscribed.send(unsubscribed.order("f1", "600.00"))
    assert unsubscribed.skipped() == "member_unsubscribed"
    assert unsubscribed.tag_requests() == [] and unsubscribed.tags() == set()


def test_a_store_without_segments_writes_no_tags(runner: LocalRunner, mailchimp: MailchimpEmulator) -> None:
    shopper = Shopper(runner, mailchimp, register_store("canonical", currency_code="EUR"))
    shopper.send(shopper.order("g1", "900.00"))
    assert shopper.tags() == set() and shopper.tag_requests() == []
    assert shopper.aggregate().revision == 0
