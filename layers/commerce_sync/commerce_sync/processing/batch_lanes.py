"""A batch's records applied on several lanes (threads) at once, each entity's records still one after another
in the batch's order.

A consumer spends most of an invocation waiting on Mailchimp; one record after another, a batch of ten waits ten
times. Here the records are grouped: two records share a group when they may touch the same entity (their ordering
tokens meet: a cart's id and its aliases, an order's id, a platform customer's id; a record without tokens — one
whose entity cannot be told without reading — shares a group with every record of its store). Each lane takes the
next whole group and applies its records in the batch's order, so per-entity order is exactly the sequential one;
groups of different entities run side by side. Each lane has its own applier (its own sync-state writes kept, its
own leases, its own Mailchimp connection slot from the account's live share).

Records keep their outcome or their exception, so the batch's partial failure report is the sequential one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import TypeVar

Item = TypeVar("Item")
# A record whose entity cannot be told without reading: it is ordered with every record of its store.
WHOLE_STORE: None = None


def groups_of(scopes: Sequence[tuple[str, Collection[str] | None]]) -> list[list[int]]:
    """The batch's records (by index, each as its store and ordering tokens, or WHOLE_STORE) in groups that must
    be applied one after another: records sharing a token of one store, transitively, and every record of a store
    with any WHOLE_STORE record. Groups come in the order of their first record; each lists its records in order."""
    parent = list(range(len(scopes)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    def join(first: int, second: int) -> None:
        a, b = root(first), root(second)
        if a != b:
            parent[max(a, b)] = min(a, b)

    owner: dict[tuple[str, str], int] = {}
    whole_stores = {store for store, tokens in scopes if tokens is WHOLE_STORE}
    store_first: dict[str, int] = {}
    for index, (store, tokens) in enumerate(scopes):
        if store in whole_stores:
            join(store_first.setdefault(store, index), index)
            continue
        for token in tokens or ():
            join(owner.setdefault((store, token), index), index)
    groups: dict[int, list[int]] = {}
    for index in range(len(scopes)):
        groups.setdefault(root(index), []).append(index)
    return list(groups.values())


class Lanes:
    """Runs groups of work on up to `size` lanes: lane 0 is the calling thread, the others come from a pool kept
    for the container's life (a warm container does not start threads again)."""

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._pool = ThreadPoolExecutor(max_workers=self.size - 1, thread_name_prefix="lane") if self.size > 1 else None

    def run(
        self,
        groups: Sequence[Sequence[Item]],
        work: Callable[[int, Item], None],
        around: Callable[[int], AbstractContextManager[object]] = lambda lane: nullcontext(),
        admit: Callable[[int, Sequence[Item]], bool] = lambda lane, group: True,
    ) -> None:
        """`work(lane, item)` for every item, each group's items in order on one lane, within `around(lane)`;
        returns when all are done. A lane other than 0 first asks `admit(lane, group)` (its account has a connection
        free for it?); refused, it gives the group back and stops, and the others, lane 0 last, do the rest.
        `work` and `admit` must not raise (they keep their own failures)."""
        pending = list(reversed(groups))
        taking = threading.Lock()

        def lane(number: int) -> None:
            with around(number):
                while True:
                    with taking:
                        if not pending:
                            return
                        group = pending.pop()
                    if number > 0 and not admit(number, group):
                        with taking:
                            pending.append(group)
                        return
                    for item in group:
                        work(number, item)

        used = min(self.size, len(groups))
        futures = [self._pool.submit(lane, number) for number in range(1, used)] if self._pool else []
        lane(0)
        for future in futures:
            future.result()
