"""One event's sync-state reads and writes together (moto server, counted at the client): reads from one batched read
ahead, writes kept and made in one request at the end, with what each would have done at once when a version loses."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from commerce_sync.aws.entity_locks import EntityLocks
from commerce_sync.aws.sync_state import SyncState, entity_key, state_key

from tests.harness import new_sync_state_table

V1 = "2026-12-04T10:00:00.000000Z"
V2 = "2026-12-04T11:00:00.000000Z"
POISONED = "9999-12-31T23:59:59.000000Z"


@pytest.fixture
def state(moto_endpoint: str) -> SyncState:
    dynamodb, table = new_sync_state_table(moto_endpoint)
    return SyncState(table, dynamodb)


@pytest.fixture
def calls(state: SyncState) -> Counter[str]:
    """DynamoDB operations the state's client makes from now on."""
    made: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        made[model.name] += 1

    state.table.meta.client.meta.events.register("before-call.dynamodb", count)
    return made


def test_an_events_reads_and_writes_cost_one_request_each(state: SyncState, calls: Counter[str]) -> None:
    state.mark("s1", "customer", "shopper", open_carts={"old"})
    calls.clear()
    keys = [state_key("s1", "cart", "c1"), state_key("s1", "customer", "shopper")]

    with state.read_ahead.reading(keys), state.deferring():
        assert state.applied("s1", "cart", "c1") is None
        assert state.applied("s1", "customer", "shopper")["open_carts"] == {"old"}
        state.record_applied("s1", "cart", "c1", V1, customer="{}")
        state.mark("s1", "customer", "shopper", fingerprint="f1")
        state.add_to_set("s1", "customer", "shopper", "open_carts", {"c1"})
        # What the kept writes will leave, read without a request.
        assert state.applied("s1", "customer", "shopper")["open_carts"] == {"old", "c1"}
        assert state.applied("s1", "cart", "c1")["applied_version"] == V1
        assert sum(calls.values()) == 1

    assert calls == Counter({"BatchGetItem": 1, "TransactWriteItems": 1})
    shopper = state.applied("s1", "customer", "shopper") or {}
    assert (shopper["fingerprint"], shopper["open_carts"]) == ("f1", {"old", "c1"})
    assert state.applied("s1", "cart", "c1")["applied_version"] == V1


def test_a_version_that_lost_keeps_the_marks_written_beside_it(state: SyncState) -> None:
    state.record_applied("s1", "order", "o1", V2)

    with state.deferring():
        state.record_applied("s1", "order", "o1", V1, order="older")
        state.mark("s1", "order", "o1", converted=True)
        state.mark("s1", "customer", "shopper", converted_version=V1)

    item = state.applied("s1", "order", "o1")
    assert item is not None
    assert item["applied_version"] == V2 and "order" not in item, "the older version is not recorded"
    assert item["converted"] is True, "a mark holds whatever the version, as when written at once"
    assert state.applied("s1", "customer", "shopper")["converted_version"] == V1


def test_an_impossible_version_yields_when_written_at_the_end(state: SyncState) -> None:
    state.mark("s1", "cart", "c1", applied_version=POISONED)
    with state.deferring():
        state.record_applied("s1", "cart", "c1", V1)
    assert state.applied("s1", "cart", "c1")["applied_version"] == V1


def test_what_was_done_before_a_failure_is_still_recorded(state: SyncState) -> None:
    with pytest.raises(RuntimeError), state.deferring():
        state.mark("s1", "cart", "c1", converted=True)
        raise RuntimeError("Mailchimp failed after the cart was marked")
    assert state.applied("s1", "cart", "c1")["converted"] is True


def test_a_read_of_an_item_not_read_ahead_sees_the_writes_kept_for_it(state: SyncState) -> None:
    with state.deferring():
        state.add_to_set("s1", "customer", "shopper", "open_carts", {"c1"})
        assert state.applied("s1", "customer", "shopper")["open_carts"] == {"c1"}
        state.remove_from_set("s1", "customer", "shopper", "open_carts", {"c1"})
    assert "open_carts" not in (state.applied("s1", "customer", "shopper") or {})


def test_the_lease_reads_the_state_and_is_given_back_with_the_events_write(
    state: SyncState, calls: Counter[str]
) -> None:
    state.record_applied("s1", "order", "o1", V1, order="paid")
    calls.clear()
    locks = EntityLocks(state.table, state=state)

    with (
        state.deferring(),
        locks.holding("s1", "order", ["o1"]),
        state.read_ahead.reading([state_key("s1", "order", "o1")]),
    ):
        assert state.applied("s1", "order", "o1")["order"] == "paid", "taking the lease read it"
        state.record_applied("s1", "order", "o1", V2, order="shipped")

    assert calls == Counter({"UpdateItem": 2}), "one to take the lease, one to write and give it back"
    item = state.applied("s1", "order", "o1") or {}
    assert (item["applied_version"], item["order"]) == (V2, "shipped")
    assert "lease_holder" not in item and "lease_until" not in item


def test_a_lease_taken_for_an_event_that_writes_nothing_leaves_no_item(state: SyncState) -> None:
    locks = EntityLocks(state.table, state=state)
    with state.deferring(), locks.holding("s1", "cart", ["never-seen"]):
        assert state.applied("s1", "cart", "never-seen") is not None  # the lease itself
    assert state.table.scan()["Items"] == []


def test_an_item_a_lease_made_stays_when_the_event_wrote_to_it_before_giving_the_lease_back(state: SyncState) -> None:
    locks = EntityLocks(state.table, state=state)
    with state.deferring():
        with locks.holding("s1", "cart", ["bought"]):
            state.mark("s1", "cart", "bought", converted=True)
            state.write_kept()  # as a purchase writes its carts' marks before deleting them from Mailchimp
        assert (state.applied("s1", "cart", "bought") or {}).get("converted") is True
    item = state.applied("s1", "cart", "bought") or {}
    assert item.get("converted") is True and "lease_holder" not in item


def test_items_a_lease_free_transaction_wrote_are_read_again_from_what_it_wrote_not_from_the_table(
    state: SyncState, calls: Counter[str]
) -> None:
    """A purchase marks its shopper and carts (write_kept_unless_leased), calls Mailchimp, then writes the shopper
    again: the second write's read must not cost a GetItem."""
    state.mark("s1", "customer", "shopper", open_carts={"c1"}, fingerprint="f0")
    locks = EntityLocks(state.table, lambda: 30.0, state=state)
    keys = [state_key("s1", "customer", "shopper"), state_key("s1", "cart", "c1")]
    calls.clear()

    with state.read_ahead.reading(keys), state.deferring():
        state.mark("s1", "customer", "shopper", converted_version=V1)
        state.mark("s1", "cart", "c1", converted=True)
        assert state.write_kept_unless_leased([entity_key("s1", "cart", "c1")], locks.token)
        shopper = state.applied("s1", "customer", "shopper") or {}
        cart = state.applied("s1", "cart", "c1") or {}

    assert (shopper["converted_version"], shopper["fingerprint"], shopper["open_carts"]) == (V1, "f0", {"c1"})
    assert cart["converted"] is True
    assert calls == Counter({"BatchGetItem": 1, "TransactWriteItems": 1})
