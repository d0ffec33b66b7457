"""The BigCommerce store API, for everything that reads or writes a store (webhook fetches, orders, the
catalog, the webhook-secret push): where it lives and how a read's failure is classed."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import requests

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.platforms.adapter import StoreApi
from commerce_sync.platforms.http import (
    PlatformApiError,
    PlatformAuthError,
    PlatformNotFound,
    StoreApiUnavailable,
    get_json,
)

DEFAULT_API_ROOT = "https://api.bigcommerce.com/stores"


def api_root(store: Store, base_url: str | None = None) -> str:
    """The store's API root: the registered `platform_api_url`, else BigCommerce's by the store hash."""
    return (base_url or store.platform_api_url or f"{DEFAULT_API_ROOT}/{store.identity}").rstrip("/")


def store_client(store: Store, api: StoreApi | None, session: requests.Session) -> BigCommerceApi:
    """The reads a webhook needs, with the store's access token; StoreApiUnavailable without one."""
    token = (api.credentials.get("access_token") if api else None) or ""
    if not token:
        raise StoreApiUnavailable(
            f"store {store.store_id} has no BigCommerce access token (platform_api_credentials.access_token)"
        )
    return BigCommerceApi(api_root(store, api.base_url if api else None), str(token), session)


class BigCommerceApi:
    """The few reads the adapter needs, with the store's `X-Auth-Token`. Not found is None; failures
    that may pass raise StoreApiUnavailable; other refusals are a 400 (the delivery is unusable)."""

    def __init__(self, base_url: str, access_token: str, session: requests.Session) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = {"X-Auth-Token": access_token}
        self._session = session

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        try:
            return get_json(self._session, f"{self._base_url}{path}", params=params, headers=self._headers)
        except PlatformNotFound:
            raise
        except PlatformAuthError as error:
            raise StoreApiUnavailable(
                f"BigCommerce refused the store's access token ({error.status}); check the API account's "
                "scopes and the platform_api_credentials in the store's secret"
            ) from error
        except PlatformApiError as error:
            if error.retryable:
                raise StoreApiUnavailable(f"the BigCommerce API is unavailable: {error}") from error
            raise BadRequest(f"BigCommerce refused a read for this delivery: {error}") from error

    def _first(self, path: str, params: dict[str, str]) -> dict[str, Any] | None:
        try:
            answer = self._get(path, params)
        except PlatformNotFound:
            return None
        items = answer.get("data") if isinstance(answer, dict) else None
        return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else None

    def cart(self, cart_id: str) -> Any | None:
        try:
            answer = self._get(f"/v3/carts/{quote(cart_id, safe='')}", {"include": "redirect_urls"})
        except PlatformNotFound:
            return None
        return answer.get("data") if isinstance(answer, dict) else answer

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        return self._first("/v3/customers", {"id:in": customer_id})

    def subscriber(self, email: str) -> dict[str, Any] | None:
        return self._first("/v3/customers/subscribers", {"email": email})
