"""The platforms commerce-sync speaks, one line each: the webhook adapter that normalises a platform's
deliveries, the catalog and promotion readers the nightly sync uses, the order and customer history reader the
backfill and the reconciliation use, and the API connection (address forms, credentials, their check) that
registering a store uses. Adding a platform is a package of its own plus its lines here."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.connection import PlatformApiUrlError, PlatformConnection
from commerce_sync.platforms.history import HistorySource, HistoryUnavailable
from commerce_sync.platforms.http import CATALOG_HTTP_POLICY, HttpPolicy
from commerce_sync.platforms.products import CatalogSource, CatalogUnavailable
from commerce_sync.platforms.promotions import PromotionSource, PromotionsUnavailable

if TYPE_CHECKING:
    import requests

    from commerce_sync.platforms.adapter import PlatformAdapter

# Every line names a module and the attribute in it, imported on first use: a function needs at most one
# platform's modules per request, and importing all of them was a third of the webhooks and product_sync
# functions' cold start. Once imported, a module stays in sys.modules, so only the first use pays.


class PlatformPart(NamedTuple):
    """Where one platform's part lives: `module`'s attribute `attribute` (a class, or a module constant)."""

    module: str
    attribute: str

    def load(self) -> Any:
        return getattr(importlib.import_module(self.module), self.attribute)


def _part(platform: str, module: str, attribute: str) -> PlatformPart:
    return PlatformPart(f"commerce_sync.platforms.{platform}.{module}", attribute)


# The class of each platform's webhook adapter, by the platform name in `/webhooks/{platform}` (its `name`).
ADAPTERS: dict[str, PlatformPart] = {
    "shopify": _part("shopify", "webhooks", "ShopifyAdapter"),
    "woocommerce": _part("woocommerce", "webhooks", "WooCommerceAdapter"),
    "bigcommerce": _part("bigcommerce", "webhooks", "BigCommerceAdapter"),
    "api2cart": _part("api2cart", "webhooks", "Api2CartAdapter"),
    "canonical": _part("canonical", "webhooks", "CanonicalAdapter"),
}

# Each reader class has `for_store(store, credentials, policy, session)`, the builders below.
CatalogBuilder = Callable[[Store, Mapping[str, Any], HttpPolicy, "requests.Session | None"], CatalogSource]

CATALOG_READERS: dict[str, PlatformPart] = {
    "shopify": _part("shopify", "catalog", "ShopifyCatalog"),
    "woocommerce": _part("woocommerce", "catalog", "WooCommerceCatalog"),
    "bigcommerce": _part("bigcommerce", "catalog", "BigCommerceCatalog"),
    "api2cart": _part("api2cart", "catalog", "Api2CartCatalog"),
}

PromotionBuilder = Callable[[Store, Mapping[str, Any], HttpPolicy, "requests.Session | None"], PromotionSource]

# Discount rules and their codes (the nightly sync's promotions, docs/promotions.md).
PROMOTION_READERS: dict[str, PlatformPart] = {
    "shopify": _part("shopify", "promotions", "ShopifyPromotions"),
    "woocommerce": _part("woocommerce", "promotions", "WooCommercePromotions"),
    "bigcommerce": _part("bigcommerce", "promotions", "BigCommercePromotions"),
}

HistoryBuilder = Callable[[Store, Mapping[str, Any], HttpPolicy, "requests.Session | None"], HistorySource]

# Order and customer history readers (the backfill, the nightly reconciliation): platforms/history.py.
HISTORY_READERS: dict[str, PlatformPart] = {
    "shopify": _part("shopify", "history", "ShopifyHistory"),
    "woocommerce": _part("woocommerce", "history", "WooCommerceHistory"),
    "bigcommerce": _part("bigcommerce", "history", "BigCommerceHistory"),
    "api2cart": _part("api2cart", "history", "Api2CartHistory"),
}

# Each platform's `api.CONNECTION`.
CONNECTIONS: dict[str, PlatformPart] = {
    platform: _part(platform, "api", "CONNECTION") for platform in ("shopify", "woocommerce", "bigcommerce", "api2cart")
}


def connection_for(platform: str) -> PlatformConnection | None:
    """How a store of `platform` reaches its API; None for a platform without one (canonical senders)."""
    part = CONNECTIONS.get(platform)
    if part is None:
        return None
    connection: PlatformConnection = part.load()
    return connection


class PlatformAdapters(Mapping[str, "PlatformAdapter"]):
    """The webhook adapters by platform name, each imported and built when first asked for and kept after: a
    receiver answering Shopify deliveries never imports WooCommerce's normaliser. Its keys (the names) need no
    import."""

    def __init__(self) -> None:
        self._built: dict[str, PlatformAdapter] = {}

    def __getitem__(self, platform: str) -> PlatformAdapter:
        adapter = self._built.get(platform)
        if adapter is None:
            adapter = ADAPTERS[platform].load()()
            self._built[platform] = adapter
        return adapter

    def __iter__(self) -> Iterator[str]:
        return iter(ADAPTERS)

    def __len__(self) -> int:
        return len(ADAPTERS)

    def __contains__(self, platform: object) -> bool:
        return platform in ADAPTERS


def adapters() -> PlatformAdapters:
    """Every webhook adapter, by the platform name in `/webhooks/{platform}`."""
    return PlatformAdapters()


def source_for(
    store: Store,
    credentials: Mapping[str, Any],
    policy: HttpPolicy = CATALOG_HTTP_POLICY,
    session: requests.Session | None = None,
) -> CatalogSource:
    """The catalog reader for a store's platform; CatalogUnavailable when the store has none."""
    reader = CATALOG_READERS.get(store.platform)
    if reader is None:
        raise CatalogUnavailable(
            f"store {store.store_id} is a {store.platform} store: commerce-sync cannot read its catalog, so its "
            "products arrive only as product.updated / product.deleted events"
        )
    build: CatalogBuilder = reader.load().for_store
    try:
        return build(store, credentials, policy, session)
    except PlatformApiUrlError as error:
        raise CatalogUnavailable(f"store {store.store_id}: {error}") from error


