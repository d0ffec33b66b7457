"""The Shopify Admin REST API: where a store's lives, which version commerce-sync speaks to it, and its
credentials, and its cursor paging (`Link: <…page_info=…>; rel="next"`). Every caller that reads a store (the
catalog, the order and customer history, the credential check) builds its URLs here.

A store's `platform_api_url` may be the shop's address or its Admin API root, in any of these forms, which
all lead to the same requests:
`https://my-shop.myshopify.com`, `…/`, `…/admin`, `…/admin/api/2025-01`. The version is the store's
`platform_api_version`, else the one its URL names, else API_VERSION; `add-store` moves a version named in
the URL into `platform_api_version`, so the registry keeps the shop's address alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

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

# The latest stable version (Shopify releases one each quarter and supports each for at least 12 months, then
# quietly serves the oldest supported one instead); a store can name another with --platform-api-version.
API_VERSION = "2026-10"
ACCESS_TOKEN_HEADER = "X-Shopify-Access-Token"
# The most a REST listing gives a page (its `limit`), and how many pages a whole-listing read follows at most.
MAX_PAGE_SIZE = 250
MAX_PAGES = 100
ADMIN_PATH = "/admin"
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
_API_PATH = re.compile(r"^/admin/api(?:/(?P<version>[^/]+))?$")
_VERSION = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
ACCEPTED_URLS = (
    "the shop's address (https://my-shop.myshopify.com) or its Admin API root "
    f"(https://my-shop.myshopify.com/admin/api/{API_VERSION})"
)


def parse_version(version: str) -> str:
    """A Shopify API version (`YYYY-MM`), as given; PlatformApiUrlError otherwise."""
    value = version.strip()
    if not _VERSION.match(value):
        raise PlatformApiUrlError(
            f"{value[:40]!r} is not a Shopify API version: the form is YYYY-MM, e.g. {API_VERSION}"
        )
    return value


def parse_url(url: str) -> ApiAddress:
    """The shop's address and the version the URL names, from any accepted form of the URL."""
    origin, path = split_api_url(url, ACCEPTED_URLS)
    if path.lower() in ("", ADMIN_PATH):
        return ApiAddress(origin)
    found = _API_PATH.match(path)
    if found is None:
        raise PlatformApiUrlError(f"the path {path[:100]!r} is not one of Shopify's; give {ACCEPTED_URLS}")
    version = found.group("version")
    return ApiAddress(origin, parse_version(version) if version else None)


def api_root(store: Store) -> str:
    """`https://<shop>/admin/api/<version>`: where every Admin REST call of the store starts."""
    address = parse_url(store.platform_api_url or f"https://{store.identity}")
    return f"{address.url}/admin/api/{store.platform_api_version or address.version or API_VERSION}"


def access_token(credentials: Mapping[str, Any]) -> str | None:
    """The Admin API access token in the store's `platform_api_credentials`, if any."""
    return credential(credentials, "access_token")


def auth_headers(token: str) -> dict[str, str]:
    return {ACCESS_TOKEN_HEADER: token}


def check_credentials(store: Store, credentials: Mapping[str, str], session: requests.Session) -> None:
    """`GET /admin/api/<version>/shop.json`: any valid token may read it."""
    headers = auth_headers(access_token(credentials) or "")
    check_read("the access token was", session, f"{api_root(store)}/shop.json", headers=headers)


def next_page_info(link_header: str | None) -> str | None:
    """The `page_info` of the `rel="next"` link, or None on the last page."""
    if not link_header:
        return None
    found = _NEXT_LINK.search(link_header)
    if not found:
        return None
    values = parse_qs(urlsplit(found.group(1)).query).get("page_info")
    return values[0] if values else None


def every_page(
    session: requests.Session,
    url: str,
    headers: Mapping[str, str],
    params: Mapping[str, Any] | None = None,
    max_pages: int = MAX_PAGES,
) -> Iterator[Any]:
    """Each page's JSON of a whole REST listing: `url` with `params` and `limit` 250 first, then every
    `rel="next"` link's `page_info` with `limit` alone (Shopify refuses any other parameter beside it). For
    listings short enough to read whole (a shop's webhook subscriptions); PlatformApiError as `fetch_json`."""
    query: dict[str, Any] = {**(params or {}), "limit": MAX_PAGE_SIZE}
    for _ in range(max_pages):
        body, answer_headers = fetch_json(session, url, query, headers)
        yield body
        page_info = next_page_info(answer_headers.get("Link"))
        if page_info is None:
            return
        query = {"limit": MAX_PAGE_SIZE, "page_info": page_info}


CONNECTION = PlatformConnection(
    platform="shopify",
    fields=(CredentialField("access_token", "Shopify Admin API access token (shpat_…)"),),
    parse_url=parse_url,
    check=check_credentials,
    parse_version=parse_version,
)
