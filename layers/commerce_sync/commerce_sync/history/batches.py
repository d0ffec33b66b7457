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

Results: a success whose recorded version is still the batch's is done (customers: the written fingerprint
and platform id are marked as CustomerWriter marks them); one whose entity a live event moved to a newer
version meanwhile may have been overwritten by the batch's older body, so the newer order (kept in the sync
state) is written again. A failed operation is retried once as a direct write (orders through
`orders.sync.write_order`, which creates missing line products); a refusal that persists takes the version
back (`forget_version`, so reconciliation finds it missing) and the resource is dead-lettered with its reason
as a `publish_event` message: replaying it puts the event on the bus, through the normal processing path.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_state import SyncState, applied_version
from commerce_sync.canonical.model import CanonicalEvent, Customer, EventType, Order, make_event
from commerce_sync.canonical.versions import version_number
from commerce_sync.carts.customers import (
    CUSTOMER,
    MAILCHIMP_IDS,
    PLATFORM_CUSTOMER,
    PLATFORM_CUSTOMER_ID,
    WRITTEN_FINGERPRINT,
    customer_for_store,
)
from commerce_sync.history.state import HistoryBatch, HistoryState, ResourceProgress
from commerce_sync.mailchimp.batches import BatchOperation, MailchimpBatches, OperationResult, operation_id
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.errors import MailchimpError
from commerce_sync.mailchimp.ids import store_path
from commerce_sync.mailchimp.models import McCustomer
from commerce_sync.orders.mapping import to_mailchimp_order
from commerce_sync.orders.sync import ORDER, merge, write_order
from commerce_sync.platforms.history import history_event_id
from commerce_sync.processing.dead_letters import DeadLetters

PUBLISH_EVENT = "publish_event"
# The customer as the history reader gave it, kept beside its version for a retry or a dead letter.
HISTORY_CUSTOMER = "history_customer"


def fingerprint(customer: McCustomer) -> str:
    """What CustomerWriter records as written, so a later live event of the same shopper costs no PUT."""
    return hashlib.sha256(json.dumps(customer.body(), sort_keys=True).encode()).hexdigest()


