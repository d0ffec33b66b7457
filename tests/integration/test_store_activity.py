"""A store's recent activity (commerce_sync.aws.store_activity) in DynamoDB (moto server): counts by delivery result
and outcome over a window of hours, each topic's last delivery, and stores kept apart."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from commerce_sync.aws.store_activity import HOUR, StoreActivity, partition
from commerce_sync.canonical.model import AcceptedDelivery

from tests.harness import new_sync_state_table


@pytest.fixture
def activity(moto_endpoint: str) -> StoreActivity:
    dynamodb, name = new_sync_state_table(moto_endpoint)
    return StoreActivity(dynamodb.Table(name))


def test_counts_and_last_seen_per_store(activity: StoreActivity) -> None:
    activity.delivery("s1", "accepted", "orders/paid")
    activity.delivery("s1", "accepted", "orders/paid")
    activity.delivery("s1", "refused", "orders/paid")
    activity.delivery("s1", "ignored", None)
    activity.outcome("s1", "synced")
    activity.outcome("s1", "duplicate")
    activity.outcome("s1", "synced")
    activity.delivery("s2", "accepted", "customer.updated")
    assert activity.summary("s1").outcomes == {}, "outcomes are written when the invocation ends"
    activity.flush()

    mine = activity.summary("s1")

    assert mine.deliveries == {"accepted": 2, "refused": 1, "ignored": 1}
    assert mine.outcomes == {"synced": 2, "duplicate": 1}
    assert set(mine.last_seen) == {"orders/paid"}
    assert datetime.fromisoformat(mine.last_seen["orders/paid"]) > datetime.now(UTC) - timedelta(minutes=1)
    assert activity.summary("s2").to_json()["deliveries"] == {"accepted": 1}


def test_concurrent_containers_lose_no_count(activity: StoreActivity) -> None:
    """Four containers, each counting twenty outcomes and writing them in five invocations of four."""
    table = activity._table

    def container() -> None:
        own = StoreActivity(table)
        for _invocation in range(5):
            for _ in range(4):
                own.outcome("s3", "synced")
            own.flush()

    threads = [threading.Thread(target=container) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert activity.summary("s3").outcomes == {"synced": 80}


def test_hours_outside_the_window_count_only_for_last_seen(activity: StoreActivity) -> None:
    old = (datetime.now(UTC) - timedelta(hours=30)).strftime("%Y-%m-%dT%H")
    activity._table.put_item(  # an hour of yesterday, as the recorder leaves it
        Item={
            "pk": partition("s4"),
            "sk": HOUR + old,
            "delivery:accepted": 7,
            "seen:orders/create": "2026-01-01T00:00:00+00:00",
        }
    )
    activity.delivery("s4", "accepted", "orders/paid")

    day = activity.summary("s4", hours=24)

    assert day.deliveries == {"accepted": 1}
    assert set(day.last_seen) == {"orders/create", "orders/paid"}
    assert activity.summary("s4", hours=48).deliveries == {"accepted": 8}


def test_a_delivery_its_event_carries_is_counted_with_the_outcome_in_the_hour_it_came(activity: StoreActivity) -> None:
    now = datetime.now(UTC)
    two_hours_ago = now - timedelta(hours=2)
    activity.outcome("s5", "synced", AcceptedDelivery(topic="orders/paid", received_at=two_hours_ago))
    activity.outcome("s5", "duplicate", AcceptedDelivery(topic="orders/paid", received_at=now - timedelta(minutes=1)))
    activity.outcome("s5", "synced", AcceptedDelivery(topic="checkouts/update", received_at=now))
    activity.outcome("s5", "synced")  # an event that did not carry its delivery (a second event of one delivery)
    # Replayed from the archive after the activity's retention: not counted again into an hour gone by.
    activity.outcome("s5", "synced", AcceptedDelivery(topic="orders/create", received_at=now - timedelta(days=3)))
    activity.flush()

    summary = activity.summary("s5")

    assert summary.deliveries == {"accepted": 3}
    assert summary.outcomes == {"synced": 4, "duplicate": 1}
    assert set(summary.last_seen) == {"orders/paid", "checkouts/update"}
    assert summary.last_seen["orders/paid"] == (now - timedelta(minutes=1)).isoformat(timespec="seconds")
    earliest_hour = activity._table.get_item(
        Key={"pk": partition("s5"), "sk": HOUR + two_hours_ago.strftime("%Y-%m-%dT%H")}
    )["Item"]
    assert earliest_hour["delivery:accepted"] == 1, "a delivery counts in the hour it came, not when applied"
    assert "outcome:synced" not in earliest_hour
