"""The sync state's page-at-a-time methods against DynamoDB (moto server): the same answers as their one-item
counterparts, the version guard held per item inside a transaction, and more items than one request takes."""

from __future__ import annotations

import pytest
from commerce_sync.aws.sync_state import SyncState

from tests.harness import new_sync_state_table

V1 = "2026-12-04T10:00:00.000000Z"
V2 = "2026-12-04T11:00:00.000000Z"
POISONED = "9999-12-31T23:59:59.000000Z"


@pytest.fixture
def state(moto_endpoint: str) -> SyncState:
    dynamodb, table = new_sync_state_table(moto_endpoint)
    return SyncState(table, dynamodb)


def test_applied_many_answers_as_applied_does_across_several_requests(state: SyncState) -> None:
    for number in range(0, 250, 2):
        state.record_applied("s1", "order", f"o{number}", V1, order=f"json {number}")
    state.record_applied("s2", "order", "o1", V1)  # another store's order of the same id

    found = state.applied_many("s1", "order", [f"o{number}" for number in range(250)])

    assert set(found) == {f"o{number}" for number in range(0, 250, 2)}
    assert found["o248"] == state.applied("s1", "order", "o248")
    assert found["o10"]["order"] == "json 10"


def test_record_applied_many_keeps_the_guard_per_item(state: SyncState) -> None:
    state.record_applied("s1", "order", "newer", V2)
    state.record_applied("s1", "order", "older", V1)
    state.mark("s1", "order", "poisoned", applied_version=POISONED, kept="yes")
    writes = [(f"o{number}", V1, {"order": f"json {number}"}) for number in range(150)]
    writes += [("newer", V1, {"order": "stale"}), ("older", V2, {"order": "fresh"}), ("poisoned", V1, {})]

    lost = state.record_applied_many("s1", "order", writes)

    assert lost == {"newer"}
    held = state.applied_many("s1", "order", ["o0", "o149", "newer", "older", "poisoned"])
    assert held["o149"]["applied_version"] == V1 and held["o149"]["order"] == "json 149"
    assert held["newer"]["applied_version"] == V2 and "order" not in held["newer"]
    assert held["older"]["order"] == "fresh"
    assert held["poisoned"]["applied_version"] == V1 and held["poisoned"]["kept"] == "yes"


def test_record_applied_many_refuses_an_entity_twice(state: SyncState) -> None:
    with pytest.raises(ValueError, match="twice"):
        state.record_applied_many("s1", "order", [("o1", V1, {}), ("o1", V2, {})])
    assert state.applied("s1", "order", "o1") is None


def test_mark_many_sets_and_adds_as_mark_and_add_to_set_do(state: SyncState) -> None:
    state.record_applied("s1", "customer", "mc1", V1)
    state.add_to_set("s1", "platform_customer", "p1", "ids", {"old"})

    state.mark_many(
        "s1",
        [
            ("customer", "mc1", {"fingerprint": "f1"}, {}),
            ("platform_customer", "p1", {}, {"ids": {"mc1"}}),
            ("platform_customer", "p1", {"seen": "yes"}, {"ids": {"mc2"}}),
        ],
    )

    customer = state.applied("s1", "customer", "mc1")
    assert customer is not None and customer["fingerprint"] == "f1" and customer["applied_version"] == V1
    platform = state.applied("s1", "platform_customer", "p1")
    assert platform is not None and platform["ids"] == {"old", "mc1", "mc2"} and platform["seen"] == "yes"
