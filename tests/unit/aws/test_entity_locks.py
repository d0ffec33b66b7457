"""Entity leases in a sync-state table (moto server): one holder at a time per entity, re-entrant within
one invocation, a bounded wait, and a lease that frees itself when its holder dies."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from commerce_sync.aws.entity_locks import EntityBusy, EntityLocks
from commerce_sync.aws.sync_state import ReadOutdated, SyncState

from tests.harness import new_sync_state_table


@pytest.fixture
def table(moto_endpoint: str) -> Any:
    dynamodb, name = new_sync_state_table(moto_endpoint)
    return dynamodb.Table(name)


def lock_items(table: Any) -> list[dict[str, Any]]:
    """The items holding a lease (an entity's lease is two attributes of its state item)."""
    return [item for item in table.scan()["Items"] if "lease_holder" in item]


def test_a_held_entity_makes_another_holder_wait_until_it_is_released(table: Any) -> None:
    first, second = EntityLocks(table), EntityLocks(table)
    order: list[str] = []

    with first.holding("s1", "order", ["o1"]):
        waiter = threading.Thread(target=lambda: _hold_and_note(second, order))
        waiter.start()
        time.sleep(0.5)
        order.append("first done")
    waiter.join(10)

    assert order == ["first done", "second held"]
    assert lock_items(table) == [], "released leases leave nothing behind"
    assert table.scan()["Items"] == [], "an item made only to hold a lease goes with it"


def _hold_and_note(locks: EntityLocks, order: list[str]) -> None:
    with locks.holding("s1", "order", ["o1"]):
        order.append("second held")


def test_other_entities_and_other_stores_do_not_wait(table: Any) -> None:
    first, second = EntityLocks(table), EntityLocks(table, time_left=lambda: 0.3)

    with (
        first.holding("s1", "order", ["o1"]),
        second.holding("s1", "order", ["o2"]),
        second.holding("s2", "order", ["o1"]),
    ):
        held = {item["pk"] for item in lock_items(table)}

    assert held == {"s1#order#o1", "s1#order#o2", "s2#order#o1"}


def test_the_same_invocation_takes_an_entity_it_holds_again_without_waiting_or_releasing_it(table: Any) -> None:
    locks, other = EntityLocks(table), EntityLocks(table, time_left=lambda: 0.3)

    with locks.holding("s1", "cart", ["c1"]):
        with locks.holding("s1", "cart", ["c1", "c2"]):
            pass
        with pytest.raises(EntityBusy, match="s1#cart#c1"), other.holding("s1", "cart", ["c1"]):
            pass

    with other.holding("s1", "cart", ["c1", "c2"]):
        pass


def test_past_its_patience_a_waiter_gives_up_so_the_queue_retries_the_change(table: Any) -> None:
    holder = EntityLocks(table)
    impatient = EntityLocks(table, time_left=lambda: 0.6)  # a third of its time left: 0.2 s

    with holder.holding("s1", "order", ["o1"]):
        started = time.monotonic()
        with pytest.raises(EntityBusy), impatient.holding("s1", "order", ["o1"]):
            pass
        assert time.monotonic() - started < 5


def test_a_lease_whose_holder_died_ends_with_the_holders_time(table: Any) -> None:
    dead = EntityLocks(table, time_left=lambda: -4.5)  # the lease ends 0.5 s from now (5 s margin)
    holding = dead.holding("s1", "order", ["o1"])
    holding.__enter__()  # never left: the container was killed

    time.sleep(0.7)
    with EntityLocks(table, time_left=lambda: 3).holding("s1", "order", ["o1"]):
        assert len(lock_items(table)) == 1


# ---- a lease taken after the read (holding_after_read) ------------------------------------------------------------

COMPARED = ("applied_version", "applied_events")
ORDER_KEY = {"pk": "s1#order#o1", "sk": "state"}


@pytest.fixture
def state(moto_endpoint: str) -> SyncState:
    dynamodb, name = new_sync_state_table(moto_endpoint)
    return SyncState(name, dynamodb)


def order_item(state: SyncState) -> dict[str, Any] | None:
    item: dict[str, Any] | None = state.table.get_item(Key=ORDER_KEY, ConsistentRead=True).get("Item")
    return item


@contextmanager
def refused_as_outdated(state: SyncState, locks: EntityLocks) -> Iterator[None]:
    """The body runs as an event that read order o1 before its lease, and must end in ReadOutdated."""
    with (
        pytest.raises(ReadOutdated),
        state.deferring(),
        locks.holding_after_read("s1", "order", "o1", COMPARED),
    ):
        locks.read_as(state.applied("s1", "order", "o1"))
        yield


def test_a_lease_taken_after_the_read_is_taken_when_first_needed_and_given_back_with_the_write(
    state: SyncState,
) -> None:
    locks = EntityLocks(state.table, state=state)

    with state.deferring(), locks.holding_after_read("s1", "order", "o1", COMPARED):
        locks.read_as(state.applied("s1", "order", "o1"))
        assert order_item(state) is None, "nothing is written before it is needed"
        locks.ensure_held()  # what the first Mailchimp request does
        held = order_item(state)
        assert held is not None and held["lease_holder"] == locks.token
        state.record_applied("s1", "order", "o1", "v1", sent=True)

    after = order_item(state)
    assert after is not None and after["applied_version"] == "v1" and "lease_holder" not in after


def test_an_entity_changed_since_the_read_is_refused_and_nothing_the_event_kept_is_written(state: SyncState) -> None:
    state.record_applied("s1", "order", "o1", "v1")
    state.mark("s1", "order", "o1", applied_events=["a"])
    locks = EntityLocks(state.table, state=state)

    with refused_as_outdated(state, locks):
        state.mark("s1", "cart", "c1", converted=True)
        # Another container applies a change of the order meanwhile.
        SyncState(state.table.name, state.dynamodb).mark("s1", "order", "o1", applied_events=["b", "a"])
        locks.ensure_held()

    after = order_item(state)
    assert after is not None and after["applied_events"] == ["b", "a"] and "lease_holder" not in after
    assert state.table.get_item(Key={"pk": "s1#cart#c1", "sk": "state"}).get("Item") is None


def test_an_entity_another_container_holds_is_refused_at_once(state: SyncState) -> None:
    other = EntityLocks(state.table, state=SyncState(state.table.name, state.dynamodb))
    locks = EntityLocks(state.table, state=state)

    with other.holding("s1", "order", ["o1"]):
        with pytest.raises(ReadOutdated), locks.holding_after_read("s1", "order", "o1", COMPARED):
            locks.read_as(order_item(state))
        assert order_item(state)["lease_holder"] == other.token  # type: ignore[index]


def test_a_purchases_marks_take_the_lease_in_their_own_transaction(state: SyncState) -> None:
    state.record_applied("s1", "cart", "c1", "v0")
    locks = EntityLocks(state.table, state=state)

    with state.deferring(), locks.holding_after_read("s1", "order", "o1", COMPARED):
        locks.read_as(state.applied("s1", "order", "o1"))
        state.mark("s1", "cart", "c1", converted=True)
        claim = locks.pending_claim()
        assert claim is not None
        assert state.write_kept_unless_leased(["s1#cart#c1"], locks.token, claim)
        locks.claimed()
        cart = state.table.get_item(Key={"pk": "s1#cart#c1", "sk": "state"}, ConsistentRead=True)["Item"]
        assert cart["converted"] is True
        assert order_item(state)["lease_holder"] == locks.token  # type: ignore[index]
        locks.ensure_held()  # held already: no request, no change
        state.record_applied("s1", "order", "o1", "v1")

    after = order_item(state)
    assert after is not None and after["applied_version"] == "v1" and "lease_holder" not in after


def test_a_purchase_whose_order_changed_since_the_read_writes_none_of_its_marks(state: SyncState) -> None:
    locks = EntityLocks(state.table, state=state)

    with refused_as_outdated(state, locks):
        SyncState(state.table.name, state.dynamodb).record_applied("s1", "order", "o1", "v1")
        state.mark("s1", "cart", "c1", converted=True)
        state.write_kept_unless_leased(["s1#cart#c1"], locks.token, locks.pending_claim())

    assert state.table.get_item(Key={"pk": "s1#cart#c1", "sk": "state"}).get("Item") is None
    assert "lease_holder" not in order_item(state)  # type: ignore[operator]


def test_an_event_that_keeps_no_write_never_takes_the_lease(state: SyncState) -> None:
    locks = EntityLocks(state.table, state=state)

    with state.deferring(), locks.holding_after_read("s1", "order", "o1", COMPARED):
        locks.read_as(None)

    assert order_item(state) is None
