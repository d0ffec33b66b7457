"""The BigCommerce store API, for everything that reads or writes a store (webhook fetches, orders, the
catalog, the webhook-secret push, the credential check): where it lives, its credentials and how a read's
failure is classed.

A store's `platform_api_url` may be the store's API root, `https://api.bigcommerce.com/stores/{store hash}`,
with or without `/v3` or `/v2` after it (and a trailing slash); without one, BigCommerce's root for the
store hash (the store's identity) is used. Every caller appends `/v3/…` or `/v2/…` itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.platforms.adapter import StoreApi
from commerce_sync.platforms.connection import (
    ApiAddress,
    CredentialField,
    PlatformApiUrlError,
    PlatformConnection,
    check_read,
    credential,
    split_api_url,
)
from commerce_sync.platforms.http import (
    PlatformApiError,
    PlatformAuthError,
    PlatformNotFound,
    StoreApiUnavailable,
    get_json,
)

DEFAULT_API_ROOT = "https://api.bigcommerce.com/stores"
ACCESS_TOKEN_HEADER = "X-Auth-Token"
# The largest `limit` of the v2 lists (orders and their products, shipments, coupons) and of v3 collections.
MAX_LIMIT = 250
_STORE_PATH = re.compile(r"^(?P<root>.*/stores/[^/]+?)(?:/v[23])?$")
ACCEPTED_URLS = (
    "the store's API root (https://api.bigcommerce.com/stores/<store hash>, a /v3 or /v2 after it is accepted)"
)


def parse_url(url: str) -> ApiAddress:
    """The store's API root (`…/stores/<hash>`), without a `/v3` or `/v2` the URL may end with."""
    origin, path = split_api_url(url, ACCEPTED_URLS)
    found = _STORE_PATH.match(path)
    if found is None:
        raise PlatformApiUrlError(f"the path {path[:100]!r} names no store; give {ACCEPTED_URLS}")
    return ApiAddress(origin + found.group("root"))


def api_root(store: Store, base_url: str | None = None) -> str:
    """The store's API root: `base_url` (a webhook's StoreApi), else the registered `platform_api_url`, else
    BigCommerce's by the store hash."""
    url = base_url or store.platform_api_url
    return parse_url(url).url if url else f"{DEFAULT_API_ROOT}/{store.identity}"


def access_token(credentials: Mapping[str, Any]) -> str | None:
    """The API account's access token in the store's `platform_api_credentials`, if any."""
    return credential(credentials, "access_token")


def auth_headers(token: str) -> dict[str, str]:
    return {ACCESS_TOKEN_HEADER: token}


def store_access(store: Store, api: StoreApi | None) -> tuple[str, str]:
    """(API root, access token) for a webhook's reads; StoreApiUnavailable (the webhook comes back later,
    once the operator has fixed the store) without a token or with an API URL that cannot be read."""
    token = access_token(api.credentials) if api else None
    if not token:
        raise StoreApiUnavailable(
            f"store {store.store_id} has no BigCommerce access token (platform_api_credentials.access_token)"
        )
    try:
        return api_root(store, api.base_url if api else None), token
    except PlatformApiUrlError as error:
        raise StoreApiUnavailable(f"store {store.store_id}: {error}") from error


def store_client(store: Store, api: StoreApi | None, session: requests.Session) -> BigCommerceApi:
    """The reads a webhook needs, with the store's access token; StoreApiUnavailable without one."""
    root, token = store_access(store, api)
    return BigCommerceApi(root, token, session)


def check_credentials(store: Store, credentials: Mapping[str, str], session: requests.Session) -> None:
    """`GET /v3/catalog/summary`: one small read that needs the catalog's read scope, which the sync uses."""
    headers = auth_headers(access_token(credentials) or "")
    check_read("the access token was", session, f"{api_root(store)}/v3/catalog/summary", headers=headers)


CONNECTION = PlatformConnection(
    platform="bigcommerce",
    fields=(CredentialField("access_token", "BigCommerce API account access token"),),
    parse_url=parse_url,
    check=check_credentials,
)


class BigCommerceApi:
    """The few reads the adapter needs, with the store's `X-Auth-Token`. Not found is None; failures
    that may pass raise StoreApiUnavailable; other refusals are a 400 (the delivery is unusable)."""

    def __init__(self, base_url: str, access_token: str, session: requests.Session) -> None:
        self._base_url = base_url.rstrip("/")
        self._headers = auth_headers(access_token)
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

    # ----- lists: v2 by page number (204 and no body for an empty page), v3 with `meta.pagination` -----------

    def v2_page(self, path: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One page of a v2 list (bare JSON array); [] when BigCommerce answers 204."""
        answer = self._get(path, {key: str(value) for key, value in params.items()})
        return [item for item in answer if isinstance(item, dict)] if isinstance(answer, list) else []

    def v3_page(self, path: str, params: Mapping[str, Any]) -> V3Page:
        answer = self._get(path, {key: str(value) for key, value in params.items()})
        data = answer.get("data") if isinstance(answer, dict) else None
        meta = answer.get("meta") if isinstance(answer, dict) else None
        pagination = meta.get("pagination") if isinstance(meta, dict) else None
        pagination = pagination if isinstance(pagination, dict) else {}
        return V3Page(
            items=[item for item in data if isinstance(item, dict)] if isinstance(data, list) else [],
            total=_int(pagination.get("total")),
            total_pages=_int(pagination.get("total_pages")),
        )

    def orders_count(self, params: Mapping[str, Any]) -> int | None:
        """`GET /v2/orders/count` with the list's filters: `{statuses: [...], count}`."""
        answer = self._get("/v2/orders/count", {key: str(value) for key, value in params.items()})
        return _int(answer.get("count")) if isinstance(answer, dict) else None

    def customer(self, customer_id: str) -> dict[str, Any] | None:
        return self._first("/v3/customers", {"id:in": customer_id})

    def subscriber(self, email: str) -> dict[str, Any] | None:
        return self._first("/v3/customers/subscribers", {"email": email})


@dataclass(frozen=True)
class V3Page:
    items: list[dict[str, Any]]
    # meta.pagination: every resource the filters match, and the pages at this limit.
    total: int | None
    total_pages: int | None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError):
        return None


def date_param(value: datetime) -> str:
    """A time for the date filters (v2 `min_date_modified`, v3 `date_modified:min`): ISO 8601 in UTC, which both
    take (v2 also takes RFC 2822)."""
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%SZ")


def orders_modified(minimum: datetime, maximum: datetime | None) -> dict[str, str]:
    """`GET /v2/orders` and `/v2/orders/count` by modification time: `min_date_modified`, `max_date_modified`
    ("Minimum/Maximum date the order was modified", taken as inclusive)."""
    params = {"min_date_modified": date_param(minimum)}
    if maximum is not None:
        params["max_date_modified"] = date_param(maximum)
    return params


def customers_modified(minimum: datetime, maximum: datetime | None) -> dict[str, str]:
    """`GET /v3/customers` by modification time: `date_modified:min`, `date_modified:max` (taken as inclusive)."""
    params = {"date_modified:min": date_param(minimum)}
    if maximum is not None:
        params["date_modified:max"] = date_param(maximum)
    return params
