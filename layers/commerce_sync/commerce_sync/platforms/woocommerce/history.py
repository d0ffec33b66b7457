"""WooCommerce's history reader (issue 11; the interface: `platforms.history`): orders and customers changed in
a window, a page at a time, as the same canonical events the webhooks make (docs/history.md, "Platform readers").

- Orders: `GET /wp-json/wc/v3/orders?modified_after=…&modified_before=…&dates_are_gmt=true&orderby=modified
  &order=asc&per_page=100&page=N` (the default `status=any`: every status but the trash). Both date filters are
  strict and to the second (WordPress's date_query), so the reader asks one second wider and trims; the cursor
  is a keyset over the modification time (`platforms.history_paging`), so an order changed during a run is not
  lost. Each order becomes what `order.updated` makes of the same body (`orders.order_updated`).
- Customers: the customers endpoint has no modification filter (wc/v3 lists only `orderby` id, include, name,
  registered_date, and `email`, `role`, `search`), so every customer is read (`orderby=id&order=asc`,
  `role=customer`, WooCommerce's default: administrators and shop managers are not shoppers) and those whose
  `date_modified_gmt` (else `date_created_gmt`) falls in the window are kept. Each becomes what
  `customer.updated` makes of the same body (`customers.customer_event`).
- Counts: orders from `X-WP-Total` of the same filters (`per_page=1`); customers only when the window is all
  of time (the store's `X-WP-Total`), else None: it cannot be known without reading them all.

Event ids are `history:woocommerce:<orders|customers>:<id>:<version>` (`history_event_id`). A resource the
webhooks would deliberately leave out (an order without lines or billing e-mail) or that cannot be mapped (an
unmapped custom status) is in `skipped` with the reason. WooCommerce has no rate limit of its own; a host's 429
with `Retry-After`, 5xx and timeouts are retried by the platform session (CATALOG_HTTP_POLICY by default).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from pydantic import ValidationError

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import CanonicalEvent
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.platforms.adapter import Normalised
from commerce_sync.platforms.history import (
    HistoryPage,
    HistoryResource,
    HistoryUnavailable,
    history_event_id,
)
from commerce_sync.platforms.history_paging import (
    ONE_SECOND,
    KeysetCursor,
    Listed,
    Window,
    high_water,
    select,
)
from commerce_sync.platforms.http import CATALOG_HTTP_POLICY, HttpPolicy, platform_session
from commerce_sync.platforms.woocommerce.api import (
    MAX_PER_PAGE,
    CollectionPage,
    WooCommerceRest,
    key_pair,
    modified_window,
    rest_root,
    site_url,
)
from commerce_sync.platforms.woocommerce.customers import WooCustomer, customer_event
from commerce_sync.platforms.woocommerce.models import consent_meta_keys_from_environment, gmt
from commerce_sync.platforms.woocommerce.orders import order_updated

PLATFORM = "woocommerce"
CUSTOMER_ROLE = "customer"
# Every customer exists after this: a window starting here (or earlier) and open-ended holds them all.
ALL_OF_TIME = datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)


def _time(value: Any) -> datetime | None:
    """A wc/v3 `*_gmt` time (ISO 8601 without an offset, UTC); None when absent or unreadable."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return gmt(datetime.fromisoformat(value.strip()))
    except ValueError:
        return None


def _modified(item: Mapping[str, Any]) -> datetime | None:
    return _time(item.get("date_modified_gmt")) or _time(item.get("date_created_gmt"))


def _has_more(page: CollectionPage, number: int) -> bool:
    """X-WP-TotalPages when the answer has it (a site may cap `per_page` below what was asked), else a full page."""
    if page.total_pages is not None:
        return number < page.total_pages
    return len(page.items) >= MAX_PER_PAGE


def _reason(text: str) -> str:
    return redact_emails(text)[:300]


