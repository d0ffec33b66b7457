"""Tombstones against DynamoDB (moto server): a store's own tombstone, and its shoppers' tombstones removed together
without touching another store's."""

from __future__ import annotations

import pytest
from commerce_sync.aws.sync_state import SyncState
from commerce_sync.aws.tombstones import Shopper, Tombstones

from tests.harness import new_sync_state_table

V1 = "2026-12-04T10:00:00.000000Z"
V2 = "2026-12-05T10:00:00.000000Z"
BEFORE = "2026-12-01T10:00:00.000000Z"


@pytest.fixture
def state(moto_endpoint: str) -> SyncState:
    dynamodb, name = new_sync_state_table(moto_endpoint)
    return SyncState(name, dynamodb)


@pytest.fixture
def tombstones(state: SyncState) -> Tombstones:
    return Tombstones(state.table, state.dynamodb)


def test_a_store_tombstone_keeps_the_first_erasure_date(state: SyncState, tombstones: Tombstones) -> None:
    assert not tombstones.store_erased("s1")

    tombstones.bury_store("s1", V1, "request-1")
    tombstones.bury_store("s1", V2, "request-2")  # the same erasure, retried

    assert tombstones.store_erased("s1") and not tombstones.store_erased("s10")
    item = state.table.get_item(Key={"pk": "privacy-stores", "sk": "store#s1"})["Item"]
    assert item["erased_at"] == V1 and item["request"] == "request-1"


def test_removing_a_stores_shopper_tombstones_leaves_other_stores(tombstones: Tombstones) -> None:
    shopper = Shopper(email="erased@example.com", customer_id="c1", order_id="o1")
    for store_id in ("s1", "s2"):
        tombstones.bury(store_id, shopper.tombstone_keys(), V1, "request")
    assert tombstones.refuses("s1", shopper, BEFORE) and tombstones.refuses("s2", shopper, BEFORE)

    assert tombstones.remove_store("s1") == 3

    assert not tombstones.refuses("s1", shopper, BEFORE)
    assert tombstones.refuses("s2", shopper, BEFORE)
    assert tombstones.remove_store("s1") == 0


def test_removing_the_tombstones_of_a_store_called_salt_keeps_the_deployments_salt(
    state: SyncState, tombstones: Tombstones
) -> None:
    shopper = Shopper(email="erased@example.com")
    tombstones.bury("salt", shopper.tombstone_keys(), V1, "request")
    tombstones.bury("s2", shopper.tombstone_keys(), V1, "request")

    assert tombstones.remove_store("salt") == 1

    # Read afresh: the hashes of every other store's tombstones depend on it.
    assert Tombstones(state.table, state.dynamodb).refuses("s2", shopper, BEFORE)
