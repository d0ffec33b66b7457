"""The platforms commerce-sync speaks, one line each: the webhook adapter that normalises a platform's
deliveries, the catalog and promotion readers the nightly sync uses, the order and customer history reader the
backfill and the reconciliation use, and the API connection (address forms, credentials, their check) that
registering a store uses. Adding a platform is a package of its own plus its lines here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import requests

from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.adapter import PlatformAdapter
from commerce_sync.platforms.api2cart import api as api2cart_api
from commerce_sync.platforms.api2cart.catalog import Api2CartCatalog
from commerce_sync.platforms.api2cart.history import Api2CartHistory
from commerce_sync.platforms.api2cart.webhooks import Api2CartAdapter
from commerce_sync.platforms.bigcommerce import api as bigcommerce_api
from commerce_sync.platforms.bigcommerce.catalog import BigCommerceCatalog
from commerce_sync.platforms.bigcommerce.history import BigCommerceHistory
from commerce_sync.platforms.bigcommerce.promotions import BigCommercePromotions
from commerce_sync.platforms.bigcommerce.webhooks import BigCommerceAdapter
from commerce_sync.platforms.canonical.webhooks import CanonicalAdapter
from commerce_sync.platforms.connection import PlatformApiUrlError, PlatformConnection
from commerce_sync.platforms.history import HistorySource, HistoryUnavailable
from commerce_sync.platforms.http import CATALOG_HTTP_POLICY, HttpPolicy
from commerce_sync.platforms.products import CatalogSource, CatalogUnavailable
from commerce_sync.platforms.promotions import PromotionSource, PromotionsUnavailable
from commerce_sync.platforms.shopify import api as shopify_api
from commerce_sync.platforms.shopify.catalog import ShopifyCatalog
from commerce_sync.platforms.shopify.history import ShopifyHistory
from commerce_sync.platforms.shopify.promotions import ShopifyPromotions
from commerce_sync.platforms.shopify.webhooks import ShopifyAdapter
from commerce_sync.platforms.woocommerce import api as woocommerce_api
from commerce_sync.platforms.woocommerce.catalog import WooCommerceCatalog
from commerce_sync.platforms.woocommerce.history import WooCommerceHistory
from commerce_sync.platforms.woocommerce.promotions import WooCommercePromotions
from commerce_sync.platforms.woocommerce.webhooks import WooCommerceAdapter

CatalogBuilder = Callable[[Store, Mapping[str, Any], HttpPolicy, "requests.Session | None"], CatalogSource]

CATALOG_READERS: dict[str, CatalogBuilder] = {
    "shopify": ShopifyCatalog.for_store,
    "woocommerce": WooCommerceCatalog.for_store,
    "bigcommerce": BigCommerceCatalog.for_store,
    "api2cart": Api2CartCatalog.for_store,
}

PromotionBuilder = Callable[[Store, Mapping[str, Any], HttpPolicy, "requests.Session | None"], PromotionSource]

# Discount rules and their codes (the nightly sync's promotions, docs/promotions.md).
PROMOTION_READERS: dict[str, PromotionBuilder] = {
    "shopify": ShopifyPromotions.for_store,
    "woocommerce": WooCommercePromotions.for_store,
    "bigcommerce": BigCommercePromotions.for_store,
}

HistoryBuilder = Callable[[Store, Mapping[str, Any], HttpPolicy, "requests.Session | None"], HistorySource]

# Order and customer history readers (the backfill, the nightly reconciliation): platforms/history.py.
HISTORY_READERS: dict[str, HistoryBuilder] = {
    "shopify": ShopifyHistory.for_store,
    "woocommerce": WooCommerceHistory.for_store,
    "bigcommerce": BigCommerceHistory.for_store,
    "api2cart": Api2CartHistory.for_store,
}

CONNECTIONS: dict[str, PlatformConnection] = {
    "shopify": shopify_api.CONNECTION,
    "woocommerce": woocommerce_api.CONNECTION,
    "bigcommerce": bigcommerce_api.CONNECTION,
    "api2cart": api2cart_api.CONNECTION,
}


def connection_for(platform: str) -> PlatformConnection | None:
    """How a store of `platform` reaches its API; None for a platform without one (canonical senders)."""
    return CONNECTIONS.get(platform)


def adapters() -> dict[str, PlatformAdapter]:
    """Every webhook adapter, by the platform name in `/webhooks/{platform}`."""
    available: list[PlatformAdapter] = [
        ShopifyAdapter(),
        WooCommerceAdapter(),
        BigCommerceAdapter(),
        Api2CartAdapter(),
        CanonicalAdapter(),
    ]
    return {adapter.name: adapter for adapter in available}


def source_for(
    store: Store,
    credentials: Mapping[str, Any],
    policy: HttpPolicy = CATALOG_HTTP_POLICY,
    session: requests.Session | None = None,
) -> CatalogSource:
    """The catalog reader for a store's platform; CatalogUnavailable when the store has none."""
    build = CATALOG_READERS.get(store.platform)
    if build is None:
        raise CatalogUnavailable(
            f"store {store.store_id} is a {store.platform} store: commerce-sync cannot read its catalog, so its "
            "products arrive only as product.updated / product.deleted events"
        )
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
    build = HISTORY_READERS.get(store.platform)
    if build is None:
        raise HistoryUnavailable(
            f"store {store.store_id} is a {store.platform} store: commerce-sync cannot read its order and customer "
            "history, so they arrive only as events"
        )
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
    build = PROMOTION_READERS.get(store.platform)
    if build is None:
        raise PromotionsUnavailable(
            f"store {store.store_id} is a {store.platform} store: commerce-sync cannot read its promotions, so they "
            "arrive only as promotion.updated / promotion.deleted events"
        )
    try:
        return build(store, credentials, policy, session)
    except PlatformApiUrlError as error:
        raise PromotionsUnavailable(f"store {store.store_id}: {error}") from error
