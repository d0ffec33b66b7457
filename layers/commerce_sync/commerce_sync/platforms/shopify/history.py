"""Shopify's order and customer history (commerce_sync.platforms.history: the backfill and the reconciliation).

Requests, all through `api` (address, version, credentials, `Link` paging):
- `GET orders.json?status=any&updated_at_min=…&updated_at_max=…&limit=250&order=updated_at asc`, and
  `orders/count.json` with the same filters;
- `GET customers.json?updated_at_min=…&updated_at_max=…&limit=250`, and `customers/count.json`.
Later pages are `?limit=250&page_info=…` alone (Shopify refuses filters beside a `page_info`: they travel
inside it), so the cursor is the `page_info` of the `rel="next"` link.

Each order and customer becomes exactly the event the `orders/updated` and `customers/update` webhooks make
of the same body (`webhooks.order_updated_event`, `webhooks.customer_updated_event`: one function for both
paths), with the id `history:shopify:<resource>:<id>:<version>`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from pydantic import ValidationError

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import CanonicalEvent
from commerce_sync.canonical.versions import version_number
from commerce_sync.platforms.history import HistoryPage, HistoryResource, HistoryUnavailable, history_event_id
from commerce_sync.platforms.http import CATALOG_HTTP_POLICY, HttpPolicy, PlatformApiError, fetch_json, platform_session
from commerce_sync.platforms.lines import NoLineLeft
from commerce_sync.platforms.order_statuses import UnknownStatus
from commerce_sync.platforms.shopify.api import access_token, api_root, auth_headers, next_page_info
from commerce_sync.platforms.shopify.orders import ShopifyOrder
from commerce_sync.platforms.shopify.webhooks import (
    ShopifyCustomerPayload,
    customer_updated_event,
    order_updated_event,
)

PAGE_SIZE = 250
PLATFORM = "shopify"


def _iso(moment: datetime) -> str:
    """Shopify's filter format: ISO 8601 with an offset (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


class ShopifyHistory:
    platform = PLATFORM

    def __init__(self, store: Store, root: str, token: str, session: requests.Session) -> None:
        self._store = store
        self._root = root.rstrip("/")
        self._headers = auth_headers(token)
        self._session = session

    @classmethod
    def for_store(
        cls,
        store: Store,
        credentials: Mapping[str, Any],
        policy: HttpPolicy = CATALOG_HTTP_POLICY,
        session: requests.Session | None = None,
    ) -> ShopifyHistory:
        token = access_token(credentials)
        if not token:
            raise HistoryUnavailable(f"store {store.store_id} has no Shopify access token (platform_api_credentials)")
        return cls(store, api_root(store), token, session or platform_session(policy))

    def _filters(self, resource: HistoryResource, since: datetime, until: datetime | None) -> dict[str, Any]:
        params: dict[str, Any] = {"updated_at_min": _iso(since)}
        if until is not None:
            params["updated_at_max"] = _iso(until)
        if resource == "orders":
            params["status"] = "any"
        return params

    def page(
        self,
        resource: HistoryResource,
        updated_since: datetime,
        cursor: str | None,
        updated_until: datetime | None = None,
    ) -> HistoryPage:
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        if cursor:
            params["page_info"] = cursor
        else:
            params |= self._filters(resource, updated_since, updated_until)
            if resource == "orders":
                params["order"] = "updated_at asc"
        body, headers = fetch_json(self._session, f"{self._root}/{resource}.json", params, self._headers)
        raw = body.get(resource, []) if isinstance(body, dict) else []
        events: list[CanonicalEvent] = []
        skipped: list[tuple[str, str]] = []
        high_water: datetime | None = None
        make = self._order if resource == "orders" else self._customer
        for item in raw if isinstance(raw, list) else []:
            platform_id = str(item.get("id")) if isinstance(item, dict) else "?"
            try:
                event = make(item)
            except (ValidationError, BadRequest, UnknownStatus, NoLineLeft) as error:
                skipped.append((platform_id, f"{type(error).__name__}: {str(error)[:200]}"))
                continue
            events.append(event)
            if high_water is None or event.occurred_at > high_water:
                high_water = event.occurred_at
        return HistoryPage(
            events=events,
            next_cursor=next_page_info(headers.get("Link")),
            resources=len(raw) if isinstance(raw, list) else 0,
            high_water=high_water.isoformat() if high_water else None,
            skipped=skipped,
        )

    def count(
        self, resource: HistoryResource, updated_since: datetime, updated_until: datetime | None = None
    ) -> int | None:
        params = self._filters(resource, updated_since, updated_until)
        body, _ = fetch_json(self._session, f"{self._root}/{resource}/count.json", params, self._headers)
        count = body.get("count") if isinstance(body, dict) else None
        return int(count) if isinstance(count, int) else None

    def order(self, order_id: str) -> list[CanonicalEvent]:
        if not order_id.isdigit():
            return []  # a Shopify order id is a number: nothing to ask for
        try:
            body, _ = fetch_json(self._session, f"{self._root}/orders/{order_id}.json", {}, self._headers)
        except PlatformApiError as error:
            if error.status == 404:
                return []
            raise
        item = body.get("order") if isinstance(body, dict) else None
        if not isinstance(item, dict):
            return []
        try:
            return [self._order(item)]
        except (ValidationError, BadRequest, UnknownStatus, NoLineLeft):
            return []  # what a page would skip

    def _event_id(self, resource: str) -> Callable[[str, str], str]:
        return lambda entity_id, version: history_event_id(PLATFORM, resource, entity_id, version_number(version))

    def _order(self, item: Any) -> CanonicalEvent:
        return order_updated_event(self._store, ShopifyOrder.model_validate(item), self._event_id("orders"))

    def _customer(self, item: Any) -> CanonicalEvent:
        customer = ShopifyCustomerPayload.model_validate(item)
        return customer_updated_event(self._store, customer, self._event_id("customers"))
