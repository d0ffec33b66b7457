"""BigCommerce's history reader (issue 11; the interface: `platforms.history`): orders and customers changed in a
window, a page at a time, as the same canonical events the webhooks make (docs/history.md, "Platform readers").

- Orders: `GET /v2/orders?min_date_modified=…&max_date_modified=…&sort=date_modified:asc&limit=250&page=N`
  (a bare JSON array; 204 for an empty page). Each listed order is completed as a `store/order/*` delivery
  completes it (`BigCommerceOrderApi.complete`: its products, shipments and coupons, its refunds when it has
  some, the billing e-mail's newsletter subscriber) and mapped by the same function (`orders.order_normalised`),
  four to five reads an order, a few orders at a time. Archived orders are not listed (BigCommerce lists them
  only when asked with `is_deleted`); `store/order/archived` removes them.
- Customers: `GET /v3/customers?date_modified:min=…&date_modified:max=…&sort=date_modified:asc&limit=250
  &page=N`, each with its newsletter subscriber (`GET /v3/customers/subscribers?email=…`, once per address), as
  `store/customer/updated` reads it (`customers.read_customer`).
- The date filters' edges are not documented as inclusive or exclusive, so the reader asks one second wider and
  trims; the cursor is a keyset over the modification time (`platforms.history_paging`).
- Counts: `GET /v2/orders/count` with the same filters (its `count`), and `meta.pagination.total` of the
  customers' list (`limit=1`); both filters taken as inclusive.

BigCommerce answers a throttled request with 429 and `X-Rate-Limit-Time-Reset-Ms`, which the platform session
waits out (CATALOG_HTTP_POLICY by default: up to a minute); refused credentials, throttling past the retries and
outages raise StoreApiUnavailable, and the page is read again later. Event ids are
`history:bigcommerce:<orders|customers>:<id>:<version>`. A resource the webhooks would deliberately leave out
(an order without products or billing e-mail) or that cannot be used (an unknown `status_id`, an order deleted
between the list and its reads) is in `skipped` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import CanonicalEvent
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.platforms.adapter import Normalised
from commerce_sync.platforms.bigcommerce.api import (
    MAX_LIMIT,
    BigCommerceApi,
    access_token,
    api_root,
    customers_modified,
    orders_modified,
)
from commerce_sync.platforms.bigcommerce.customers import customer_event, customer_version_time, read_customer
from commerce_sync.platforms.bigcommerce.orders import BigCommerceOrderApi, order_normalised
from commerce_sync.platforms.history import HistoryPage, HistoryResource, HistoryUnavailable, history_event_id
from commerce_sync.platforms.history_paging import KeysetCursor, Listed, Window, high_water, select
from commerce_sync.platforms.http import CATALOG_HTTP_POLICY, HttpPolicy, PlatformNotFound, platform_session

PLATFORM = "bigcommerce"
# Orders of one page are completed a few at a time: 250 orders are over a thousand reads.
ORDER_READ_WORKERS = 4

Outcome = Normalised | tuple[str, str]


def _time(value: Any) -> datetime | None:
    """A v2 (RFC 2822: `Fri, 14 Mar 2025 13:18:02 +0000`) or v3 (ISO 8601) time; None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _listed(items: list[dict[str, Any]]) -> list[Listed[dict[str, Any]]]:
    return [
        Listed(str(item.get("id", "?")), _time(item.get("date_modified")) or _time(item.get("date_created")), item)
        for item in items
    ]


def _billing_email(order: Mapping[str, Any]) -> str | None:
    billing = order.get("billing_address")
    email = billing.get("email") if isinstance(billing, Mapping) else None
    return (email.strip() or None) if isinstance(email, str) else None


def _reason(text: str) -> str:
    return redact_emails(text)[:300]


