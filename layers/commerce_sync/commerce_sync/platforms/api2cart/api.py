"""The API2Cart API, for everything that reads or writes a store through it (webhook fetches, lists for the catalog
sync, the backfill and the reconciliation, webhook subscriptions, the credential check): its address, version,
credentials, envelope and paging live here and nowhere else.

- Address: `https://api.api2cart.com/v1.1`; a store's `platform_api_url` may name another origin (the emulator),
  with or without `/v1.1`. Methods are `GET|POST|PUT|DELETE {root}/{method}.json`.
- Credentials: the account's API key and the store's key, sent as the `x-api-key` and `x-store-key` headers (never
  in the query string, which logs and error messages could show). The store key is also the store's identity in the
  registry (docs/api2cart.md, "Registering a store"): the check refuses credentials whose store key is another.
- Envelope: every answer is `{return_code, return_message, result}`; API2Cart reports errors with HTTP 200 and a
  non-zero `return_code`, which become `Api2CartRefused` (a PlatformApiError with status 400, so nothing retries
  it), `Api2CartNotFound` when the message says the entity was not found, `Api2CartUnsupported` when it says the
  store's cart does not support the method.
- Paging: lists take `start` and `count` (at most 250), or `page_cursor`, which API2Cart forbids combining with any
  filter; `pagination.next` is the next page's cursor, absent or null on the last. `pages` follows the cursors.
- Dates in filters are `Y-m-d H:i:s`, taken here as UTC; dates in answers are A2CDateTime `{value, format}`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from commerce_sync.aws.store_registry import Store
from commerce_sync.platforms.connection import (
    ApiAddress,
    CredentialField,
    CredentialsRefused,
    PlatformApiUrlError,
    PlatformConnection,
    credential,
    split_api_url,
)
from commerce_sync.platforms.http import (
    PlatformApiError,
    PlatformAuthError,
    PlatformNotFound,
    get_json,
)

PLATFORM = "api2cart"
DEFAULT_API_ROOT = "https://api.api2cart.com/v1.1"
API_VERSION_PATH = "/v1.1"
API_KEY_HEADER = "x-api-key"
STORE_KEY_HEADER = "x-store-key"
MAX_COUNT = 250
# A store's whole list is read in at most this many pages (250 000 entities at 250 a page).
MAX_PAGES = 1000
FILTER_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
ACCEPTED_URLS = "API2Cart's API root (https://api.api2cart.com/v1.1; another origin, with or without /v1.1)"


class Api2CartRefused(PlatformApiError):
    """A non-zero `return_code`: API2Cart refused the call (its own words in the message)."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(400, f"{method}: return_code {code}: {message[:200]}")
        self.code = code


class Api2CartUnsupported(Api2CartRefused):
    """The store's cart does not offer the method (e.g. `order.abandoned.list` on a cart without abandoned
    checkouts): API2Cart refuses it with a message saying so. A limit of the cart, not a failure."""


class Api2CartNotFound(PlatformNotFound):
    """The entity the call names does not exist (any more)."""


def parse_url(url: str) -> ApiAddress:
    origin, path = split_api_url(url, ACCEPTED_URLS)
    if path not in ("", API_VERSION_PATH):
        raise PlatformApiUrlError(f"the path {path[:100]!r} is not API2Cart's; give {ACCEPTED_URLS}")
    return ApiAddress(origin + API_VERSION_PATH)


def api_root(store: Store, base_url: str | None = None) -> str:
    url = base_url or store.platform_api_url
    return parse_url(url).url if url else DEFAULT_API_ROOT


def keys(credentials: Mapping[str, Any]) -> tuple[str, str] | None:
    """(API key, store key) from the store's `platform_api_credentials`, or None when either is missing."""
    api_key, store_key = credential(credentials, "api_key"), credential(credentials, "store_key")
    return (api_key, store_key) if api_key and store_key else None


def filter_date(value: datetime) -> str:
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return utc.strftime(FILTER_DATE_FORMAT)


