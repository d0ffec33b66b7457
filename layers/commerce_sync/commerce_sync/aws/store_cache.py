"""Stores as one warm container last read them, for a few seconds: a webhook or an event then costs no registry
read (a GetItem or an index Query) while its store was read moments ago.

Only stores found are kept: a store registered a moment ago is seen by its first delivery, and an unknown identity
is looked up every time (so an unknown-store answer is never stale). A change to a store (disabled, erased, another
Mailchimp account) reaches a warm container within `ttl_seconds` (STORE_CACHE_SECONDS, 30 by default; 0 reads the
registry every time). An erasure stays safe meanwhile: the erased store's tombstone refuses its shoppers' events
whatever the cached store says (commerce_sync.aws.tombstones), and the Mailchimp store is gone.

Hand-rolled rather than cachetools' TTLCache: two dicts and a clock, without one more dependency in the layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar

from commerce_sync.aws.store_registry import Store

# Bounds the memory a container spends on stores (a deployment serving more stores re-reads the oldest ones).
MAX_CACHED_STORES = 1000
Key = TypeVar("Key")


class StoreLookup(Protocol):
    def get(self, store_id: str) -> Store | None: ...

    def find(self, platform: str, identity: str) -> Store | None: ...


class StoreCache:
    """`get` and `find` of `registry`, each answer found kept for `ttl_seconds`."""

    def __init__(self, registry: StoreLookup, ttl_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._registry = registry
        self._ttl = ttl_seconds
        self._clock = clock
        self._by_id: dict[str, tuple[float, Store]] = {}
        self._by_identity: dict[tuple[str, str], tuple[float, Store]] = {}

    def get(self, store_id: str) -> Store | None:
        return self._cached(self._by_id, store_id, lambda: self._registry.get(store_id))

    def find(self, platform: str, identity: str) -> Store | None:
        return self._cached(self._by_identity, (platform, identity), lambda: self._registry.find(platform, identity))

    def forget(self, store_id: str) -> None:
        """Drops what is kept of the store (this container changed it)."""
        self._by_id.pop(store_id, None)
        for key in [key for key, (_, store) in self._by_identity.items() if store.store_id == store_id]:
            del self._by_identity[key]

    def _cached(self, kept: dict[Key, tuple[float, Store]], key: Key, read: Callable[[], Store | None]) -> Store | None:
        if self._ttl <= 0:
            return read()
        now = self._clock()
        held = kept.get(key)
        if held is not None and now - held[0] < self._ttl:
            return held[1]
        store = read()
        if store is None:
            kept.pop(key, None)
            return None
        if len(kept) >= MAX_CACHED_STORES:
            kept.pop(next(iter(kept)))
        kept[key] = (now, store)
        return store
