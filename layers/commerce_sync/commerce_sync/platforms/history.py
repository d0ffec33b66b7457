"""What every platform's history reader shares (issue 11: the backfill and the nightly reconciliation): the
`HistorySource` interface, one page of orders or customers at a time behind an opaque cursor, filtered by
"updated since", so a run holds one page in memory whatever the store's size and continues from any page in a
fresh invocation.

Each reader yields the **same canonical events, with the same entity versions**, as that platform's webhooks
produce for the same resource (an order read here and the same order delivered as a webhook are equal
events but for their event id), so idempotency, the out-of-order guard and cart conversion apply unchanged.
Event ids are `history:<platform>:<resource>:<id>:<version>`: stable across re-reads of an unchanged resource,
so re-reading one is a duplicate, and distinct from any webhook's id.

Each platform's `history` module implements it; `platforms.registry.history_source_for` picks one for a
store (HistoryUnavailable for a store whose platform has no readable API: canonical senders).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

from commerce_sync.canonical.model import CanonicalEvent

HistoryResource = Literal["customers", "orders"]


class HistoryUnavailable(Exception):
    """The store's history cannot be read with what we have (no API URL or credentials, a platform without an
    API). Retrying will not help until an operator fixes the store's registration."""


@dataclass(frozen=True)
class HistoryPage:
    # The events the page's resources make, in the order the platform listed them: for an order,
    # `order.updated` (and whatever the platform's webhooks would add for it); for a customer,
    # `customer.updated`.
    events: list[CanonicalEvent]
    next_cursor: str | None
    # How many resources the page held (a resource may make several events, or none when skipped).
    resources: int = 0
    # The latest "updated at" among the page's resources (the reconciliation's next watermark), ISO 8601.
    high_water: str | None = None
    # Resources that could not be mapped: (platform id, reason). Counted as failed, never fatal.
    skipped: list[tuple[str, str]] = field(default_factory=list)


class HistorySource(Protocol):
    platform: str

    def page(
        self,
        resource: HistoryResource,
        updated_since: datetime,
        cursor: str | None,
        updated_until: datetime | None = None,
    ) -> HistoryPage:
        """The page at `cursor` (None: the first) of `resource` updated in [updated_since, updated_until]
        (None: up to now), oldest first where the platform can sort; `next_cursor` None after the last."""
        ...

    def count(
        self, resource: HistoryResource, updated_since: datetime, updated_until: datetime | None = None
    ) -> int | None:
        """How many there are (for the run's snapshot and progress), or None when the platform cannot say
        without reading them all."""
        ...

    def order(self, order_id: str) -> list[CanonicalEvent]:
        """The events one order makes as the platform holds it now, read by its id, as a page would make them;
        [] when the platform has no such order or it is one the webhooks leave out. Raises when the read fails
        (the order consumer's repair of a shipment or refund of an order it never saw)."""
        ...


class CartsUnsupported(Exception):
    """The store's cart keeps no abandoned carts its platform API can list (API2Cart's `order.abandoned.list` on a
    cart without it): the reconciliation records the reason and goes on; not a failure."""


@runtime_checkable
class AbandonedCartSource(Protocol):
    """A history reader that can also list abandoned carts (API2Cart, for carts without basket webhooks): the
    reconciliation reads them after the orders, so an order it repaired has converted its cart first."""

    def abandoned_carts(
        self, updated_since: datetime, cursor: str | None, updated_until: datetime | None = None
    ) -> HistoryPage:
        """A page of `cart.updated` events, as the platform's cart webhooks make them, of the abandoned carts
        changed in [updated_since, updated_until]. Raises CartsUnsupported when the store's cart has none."""
        ...


def history_event_id(platform: str, resource: str, resource_id: str, version: str | int) -> str:
    # `version` is the entity version the event carries: a string (canonical.versions) on every platform so far.
    return f"history:{platform}:{resource}:{resource_id}:{version}"
