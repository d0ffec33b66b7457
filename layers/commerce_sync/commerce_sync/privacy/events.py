"""The cart_events function's applier: carts and customers (commerce_sync.carts.sync) and the privacy requests that
share their queue (`customer.erased` and `customer.data_requested`, routed with every `customer.*` event).

An erasure runs whole in one record (commerce_sync.privacy.erasure); a failure is retried by the queue and then
dead-lettered with its reason like any write, and its replay runs the erasure again, which is idempotent. It holds
the platform customer's lease, so no change of that customer is applied while it runs; the tombstones it writes
first refuse every change of the shopper dated before it (commerce_sync.aws.tombstones).

A data request, under the same lease, opens its audit line, collects the export (commerce_sync.privacy.export: reads
only), keeps it in the claim-check bucket for the operator (commerce_sync.aws.privacy_exports) and completes the line
with the object's key and the counts. A retry or a replay makes the export again and overwrites the same object.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import CanonicalEvent, EventType
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.carts.sync import CartSync
from commerce_sync.privacy.erasure import ShopperErasure
from commerce_sync.privacy.export import ShopperExport
from commerce_sync.privacy.subjects import audit_subject
from commerce_sync.processing.event_applier import Handler, Outcome
from commerce_sync.processing.services import Services


class ShopperEvents(CartSync):
    function_name = "cart_events"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.erasure = ShopperErasure(services.sync_state, services.tombstones, services.privacy_audit)
        self.export = ShopperExport(services.sync_state)

    def handlers(self) -> Mapping[EventType, Handler]:
        return {
            **super().handlers(),
            EventType.CUSTOMER_ERASED: self._customer_erased,
            EventType.CUSTOMER_DATA_REQUESTED: self._customer_data_requested,
        }

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

    def _customer_data_requested(self, store: Store, event: CanonicalEvent) -> Outcome:
        request = event.data_request()
        request_id = request.request_id or event.event_id
        kind = request.request_kind or f"{event.platform} customer.data_requested"
        services = self._services
        subject = audit_subject(services.tombstones, store.store_id, request.email, request.customer_id)
        line = services.privacy_audit.received(store.store_id, kind, request_id, subject, event.occurred_at.isoformat())
        document = self.export.collect(
            store,
            request.model_copy(update={"request_id": request_id, "request_kind": kind}),
            mailchimp=self._mailchimp,
        )
        key = services.privacy_exports.put(store.store_id, request_id, document.model_dump_json(indent=2).encode())
        summary: dict[str, Any] = {"export_key": key, **document.counts()}
        services.privacy_audit.completed(line, summary)
        logger.info("shopper data exported", store_id=store.store_id, request_id=request_id, **summary)
        return {"outcome": "exported", **summary}