def history_source_for(
    store: Store,
    credentials: Mapping[str, Any],
    policy: HttpPolicy = CATALOG_HTTP_POLICY,
    session: requests.Session | None = None,
) -> HistorySource:
    """The order and customer history reader for a store's platform; HistoryUnavailable when the store has none
    (a canonical sender, a platform without a reader) or when its registration cannot reach the API (no
    credentials, an API URL that cannot be read)."""
    reader = HISTORY_READERS.get(store.platform)
    if reader is None:
        raise HistoryUnavailable(
            f"store {store.store_id} is a {store.platform} store: commerce-sync cannot read its order and customer "
            "history, so they arrive only as events"
        )
    build: HistoryBuilder = reader.load().for_store
    try:
        return build(store, credentials, policy, session)
    except PlatformApiUrlError as error:
        raise HistoryUnavailable(f"store {store.store_id}: {error}") from error


def promotion_source_for(
    store: Store,
    credentials: Mapping[str, Any],
    policy: HttpPolicy = CATALOG_HTTP_POLICY,
    session: requests.Session | None = None,
) -> PromotionSource:
    """The promotion reader for a store's platform; PromotionsUnavailable when the store has none (a canonical
    sender: its promotions arrive as promotion.* events) or cannot reach its API."""
    reader = PROMOTION_READERS.get(store.platform)
    if reader is None:
        raise PromotionsUnavailable(
            f"store {store.store_id} is a {store.platform} store: commerce-sync cannot read its promotions, so they "
            "arrive only as promotion.updated / promotion.deleted events"
        )
    build: PromotionBuilder = reader.load().for_store
    try:
        return build(store, credentials, policy, session)
    except PlatformApiUrlError as error:
        raise PromotionsUnavailable(f"store {store.store_id}: {error}") from error
