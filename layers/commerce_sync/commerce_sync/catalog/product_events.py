"""Real-time product events (product.updated / product.deleted) from the product queue.

Per event, under the product's lease, which is held on the product's record item (catalog.state.ProductClaim):
taking it reads the record, and the record's write gives it back, so an applied event is two DynamoDB requests (and
the batch's share of the Mailchimp connection slot). A duplicate (the event that wrote the product's record,
delivered again) writes nothing and is logged and counted as the outcome `duplicate`: the record names the event
that wrote it (`applied_event`), so no idempotency record is written for every event (two DynamoDB requests an
event); an event older than the version recorded for the product is skipped; content equal to what Mailchimp
already has (same hash) costs no Mailchimp call. Otherwise one direct PUT through the same mapping as the catalog
sync, then the record.

product.deleted retires the product rather than deleting it (docs/product-sync.md): every variant goes to
inventory 0 and hidden, so Mailchimp stops recommending it while the orders and carts naming it keep
working. A product Mailchimp has but we have no record of is read from Mailchimp first, to learn its
variants.

Mailchimp errors propagate: the queue retries the record and the function dead-letters it with the reason
(commerce_sync.processing.dead_letters), as for carts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from commerce_sync.accounts.budget import AccountRefused, AccountUnavailable
from commerce_sync.aws.entity_locks import lease_seconds, wait_for_lease
from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_lock import new_token
from commerce_sync.canonical.errors import NotImplementedYet, UnknownStore
from commerce_sync.canonical.model import CanonicalEvent, EventType
from commerce_sync.catalog.state import CatalogState, ProductClaim, ProductRecord
from commerce_sync.catalog.writer import Outcome, ProductWriter, removal_write, unchanged, upsert_write
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.errors import MailchimpAuthError
from commerce_sync.processing.event_applier import event_digest, time_left
from commerce_sync.processing.outcomes import record_outcome
from commerce_sync.processing.services import Services
from commerce_sync.processing.store_imports import StoreImports

Result = dict[str, Any]


class ProductEvents:
    def __init__(self, services: Services, state: CatalogState, refetch: Callable[[Store, str], None] | None = None):
        self._services = services
        self._state = state
        # After a write that lost a race with a newer one: read the product from the store and write it
        # again (catalog_sync provides it; canonical stores have nothing to read from).
        self._refetch = refetch
        # Not for idempotency records (see above): the handler registers the invocation's context here, which
        # tells each lease and slot how long the invocation has left.
        self.idempotency_config = services.idempotency_config()
        self._applied = False
        self._imports = StoreImports(services)

    def process(self, *, event: CanonicalEvent, message: dict[str, Any] | None = None) -> Result:
        """Applies the event once; an event of a paused or refused Mailchimp account is parked (`message`, the
        bus message that brought it, is what is kept) and applied when the account is reconnected. A
        duplicate writes nothing and is logged and counted as "duplicate", as by every consumer
        (processing.event_applier)."""
        self._applied = False
        try:
            outcome = self._process(event)
        except AccountUnavailable as unavailable:
            self._services.account_health.park_event(event, message, unavailable)
            outcome = {"outcome": "parked", "mailchimp_account": unavailable.account}
            record_outcome("ProductEvent", event.type.value, event.event_id, outcome)
        else:
            if not self._applied:
                logger.append_keys(event_type=event.type.value)
                record_outcome("ProductEvent", event.type.value, event.event_id, {"outcome": "duplicate"})
        self._services.store_activity.outcome(
            event.store_id, "duplicate" if not self._applied else outcome["outcome"], event.delivery
        )
        # A product of a canonical import counts into it (a product write fires nothing, so it needs no flag).
        closed = self._imports.applied(event)
        if closed:
            logger.info("canonical import closed by its last event", result=closed)
        return outcome

    def _process(self, event: CanonicalEvent) -> Result:
        self._applied = True
        store = self._services.stores.get(event.store_id)
        if store is None:
            raise UnknownStore(f"store {event.store_id} is not registered")
        logger.append_keys(store_id=store.store_id, event_id=event.event_id, event_type=event.type.value)
        apply: Callable[[Store, CanonicalEvent, ProductClaim], Result]
        if event.type is EventType.PRODUCT_UPDATED:
            product_id, apply = event.product().id, self._updated
        elif event.type is EventType.PRODUCT_DELETED:
            product_id, apply = event.deleted().id, self._deleted
        else:
            raise NotImplementedYet(f"product_sync does not handle {event.type.value} events")
        # The product's lease: two changes of one product applied at once by two containers (one overtaking the
        # other) would each pass the version check and the older could reach Mailchimp last.
        with (
            self._lease(store.store_id, product_id) as claim,
            self._services.budget.holding(store.mailchimp_account, "live", self._time_left()),
        ):
            result = apply(store, event, claim)
        if result["outcome"] == Outcome.CONFLICT.value:
            # The lease was lost (it outlived the invocation): read the product from the store and write it again,
            # now that this event no longer holds the record.
            self._repair(store, product_id)
        if self._applied:
            record_outcome("ProductEvent", event.type.value, event.event_id, result)
        return result

    @contextmanager
    def _lease(self, store_id: str, product_id: str) -> Iterator[ProductClaim]:
        """The product's lease, on its record item (catalog.state.ProductClaim): taking it reads the record, and the
        record's write gives it back; whatever else happens, it is given back when the body ends."""
        time_left = self._time_left()
        lease = lease_seconds(time_left)
        token = new_token()
        claim = wait_for_lease(
            lambda: self._state.claim_product(store_id, product_id, token, lease), f"product {product_id}", time_left
        )
        try:
            yield claim
        finally:
            self._state.release_product(store_id, claim)

    def _redelivered(self, record: ProductRecord | None, event: CanonicalEvent) -> bool:
        """The record was written by this very event: it is a redelivery (counted as a duplicate by `process`)."""
        if record is None or record.applied_event != event_digest(event):
            return False
        self._applied = False
        return True

    def _time_left(self) -> float | None:
        return time_left(self.idempotency_config)

    def _client(self, store: Store, refresh: bool) -> MailchimpClient:
        """The store's account's client; a refusal of credentials read afresh is the account's, not the event's."""
        if not refresh:
            return self._services.mailchimp(store)
        client = self._services.mailchimp(store, refresh_key=True)
        try:
            client.ping()
        except MailchimpAuthError as refusal:
            raise AccountRefused(store.mailchimp_account, f"{refusal.status} {refusal.title}") from refusal
        return client

    def _writer(self, store: Store) -> ProductWriter:
        return ProductWriter(store, self._state, lambda refresh: self._client(store, refresh))

    def _updated(self, store: Store, event: CanonicalEvent, claim: ProductClaim) -> Result:
        product = event.product()
        record = claim.record
        if self._redelivered(record, event):
            return {"outcome": "duplicate", "product_id": product.id}
        if record is not None and record.version > event.entity_version:
            return {"outcome": "stale", "product_id": product.id}
        pending = upsert_write(product, record, store, event.entity_version)
        pending = replace(pending, record=pending.record.with_changes(applied_event=event_digest(event)))
        if unchanged(pending, record):
            return {"outcome": "unchanged", "product_id": product.id}
        outcome = self._writer(store).write(pending, condition="version", raise_errors=True, claim=claim)
        return {"outcome": pending.kind if outcome is Outcome.APPLIED else outcome.value, "product_id": product.id}

    def _deleted(self, store: Store, event: CanonicalEvent, claim: ProductClaim) -> Result:
        product_id = event.deleted().id
        record = claim.record
        if self._redelivered(record, event):
            return {"outcome": "duplicate", "product_id": product_id}
        if record is not None and record.version > event.entity_version:
            return {"outcome": "stale", "product_id": product_id}
        if record is not None and record.removed:
            return {"outcome": "already_removed", "product_id": product_id}
        record = record or self._record_from_mailchimp(store, product_id)
        if record is None:
            # Nothing to hide; the marker keeps a late, older product.updated from bringing it back.
            marker = ProductRecord(
                product_id=product_id, removed=True, version=event.entity_version, applied_event=event_digest(event)
            )
            self._state.put_product_if_newer(store.store_id, marker, claim)
            return {"outcome": "not_in_mailchimp", "product_id": product_id}
        pending = removal_write(record, event.entity_version)
        pending = replace(pending, record=pending.record.with_changes(applied_event=event_digest(event)))
        outcome = self._writer(store).write(pending, condition="version", raise_errors=True, claim=claim)
        return {"outcome": "removed" if outcome is Outcome.APPLIED else outcome.value, "product_id": product_id}

    def _record_from_mailchimp(self, store: Store, product_id: str) -> ProductRecord | None:
        existing = self._writer(store).call(lambda client: client.get_product(store.store_id, product_id))
        return ProductRecord.from_mailchimp({**existing, "id": product_id}) if existing is not None else None

    def _repair(self, store: Store, product_id: str) -> None:
        if self._refetch is None:
            logger.warning("a concurrent newer change may have been overwritten", product_id=product_id)
            return
        self._refetch(store, product_id)
