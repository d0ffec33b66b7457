"""Reading a store's catalog from its platform: the `CatalogSource` interface and how to get one.

A source hands out one page at a time behind an opaque cursor (a string the checkpoint can store), so a
sync holds one page in memory whatever the catalog's size and can continue from any page in a fresh
invocation. `products_by_id` answers which of some products still exist (with their full data), which
the sync uses before retiring a product and to retry failed writes.

HTTP: one session per source with explicit timeouts, GET retries with exponential backoff and jitter on
429/5xx/timeouts, and the platform's own wait honoured (`Retry-After`, BigCommerce's
`X-Rate-Limit-Time-Reset-Ms`) — see commerce_sync.platforms.http. The catalog sync runs in the background,
so it waits longer than a webhook may (CATALOG_HTTP_POLICY).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import Product
from commerce_sync.platforms.http import (
    HttpPolicy,
    PlatformApiError,
    PlatformAuthError,
    PlatformNotFound,
    PlatformRetry,
    PlatformSession,
    _error_message,
)

# Background work: generous timeouts, more retries, and the platform may ask us to wait up to a minute.
CATALOG_HTTP_POLICY = HttpPolicy(
    connect_timeout=3.05, read_timeout=30.0, retries=6, backoff_factor=0.5, backoff_max=30.0, max_wait=60.0
)


class CatalogRetry(PlatformRetry):
    """PlatformRetry that also reads a fractional `Retry-After`. Shopify answers a throttled REST call
    with `Retry-After: 2.0`, and urllib3 accepts only whole seconds or an HTTP date: it raises
    InvalidHeader on "2.0" instead of waiting."""

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = float(retry_after.strip())
        except ValueError:
            return super().parse_retry_after(retry_after)
        return max(seconds, 0.0)


def catalog_session(policy: HttpPolicy = CATALOG_HTTP_POLICY, max_connections: int = 4) -> PlatformSession:
    """A platform session (timeouts on every request, GET retries, the server's wait honoured) whose
    retries understand every platform's Retry-After. Credentials go per request, not on the session."""
    session = PlatformSession(policy)
    session.headers.update({"Accept": "application/json", "User-Agent": "commerce-sync/0.1"})
    base = policy.retry()
    retry = CatalogRetry(
        total=base.total,
        connect=base.connect,
        read=base.read,
        status=base.status,
        other=base.other,
        allowed_methods=base.allowed_methods,
        status_forcelist=base.status_forcelist,
        backoff_factor=base.backoff_factor,
        backoff_jitter=base.backoff_jitter,
        backoff_max=base.backoff_max,
        respect_retry_after_header=True,
        raise_on_status=False,
        max_wait=policy.max_wait,
    )
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=max_connections)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass(frozen=True)
class CatalogPage:
    products: list[Product]
    next_cursor: str | None
    # The catalog's size when the platform says (for progress only).
    total: int | None = None
    # Platform products that could not be mapped: (id, reason). They are counted as failed, not fatal.
    skipped: list[tuple[str, str]] = field(default_factory=list)


class CatalogSource(Protocol):
    platform: str

    def page(self, cursor: str | None) -> CatalogPage:
        """The page at `cursor` (None: the first one); `next_cursor` is None after the last page."""
        ...

    def products_by_id(self, ids: Sequence[str]) -> list[Product]:
        """The products among `ids` that exist now; an id missing from the answer is gone."""
        ...


def fetch_json(
    session: requests.Session,
    url: str,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> tuple[Any, Mapping[str, str]]:
    """GET a JSON document and its headers (pagination lives in headers on Shopify and WooCommerce).

    Errors as in platform_http.get_json: PlatformNotFound, PlatformAuthError, PlatformApiError (0 = no
    answer). Messages carry the method and the path only, never a header or the query string. The
    credentials go per request (`headers`, `auth`), so one pooled session can serve every store.
    """
    where = f"GET {urlsplit(url).path}"
    try:
        response = session.get(url, params=params, headers=headers, auth=auth)
    except requests.exceptions.RetryError as error:
        raise PlatformApiError(429, f"{where}: still throttled after retries") from error
    except requests.exceptions.Timeout as error:
        raise PlatformApiError(0, f"{where} timed out after retries") from error
    except requests.exceptions.ConnectionError as error:
        raise PlatformApiError(0, f"{where}: connection failed ({type(error).__name__})") from error
    status = response.status_code
    if status >= 400:
        message = f"{where}: {_error_message(response)}"
        if status == 404:
            raise PlatformNotFound(status, message)
        if status in (401, 403):
            raise PlatformAuthError(status, message)
        raise PlatformApiError(status, message)
    try:
        return response.json(), response.headers
    except ValueError as error:
        raise PlatformApiError(status, f"{where}: the answer is not JSON") from error


def chunks(items: Sequence[str], size: int) -> list[Sequence[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def source_for(
    store: Store,
    credentials: Mapping[str, Any],
    policy: HttpPolicy = CATALOG_HTTP_POLICY,
    session: requests.Session | None = None,
) -> CatalogSource:
    """The catalog reader for a store's platform; CatalogUnavailable when the store has none."""
    from commerce_sync.platforms.bigcommerce.catalog import BigCommerceCatalog
    from commerce_sync.platforms.products import CatalogUnavailable
    from commerce_sync.platforms.shopify.catalog import ShopifyCatalog
    from commerce_sync.platforms.woocommerce.catalog import WooCommerceCatalog

    builders = {
        "shopify": ShopifyCatalog.for_store,
        "woocommerce": WooCommerceCatalog.for_store,
        "bigcommerce": BigCommerceCatalog.for_store,
    }
    build = builders.get(store.platform)
    if build is None:
        raise CatalogUnavailable(
            f"store {store.store_id} is a {store.platform} store: commerce-sync cannot read its catalog, so its "
            "products arrive only as product.updated / product.deleted events"
        )
    return build(store, credentials, policy, session)
