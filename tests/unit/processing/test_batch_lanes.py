"""Grouping a batch's records by what they may touch, and running the groups on lanes."""

from __future__ import annotations

import threading
import time

from commerce_sync.processing.batch_lanes import WHOLE_STORE, Lanes, groups_of


def test_records_meeting_through_a_token_share_a_group_in_batch_order() -> None:
    scopes = [
        ("s1", {"cart:a"}),
        ("s1", {"cart:b"}),
        ("s1", {"cart:c", "cart:a"}),  # c is an alias of a
        ("s1", {"cart:c"}),
        ("s2", {"cart:a"}),  # another store's cart a
    ]

    assert groups_of(scopes) == [[0, 2, 3], [1], [4]]


def test_a_record_whose_entity_is_unknown_is_ordered_with_its_whole_store() -> None:
    scopes = [("s1", {"order:1"}), ("s2", {"order:1"}), ("s1", WHOLE_STORE), ("s1", {"order:2"}), ("s2", {"order:2"})]

    assert groups_of(scopes) == [[0, 2, 3], [1], [4]]


def test_a_record_without_tokens_is_alone() -> None:
    assert groups_of([("unreadable#0", ()), ("s1", {"cart:a"}), ("unreadable#2", ())]) == [[0], [1], [2]]


def test_lanes_run_each_group_in_order_on_one_lane_and_groups_side_by_side() -> None:
    lanes = Lanes(3)
    ran: list[tuple[int, str]] = []
    at_once = {"now": 0, "most": 0}
    guard = threading.Lock()

    def work(lane: int, item: str) -> None:
        with guard:
            at_once["now"] += 1
            at_once["most"] = max(at_once["most"], at_once["now"])
        time.sleep(0.05)
        with guard:
            at_once["now"] -= 1
            ran.append((lane, item))

    lanes.run([["a1", "a2", "a3"], ["b1"], ["c1", "c2"]], work)

    assert sorted(item for _, item in ran) == ["a1", "a2", "a3", "b1", "c1", "c2"]
    for group in (["a1", "a2", "a3"], ["c1", "c2"]):
        order = [item for _, item in ran if item in group]
        assert order == group
        assert len({lane for lane, item in ran if item in group}) == 1
    assert at_once["most"] > 1


def test_a_lane_refused_gives_its_group_back_to_lane_zero() -> None:
    lanes = Lanes(4)
    ran: list[tuple[int, str]] = []
    guard = threading.Lock()

    def work(lane: int, item: str) -> None:
        with guard:
            ran.append((lane, item))

    lanes.run([["a"], ["b"], ["c"], ["d"]], work, admit=lambda lane, group: False)

    assert sorted(ran) == [(0, "a"), (0, "b"), (0, "c"), (0, "d")]
