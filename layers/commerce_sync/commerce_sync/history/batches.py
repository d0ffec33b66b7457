"""Customers and orders of a history page into Mailchimp batch operations, and the batches' results back into
the sync state, as the live consumers record them.

Per resource read (an event of the platform's history reader):
- its version is recorded as applied **before** the batch is submitted, with the version guard the live
  consumers use (`SyncState.record_applied`: only when newer than what is recorded). A live webhook of the
  same version arriving meanwhile is then stale (no duplicate write), a newer one applies as usual; a resource
  whose recorded version is as new or newer is not written at all (`unchanged`). The order's JSON and `sent`
  are recorded as `OrderSync` records them, so later shipments and refunds merge into it.
- customers: `PUT /ecommerce/stores/{store}/customers/{id}` with the consent rules of every path; orders:
  `POST …/orders` (or `PATCH …/orders/{id}` when Mailchimp has it already) with the final status and
  revenue (orders.mapping) — never the pending-then-paid pair a live new order may get, since historical
  orders must fire no notification.
- operation ids are `customer|order:<id>:<version as a number>`; each result is matched back by it.

Segments (docs/segments.md): for a store with segments on, each order written (by the batch or by its retry)
is merged into its customer's segment aggregate as the live path merges it (orders.sync.segment_entry), but no
tag is written per order: the backfill's end queues the store's segment pass (segments.nightly), which writes
the tags that changed, as history (`is_syncing`).

Results: a success whose recorded version is still the batch's is done (customers: the written fingerprint
and platform id are marked as CustomerWriter marks them); one whose entity a live event moved to a newer
version meanwhile may have been overwritten by the batch's older body, so the newer order (kept in the sync
state) is written again. A failed operation is retried once as a direct write (orders through
`orders.sync.write_order`, which creates missing line products); a refusal that persists takes the version
back (`forget_version`, so reconciliation finds it missing) and the resource is dead-lettered with its reason
as a `publish_event` message: replaying it puts the event on the bus, through the normal processing path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from commerce_sync.aws.consent_records import ConsentWithdrawals
from commerce_sync.aws.entity_locks import EntityLocks, wall_clock
from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_state import LEASE_UNTIL, SyncState, applied_version
from commerce_sync.aws.tombstones import Shopper, Tombstones, comparable_time, shopper_of
from commerce_sync.canonical.model import CanonicalEvent, Customer, EventType, Order, make_event
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.canonical.versions import version_number
from commerce_sync.carts.customers import PLATFORM_CUSTOMER, CustomerWriter, customer_marks
from commerce_sync.history.state import HistoryBatch, HistoryState, ResourceProgress
from commerce_sync.mailchimp.batches import BatchOperation, MailchimpBatches, OperationResult, operation_id
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.errors import MailchimpError
from commerce_sync.mailchimp.ids import store_path
from commerce_sync.mailchimp.mapping import customer_id
from commerce_sync.mailchimp.models import McCustomer
from commerce_sync.orders.mapping import to_mailchimp_order
from commerce_sync.orders.stored import ORDER_ATTRIBUTE, packed, stored_order
from commerce_sync.orders.sync import ORDER, merge, segment_entry, write_order
from commerce_sync.platforms.history import history_event_id
from commerce_sync.processing.dead_letters import DeadLetters
from commerce_sync.segments.aggregate import Aggregates

PUBLISH_EVENT = "publish_event"
# The customer as the history reader gave it, kept beside its version for a retry or a dead letter.
HISTORY_CUSTOMER = "history_customer"


@dataclass
class Prepared:
    operations: list[BatchOperation] = field(default_factory=list)
    ops: dict[str, tuple[str, str]] = field(default_factory=dict)

    def add(self, operation: BatchOperation, entity: tuple[str, str]) -> None:
        self.operations.append(operation)
        self.ops[operation.operation_id] = entity


def _leased(held: dict[str, Any]) -> bool:
    """True while an entity's lease is held (the backfill takes none of its own until it reads results)."""
    return LEASE_UNTIL in held and Decimal(str(held[LEASE_UNTIL])) >= wall_clock()


