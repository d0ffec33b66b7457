"""The WooCommerce REST API (wc/v3): where a store's lives."""

from __future__ import annotations

from commerce_sync.aws.store_registry import Store

REST_PATH = "/wp-json/wc/v3"


def rest_root(store: Store) -> str:
    """`platform_api_url` when it is the REST root (`…/wp-json/wc/v3`), else the site URL (the URL given,
    or the store's identity) plus `/wp-json/wc/v3`."""
    base = (store.platform_api_url or store.identity).rstrip("/")
    return base if "/wp-json/" in base + "/" else base + REST_PATH