@dataclass(frozen=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    total: int | None


# The result's list key and count key per list method.
LISTS: dict[str, tuple[str, str]] = {
    "product.list": ("product", "products_count"),
    "customer.list": ("customer", "customers_count"),
    "order.list": ("order", "orders_count"),
    "order.abandoned.list": ("order", "orders_count"),
    "order.shipment.list": ("shipment", "shipment_count"),
    "webhook.list": ("webhook", "webhook_count"),
    "product.child_item.list": ("children", "total_count"),
}


class Api2CartApi:
    """One store's API2Cart calls, through a pooled session (the keys go per request)."""

    def __init__(self, root: str, api_key: str, store_key: str, session: requests.Session) -> None:
        self._root = root.rstrip("/")
        self._headers = {API_KEY_HEADER: api_key, STORE_KEY_HEADER: store_key}
        self._session = session

    @property
    def root(self) -> str:
        return self._root

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET `{method}.json`: its `result`. Raises Api2CartRefused, Api2CartNotFound, or the HTTP errors of
        platforms.http (PlatformAuthError, PlatformApiError with status 0 for no answer)."""
        answer = get_json(
            self._session,
            f"{self._root}/{method}.json",
            params={key: _param(value) for key, value in (params or {}).items()},
            headers=self._headers,
        )
        return _result(method, answer)

    def write(
        self, verb: str, method: str, body: Mapping[str, Any] | None = None, query: Mapping[str, Any] | None = None
    ) -> Any:
        """A POST, PUT or DELETE (not retried: writes are not safe to repeat)."""
        where = f"{verb} {urlsplit(self._root).path}/{method}.json"
        try:
            response = self._session.request(
                verb,
                f"{self._root}/{method}.json",
                json=dict(body) if body is not None else None,
                params={key: _param(value) for key, value in (query or {}).items()},
                headers=self._headers,
            )
        except requests.exceptions.RequestException as error:
            raise PlatformApiError(0, f"{where}: no answer ({type(error).__name__})") from error
        if response.status_code in (401, 403):
            raise PlatformAuthError(response.status_code, f"{where}: {response.reason}")
        if response.status_code >= 400:
            raise PlatformApiError(response.status_code, f"{where}: {response.reason}")
        try:
            answer = response.json()
        except ValueError as error:
            raise PlatformApiError(response.status_code, f"{where}: the answer is not JSON") from error
        return _result(method, answer)

    # ----- reads ----------------------------------------------------------------------------------------------

    def page(self, method: str, params: Mapping[str, Any]) -> Page:
        list_key, count_key = LISTS[method]
        result, pagination = self._listing(method, params)
        items = result.get(list_key) if isinstance(result, dict) else None
        total = result.get(count_key) if isinstance(result, dict) else None
        cursor = pagination.get("next") if isinstance(pagination, dict) else None
        return Page(
            items=[item for item in items if isinstance(item, dict)] if isinstance(items, list) else [],
            next_cursor=cursor if isinstance(cursor, str) and cursor else None,
            total=total if isinstance(total, int) and not isinstance(total, bool) else None,
        )

    def _listing(self, method: str, params: Mapping[str, Any]) -> tuple[Any, Any]:
        answer = get_json(
            self._session,
            f"{self._root}/{method}.json",
            params={key: _param(value) for key, value in params.items()},
            headers=self._headers,
        )
        result = _result(method, answer)
        return result, answer.get("pagination") if isinstance(answer, dict) else None

    def pages(self, method: str, params: Mapping[str, Any], count: int = MAX_COUNT) -> Iterator[Page]:
        """Every page: the first with the filters, the next ones by cursor alone (API2Cart takes no filter with one)."""
        page = self.page(method, {**params, "count": count})
        for _ in range(MAX_PAGES):
            yield page
            if page.next_cursor is None or not page.items:
                return
            page = self.page(method, {"page_cursor": page.next_cursor, "count": count})

    def info(self, kind: str, entity_id: str) -> dict[str, Any] | None:
        """`{kind}.info?id=…` (order, customer, product, basket), or None when it does not exist."""
        try:
            result = self.call(f"{kind}.info", {"id": entity_id})
        except Api2CartNotFound:
            return None
        return result if isinstance(result, dict) else None

    def shipments(self, order_id: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for page in self.pages("order.shipment.list", {"order_id": order_id}):
            found.extend(page.items)
        return found

    def children(self, product_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """The child items (variants) of the products, by parent id: `product.child_item.list?product_ids=…`."""
        found: dict[str, list[dict[str, Any]]] = {product_id: [] for product_id in product_ids}
        if not product_ids:
            return found
        for page in self.pages("product.child_item.list", {"product_ids": ",".join(product_ids)}):
            for child in page.items:
                parent = str(child.get("parent_id") or "")
                if parent in found:
                    found[parent].append(child)
        return found

    def cart_info(self) -> dict[str, Any]:
        result = self.call("cart.info")
        return result if isinstance(result, dict) else {}


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return filter_date(value)
    return str(value)


def _result(method: str, answer: Any) -> Any:
    if not isinstance(answer, dict):
        raise PlatformApiError(502, f"{method}: the answer is not API2Cart's envelope")
    code = answer.get("return_code")
    if code == 0:
        return answer.get("result")
    message = str(answer.get("return_message") or "refused")
    number = code if isinstance(code, int) and not isinstance(code, bool) else -1
    if "not found" in message.lower():
        raise Api2CartNotFound(404, f"{method}: {message[:200]}")
    # API2Cart's description lists no codes, so the words decide (the emulator answers code 5 with them).
    if "not supported" in message.lower() or "unsupported" in message.lower():
        raise Api2CartUnsupported(method, number, message)
    raise Api2CartRefused(method, number, message)


def client_for(
    store: Store, credentials: Mapping[str, Any], session: requests.Session, base_url: str | None = None
) -> Api2CartApi | None:
    """The store's client, or None without both keys. PlatformApiUrlError for an API URL that cannot be read."""
    pair = keys(credentials)
    if pair is None:
        return None
    return Api2CartApi(api_root(store, base_url), pair[0], pair[1], session)


def required_client(
    store: Store,
    credentials: Mapping[str, Any],
    session: requests.Session,
    unavailable: type[Exception],
    base_url: str | None = None,
) -> Api2CartApi:
    """The store's client, or `unavailable` (the caller's own error) naming why there is none."""
    try:
        client = client_for(store, credentials, session, base_url)
    except PlatformApiUrlError as error:
        raise unavailable(f"store {store.store_id}: {error}") from error
    if client is None:
        raise unavailable(
            f"store {store.store_id} has no API2Cart keys (platform_api_credentials.api_key and store_key)"
        )
    return client


def check_credentials(store: Store, credentials: Mapping[str, str], session: requests.Session) -> None:
    """`cart.info`: one small read that needs both keys. The store key must be the store's identity: deliveries
    and the registry find the store by it."""
    pair = keys(credentials)
    if pair is None:
        raise CredentialsRefused("both api_key and store_key are needed")
    if pair[1].strip() != store.identity.strip():
        raise CredentialsRefused("the store_key credential is not the store's identity (--identity): give the same key")
    client = Api2CartApi(api_root(store), pair[0], pair[1], session)
    host = urlsplit(client.root).netloc
    try:
        client.cart_info()
    except Api2CartRefused as error:
        raise CredentialsRefused(f"the API key and store key were refused by {host}: {error.message}") from error
    except PlatformAuthError as error:
        raise CredentialsRefused(f"the API key and store key were refused by {host}: {error.status}") from error
    except PlatformNotFound as error:
        raise CredentialsRefused(
            f"{host} answered 404 to cart.info: the platform API URL does not lead to API2Cart"
        ) from error
    except PlatformApiError as error:
        if error.status == 0:
            raise CredentialsRefused(f"{host} could not be reached ({error.message})", transient=True) from error
        raise CredentialsRefused(
            f"{host} answered {error.status} to cart.info, so the keys could not be checked", transient=error.retryable
        ) from error


CONNECTION = PlatformConnection(
    platform=PLATFORM,
    fields=(
        CredentialField("api_key", "API2Cart account API key"),
        CredentialField("store_key", "API2Cart store key"),
    ),
    parse_url=parse_url,
    check=check_credentials,
)
