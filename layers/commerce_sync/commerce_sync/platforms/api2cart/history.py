"""API2Cart's history reader (the backfill and the nightly reconciliation; the interface: `platforms.history`): orders
and customers changed in a window, a page at a time, as the same canonical events the webhooks make.

- Orders: `order.list?modified_from=…&modified_to=…&sort_by=modified_at&sort_direction=asc&count=N`, then the next
  pages by API2Cart's `page_cursor` alone (it takes no filter with a cursor: the cursor carries the query). Each
  listed order gets its shipments (`order.shipment.list`) and is mapped by the webhooks' function
  (`orders.order_normalised`), so a read order and a delivered one are equal events but for their ids.
- Customers: `customer.list` with the same filters and paging, mapped as `customer.info` is.
- Counts: the list's `orders_count` / `customers_count` at `count=1`.
- API2Cart's date filters take `Y-m-d H:i:s` (UTC here) and are read as inclusive (docs/api2cart.md).

- Abandoned carts (the reconciliation only, `abandoned_carts`): `order.abandoned.list` with the same filters and
  paging, each mapped to the basket it was (`customers.abandoned_basket`) and then as a basket webhook is
  (`customers.to_cart`), so both paths make the same `cart.updated` (one without an e-mail too: the reconciliation
  skips it with the reason, as it skips a customer without one); a cart type without abandoned carts raises
  CartsUnsupported.

Event ids are `history:api2cart:<orders|customers|carts>:<id>:<version>`. An order the webhooks would leave out (no
products, no e-mail) or cannot use (a status the table cannot place) is in `skipped` with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any

import requests

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import CanonicalEvent, EventType, make_event
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.platforms.adapter import Normalised, build_canonical
from commerce_sync.platforms.api2cart.api import (
    PLATFORM,
    Api2CartApi,
    Api2CartUnsupported,
    Page,
    filter_date,
    required_client,
)
from commerce_sync.platforms.api2cart.customers import abandoned_basket, to_cart, to_customer
from commerce_sync.platforms.api2cart.models import A2cAbandoned, A2cCustomer, A2cOrder, A2cShipment
from commerce_sync.platforms.api2cart.orders import FetchedOrder, fetch_order, order_normalised
from commerce_sync.platforms.history import (
    CartsUnsupported,
    HistoryPage,
    HistoryResource,
    HistoryUnavailable,
    history_event_id,
)
from commerce_sync.platforms.http import CATALOG_HTTP_POLICY, HttpPolicy, PlatformNotFound, platform_session

# Each order costs one more read (its shipments): a smaller page keeps one invocation's work bounded.
ORDER_PAGE = 50
CUSTOMER_PAGE = 250
LISTS = {"orders": ("order.list", ORDER_PAGE), "customers": ("customer.list", CUSTOMER_PAGE)}
ABANDONED_LIST = "order.abandoned.list"
CART_PAGE = 250


class Api2CartHistory:
    platform = PLATFORM

    def __init__(self, store: Store, client: Api2CartApi) -> None:
        self._store = store
        self._client = client

    @classmethod
    def for_store(
        cls,
        store: Store,
        credentials: Mapping[str, Any],
        policy: HttpPolicy = CATALOG_HTTP_POLICY,
        session: requests.Session | None = None,
    ) -> Api2CartHistory:
        return cls(store, required_client(store, credentials, session or platform_session(policy), HistoryUnavailable))

    def _filters(self, updated_since: datetime, updated_until: datetime | None) -> dict[str, str]:
        filters = {"modified_from": filter_date(updated_since), "sort_by": "modified_at", "sort_direction": "asc"}
        if updated_until is not None:
            filters["modified_to"] = filter_date(updated_until)
        return filters

    def page(
        self,
        resource: HistoryResource,
        updated_since: datetime,
        cursor: str | None,
        updated_until: datetime | None = None,
    ) -> HistoryPage:
        if resource not in LISTS:
            raise HistoryUnavailable(f"API2Cart has no {resource} history")
        method, size = LISTS[resource]
        params: dict[str, Any] = {"page_cursor": cursor} if cursor else self._filters(updated_since, updated_until)
        listed: Page = self._client.page(method, {**params, "count": size})
        events: list[CanonicalEvent] = []
        skipped: list[tuple[str, str]] = []
        times: list[datetime] = []
        for item in listed.items:
            item_id = str(item.get("id") or "?")
            try:
                outcome, changed = self._order(item) if resource == "orders" else self._customer(item)
            except (BadRequest, ValueError) as error:
                skipped.append((item_id, str(error).splitlines()[0][:200]))
                continue
            if changed is not None:
                times.append(changed)
            if outcome.ignored_kind is not None:
                skipped.append((item_id, f"{outcome.ignored_kind.value}: {outcome.ignored_reason}"[:200]))
            events.extend(outcome.events)
        return HistoryPage(
            events=events,
            next_cursor=listed.next_cursor if listed.items else None,
            resources=len(listed.items),
            high_water=max(times).isoformat() if times else None,
            skipped=skipped,
        )

    def count(
        self, resource: HistoryResource, updated_since: datetime, updated_until: datetime | None = None
    ) -> int | None:
        if resource not in LISTS:
            return None
        method, _ = LISTS[resource]
        return self._client.page(method, {**self._filters(updated_since, updated_until), "count": 1}).total

    def order(self, order_id: str) -> list[CanonicalEvent]:
        try:
            fetched = fetch_order(self._client, order_id)
        except PlatformNotFound:
            return []
        if fetched is None:
            return []
        try:
            return list(self._renamed(order_normalised(fetched, self._store), "orders").events)
        except BadRequest:
            return []

    def abandoned_carts(
        self, updated_since: datetime, cursor: str | None, updated_until: datetime | None = None
    ) -> HistoryPage:
        params: dict[str, Any] = {"page_cursor": cursor} if cursor else self._filters(updated_since, updated_until)
        try:
            listed = self._client.page(ABANDONED_LIST, {**params, "count": CART_PAGE})
        except Api2CartUnsupported as error:
            reason = f"the store's cart has no abandoned carts through API2Cart ({error.message})"
            raise CartsUnsupported(reason) from error
        events: list[CanonicalEvent] = []
        skipped: list[tuple[str, str]] = []
        times: list[datetime] = []
        for item in listed.items:
            item_id = str(item.get("id") or "?")
            try:
                basket = abandoned_basket(A2cAbandoned.model_validate(item))
                if basket.modified_at is None:
                    raise BadRequest("the abandoned cart has no modified_at or created_at")
                times.append(basket.modified_at)
                cart = build_canonical(partial(to_cart, basket, self._store.currency_code))
            except (BadRequest, ValueError) as error:
                skipped.append((item_id, str(error).splitlines()[0][:200]))
                continue
            version = version_from_timestamp(basket.modified_at)
            events.append(
                make_event(
                    event_type=EventType.CART_UPDATED,
                    event_id=history_event_id(PLATFORM, "carts", cart.id, version),
                    store_id=self._store.store_id,
                    platform=PLATFORM,
                    entity=cart,
                    entity_id=cart.id,
                    entity_version=version,
                    occurred_at=basket.modified_at,
                )
            )
        return HistoryPage(
            events=events,
            next_cursor=listed.next_cursor if listed.items else None,
            resources=len(listed.items),
            high_water=max(times).isoformat() if times else None,
            skipped=skipped,
        )

    # ----- resources ------------------------------------------------------------------------------------------

    def _order(self, item: dict[str, Any]) -> tuple[Normalised, datetime | None]:
        order = A2cOrder.model_validate(item)
        shipments = tuple(A2cShipment.model_validate(raw) for raw in self._client.shipments(order.id))
        fetched = FetchedOrder(order, shipments)
        return self._renamed(order_normalised(fetched, self._store), "orders"), order.modified_at

    def _customer(self, item: dict[str, Any]) -> tuple[Normalised, datetime | None]:
        customer = A2cCustomer.model_validate(item)
        if not customer.email:
            return Normalised(), customer.modified_time
        canonical = build_canonical(lambda: to_customer(customer))
        at = customer.modified_time or customer.created_time
        if at is None:
            raise BadRequest("the customer has no modified_time or created_time")
        version = version_from_timestamp(at)
        event = make_event(
            event_type=EventType.CUSTOMER_UPDATED,
            event_id=history_event_id(PLATFORM, "customers", customer.id, version),
            store_id=self._store.store_id,
            platform=PLATFORM,
            entity=canonical,
            entity_id=customer.id,
            entity_version=version,
            occurred_at=at,
        )
        return Normalised(events=[event]), at

    @staticmethod
    def _renamed(outcome: Normalised, resource: HistoryResource) -> Normalised:
        """The webhooks' events under history ids (platforms.history)."""
        if not outcome.events:
            return outcome
        events = [
            event.model_copy(
                update={"event_id": history_event_id(PLATFORM, resource, event.entity_id, event.entity_version)}
            )
            for event in outcome.events
        ]
        return Normalised(events=events)