@dataclass
class Prepared:
    operations: list[BatchOperation] = field(default_factory=list)
    ops: dict[str, tuple[str, str]] = field(default_factory=dict)


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

    # ---- a page into operations ------------------------------------------------------------------

    def prepare(self, resource: str, events: Sequence[CanonicalEvent], progress: ResourceProgress) -> Prepared:
        prepared = Prepared()
        for event in events:
            if resource == "customers":
                operation = self._customer_operation(event, progress)
            else:
                operation = self._order_operation(event, progress)
            if operation is not None:
                prepared.operations.append(operation)
                prepared.ops[operation.operation_id] = (event.entity_id, event.entity_version)
        return prepared

    def _customer_operation(self, event: CanonicalEvent, progress: ResourceProgress) -> BatchOperation | None:
        customer = event.customer()
        if customer.email is None:
            progress.skipped += 1
            return None
        mailchimp_customer = customer_for_store(self.store, customer)
        recorded = self.sync_state.record_applied(
            self.store.store_id,
            PLATFORM_CUSTOMER,
            event.entity_id,
            event.entity_version,
            **{HISTORY_CUSTOMER: customer.model_dump_json()},
        )
        if not recorded:
            progress.unchanged += 1
            return None
        return BatchOperation(
            method="PUT",
            path=store_path(self.store.store_id, "customers", mailchimp_customer.id),
            operation_id=operation_id("customer", event.entity_id, str(version_number(event.entity_version))),
            body=mailchimp_customer.body(),
        )

    def _order_operation(self, event: CanonicalEvent, progress: ResourceProgress) -> BatchOperation | None:
        order = event.order()
        held = self.sync_state.applied(self.store.store_id, ORDER, order.id) or {}
        if applied_version(held) >= event.entity_version:
            progress.unchanged += 1
            return None
        if held.get("order"):
            # As OrderSync: parcels and refunds known only from their own events are kept.
            known = Order.model_validate_json(held["order"])
            order = merge(
                order.model_copy(update={"shipments": known.shipments, "refunds": known.refunds}),
                order.shipments,
                order.refunds,
            )
        if order.financial_status is None:
            self.sync_state.record_applied(
                self.store.store_id, ORDER, order.id, event.entity_version, order=order.model_dump_json()
            )
            progress.skipped += 1
            return None
        sent_before = bool(held.get("sent"))
        if not self.sync_state.record_applied(
            self.store.store_id, ORDER, order.id, event.entity_version, order=order.model_dump_json(), sent=True
        ):
            progress.unchanged += 1
            return None
        mailchimp_order = to_mailchimp_order(order).model_copy(
            update={"customer": customer_for_store(self.store, order.customer)}
        )
        op_id = operation_id("order", order.id, str(version_number(event.entity_version)))
        if sent_before:
            path = store_path(self.store.store_id, "orders", order.id)
            return BatchOperation(method="PATCH", path=path, operation_id=op_id, body=mailchimp_order.patch_body())
        path = store_path(self.store.store_id, "orders")
        return BatchOperation(method="POST", path=path, operation_id=op_id, body=mailchimp_order.body())

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
        seen: set[str] = set()
        for result in results:
            if result.operation_id not in record.ops or result.operation_id in seen:
                continue
            seen.add(result.operation_id)
            entity_id, version = record.ops[result.operation_id]
            if result.ok:
                self._succeeded(record.resource, entity_id, version, progress)
            else:
                title, detail = result.problem()
                self._retry(record.resource, entity_id, version, f"{result.status_code} {title}: {detail}", progress)
        for op_id, (entity_id, version) in record.ops.items():
            if op_id not in seen:
                self._retry(record.resource, entity_id, version, "no result for the operation", progress)
        self.state.delete_batch(self.store.store_id, record.key)

    def _succeeded(self, resource: str, entity_id: str, version: str, progress: ResourceProgress) -> None:
        progress.written += 1
        if resource == "customers":
            held = self.sync_state.applied(self.store.store_id, PLATFORM_CUSTOMER, entity_id) or {}
            if applied_version(held) != version or not held.get(HISTORY_CUSTOMER):
                # A live change of this customer applied meanwhile; its marks stand.
                progress.superseded += 1
                return
            customer = Customer.model_validate_json(held[HISTORY_CUSTOMER])
            self._mark_customer(customer, customer_for_store(self.store, customer))
            return
        held = self.sync_state.applied(self.store.store_id, ORDER, entity_id) or {}
        if applied_version(held) != version and held.get("order") and held.get("sent"):
            # A live event applied a newer version while the batch waited: the batch's older body may have
            # landed after it, so the newer order is written again.
            progress.superseded += 1
            self._write_order(Order.model_validate_json(held["order"]), likely_new=False)

    def _mark_customer(self, customer: Customer, mailchimp_customer: McCustomer) -> None:
        store_id = self.store.store_id
        marks = {WRITTEN_FINGERPRINT: fingerprint(mailchimp_customer)}
        if customer.id:
            marks[PLATFORM_CUSTOMER_ID] = customer.id
        self.sync_state.mark(store_id, CUSTOMER, mailchimp_customer.id, **marks)
        if customer.id:
            self.sync_state.add_to_set(store_id, PLATFORM_CUSTOMER, customer.id, MAILCHIMP_IDS, {mailchimp_customer.id})

    def _write_order(self, order: Order, likely_new: bool) -> None:
        mailchimp_order = to_mailchimp_order(order).model_copy(
            update={"customer": customer_for_store(self.store, order.customer)}
        )
        self.direct_requests += 1
        write_order(self._client(), self.store, order, mailchimp_order, likely_new, self._time_left())

    def _retry(self, resource: str, entity_id: str, version: str, reason: str, progress: ResourceProgress) -> None:
        """A failed operation, once more as a direct write of what the sync state holds for its version."""
        progress.retried += 1
        entity_type = PLATFORM_CUSTOMER if resource == "customers" else ORDER
        held = self.sync_state.applied(self.store.store_id, entity_type, entity_id) or {}
        if applied_version(held) != version:
            progress.superseded += 1  # a newer live change was applied, and written, meanwhile
            return
        event = self._event_of(resource, entity_id, version, held)
        try:
            if resource == "customers":
                customer = event.customer()
                mailchimp_customer = customer_for_store(self.store, customer)
                self.direct_requests += 1
                self._client().upsert_customer(self.store.store_id, mailchimp_customer)
                self._mark_customer(customer, mailchimp_customer)
            else:
                self._write_order(event.order(), likely_new=False)
            progress.written += 1
        except MailchimpError as error:
            self.sync_state.forget_version(self.store.store_id, entity_type, entity_id, version)
            progress.failed += 1
            logger.warning("history write refused", resource=resource, entity_id=entity_id, batch_reason=reason[:200])
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
            entity = Order.model_validate_json(held["order"])
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