class BigCommerceHistory:
    platform = PLATFORM

    def __init__(self, store: Store, client: BigCommerceApi, page_size: int = MAX_LIMIT) -> None:
        self._store = store
        self._client = client
        self._orders_api = BigCommerceOrderApi.of(client)
        self._page_size = page_size

    @classmethod
    def for_store(
        cls,
        store: Store,
        credentials: Mapping[str, Any],
        policy: HttpPolicy = CATALOG_HTTP_POLICY,
        session: requests.Session | None = None,
    ) -> BigCommerceHistory:
        token = access_token(credentials)
        if not token:
            raise HistoryUnavailable(
                f"store {store.store_id} has no BigCommerce access token (platform_api_credentials.access_token)"
            )
        session = session or platform_session(policy, max_connections=ORDER_READ_WORKERS)
        return cls(store, BigCommerceApi(api_root(store), token, session))

    # ----- HistorySource --------------------------------------------------------------------------------------

    def page(
        self,
        resource: HistoryResource,
        updated_since: datetime,
        cursor: str | None,
        updated_until: datetime | None = None,
    ) -> HistoryPage:
        window, keyset = Window.of(updated_since, updated_until), KeysetCursor.decode(cursor)
        lower, upper = window.request_bounds(keyset.anchor)
        paging = {"sort": "date_modified:asc", "limit": self._page_size, "page": keyset.page}
        if resource == "orders":
            items = self._client.v2_page("/v2/orders", {**orders_modified(lower, upper), **paging})
            kept, following = select(window, keyset, _listed(items), len(items) >= self._page_size)
            outcomes = self._orders(kept)
        elif resource == "customers":
            answer = self._client.v3_page("/v3/customers", {**customers_modified(lower, upper), **paging})
            more = (
                keyset.page < answer.total_pages
                if answer.total_pages is not None
                else len(answer.items) >= self._page_size
            )
            kept, following = select(window, keyset, _listed(answer.items), more)
            outcomes = self._customers(kept)
        else:
            raise HistoryUnavailable(f"BigCommerce has no {resource} history")
        events: list[CanonicalEvent] = []
        skipped: list[tuple[str, str]] = []
        for entry, outcome in zip(kept, outcomes, strict=True):
            if isinstance(outcome, tuple):
                skipped.append(outcome)
                continue
            if outcome.ignored_kind is not None:
                skipped.append((entry.id, _reason(f"{outcome.ignored_kind.value}: {outcome.ignored_reason}")))
            events.extend(outcome.events)
        return HistoryPage(
            events=events,
            next_cursor=following.encode() if following else None,
            resources=len(kept),
            high_water=high_water(kept),
            skipped=skipped,
        )

    def count(
        self, resource: HistoryResource, updated_since: datetime, updated_until: datetime | None = None
    ) -> int | None:
        window = Window.of(updated_since, updated_until)
        if resource == "orders":
            return self._client.orders_count(orders_modified(window.since, window.until))
        params = {**customers_modified(window.since, window.until), "limit": 1}
        return self._client.v3_page("/v3/customers", params).total

    # ----- resources ------------------------------------------------------------------------------------------

    def order(self, order_id: str) -> list[CanonicalEvent]:
        if not order_id.isdigit():
            return []
        try:
            raw = self._orders_api.order(order_id)
        except PlatformNotFound:
            return []
        if not isinstance(raw, dict):
            return []
        (outcome,) = self._orders([Listed(order_id, _time(raw.get("date_modified")), raw)])
        return [] if isinstance(outcome, tuple) else list(outcome.events)

    def _event_id(self, resource: HistoryResource) -> Callable[[str, str], str]:
        return lambda entity_id, version: history_event_id(PLATFORM, resource, entity_id, version)

    def _orders(self, kept: list[Listed[dict[str, Any]]]) -> list[Outcome]:
        # One subscriber read per billing address on a page, before the orders are completed side by side.
        addresses = {email.lower(): email for entry in kept if (email := _billing_email(entry.item))}
        with ThreadPoolExecutor(max_workers=ORDER_READ_WORKERS) as pool:
            subscribers = dict(zip(addresses, pool.map(self._client.subscriber, addresses.values()), strict=True))

        def one(entry: Listed[dict[str, Any]]) -> Outcome:
            try:
                fetched = self._orders_api.complete(entry.item, subscribers)
                return order_normalised(fetched, self._store, self._event_id("orders"))
            except PlatformNotFound:
                return (entry.id, "gone: the order no longer exists on BigCommerce")
            except (BadRequest, ValueError) as error:
                return (entry.id, _reason(f"unmappable: {error}"))

        with ThreadPoolExecutor(max_workers=ORDER_READ_WORKERS) as pool:
            return list(pool.map(one, kept))

    def _customers(self, kept: list[Listed[dict[str, Any]]]) -> list[Outcome]:
        subscribers: dict[str, Any] = {}
        outcomes: list[Outcome] = []
        for entry in kept:
            try:
                bc_customer, customer = read_customer(self._client, entry.item, subscribers)
                version_at = customer_version_time(bc_customer)
                if version_at is None:
                    outcomes.append((entry.id, "unmappable: no date_modified or date_created to version it"))
                    continue
                event = customer_event(self._store, customer, bc_customer.id, version_at, self._event_id("customers"))
                outcomes.append(Normalised(events=[event]))
            except (BadRequest, ValueError) as error:
                outcomes.append((entry.id, _reason(f"unmappable: {error}")))
        return outcomes
