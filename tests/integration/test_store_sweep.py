"""A store's sync-state items swept away (commerce_sync.aws.store_sweep) against DynamoDB (moto server): every
partition of the store goes and nothing of another store, a sweep cut short by its time goes on where it stopped,
and a lease another invocation holds is left until it is let go."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

import pytest
from commerce_sync.aws import store_imports
from commerce_sync.aws.entity_locks import LEASE_MARGIN_SECONDS, EntityLocks
from commerce_sync.aws.privacy_audit import AUDIT_PARTITION
from commerce_sync.aws.store_sweep import StoreSweep
from commerce_sync.aws.sync_state import STATE_SORT_KEY, SyncState, entity_key
from commerce_sync.aws.tombstones import Tombstones
from commerce_sync.catalog import promotion_state
from commerce_sync.catalog import state as catalog_state
from commerce_sync.history import state as history_state

from tests.harness import new_sync_state_table

V1 = "2026-12-04T10:00:00.000000Z"


@pytest.fixture
def state(moto_endpoint: str) -> SyncState:
    dynamodb, name = new_sync_state_table(moto_endpoint)
    return SyncState(name, dynamodb)


@pytest.fixture
def table(state: SyncState) -> Any:
    return state.table


def fill(state: SyncState, store_id: str, orders: int = 3) -> None:
    """Items in every kind of partition a store has: 5 + `orders`."""
    table = state.table
    for number in range(orders):
        state.record_applied(store_id, "order", f"o{number}", V1, order=f"json {number}")
    state.record_applied(store_id, "customer", "c1", V1)
    with table.batch_writer() as batch:
        batch.put_item(Item={"pk": catalog_state.partition(store_id), "sk": "product#p1", "hash": "h"})
        batch.put_item(Item={"pk": promotion_state.partition(store_id), "sk": "rule#r1", "hash": "h"})
        batch.put_item(Item={"pk": history_state.partition(store_id), "sk": "backfill", "doc": "{}"})
        batch.put_item(Item={"pk": store_imports.partition(store_id), "sk": "current", "import_id": "i1"})


def keys_of(table: Any) -> set[tuple[str, str]]:
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {}
    while True:
        page = table.scan(**arguments)
        items += page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return {(str(item["pk"]), str(item["sk"])) for item in items}
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def of_store(keys: set[tuple[str, str]], store_id: str) -> set[tuple[str, str]]:
    return {key for key in keys if key[0].startswith(f"{store_id}#")}


def no_limit() -> float | None:
    return None


def test_every_partition_of_the_store_goes_and_nothing_of_another(state: SyncState, table: Any) -> None:
    fill(state, "s1")
    # Neighbours whose ids begin like it, a shopper's tombstone and an audit line: none is the store's state.
    fill(state, "s10")
    fill(state, "s1-b")
    Tombstones(table, state.dynamodb).bury("s1", [("email", "abc")], V1, "r1")
    table.put_item(Item={"pk": AUDIT_PARTITION, "sk": f"{V1}#r1", "store_id": "s1"})
    before = keys_of(table)
    assert len(of_store(before, "s1")) == 8

    result = StoreSweep(table).sweep("s1", no_limit)

    after = keys_of(table)
    assert result.clean and result.deleted == 8
    assert of_store(after, "s1") == set()
    assert after == (before - of_store(before, "s1")) | {("privacy-stores", "sweep#s1")}
    StoreSweep(table).forget("s1")
    assert ("privacy-stores", "sweep#s1") not in keys_of(table)


def test_a_store_named_like_a_shared_partition_leaves_it_alone(state: SyncState, table: Any) -> None:
    tombstones = Tombstones(table, state.dynamodb)
    tombstones.bury("s2", [("email", "abc")], V1, "r1")
    salt = tombstones.salt()
    table.put_item(Item={"pk": "mailchimp-account#default", "sk": "health", "status": "ok"})
    fill(state, "s2")
    before = keys_of(table)

    for store_id in ("privacy", "mailchimp-account"):
        StoreSweep(table).sweep(store_id, no_limit)
        StoreSweep(table).forget(store_id)

    assert keys_of(table) == before
    assert Tombstones(table, state.dynamodb).salt() == salt


def test_a_sweep_cut_short_by_its_time_goes_on_where_it_stopped(state: SyncState, table: Any) -> None:
    fill(state, "s1", orders=40)
    fill(state, "s2", orders=40)
    pages = {"n": 0}

    def two_pages() -> float | None:
        pages["n"] += 1
        return 60.0 if pages["n"] <= 2 else 1.0

    first = StoreSweep(table, page_items=10).sweep("s1", two_pages)

    assert not first.finished and not first.clean
    left = len(of_store(keys_of(table), "s1"))
    assert 0 < left < 45 and first.deleted == 45 - left
    second = StoreSweep(table, page_items=10).sweep("s1", no_limit)
    assert second.clean and second.deleted == 45, "the count runs across both runs"
    assert of_store(keys_of(table), "s1") == set()
    assert len(of_store(keys_of(table), "s2")) == 45


def lease(table: Any, store_id: str, entity_type: str, entity: str, seconds: float) -> AbstractContextManager[None]:
    """An entity's lease, taken (as an invocation applying a change holds it) for `seconds` from now."""
    holding = EntityLocks(table, time_left=lambda: seconds - LEASE_MARGIN_SECONDS).holding(
        store_id, entity_type, [entity]
    )
    holding.__enter__()
    return holding


def test_a_lease_another_invocation_holds_is_left_until_it_is_let_go(state: SyncState, table: Any) -> None:
    fill(state, "s1")
    held = lease(table, "s1", "order", "o1", 60)
    # Kept referenced: a lease's holding is given back when it is collected.
    crashed = lease(table, "s1", "order", "o2", -1)  # lapsed: its holder is gone
    mine = lease(table, "s1", "store", "s1", 60)
    own = (entity_key("s1", "store", "s1"), STATE_SORT_KEY)

    busy = StoreSweep(table).sweep("s1", no_limit, keep={own})

    assert busy.finished and busy.busy == 1 and not busy.clean
    assert of_store(keys_of(table), "s1") == {(entity_key("s1", "order", "o1"), STATE_SORT_KEY), own}

    held.__exit__(None, None, None)
    again = StoreSweep(table).sweep("s1", no_limit, keep={own})
    assert again.clean
    assert of_store(keys_of(table), "s1") == {own}
    del crashed, mine


def test_no_page_is_begun_without_time_to_finish_it(state: SyncState, table: Any) -> None:
    fill(state, "s1")

    result = StoreSweep(table).sweep("s1", lambda: 5.0)

    assert not result.finished and result.deleted == 0
    assert len(of_store(keys_of(table), "s1")) == 8
