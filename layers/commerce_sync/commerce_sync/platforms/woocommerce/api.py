"""The WooCommerce REST API (wc/v3): where a store's lives and its credentials (a REST API key pair, sent
as HTTP Basic). The catalog, the product webhooks, the webhook-secret push and the credential check all
build their URLs here.

A store's `platform_api_url` may be the site's address or its REST root (`…/wp-json/wc/v3`), with or
without a trailing slash; without one, the store's identity (the site URL) is the address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.connection import (
    ApiAddress,
    CredentialField,
    PlatformApiUrlError,
    PlatformConnection,
    check_read,
    credential,
    split_api_url,
)
from commerce_sync.platforms.http import fetch_json

REST_PATH = "/wp-json/wc/v3"
# The REST API's largest `per_page` (WC_REST_CRUD_Controller::get_collection_params: maximum 100).
MAX_PER_PAGE = 100
ACCEPTED_URLS = (
    "the site's address (https://shop.example.com) or its REST root (https://shop.example.com/wp-json/wc/v3)"
)


def parse_url(url: str) -> ApiAddress:
    """The site's address, from the site URL (a WordPress in a sub-folder keeps its path) or the REST root."""
    origin, path = split_api_url(url, ACCEPTED_URLS)
    if path.lower().endswith(REST_PATH):
        return ApiAddress(origin + path[: -len(REST_PATH)])
    if "/wp-json/" in path.lower() + "/":
        raise PlatformApiUrlError(f"the path {path[:100]!r} is not the wc/v3 REST root; give {ACCEPTED_URLS}")
    return ApiAddress(origin + path)


def rest_root(store: Store) -> str:
    """`<site>/wp-json/wc/v3`, from `platform_api_url` or else the store's identity."""
    return parse_url(store.platform_api_url or store.identity).url + REST_PATH


def site_url(store: Store) -> str:
    """The site's home URL, on which the storefront's pages (an order's page) are built. The store's identity
    is that URL (what WooCommerce sends as X-WC-Webhook-Source, lower-cased, without the trailing slash);
    `platform_api_url` may lead elsewhere (a proxy, a local stand-in)."""
    return store.identity.strip().rstrip("/")


def key_pair(credentials: Mapping[str, Any]) -> tuple[str, str] | None:
    """The REST API key (consumer key, consumer secret) in the store's `platform_api_credentials`, if whole."""
    key, secret = credential(credentials, "consumer_key"), credential(credentials, "consumer_secret")
    return (key, secret) if key and secret else None


def check_credentials(store: Store, credentials: Mapping[str, str], session: requests.Session) -> None:
    """`GET …/products?per_page=1`: what the catalog reads, so a key without read access is refused too."""
    auth = key_pair(credentials) or ("", "")
    check_read("the consumer key and secret were", session, f"{rest_root(store)}/products", {"per_page": 1}, auth=auth)


CONNECTION = PlatformConnection(
    platform="woocommerce",
    fields=(
        CredentialField("consumer_key", "WooCommerce REST API consumer key (ck_…)"),
        CredentialField("consumer_secret", "WooCommerce REST API consumer secret (cs_…)"),
    ),
    parse_url=parse_url,
    check=check_credentials,
)


# ----- collections (orders, customers, webhooks): page numbers, the totals in the answer's headers ----------


def gmt_param(value: datetime) -> str:
    """A time as the REST API's date filters take it with `dates_are_gmt=true`: ISO 8601 in UTC, no offset."""
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S")


def modified_window(after: datetime, before: datetime | None) -> dict[str, str]:
    """`modified_after` / `modified_before` on the GMT modification time. Both are strict (WordPress's
    date_query `after` and `before`: `>` and `<`), to the second."""
    params = {"modified_after": gmt_param(after), "dates_are_gmt": "true"}
    if before is not None:
        params["modified_before"] = gmt_param(before)
    return params


@dataclass(frozen=True)
class CollectionPage:
    items: list[dict[str, Any]]
    # X-WP-Total and X-WP-TotalPages: every resource the filters match, and the pages at this per_page.
    total: int | None
    total_pages: int | None


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = (headers.get(name) or "").strip()
    return int(value) if value.isdigit() else None


class WooCommerceRest:
    """GETs of a store's wc/v3 collections with its key pair (HTTP Basic, per request: one pooled session serves
    every store). Errors are `platforms.http`'s (PlatformApiError, PlatformAuthError, PlatformNotFound)."""

    def __init__(self, root: str, pair: tuple[str, str], session: requests.Session) -> None:
        self._root = root.rstrip("/")
        self._auth = pair
        self._session = session

    def collection(self, resource: str, params: Mapping[str, Any], page: int = 1) -> CollectionPage:
        """One page of `GET <root>/<resource>` (`per_page` defaults to the maximum)."""
        query = {"per_page": MAX_PER_PAGE, **params, "page": page}
        body, headers = fetch_json(self._session, f"{self._root}/{resource}", query, auth=self._auth)
        items = [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []
        return CollectionPage(items, _header_int(headers, "X-WP-Total"), _header_int(headers, "X-WP-TotalPages"))