class WooCommerceHistory:
    platform = PLATFORM

    def __init__(self, store: Store, rest: WooCommerceRest, consent_keys: Sequence[str] | None = None) -> None:
        self._store = store
        self._rest = rest
        self._consent_keys = tuple(consent_keys) if consent_keys is not None else consent_meta_keys_from_environment()

    @classmethod
    def for_store(
        cls,
        store: Store,
        credentials: Mapping[str, Any],
        policy: HttpPolicy = CATALOG_HTTP_POLICY,
        session: requests.Session | None = None,
    ) -> WooCommerceHistory:
        pair = key_pair(credentials)
        if pair is None:
            raise HistoryUnavailable(
                f"store {store.store_id} has no WooCommerce REST key (platform_api_credentials.consumer_key/secret)"
            )
        return cls(store, WooCommerceRest(rest_root(store), pair, session or platform_session(policy)))

    # ----- HistorySource --------------------------------------------------------------------------------------

    def page(
        self,
        resource: HistoryResource,
        updated_since: datetime,
        cursor: str | None,
        updated_until: datetime | None = None,
    ) -> HistoryPage:
        window = Window.of(updated_since, updated_until)
        if resource == "orders":
            return self._orders(window, KeysetCursor.decode(cursor))
        if resource == "customers":
            return self._customers(window, _page_number(cursor))
        raise HistoryUnavailable(f"WooCommerce has no {resource} history")

    def count(
        self, resource: HistoryResource, updated_since: datetime, updated_until: datetime | None = None
    ) -> int | None:
        window = Window.of(updated_since, updated_until)
        if resource == "orders":
            # The filters are strict: one second wider on each side is exactly the window, to the second.
            upper = window.until + ONE_SECOND if window.until is not None else None
            params = {**modified_window(window.since - ONE_SECOND, upper), "per_page": 1}
            return self._rest.collection("orders", params).total
        if resource == "customers" and window.since <= ALL_OF_TIME and window.until is None:
            return self._rest.collection("customers", {"role": CUSTOMER_ROLE, "per_page": 1}).total
        return None

    # ----- orders -----------------------------------------------------------------------------------------------

    def _orders(self, window: Window, keyset: KeysetCursor) -> HistoryPage:
        lower, upper = window.request_bounds(keyset.anchor)
        params = {**modified_window(lower, upper), "orderby": "modified", "order": "asc"}
        answer = self._rest.collection("orders", params, keyset.page)
        listed = [Listed(str(item.get("id", "?")), _modified(item), item) for item in answer.items]
        kept, following = select(window, keyset, listed, _has_more(answer, keyset.page))
        events: list[CanonicalEvent] = []
        skipped: list[tuple[str, str]] = []
        site = site_url(self._store)
        for entry in kept:
            try:
                outcome = order_updated(self._store, entry.item, self._consent_keys, site, self._event_id("orders"))
            except (BadRequest, ValueError) as error:
                skipped.append((entry.id, _reason(f"unmappable: {error}")))
                continue
            self._collect(entry.id, outcome, events, skipped)
        return HistoryPage(
            events=events,
            next_cursor=following.encode() if following else None,
            resources=len(kept),
            high_water=high_water(kept),
            skipped=skipped,
        )

    def order(self, order_id: str) -> list[CanonicalEvent]:
        if not order_id.isdigit():
            return []
        # The list filtered to the one id (`include`, every status but the trash): an unknown id is an empty
        # list rather than an error, and the body is the one a page holds.
        answer = self._rest.collection("orders", {"include": order_id, "status": "any"})
        events: list[CanonicalEvent] = []
        for item in answer.items:
            try:
                outcome = order_updated(
                    self._store, item, self._consent_keys, site_url(self._store), self._event_id("orders")
                )
            except (BadRequest, ValueError):
                return []
            events.extend(outcome.events)
        return events

    # ----- customers --------------------------------------------------------------------------------------------

    def _customers(self, window: Window, number: int) -> HistoryPage:
        params = {"orderby": "id", "order": "asc", "role": CUSTOMER_ROLE}
        answer = self._rest.collection("customers", params, number)
        listed = [Listed(str(item.get("id", "?")), _modified(item), item) for item in answer.items]
        kept = [entry for entry in listed if entry.modified is None or window.contains(entry.modified)]
        events: list[CanonicalEvent] = []
        skipped: list[tuple[str, str]] = []
        for entry in kept:
            try:
                woo = WooCustomer.model_validate(entry.item)
                changed_at = woo.changed_at
                if changed_at is None:
                    skipped.append((entry.id, "unmappable: no date_modified_gmt or date_created_gmt to version it"))
                    continue
                events.append(
                    customer_event(self._store, woo, self._consent_keys, changed_at, self._event_id("customers"))
                )
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(part) for part in first["loc"]) or "customer"
                skipped.append((entry.id, _reason(f"unmappable: {where}: {first['msg']}")))
            except (BadRequest, ValueError) as error:
                skipped.append((entry.id, _reason(f"unmappable: {error}")))
        return HistoryPage(
            events=events,
            next_cursor=str(number + 1) if _has_more(answer, number) else None,
            resources=len(kept),
            high_water=high_water(kept),
            skipped=skipped,
        )

    # ----- shared -----------------------------------------------------------------------------------------------

    @staticmethod
    def _event_id(resource: HistoryResource) -> Callable[[str, str], str]:
        return lambda entity_id, version: history_event_id(PLATFORM, resource, entity_id, version)

    @staticmethod
    def _collect(
        resource_id: str, outcome: Normalised, events: list[CanonicalEvent], skipped: list[tuple[str, str]]
    ) -> None:
        """The events a resource makes; one the webhooks would deliberately leave out is skipped with the kind
        and the reason its delivery would be ignored with."""
        if outcome.ignored_kind is not None:
            skipped.append((resource_id, _reason(f"{outcome.ignored_kind.value}: {outcome.ignored_reason}")))
        events.extend(outcome.events)


def _page_number(cursor: str | None) -> int:
    if not cursor:
        return 1
    if not cursor.isdigit() or int(cursor) < 1:
        raise HistoryUnavailable(f"the history cursor {cursor[:80]!r} was not made by this reader")
    return int(cursor)
