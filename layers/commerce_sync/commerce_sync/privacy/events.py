"""The cart_events function's applier: carts and customers (commerce_sync.carts.sync) and the erasure requests that
share their queue (`customer.erased`, routed with every `customer.*` event).

An erasure runs whole in one record (commerce_sync.privacy.erasure); a failure is retried by the queue and then
dead-lettered with its reason like any write, and its replay runs the erasure again, which is idempotent. It holds
the platform customer's lease, so no change of that customer is applied while it runs; the tombstones it writes
first refuse every change of the shopper dated before it (commerce_sync.aws.tombstones).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import CanonicalEvent, EventType
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.carts.sync import CartSync
from commerce_sync.privacy.erasure import ShopperErasure
from commerce_sync.processing.event_applier import Handler, Outcome
from commerce_sync.processing.services import Services


class ShopperEvents(CartSync):
    function_name = "cart_events"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.erasure = ShopperErasure(services.sync_state, services.tombstones, services.privacy_audit)

    def handlers(self) -> Mapping[EventType, Handler]:
        return {**super().handlers(), EventType.CUSTOMER_ERASED: self._customer_erased}

    def _customer_erased(self, store: Store, event: CanonicalEvent) -> Outcome:
        erasure = event.erasure()
        report = self.erasure.erase(
            store,
            erasure,
            erased_at=version_from_timestamp(datetime.now(UTC)),
            kind=erasure.request_kind or f"{event.platform} customer.erased",
            request_id=erasure.request_id or event.event_id,
            received_at=event.occurred_at.isoformat(),
            mailchimp=self._mailchimp,
        )
        return {"outcome": "erased", **report.summary()}
