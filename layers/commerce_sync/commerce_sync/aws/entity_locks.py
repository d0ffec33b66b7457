"""Per-entity leases, so that two containers never apply changes of one order, cart or customer at once.

The version guard (commerce_sync.aws.sync_state) decides which change of an entity wins, but applying a
change reads the entity's state, writes Mailchimp, then records the version. Two containers applying two
changes of one order at the same moment can both read the same state: the older change's write can then
land in Mailchimp last (a late `pending` after `paid`, so the order ends unpaid), and two partial changes
merged into the same stored order lose one another (a shipment and a refund). Holding the entity's lease
from the read to the record makes the changes of one entity apply one at a time, in whatever order they
arrive, so the version guard sees every earlier one; changes of different entities still run in parallel.

A lease is one item in the sync-state table beside the entity's state (same partition key, sort key
`lock`), taken with commerce_sync.aws.sync_lock. It lasts for the invocation's remaining time, so a
container killed at its timeout frees it within moments. A lease held by another container is waited for
(short, growing sleeps); past the wait the change fails with EntityBusy and the queue delivers it again
later. Leases are re-entrant within one EntityLocks (one invocation): a purchase that ends the shopper's
carts takes their leases while it holds its own, and a cart already held is not taken twice. Several
leases are taken in sorted order, so two holders never wait on each other in a cycle for long.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from commerce_sync.aws.sync_lock import SyncLock, new_token
from commerce_sync.aws.sync_state import entity_key

LOCK_SORT_KEY = "lock"
DEFAULT_LEASE_SECONDS = 60.0
# A lease outlives the invocation's deadline by this much, so that it never ends under a running write.
LEASE_MARGIN_SECONDS = 5.0
MAX_WAIT_SECONDS = 20.0
FIRST_BACKOFF_SECONDS = 0.02
MAX_BACKOFF_SECONDS = 0.25


def lease_key(store_id: str, entity_type: str, entity_id: str) -> dict[str, str]:
    """The item of an entity's lease."""
    return {"pk": entity_key(store_id, entity_type, entity_id), "sk": LOCK_SORT_KEY}


class EntityBusy(Exception):
    """Another container holds the entity for longer than this one may wait: the change is retried later."""


class EntityLocks:
    """The leases one invocation holds. `table` is the sync-state table (a boto3 Table resource)."""

    def __init__(
        self,
        table: Any,
        time_left: Callable[[], float | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        before_release: Callable[[], None] = lambda: None,
    ) -> None:
        self._table = table
        # What must be written while the leases are still held (the sync state's kept writes).
        self._before_release = before_release
        self._time_left = time_left
        self._clock = clock
        self._sleep = sleep
        self._token = new_token()
        self._held: set[str] = set()

    @property
    def token(self) -> str:
        """This invocation's token: what its leases' items hold."""
        return self._token

    @contextmanager
    def holding(self, store_id: str, entity_type: str, entity_ids: Iterable[str]) -> Iterator[None]:
        """Holds the leases of the entities (those not held already) for the body of the `with`."""
        keys = sorted({entity_key(store_id, entity_type, entity_id) for entity_id in entity_ids} - self._held)
        taken: list[SyncLock] = []
        try:
            for key in keys:
                lock = SyncLock(self._table, key, LOCK_SORT_KEY)
                self._take(lock, key)
                taken.append(lock)
                self._held.add(key)
            yield
        finally:
            try:
                if taken:
                    self._before_release()
            finally:
                self._release(keys, taken)

    def _release(self, keys: list[str], taken: list[SyncLock]) -> None:
        for key, lock in zip(reversed(keys[: len(taken)]), reversed(taken), strict=True):
            lock.release(self._token)
            self._held.discard(key)

    def _take(self, lock: SyncLock, key: str) -> None:
        time_left = self._time_left()
        lease = (time_left if time_left is not None else DEFAULT_LEASE_SECONDS) + LEASE_MARGIN_SECONDS
        patience = MAX_WAIT_SECONDS if time_left is None else min(MAX_WAIT_SECONDS, time_left / 3)
        deadline = self._clock() + patience
        backoff = FIRST_BACKOFF_SECONDS
        while not lock.acquire(self._token, lease, label="entity"):
            if self._clock() >= deadline:
                raise EntityBusy(f"{key} is being applied by another invocation; retried later")
            # Jittered, so that waiters released together do not collide again.
            self._sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
