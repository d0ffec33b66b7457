"""The WooCommerce REST API (wc/v3): where a store's lives and its credentials (a REST API key pair, sent
as HTTP Basic). The catalog, the product webhooks, the webhook-secret push and the credential check all
build their URLs here.

A store's `platform_api_url` may be the site's address or its REST root (`…/wp-json/wc/v3`), with or
without a trailing slash; without one, the store's identity (the site URL) is the address.
"""

from __future__ import annotations

from collections.abc import Mapping
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

REST_PATH = "/wp-json/wc/v3"
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
