"""Sync state against DynamoDB (moto server): an impossible version recorded before versions were bounded
(a forged far-future time) no longer freezes its entity; real versions still order changes."""

from __future__ import annotations

import pytest
from commerce_sync.aws.sync_state import SyncState

from tests.harness import new_sync_state_table

POISONED = "9999-12-31T23:59:59.000000Z"


@pytest.fixture
def state(moto_endpoint: str) -> SyncState:
    dynamodb, table = new_sync_state_table(moto_endpoint)
    return SyncState(table, dynamodb)


def test_an_impossible_recorded_version_yields_to_the_next_real_change(state: SyncState) -> None:
    state.mark("s1", "customer", "c1", applied_version=POISONED, removed="deleted")

    assert not state.is_stale("s1", "customer", "c1", "2026-12-04T10:00:00.000000Z")
    assert state.record_applied("s1", "customer", "c1", "2026-12-04T10:00:00.000000Z")

    item = state.applied("s1", "customer", "c1")
    assert item is not None and item["applied_version"] == "2026-12-04T10:00:00.000000Z"
    assert item["removed"] == "deleted", "other attributes of the item are kept"


def test_real_versions_still_order_changes(state: SyncState) -> None:
    assert state.record_applied("s1", "order", "o1", "2026-12-04T10:00:00.000000Z")
    assert not state.record_applied("s1", "order", "o1", "2026-12-04T09:00:00.000000Z")
    assert state.is_stale("s1", "order", "o1", "2026-12-04T09:59:59.000000Z")
    assert state.record_applied("s1", "order", "o1", "2026-12-04T11:00:00.000000Z")
