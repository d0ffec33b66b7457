"""The cart_events function's applier: carts and customers (commerce_sync.carts.sync), Mailchimp's consent changes
(commerce_sync.consent.apply, docs/consent.md) and the privacy requests that share their queue
(`customer.erased` and `customer.data_requested`, routed with every `customer.*` event, and
`store.erased`).

An erasure runs whole in one record (commerce_sync.privacy.erasure); a failure is retried by the queue and then
dead-lettered with its reason like any write, and its replay runs the erasure again, which is idempotent. It holds
the platform customer's lease, so no change of that customer is applied while it runs; the tombstones it writes
first refuse every change of the shopper dated before it (commerce_sync.aws.tombstones).

A data request, under the same lease, opens its audit line, collects the export (commerce_sync.privacy.export: reads
only), keeps it in the claim-check bucket for the operator (commerce_sync.aws.privacy_exports) and completes the line
with the object's key and the counts. A retry or a replay makes the export again and overwrites the same object.

A store's erasure (commerce_sync.privacy.store_erasure) may take several records' runs: one that stops part-way
fails, and the queue's retry goes on from where it stopped. It holds a lease of its own (`store`, the store id), so
two deliveries of it never run at once, and takes a Mailchimp connection slot only for its Mailchimp call: most of
its time is spent in DynamoDB, and its account may be one that refuses us.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_state import STATE_SORT_KEY, entity_key
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import CanonicalEvent, EventType
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.carts.sync import CartSync
from commerce_sync.consent.apply import CONSENT, ConsentApplier
from commerce_sync.privacy.subjects import audit_subject
from commerce_sync.processing.event_applier import Entity, Handler, Outcome
from commerce_sync.processing.services import Services

if TYPE_CHECKING:
    # The erasures and the export are imported when the first privacy request is handled (the properties below):
    # they are a few of this function's events, and their modules (the export's models, the erasure's order
    # writes) were cold-start time for every cart and customer event.
    from commerce_sync.privacy.erasure import ShopperErasure
    from commerce_sync.privacy.export import ShopperExport
    from commerce_sync.privacy.store_erasure import WholeStoreErasure

# The lease a store's erasure holds: an entity of its own, named by the store id.
STORE = "store"
CONSENT_EVENTS = frozenset(
    {EventType.CUSTOMER_CONSENT_WITHDRAWN, EventType.CUSTOMER_CONSENT_GRANTED, EventType.CUSTOMER_EMAIL_CHANGED}
)


def registered_at(store: Store) -> datetime:
    moment = datetime.fromisoformat(store.created_at)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class ShopperEvents(CartSync):
    function_name = "cart_events"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self.consent = ConsentApplier(services.sync_state, services.consent_withdrawals, services.secrets)

    @cached_property
    def erasure(self) -> ShopperErasure:
        from commerce_sync.privacy.erasure import ShopperErasure  # deferred: see TYPE_CHECKING above

        services = self._services
        return ShopperErasure(services.sync_state, services.tombstones, services.privacy_audit)

    @cached_property
    def export(self) -> ShopperExport:
        from commerce_sync.privacy.export import ShopperExport  # deferred: see TYPE_CHECKING above

        return ShopperExport(self._services.sync_state)

    @cached_property
    def store_erasure(self) -> WholeStoreErasure:
        from commerce_sync.privacy.store_erasure import WholeStoreErasure  # deferred: see TYPE_CHECKING above

        return WholeStoreErasure(self._services)

    def handlers(self) -> Mapping[EventType, Handler]:
        return {
            **super().handlers(),
            EventType.CUSTOMER_ERASED: self._customer_erased,
            EventType.CUSTOMER_DATA_REQUESTED: self._customer_data_requested,
            EventType.STORE_ERASED: self._store_erased,
            EventType.CUSTOMER_CONSENT_WITHDRAWN: self.consent.withdrawn,
            EventType.CUSTOMER_CONSENT_GRANTED: self.consent.granted,
            EventType.CUSTOMER_EMAIL_CHANGED: self.consent.email_changed,
        }

    def entity_of(self, store: Store, event: CanonicalEvent) -> Entity:
        if event.type is EventType.STORE_ERASED:
            return STORE, store.store_id
        if event.type in CONSENT_EVENTS:
            # A contact's consent changes in Mailchimp's order, by the hash of the address (never the address).
            return CONSENT, event.entity_id
        return super().entity_of(store, event)

    def ordering_tokens(self, event: CanonicalEvent) -> Collection[str] | None:
        """A contact's consent by its hash; an erasure or a data request reaches every entity of the shopper (or the
        store), so it is ordered with the whole store."""
        if event.type in CONSENT_EVENTS:
            return {f"{CONSENT}:{event.entity_id}"}
        if event.type in (EventType.CUSTOMER_ERASED, EventType.CUSTOMER_DATA_REQUESTED, EventType.STORE_ERASED):
            return None
        return super().ordering_tokens(event)

    def holds_own_slot(self, event: CanonicalEvent) -> bool:
        return event.type is EventType.STORE_ERASED

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

    def _store_erased(self, store: Store, event: CanonicalEvent) -> Outcome:
        erasure = event.store_erasure()
        if event.entity_id != store.store_id:
            raise BadRequest("must be the store id (store_id)", field="entity_id")
        if event.occurred_at < registered_at(store):
            # An erasure of an earlier store under this id, replayed from the archive: never this store's.
            return {"outcome": "erasure_predates_store"}
        report = self.store_erasure.erase(
            store,
            erased_at=version_from_timestamp(datetime.now(UTC)),
            kind=erasure.request_kind or f"{event.platform} store.erased",
            request_id=erasure.request_id or event.event_id,
            received_at=event.occurred_at.isoformat(),
            mailchimp=self._mailchimp_in_slot,
            time_left=self._time_left,
            # The erasure's own lease, in its state item.
            keep={(entity_key(store.store_id, STORE, store.store_id), STATE_SORT_KEY)},
        )
        return {"outcome": "erased", **report.summary()}
