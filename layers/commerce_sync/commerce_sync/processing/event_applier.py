"""What every queue-fed function does around its own rules: drop duplicates (Powertools Idempotency
on store and event id), find the store, hold the entity's lease while its change is applied (so two
containers never apply changes of one entity at once: commerce_sync.aws.entity_locks) and one of its
Mailchimp account's connection slots (commerce_sync.accounts.budget), dispatch by event type, count and
log the outcome, say how the event is written (live, in the store's canonical import, or as history:
commerce_sync.processing.store_imports) and count it into its import, and read the store's Mailchimp
credentials again once after a 401 (a key rotated or an account reconnected while the container was warm).
A 401 that survives that pauses the account and parks the event, as does any event of an account already
paused (commerce_sync.accounts.health): it is applied when the account is reconnected, and is neither
retried nor dead-lettered meanwhile. An event of a store erased whole, or being erased, is dropped (its store's
registry entry says so, or, once that is gone, the store's tombstone: commerce_sync.aws.tombstones)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Collection, Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

from commerce_sync.accounts.budget import AccountBudget, AccountRefused, AccountUnavailable
from commerce_sync.aws.entity_locks import LEASE_ONLY, EntityLocks
from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_activity import StoreActivity
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_state import ReadOutdated, SyncState, state_key
from commerce_sync.canonical.errors import NotImplementedYet, UnknownStore
from commerce_sync.canonical.model import CanonicalEvent, EventType
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.errors import MailchimpAuthError, MailchimpEmailRefused
from commerce_sync.processing.outcomes import record_outcome
from commerce_sync.processing.services import Services
from commerce_sync.processing.store_imports import HistoryMode, StoreImports

Outcome = dict[str, Any]
Handler = Callable[[Store, CanonicalEvent], Outcome]
# The entity whose changes one event applies: its sync-state type and id.
Entity = tuple[str, str]


# Events that change one entity whose state item records what was applied to it: whether the event was applied
# already is kept in that item, as digests of the entity's last events' ids, read with the entity's lease and written
# with its own change. No idempotency record is written or read for them (two DynamoDB writes an event less); a
# duplicate older than the entity's last APPLIED_EVENTS_KEPT events meets the version guard instead ("stale"). Other
# events (erasures, data requests, consent, imports) keep Powertools Idempotency: they record no version.
DEDUPED_BY_ENTITY = frozenset(
    {
        EventType.CART_UPDATED,
        EventType.CART_DELETED,
        EventType.CUSTOMER_UPDATED,
        EventType.CUSTOMER_DELETED,
        EventType.ORDER_UPDATED,
        EventType.ORDER_SHIPMENT,
        EventType.ORDER_REFUND,
        EventType.ORDER_DELETED,
    }
)
APPLIED_EVENTS = "applied_events"
APPLIED_EVENTS_KEPT = 6
# What every change of an entity applied here writes to its state item (the version, the events' digests): a lease
# taken after the read (`reads_before_lease`) is taken only while they are as read.
CHANGED_BY_EVERY_WRITE = ("applied_version", APPLIED_EVENTS)


def event_digest(event: CanonicalEvent) -> str:
    """A short digest of the event's id (the item grows by a few bytes an event, not by the id)."""
    return base64.urlsafe_b64encode(hashlib.sha256(event.event_id.encode()).digest()[:9]).decode()


def time_left(config: IdempotencyConfig) -> float | None:
    """Seconds this invocation has left; None outside Lambda. The context is the one the queue handler registers
    for idempotency, which is this invocation's."""
    context = config.lambda_context
    return context.get_remaining_time_in_millis() / 1000 if context is not None else None