class HistoryWriter:
    def __init__(
        self,
        store: Store,
        sync_state: SyncState,
        state: HistoryState,
        client: Callable[[], MailchimpClient],
        batches: MailchimpBatches,
        dead_letters: DeadLetters,
        time_left: Callable[[], float],
    ) -> None:
        self.store = store
        self.sync_state = sync_state
        self.state = state
        self._client = client
        self.batches = batches
        self.dead_letters = dead_letters
        self._time_left = time_left
        self.direct_requests = 0
        self.tombstones = Tombstones(sync_state.table, sync_state.dynamodb)
        self.aggregates = Aggregates(sync_state)
        # Mailchimp's withdrawals of consent (docs/consent.md): history never opts such a contact in either.
        self.customers = CustomerWriter(sync_state, ConsentWithdrawals(sync_state.table, self.tombstones))

    # ---- a page into operations ------------------------------------------------------------------

    def prepare(self, resource: str, events: Sequence[CanonicalEvent], progress: ResourceProgress) -> Prepared:
        """A page's events into batch operations: the page's recorded versions in one batched read, its new
        versions recorded in transactions (a page costs a handful of DynamoDB requests, not two per resource)."""
        latest: dict[str, CanonicalEvent] = {}
        for event in events:
            held = latest.get(event.entity_id)
            if held is not None:
                progress.unchanged += 1  # the same resource twice in a page: its newer version is written
                if held.entity_version >= event.entity_version:
                    continue
            latest[event.entity_id] = event
        kept = self._not_erased(list(latest.values()), progress)
        if resource == "customers":
            return self._customer_operations(kept, progress)
        return self._order_operations(kept, progress)

    def _not_erased(self, events: list[CanonicalEvent], progress: ResourceProgress) -> list[CanonicalEvent]:
        """The page without what an erasure forbids (commerce_sync.aws.tombstones): one batched read a page."""
        changes = [
            (shopper_of(event) or Shopper(), comparable_time(event.entity_version, event.occurred_at))
            for event in events
        ]
        refused = self.tombstones.refused_many(self.store.store_id, changes)
        progress.erased += len(refused)
        return [event for index, event in enumerate(events) if index not in refused]

    def _customer_operations(self, events: Sequence[CanonicalEvent], progress: ResourceProgress) -> Prepared:
        candidates: dict[str, tuple[CanonicalEvent, McCustomer]] = {}
        writes: list[tuple[str, str, dict[str, Any]]] = []
        for event in events:
            customer = event.customer()
            if customer.email is None:
                progress.skipped += 1
                continue
            candidates[event.entity_id] = (event, self.customers.for_store(self.store, customer))
            writes.append((event.entity_id, event.entity_version, {HISTORY_CUSTOMER: customer.model_dump_json()}))
        lost = self.sync_state.record_applied_many(self.store.store_id, PLATFORM_CUSTOMER, writes)
        prepared = Prepared()
        for entity_id, (event, mailchimp_customer) in candidates.items():
            if entity_id in lost:
                progress.unchanged += 1
                continue
            op_id = operation_id("customer", entity_id, str(version_number(event.entity_version)))
            path = store_path(self.store.store_id, "customers", mailchimp_customer.id)
            prepared.add(
                BatchOperation(method="PUT", path=path, operation_id=op_id, body=mailchimp_customer.body()),
                (entity_id, event.entity_version),
            )
        return prepared

    def _order_operations(self, events: Sequence[CanonicalEvent], progress: ResourceProgress) -> Prepared:
        orders = {event.entity_id: event.order() for event in events}
        held_all = self.sync_state.applied_many(self.store.store_id, ORDER, [order.id for order in orders.values()])
        candidates: list[tuple[CanonicalEvent, Order, bool]] = []
        writes: list[tuple[str, str, dict[str, Any]]] = []
        unpaid: list[tuple[str, str, dict[str, Any]]] = []
        for event in events:
            order = orders[event.entity_id]
            held = held_all.get(order.id) or {}
            if applied_version(held) >= event.entity_version:
                progress.unchanged += 1
                continue
            known = stored_order(held)
            if known is not None:
                # As OrderSync: parcels and refunds known only from their own events are kept.
                order = merge(
                    order.model_copy(update={"shipments": known.shipments, "refunds": known.refunds}),
                    order.shipments,
                    order.refunds,
                )
            if order.financial_status is None:
                # Recorded (so a later event merges into it) and not written, as OrderSync does.
                unpaid.append((order.id, event.entity_version, {ORDER_ATTRIBUTE: packed(order)}))
                progress.skipped += 1
                continue
            candidates.append((event, order, bool(held.get("sent"))))
            writes.append((order.id, event.entity_version, {ORDER_ATTRIBUTE: packed(order), "sent": True}))
        self.sync_state.record_applied_many(self.store.store_id, ORDER, unpaid)
        lost = self.sync_state.record_applied_many(self.store.store_id, ORDER, writes)
        prepared = Prepared()
        for event, order, sent_before in candidates:
            if order.id in lost:
                progress.unchanged += 1
                continue
            mailchimp_order = to_mailchimp_order(order).model_copy(
                update={"customer": self.customers.for_store(self.store, order.customer)}
            )
            op_id = operation_id("order", order.id, str(version_number(event.entity_version)))
            if sent_before:
                path = store_path(self.store.store_id, "orders", order.id)
                operation = BatchOperation(
                    method="PATCH", path=path, operation_id=op_id, body=mailchimp_order.patch_body()
                )
            else:
                path = store_path(self.store.store_id, "orders")
                operation = BatchOperation(method="POST", path=path, operation_id=op_id, body=mailchimp_order.body())
            prepared.add(operation, (event.entity_id, event.entity_version))
        return prepared

    def submit(self, record: HistoryBatch, prepared: Prepared) -> HistoryBatch:
        """Submits the prepared operations under `record` (written before any version was recorded, naming
        every candidate; now narrowed to what is written)."""
        resource = record.resource
        record.ops = dict(prepared.ops)
        self.state.put_batch(self.store.store_id, record)
        try:
            status = self.batches.submit(prepared.operations)
        except MailchimpError:
            self.lost(record, "the batch could not be submitted")
            raise
        record.mailchimp_id, record.status = status.id, "submitted"
        self.state.put_batch(self.store.store_id, record)
        logger.info("history batch submitted", batch_id=status.id, resource=resource, operations=len(prepared.ops))
        return record

    # ---- results -----------------------------------------------------------------------------------

    def lost(self, record: HistoryBatch, why: str) -> int:
        """Nothing is known of what the batch did: its versions are taken back, so the pages (read again
        from the checkpoint's cursor) or the next reconciliation write them. Returns how many."""
        entity_type = PLATFORM_CUSTOMER if record.resource == "customers" else ORDER
        for entity_id, version in record.ops.values():
            self.sync_state.forget_version(self.store.store_id, entity_type, entity_id, version)
        self.state.delete_batch(self.store.store_id, record.key)
        logger.warning("history batch lost; its versions are taken back", batch=record.key, why=why)
        return len(record.ops)

    def apply_results(
        self, record: HistoryBatch, results: Sequence[OperationResult], progress: ResourceProgress
    ) -> None:
        entity_type = PLATFORM_CUSTOMER if record.resource == "customers" else ORDER
        # What each entity holds now, in one batched read: a live event may have moved it on meanwhile.
        entity_ids = [entity_id for entity_id, _ in record.ops.values()]
        held_all = self.sync_state.applied_many(self.store.store_id, entity_type, entity_ids)
        # A live event applying one of them right now has written Mailchimp, or is about to, and records its
        # version only as it gives its lease back: its record is waited for by taking the same leases (read
        # again once held), so that a newer version written before the batch's older body is seen and written
        # again. An event that takes the lease after this read writes Mailchimp after the batch ran: it wins.
        applying = sorted(entity_id for entity_id, held in held_all.items() if _leased(held))
        locks = EntityLocks(self.sync_state.table, self._time_left)
        with locks.holding(self.store.store_id, entity_type, applying):
            if applying:
                held_all.update(self.sync_state.applied_many(self.store.store_id, entity_type, applying))
            self._apply_results(record, results, progress, entity_type, held_all)

    def _apply_results(
        self,
        record: HistoryBatch,
        results: Sequence[OperationResult],
        progress: ResourceProgress,
        entity_type: str,
        held_all: dict[str, dict[str, Any]],
    ) -> None:
        seen: set[str] = set()
        marks: list[tuple[str, str, dict[str, Any], dict[str, set[str]]]] = []
        for result in results:
            if result.operation_id not in record.ops or result.operation_id in seen:
                continue
            seen.add(result.operation_id)
            entity_id, version = record.ops[result.operation_id]
            held = held_all.get(entity_id) or {}
            if result.ok:
                marks += self._succeeded(record.resource, version, held, progress)
            else:
                title, detail = result.problem()
                reason = f"{result.status_code} {title}: {detail}"
                self._retry(record.resource, entity_id, version, held, reason, progress)
        for op_id, (entity_id, version) in record.ops.items():
            if op_id not in seen:
                held = held_all.get(entity_id) or {}
                self._retry(record.resource, entity_id, version, held, "no result for the operation", progress)
        self.sync_state.mark_many(self.store.store_id, marks)
        self.state.delete_batch(self.store.store_id, record.key)

    def _succeeded(
        self, resource: str, version: str, held: dict[str, Any], progress: ResourceProgress
    ) -> list[tuple[str, str, dict[str, Any], dict[str, set[str]]]]:
        """Counts a written resource; returns the customer's marks to set (none for an order)."""
        progress.written += 1
        if resource == "customers":
            if applied_version(held) != version or not held.get(HISTORY_CUSTOMER):
                # A live change of this customer applied meanwhile; its marks stand.
                progress.superseded += 1
                return []
            customer = Customer.model_validate_json(held[HISTORY_CUSTOMER])
            return customer_marks(customer, self.customers.for_store(self.store, customer))
        known = stored_order(held)
        if applied_version(held) != version and known is not None and held.get("sent"):
            # A live event applied a newer version while the batch waited: the batch's older body may have
            # landed after it, so the newer order is written again.
            progress.superseded += 1
            self._write_order(known, likely_new=False)
        elif applied_version(held) == version and known is not None:
            self._count_for_segments(known, version)
        return []

    def _count_for_segments(self, order: Order, version: str) -> None:
        """The written order into its customer's segment aggregate (no tag written: the pass at the end does)."""
        if self.store.segments is None or not order.customer.email:
            return
        self.aggregates.apply(self.store.store_id, customer_id(order.customer), order.id, segment_entry(order, version))

    def _write_order(self, order: Order, likely_new: bool) -> None:
        mailchimp_order = to_mailchimp_order(order).model_copy(
            update={"customer": self.customers.for_store(self.store, order.customer)}
        )
        self.direct_requests += 1
        write_order(self._client(), self.store, order, mailchimp_order, likely_new, self._time_left())

    def _retry(
        self,
        resource: str,
        entity_id: str,
        version: str,
        held: dict[str, Any],
        reason: str,
        progress: ResourceProgress,
    ) -> None:
        """A failed operation, once more as a direct write of what the sync state holds for its version."""
        progress.retried += 1
        entity_type = PLATFORM_CUSTOMER if resource == "customers" else ORDER
        if applied_version(held) != version:
            progress.superseded += 1  # a newer live change was applied, and written, meanwhile
            return
        event = self._event_of(resource, entity_id, version, held)
        try:
            if resource == "customers":
                customer = event.customer()
                mailchimp_customer = self.customers.for_store(self.store, customer)
                self.direct_requests += 1
                self._client().upsert_customer(self.store.store_id, mailchimp_customer)
                self.sync_state.mark_many(self.store.store_id, customer_marks(customer, mailchimp_customer))
            else:
                self._write_order(event.order(), likely_new=False)
                self._count_for_segments(event.order(), version)
            progress.written += 1
        except MailchimpError as error:
            self.sync_state.forget_version(self.store.store_id, entity_type, entity_id, version)
            progress.failed += 1
            # Mailchimp's reason may quote the shopper's address ("… looks fake or invalid").
            refused = redact_emails(reason)[:200]
            logger.warning("history write refused", resource=resource, entity_id=entity_id, batch_reason=refused)
            body = json.dumps({"action": PUBLISH_EVENT, "event": event.model_dump(mode="json")})
            try:
                self.dead_letters.keep(body, error, source="backfill")
                progress.dead_lettered += 1
            except Exception as failure:  # no dead-letter queue configured: logged, and counted as failed
                logger.error("history write not dead-lettered", error_type=type(failure).__name__)

    def _event_of(self, resource: str, entity_id: str, version: str, held: dict[str, Any]) -> CanonicalEvent:
        if resource == "customers":
            entity: Any = Customer.model_validate_json(held[HISTORY_CUSTOMER])
            event_type = EventType.CUSTOMER_UPDATED
        else:
            entity = stored_order(held)
            event_type = EventType.ORDER_UPDATED
        return make_event(
            event_type=event_type,
            event_id=history_event_id(self.store.platform, resource, entity_id, version_number(version)),
            store_id=self.store.store_id,
            platform=self.store.platform,
            entity=entity,
            entity_id=entity_id,
            entity_version=version,
        )
