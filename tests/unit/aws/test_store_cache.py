"""The warm container's store cache: a store read moments ago is not read again; a change reaches it within the TTL;
an unknown store is never remembered."""

from __future__ import annotations

from commerce_sync.aws.store_cache import StoreCache
from commerce_sync.aws.store_registry import Store


def _store(store_id: str, name: str = "Shop") -> Store:
    return Store.model_validate(
        {
            "store_id": store_id,
            "platform": "shopify",
            "identity": f"{store_id}.myshopify.com",
            "name": name,
            "list_id": "list",
            "currency_code": "USD",
            "secret_id": f"commerce-sync/stores/{store_id}",
        }
    )


class Registry:
    def __init__(self) -> None:
        self.stores: dict[str, Store] = {}
        self.reads = 0

    def get(self, store_id: str) -> Store | None:
        self.reads += 1
        return self.stores.get(store_id)

    def find(self, platform: str, identity: str) -> Store | None:
        self.reads += 1
        return next((s for s in self.stores.values() if (s.platform, s.identity) == (platform, identity)), None)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_store_read_moments_ago_is_not_read_again_until_the_ttl_passes() -> None:
    registry, clock = Registry(), Clock()
    registry.stores["s1"] = _store("s1")
    cache = StoreCache(registry, ttl_seconds=30, clock=clock)

    assert cache.get("s1") is not None and cache.find("shopify", "s1.myshopify.com") is not None
    assert cache.get("s1") is not None and cache.find("shopify", "s1.myshopify.com") is not None
    assert registry.reads == 2

    registry.stores["s1"] = _store("s1", name="Renamed")
    clock.now += 29
    assert cache.get("s1").name == "Shop"
    clock.now += 2
    assert cache.get("s1").name == "Renamed", "a change reaches the container once the TTL has passed"


def test_an_unknown_store_is_looked_up_every_time_and_a_new_one_seen_at_once() -> None:
    registry = Registry()
    cache = StoreCache(registry, ttl_seconds=30, clock=Clock())
    assert cache.get("s2") is None
    registry.stores["s2"] = _store("s2")
    assert cache.get("s2") is not None
    assert registry.reads == 2


def test_a_zero_ttl_reads_the_registry_every_time_and_forget_drops_a_store() -> None:
    registry = Registry()
    registry.stores["s3"] = _store("s3")
    uncached = StoreCache(registry, ttl_seconds=0, clock=Clock())
    uncached.get("s3")
    uncached.get("s3")
    assert registry.reads == 2

    cached = StoreCache(registry, ttl_seconds=30, clock=Clock())
    cached.get("s3")
    cached.forget("s3")
    cached.get("s3")
    assert registry.reads == 4
