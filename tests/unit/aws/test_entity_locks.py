"""Entity leases in a sync-state table (moto server): one holder at a time per entity, re-entrant within
one invocation, a bounded wait, and a lease that frees itself when its holder dies."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from commerce_sync.aws.entity_locks import EntityBusy, EntityLocks

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
