"""Applying order events to Mailchimp, so every order notification fires once, in order, with the
right revenue.

Per event: a duplicate (same event id) writes nothing; a stale `order.updated` (its version is not
newer than the one applied) is skipped, so a late `pending` never follows `paid`. Then:

- order.updated: shipments and refunds already known for the order are merged in (by id), the
  shopper's carts are ended (commerce_sync.carts.conversion) before the order is written, the customer is
  written with the consent rules, then the order by PATCH, or POST when new (the API has no PUT for
  orders; "already exists" is handled by the client). Lines naming products Mailchimp lacks get them
  created; a stale campaign id is dropped. A new order that is already paid is sent `pending` first
  when the store wants both the confirmation and the invoice e-mail.
- order.shipment / order.refund: merged into the last applied order and written again. An order never
  seen is first read from the platform by its id (the store's history reader: the same event its webhook
  makes) and applied as its order.updated would be, then the shipment or refund is merged in; when it
  cannot be read (a canonical store, no API credentials, the platform does not have it or fails), it is
  retried later (the queue), then dead-lettered with the reason.
- order.deleted: DELETE (already gone = done).

For a store with segments (docs/segments.md), each order written (and each deleted) then updates its customer's
segment aggregate with what the order now contributes, and their member tags when their segments changed
(commerce_sync.segments.tags) — in the same attempt, so a Mailchimp failure retries both.

The last applied order is kept in the sync state; Mailchimp's own record of which status changes it
saw is what fires notifications.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_state import applied_version, state_key
from commerce_sync.canonical.errors import NotImplementedYet
from commerce_sync.canonical.model import CanonicalEvent, EventType, FinancialStatus, Order, Refund, Shipment
from commerce_sync.canonical.money import quantize
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.carts.conversion import CART, CART_ALIAS, CUSTOMER, convert
from commerce_sync.carts.customers import CustomerWriter
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.errors import MailchimpCampaignMissing, MailchimpProductMissing
from commerce_sync.mailchimp.mapping import customer_id
from commerce_sync.mailchimp.models import McOrder
from commerce_sync.orders.mapping import (
    mailchimp_financial_status,
    mailchimp_order_total,
    refunded_amount,
    to_mailchimp_order,
)
from commerce_sync.orders.stored import ORDER_ATTRIBUTE, packed, stored_order
from commerce_sync.orders.withheld_statuses import WITHHELD, Withheld, quiet, withheld_of, withheld_value
from commerce_sync.platforms.history import HistoryUnavailable
from commerce_sync.processing.event_applier import Entity, EventApplier, Handler, Outcome
from commerce_sync.processing.services import Services
from commerce_sync.processing.store_imports import HistoryMode

if TYPE_CHECKING:
    # Imported where a store with segments first needs them: segments are off unless a store's rules turn them on
    # (docs/segments.md), and for the other stores' orders their models were cold-start time for nothing.
    from commerce_sync.segments.aggregate import OrderEntry
    from commerce_sync.segments.tags import SegmentTagger

ORDER = "order"
# The lease taken while a store's import is closed (an entity type of its own in the sync state).
STORE_IMPORT = "store-import"


class OrderNotYetKnown(Exception):
    """A shipment or refund for an order whose own event has not been applied yet: retried later."""


def merge(order: Order, shipments: tuple[Shipment, ...] = (), refunds: tuple[Refund, ...] = ()) -> Order:
    """The order with every shipment and refund known so far, each once (by id, newest data winning)."""
    by_shipment = {shipment.id or f"#{index}": shipment for index, shipment in enumerate(order.shipments)}
    by_shipment.update({shipment.id or f"+{index}": shipment for index, shipment in enumerate(shipments)})
    by_refund = {refund.id: refund for refund in order.refunds}
    by_refund.update({refund.id: refund for refund in refunds})
    return order.model_copy(update={"shipments": tuple(by_shipment.values()), "refunds": tuple(by_refund.values())})


def segment_entry(order: Order, version: str) -> OrderEntry:
    """What an applied order contributes to its customer's segments: the revenue Mailchimp is sent for it (net of
    refunds; a cancellation is 0) when it is paid — a pending, cancelled or wholly refunded order counts for
    nothing. Placed at its processing time (else its last update, else now)."""
    from commerce_sync.segments.aggregate import OrderEntry  # deferred: see TYPE_CHECKING above

    counted = mailchimp_financial_status(order) is FinancialStatus.PAID
    return OrderEntry(
        net=mailchimp_order_total(order) if counted else quantize(0, order.currency_code),
        placed_at=order.processed_at or order.updated_at or datetime.now(UTC),
        counted=counted,
        version=version,
        refunded=refunded_amount(order),
    )


def write_order(
    client: MailchimpClient,
    store: Store,
    order: Order,
    mailchimp_order: McOrder,
    likely_new: bool,
    time_left: float | None,
) -> None:
    """POST or PATCH the order, creating the products its lines name when Mailchimp lacks them and dropping a
    campaign id Mailchimp no longer knows. Each recoverable refusal is repaired at most once, so this ends in
    a write or a raised error. (The live path and the history backfill's retries.)"""
    products_created = False
    while True:
        try:
            client.upsert_order(store.store_id, mailchimp_order, likely_new=likely_new)
            return
        except MailchimpProductMissing:
            if products_created:
                raise
            # Deferred: Mailchimp lacks a line's product only before the catalog sync has run (or one it
            # missed), and this module and its batch operations were every cold start's (docs/performance.md).
            from commerce_sync.carts.line_products import create_missing_products

            create_missing_products(client, store.store_id, order.lines, time_left)
            products_created = True
        except MailchimpCampaignMissing:
            if mailchimp_order.campaign_id is None:
                raise
            logger.info("stale campaign id dropped", campaign_id=mailchimp_order.campaign_id)
            mailchimp_order = mailchimp_order.model_copy(update={"campaign_id": None})


def order_id_of(event: CanonicalEvent) -> str:
    """The order an order event changes (a shipment or a refund changes its order)."""
    if event.type is EventType.ORDER_SHIPMENT:
        return event.order_shipment().order_id
    if event.type is EventType.ORDER_REFUND:
        return event.order_refund().order_id
    if event.type is EventType.ORDER_DELETED:
        return event.deleted().id
    return event.order().id


class OrderSync(EventApplier):
    function_name = "order_status"
    metric_prefix = "Order"

    def __init__(self, services: Services) -> None:
        super().__init__(services)
        self._customers = CustomerWriter(services.sync_state, services.consent_withdrawals)

    @cached_property
    def _segments(self) -> SegmentTagger:
        from commerce_sync.segments.tags import SegmentTagger  # deferred: see TYPE_CHECKING above

        return SegmentTagger(self._services.sync_state)

    def handlers(self) -> Mapping[EventType, Handler]:
        return {
            EventType.ORDER_UPDATED: self._order_updated,
            EventType.ORDER_SHIPMENT: self._order_shipment,
            EventType.ORDER_REFUND: self._order_refund,
            EventType.ORDER_DELETED: self._order_deleted,
            EventType.STORE_SYNC_STARTED: self._import_started,
            EventType.STORE_SYNC_FINISHED: self._import_finished,
        }

    def entity_of(self, store: Store, event: CanonicalEvent) -> Entity:
        if event.type in (EventType.STORE_SYNC_STARTED, EventType.STORE_SYNC_FINISHED):
            return STORE_IMPORT, event.store_sync().id
        return ORDER, order_id_of(event)

    def ordering_tokens(self, event: CanonicalEvent) -> Collection[str] | None:
        """An order's changes (its shipments and refunds too) by the order's id; an import's events, the whole store."""
        if event.type in (EventType.STORE_SYNC_STARTED, EventType.STORE_SYNC_FINISHED):
            return None
        try:
            return {f"{ORDER}:{order_id_of(event)}"}
        except ValueError:
            return {f"unreadable:{event.event_id}"}  # it fails alone, where it is applied

    def reads_before_lease(self, event: CanonicalEvent) -> bool:
        """An order change: its purchase's marks, the first thing it writes, take the order's lease with them (one
        DynamoDB request an order fewer: issue 17)."""
        return event.type is EventType.ORDER_UPDATED

    def reads_of(self, store: Store, event: CanonicalEvent) -> list[dict[str, str]]:
        """The order's state; for an order change also its shopper's, the shopper's consent record and the carts the
        order names (and their aliases), which its conversion reads."""
        entity_type, entity_id = self.entity_of(store, event)
        reads = [state_key(store.store_id, entity_type, entity_id)]
        if event.type is not EventType.ORDER_UPDATED:
            return reads
        order = event.order()
        for cart_id in {order.cart_id or "", *order.cart_references} - {""}:
            reads.append(state_key(store.store_id, CART_ALIAS, cart_id))
            reads.append(state_key(store.store_id, CART, cart_id))
        if order.customer.email:
            reads.append(state_key(store.store_id, CUSTOMER, customer_id(order.customer)))
            reads.extend(self._customers.reads_of(store, order.customer))
        return reads

    def _stored(self, store: Store, order_id: str) -> tuple[dict[str, Any], Order | None]:
        state = self._state.applied(store.store_id, ORDER, order_id) or {}
        return state, stored_order(state)

    # ---- order.updated ---------------------------------------------------------------------------

    def _order_updated(self, store: Store, event: CanonicalEvent) -> Outcome:
        order = event.order()
        state, known = self._stored(store, order.id)
        if applied_version(state) >= event.entity_version:
            return {"outcome": "stale", "order_id": order.id}
        if known is not None:
            # What the platform says now wins (an edited tracking number); parcels and refunds known only
            # from their own events are kept.
            order = merge(
                order.model_copy(update={"shipments": known.shipments, "refunds": known.refunds}),
                order.shipments,
                order.refunds,
            )
        if order.financial_status is None:
            self._state.record_applied(store.store_id, ORDER, order.id, event.entity_version, order=packed(order))
            return {"outcome": "not_an_order_yet", "order_id": order.id}

        sent_before = bool(state.get("sent"))
        withheld = withheld_of(state)
        version = event.entity_version
        outcome = self._mailchimp(
            lambda client: (
                self._write(client, store, order, event, sent_before, withheld)
                | self._tag(client, store, order, version)
            )
        )
        self._state.record_applied(
            store.store_id,
            ORDER,
            order.id,
            event.entity_version,
            order=packed(order),
            sent=True,
            **{WITHHELD: withheld_value(outcome.pop(WITHHELD))},
        )
        return {"order_id": order.id, **outcome}

    def _write(
        self,
        client: MailchimpClient,
        store: Store,
        order: Order,
        event: CanonicalEvent,
        sent_before: bool,
        withheld: Withheld,
    ) -> Outcome:
        """Writes the order as this event's mode says (live, in an import, as history); the outcome carries
        what stays withheld from Mailchimp under WITHHELD (orders.withheld_statuses), for the caller to record."""
        live = self.history_mode is HistoryMode.LIVE
        shopper = customer_id(order.customer) if order.customer.email else None
        ended = convert(
            self._state,
            self.locks,
            client,
            store.store_id,
            [order.cart_id or "", *order.cart_references],
            shopper,
            event.entity_version,
        )
        mailchimp_customer = self._customers.for_store(store, order.customer)
        # History asks no shopper to confirm a subscription (a double opt-in e-mail for an old purchase).
        member = self._customers.write(client, store, order.customer, mailchimp_customer, confirm=live)
        whole = to_mailchimp_order(order).model_copy(update={"customer": mailchimp_customer})
        mailchimp_order, still_withheld = quiet(whole, withheld, self.history_mode)
        likely_new = not sent_before
        paid = mailchimp_order.financial_status == FinancialStatus.PAID.value
        if live and store.pending_then_paid and likely_new and paid:
            # Both e-mails: the confirmation (pending), then the invoice (paid).
            pending = mailchimp_order.model_copy(update={"financial_status": "pending"})
            self._upsert(client, store, order, pending, likely_new=True)
            likely_new = False
        self._upsert(client, store, order, mailchimp_order, likely_new=likely_new)
        return {
            "outcome": "synced",
            "financial_status": whole.financial_status,
            "shipped": whole.fulfillment_status == "shipped",
            "carts_ended": len(ended),
            **({"written_as": self.history_mode.value} if not live else {}),
            **({"statuses_withheld": sorted(still_withheld)} if still_withheld else {}),
            **member,
            WITHHELD: still_withheld,
        }

    def _tag(self, client: MailchimpClient, store: Store, order: Order, version: str) -> Outcome:
        if store.segments is None:
            return {}
        history = self.history_mode is not HistoryMode.LIVE
        return self._segments.order_applied(client, store, order, segment_entry(order, version), history=history)

    def _upsert(
        self, client: MailchimpClient, store: Store, order: Order, mailchimp_order: McOrder, likely_new: bool
    ) -> None:
        write_order(client, store, order, mailchimp_order, likely_new, self._time_left())

    # ---- partial order events --------------------------------------------------------------------

    def _order_shipment(self, store: Store, event: CanonicalEvent) -> Outcome:
        shipment = event.order_shipment()
        return self._amend(store, event, shipment.order_id, shipments=(shipment.shipment,), shipped=True)

    def _order_refund(self, store: Store, event: CanonicalEvent) -> Outcome:
        refund = event.order_refund()
        return self._amend(store, event, refund.order_id, refunds=(refund.refund,))

    def _amend(
        self,
        store: Store,
        event: CanonicalEvent,
        order_id: str,
        shipments: tuple[Shipment, ...] = (),
        refunds: tuple[Refund, ...] = (),
        shipped: bool = False,
    ) -> Outcome:
        state, known = self._stored(store, order_id)
        read_from_platform = False
        if known is None and self._read_from_platform(store, order_id):
            state, known = self._stored(store, order_id)
            read_from_platform = True
        if known is None or not state.get("sent"):
            raise OrderNotYetKnown(f"order {order_id} has not been applied yet; {event.type.value} will be retried")
        order = merge(known, shipments, refunds)
        if shipped:
            order = order.model_copy(update={"shipped": True})
        if order == known:
            # Read from the platform after the shipment or refund, the order held it already: written with it.
            kind = "synced" if read_from_platform else "unchanged"
            return {"outcome": kind, "order_id": order_id, "read_from_platform": read_from_platform}
        withheld = withheld_of(state)
        # The entry keeps the order's own version: its refunds tell the newer contribution from the older.
        version = applied_version(state)
        outcome = self._mailchimp(
            lambda client: (
                self._write(client, store, order, event, True, withheld) | self._tag(client, store, order, version)
            )
        )
        # The order's own version stays: a later order.updated still applies, and keeps these merged in.
        marks = {ORDER_ATTRIBUTE: packed(order), WITHHELD: withheld_value(outcome.pop(WITHHELD))}
        self._state.mark(store.store_id, ORDER, order_id, **marks)
        return {"order_id": order_id, **outcome, "read_from_platform": read_from_platform}

    def _read_from_platform(self, store: Store, order_id: str) -> bool:
        """Reads an order commerce-sync never saw from the store's platform and applies it as its order.updated
        would be (under this event's lock: the same order); False when it cannot be read, so the shipment or refund
        is retried and then dead-lettered as before. A platform that answers 404 has no such order."""
        # Imported here, for this rare path (a shipment or refund of an order never seen): the registry itself is
        # light since it loads platforms on first use, but nothing else in order_status and cart_events needs it.
        from commerce_sync.platforms.registry import history_source_for

        try:
            secret = self._services.secrets.current(store.secret_id)
            credentials = dict(secret.get("platform_api_credentials") or {})
            events = history_source_for(store, credentials).order(order_id)
        except HistoryUnavailable as error:
            logger.info("order not read from the platform", order_id=order_id, reason=redact_emails(str(error)))
            return False
        except Exception as error:  # the platform failing: the queue's retries read it again
            reason = redact_emails(f"{type(error).__name__}: {error}")[:300]
            logger.warning("order could not be read from the platform", order_id=order_id, reason=reason)
            return False
        found = [e for e in events if e.type is EventType.ORDER_UPDATED and e.order().id == order_id]
        if not found:
            logger.info("order not found on the platform", order_id=order_id)
            return False
        outcome = self._order_updated(store, found[0])
        logger.info("order read from the platform", order_id=order_id, outcome=outcome.get("outcome"))
        return True

    # ---- the store's canonical import -------------------------------------------------------------

    def _import_started(self, store: Store, event: CanonicalEvent) -> Outcome:
        # The receiver opens imports as it admits their events; one put on the bus directly would count none.
        raise NotImplementedYet("store.sync_started is taken only at /webhooks/canonical (docs/canonical-events.md)")

    def _import_finished(self, store: Store, event: CanonicalEvent) -> Outcome:
        """The sender finished (the receiver made the import `closing`): closes it now when every event of it was
        applied already; otherwise the consumer applying the last one does (or the timeout)."""
        import_id = event.store_sync().id
        message = self.imports.close(store.store_id, import_id)
        if message:
            return {"outcome": "import_closed", "import_id": import_id, "result": message}
        held = self.imports.book.current(store.store_id)
        if held is None or held.import_id != import_id or not held.live:
            return {"outcome": "import_not_open", "import_id": import_id}
        return {
            "outcome": "import_still_applying",
            "import_id": import_id,
            "applied": held.applied,
            "published": held.published,
            "writing": held.writing,
        }

    # ---- order.deleted ---------------------------------------------------------------------------

    def _order_deleted(self, store: Store, event: CanonicalEvent) -> Outcome:
        removed = event.deleted()
        if self._state.is_stale(store.store_id, ORDER, removed.id, event.entity_version):
            return {"outcome": "stale", "order_id": removed.id}

        _, known = self._stored(store, removed.id)

        def delete(client: MailchimpClient) -> Outcome:
            deleted: Outcome = {"deleted": client.delete_order(store.store_id, removed.id)}
            if known is None or store.segments is None:
                return deleted
            return deleted | self._segments.order_removed(client, store, known, event.entity_version)

        outcome = self._mailchimp(delete)
        self._state.record_applied(store.store_id, ORDER, removed.id, event.entity_version, removed="deleted")
        return {"outcome": "deleted", "order_id": removed.id, **outcome}
