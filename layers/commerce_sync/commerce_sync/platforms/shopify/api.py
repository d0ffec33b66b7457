"""The Shopify Admin REST API: where a store's lives and which version commerce-sync speaks. Every caller
that reads a store (today the catalog) builds its URLs here."""

from __future__ import annotations

from commerce_sync.aws.store_registry import Store

API_VERSION = "2025-01"


def admin_root(store: Store) -> str:
    """The shop's address: the registered `platform_api_url`, else `https://<shop domain>`."""
    return (store.platform_api_url or f"https://{store.identity}").rstrip("/")