class EventApplier:
    """Subclasses name their function (for messages and metrics) and map event types to handlers."""

    function_name: str = "events"
    metric_prefix: str = "Outcome"
    _locks: EntityLocks

    def __init__(self, services: Services) -> None:
        self._services = services
        self.idempotency_config = services.idempotency_config()
        self._once: Callable[..., Outcome] = idempotent_function(
            data_keyword_argument="event",
            persistence_store=services.idempotency_store,
            config=self.idempotency_config,
        )(self._process)
        self._applied = False
        self.imports = StoreImports(services)
        # How the event being applied is written (set per event, before its handler runs).
        self.history_mode = HistoryMode.LIVE

    def process(self, *, event: CanonicalEvent, message: dict[str, Any] | None = None) -> Outcome:
        """Applies the event once. A duplicate gets the first outcome back without `_process` running,
        and would leave no trace of its own: it is logged and counted as "duplicate". `message` is the bus
        message that brought the event, kept as it is when the event must be parked."""
        self._applied = False
        try:
            outcome = self._process(event) if event.type in DEDUPED_BY_ENTITY else self._once(event=event)
        except AccountUnavailable as unavailable:
            # Raised inside the idempotent call, so its record was removed: the parked event is applied anew.
            outcome = self._park(event, message, unavailable)
        else:
            if not self._applied:
                logger.thread_safe_append_keys(event_type=event.type.value)
                record_outcome(self.metric_prefix, event.type.value, event.event_id, {"outcome": "duplicate"})
        if event.type is not EventType.STORE_ERASED:
            # The erasure sweeps every item of the store; its own event must not write one back.
            self._services.store_activity.outcome(
                event.store_id, outcome["outcome"] if self._applied else "duplicate", event.delivery
            )
        # Done with, whatever became of it (a failure raised above is retried, and counted then).
        closed = self.imports.applied(event)
        if closed:
            logger.info("canonical import closed by its last event", result=closed)
        return outcome

    @property
    def budget(self) -> AccountBudget:
        """The Mailchimp accounts' connection slots (held per invocation by the queue handler)."""
        return self._services.budget

    def account_of(self, store_id: str) -> str | None:
        """The Mailchimp account a store writes to (None: no such store)."""
        store = self._services.stores.get(store_id)
        return store.mailchimp_account if store is not None else None

    def time_left(self) -> float | None:
        """Seconds this invocation has left (None outside Lambda)."""
        return self._time_left()

    @property
    def activity(self) -> StoreActivity:
        """Where the outcomes are counted for `commerce-sync status` (flushed once per invocation)."""
        return self._services.store_activity

    def handlers(self) -> Mapping[EventType, Handler]:
        raise NotImplementedError

    def entity_of(self, store: Store, event: CanonicalEvent) -> Entity:
        """The entity the event changes (a shipment changes its order), whose lease is held meanwhile."""
        raise NotImplementedError

    def ordering_tokens(self, event: CanonicalEvent) -> Collection[str] | None:
        """What the event may change, as tokens (`cart:<id>`, `order:<id>`, …) told from the event alone: records of
        one batch whose tokens meet are applied one after another, in the batch's order
        (commerce_sync.processing.batch_lanes). None: the whole store, for an event whose entity cannot be told
        without reading, or of a type not named here."""
        return None

    def reads_of(self, store: Store, event: CanonicalEvent) -> list[dict[str, str]]:
        """The sync-state items the event's handler will read, read together when it starts: the entity's state
        unless told more."""
        entity_type, entity_id = self.entity_of(store, event)
        return [state_key(store.store_id, entity_type, entity_id)]

    @property
    def locks(self) -> EntityLocks:
        """The leases of the event being applied (a purchase also takes its carts')."""
        return self._locks

    @property
    def _state(self) -> SyncState:
        return self._services.sync_state

    def reads_before_lease(self, event: CanonicalEvent) -> bool:
        """True for events whose entity is read (with the other reads, one request) before its lease is taken, and
        the lease taken with the event's first write or before its first Mailchimp request
        (EntityLocks.holding_after_read): a purchase's marks take it in their own transaction. Should the entity
        have changed in between, the event is applied again with the lease taken first."""
        return False

    def holds_own_slot(self, event: CanonicalEvent) -> bool:
        """True for events whose handler takes its Mailchimp account's connection slot itself, around its
        Mailchimp calls only (`_mailchimp_in_slot`), rather than for its whole run."""
        return False

    def _process(self, event: CanonicalEvent) -> Outcome:
        self._applied = True
        store = self._services.stores.get(event.store_id)
        if store is None:
            if not self._services.tombstones.store_erased(event.store_id):
                raise UnknownStore(f"store {event.store_id} is not registered")
            return self._of_erased_store(event)
        if store.erased_at is not None and event.type is not EventType.STORE_ERASED:
            return self._of_erased_store(event)
        logger.thread_safe_append_keys(store_id=store.store_id, event_id=event.event_id, event_type=event.type.value)
        handler = self.handlers().get(event.type)
        if handler is None:
            raise NotImplementedYet(f"{self.function_name} does not handle {event.type.value} events")
        # One container applies one record at a time, so the event's leases and store can live on the applier.
        self._store = store
        if self.reads_before_lease(event):
            try:
                return self._apply(store, event, handler, after_read=True)
            except ReadOutdated:
                logger.debug("entity changed before its lease was taken; applied again under its lease")
        return self._apply(store, event, handler, after_read=False)

    def _apply(self, store: Store, event: CanonicalEvent, handler: Handler, after_read: bool) -> Outcome:
        # Its leases read the entities' state as they are taken, and are given back with the event's writes.
        self._locks = EntityLocks(self._state.table, self._time_left, state=self._state)
        entity_type, entity_id = self.entity_of(store, event)
        lease: AbstractContextManager[None] = (
            self._locks.holding_after_read(store.store_id, entity_type, entity_id, CHANGED_BY_EVERY_WRITE)
            if after_read
            else self._locks.holding(store.store_id, entity_type, [entity_id])
        )
        slot: AbstractContextManager[None] = (
            nullcontext()
            if self.holds_own_slot(event)
            else self._services.budget.holding(store.mailchimp_account, "live", self._time_left())
        )
        tombstones = self._services.tombstones
        # Everything the event reads, read at once under its lease (aws.read_ahead).
        reads = [*self.reads_of(store, event), *tombstones.keys_of_event(event)]
        try:
            # The writes are kept from the start, so the lease is given back in the event's own write.
            with self._state.deferring(), lease, slot, self._state.read_ahead.reading(reads):
                if event.type is not EventType.STORE_ERASED and self._erased_since_read(store):
                    return self._of_erased_store(event)
                held = self._state.applied(store.store_id, entity_type, entity_id) or {}
                if after_read:
                    self._locks.read_as(held or None)
                applied_events = list(held.get(APPLIED_EVENTS) or ())
                if event.type in DEDUPED_BY_ENTITY and event_digest(event) in applied_events:
                    self._applied = False  # counted as a duplicate by `process`
                    return {"outcome": "duplicate"}
                if tombstones.refuses_event(event):
                    # An erased shopper, in a change from before the erasure (a replay, a late delivery).
                    outcome: Outcome = {"outcome": "erased_shopper"}
                else:
                    outcome = self._handle(handler, store, event)
                if event.type in DEDUPED_BY_ENTITY and (
                    set(held) - LEASE_ONLY or self._state.writes_to(store.store_id, entity_type, entity_id)
                ):
                    # Written with the event's own change (or with the lease given back); a new entity the event left
                    # unwritten leaves no item, and a duplicate of it does the same nothing again.
                    recent = [event_digest(event), *applied_events][:APPLIED_EVENTS_KEPT]
                    self._state.mark(store.store_id, entity_type, entity_id, **{APPLIED_EVENTS: recent})
        except MailchimpEmailRefused as refusal:
            # Retrying cannot help and a dead letter would page someone over a shopper's typo.
            logger.warning("event skipped: Mailchimp refuses the shopper's address", reason=str(refusal))
            outcome = {"outcome": "skipped_email_refused"}
        record_outcome(self.metric_prefix, event.type.value, event.event_id, outcome)
        return outcome

    def _erased_since_read(self, store: Store) -> bool:
        """True when the store's erasure began after this container last read the store (aws.store_cache): its
        tombstone is the first thing an erasure writes. A store registered again under the id after an erasure has
        the tombstone too, so the registry has the last word."""
        if not self._services.tombstones.store_erased(store.store_id):
            return False
        now = self._services.registry.get(store.store_id)
        return now is None or now.erased_at is not None

    def _of_erased_store(self, event: CanonicalEvent) -> Outcome:
        """An event of a store that is being, or has been, erased whole: a delivery still on its way, a retry, a
        replay. Dropped, never failed: a dead letter would keep its shoppers' data. The erasure itself, once done,
        is done."""
        logger.thread_safe_append_keys(store_id=event.store_id, event_id=event.event_id, event_type=event.type.value)
        outcome: Outcome = {"outcome": "already_erased" if event.type is EventType.STORE_ERASED else "store_erased"}
        record_outcome(self.metric_prefix, event.type.value, event.event_id, outcome)
        return outcome

    def _handle(self, handler: Handler, store: Store, event: CanonicalEvent) -> Outcome:
        """The handler, told how to write: an event of the store's live import holds it open meanwhile."""
        held = self.imports.begin(event)
        if held is not None:
            self.history_mode = HistoryMode.IMPORT
        elif event.historical or event.import_id is not None:
            self.history_mode = HistoryMode.HISTORICAL
        else:
            self.history_mode = HistoryMode.LIVE
        try:
            if held is not None:

                def raise_flag(client: MailchimpClient) -> Outcome:
                    self.imports.raise_flag(client, store, held)
                    return {}

                self._mailchimp(raise_flag)
            return handler(store, event)
        finally:
            if held is not None:
                self.imports.end(event)

    def _time_left(self) -> float | None:
        return time_left(self.idempotency_config)

    def _mailchimp(self, write: Callable[[MailchimpClient], Outcome]) -> Outcome:
        """`write` on the store's client, read again once after a 401. The entity's lease, when the event read it
        first (`reads_before_lease`), is taken before the first request goes out."""
        try:
            with self._services.mailchimp(self._store).before_each_request(self._locks.ensure_held) as client:
                return write(client)
        except MailchimpAuthError:
            pass
        try:
            refreshed = self._services.mailchimp(self._store, refresh_key=True)
            with refreshed.before_each_request(self._locks.ensure_held) as client:
                return write(client)
        except MailchimpAuthError as refusal:
            raise AccountRefused(self._store.mailchimp_account, f"{refusal.status} {refusal.title}") from refusal

    def _mailchimp_in_slot(self, write: Callable[[MailchimpClient], Outcome]) -> Outcome:
        """`_mailchimp` within one of the account's connection slots, for a handler that holds its own."""
        with self._services.budget.holding(self._store.mailchimp_account, "live", self._time_left()):
            return self._mailchimp(write)

    def _park(self, event: CanonicalEvent, message: dict[str, Any] | None, unavailable: AccountUnavailable) -> Outcome:
        """Keeps the event for when its account is reconnected (commerce_sync.accounts.health)."""
        self._services.account_health.park_event(event, message, unavailable)
        outcome: Outcome = {"outcome": "parked", "mailchimp_account": unavailable.account}
        record_outcome(self.metric_prefix, event.type.value, event.event_id, outcome)
        return outcome
