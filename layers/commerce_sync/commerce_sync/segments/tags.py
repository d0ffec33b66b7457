"""Keeping a customer's segment tags on their audience member current as their orders are applied.

After an applied order changes the customer's aggregate (segments.aggregate), the segments are evaluated
(segments.rules) and compared with the tags last written for the customer (kept on the aggregate's item); only
the difference is sent, in one `POST /lists/{list_id}/members/{subscriber_hash}/tags`. Nothing changes: no
request.

Skipped, with the reason recorded on the aggregate and in the outcome, never retried: a shopper without an
e-mail address, no audience member (404), a member in a compliance state (unsubscribed, cleaned) or archived —
such a member is never touched. The member's status is read only when there is something to write. A skipped
customer's tags stay unwritten, so their next order tries again.

Two containers applying two orders of one customer: each writes the tags of the aggregate it made and then
records them on condition that the aggregate has not changed since; when it has, the newest aggregate's tags
are declared in full (every managed tag active or inactive) and recorded the same way, so the last write to
Mailchimp is always of the newest aggregate.

Mailchimp failures propagate: the event is retried by the queue, then dead-lettered with the reason. A retry
finds the order's entry already merged and the tags not yet recorded, so it writes them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.store_registry import Store
from commerce_sync.aws.sync_state import SyncState
from commerce_sync.canonical.model import Order
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.mapping import customer_id
from commerce_sync.segments.aggregate import Aggregates, OrderEntry, Stored, removed_entry
from commerce_sync.segments.rules import SegmentRules, segments_of

# The customer item the order path keeps (carts.customers.CUSTOMER), which records "Member In Compliance State".
CUSTOMER = "customer"
UNTOUCHABLE = frozenset({"unsubscribed", "cleaned", "archived"})
MAX_RECORD_ATTEMPTS = 5


class SegmentTagger:
    def __init__(self, state: SyncState) -> None:
        self._state = state
        self._aggregates = Aggregates(state)

    def order_applied(
        self,
        client: MailchimpClient,
        store: Store,
        order: Order,
        entry: OrderEntry,
        history: bool = False,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Merges what the applied order contributes into its customer's aggregate and writes their tags if they
        changed. `history`: the order is not news (an import), so the tags do not fire automations."""
        if store.segments is None:
            return {}
        if not order.customer.email:
            return {"segments": "skipped", "segments_reason": "no_email"}
        customer = customer_id(order.customer)
        stored, _ = self._aggregates.apply(store.store_id, customer, order.id, entry)
        return self.write_tags(client, store, store.segments, customer, stored, history, now or datetime.now(UTC))

    def order_removed(
        self, client: MailchimpClient, store: Store, order: Order, version: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """A deleted order stops counting for its customer."""
        if store.segments is None or not order.customer.email:
            return {}
        known = self._aggregates.read(store.store_id, customer_id(order.customer)).aggregate.orders.get(order.id)
        return self.order_applied(client, store, order, removed_entry(known, order, version), now=now)

    def write_tags(
        self,
        client: MailchimpClient,
        store: Store,
        rules: SegmentRules,
        customer: str,
        stored: Stored,
        history: bool,
        now: datetime,
    ) -> dict[str, Any]:
        """Writes the customer's tags if the segments of `stored` at `now` differ from the tags last written (the
        order path, the nightly pass, a replayed dead letter)."""
        wanted = frozenset(segments_of(stored.aggregate.standing(), rules, now))
        changes = dict.fromkeys(wanted - stored.written, True) | dict.fromkeys(stored.written - wanted, False)
        if not changes:
            return {"segments": "unchanged", "segment_tags": sorted(wanted)}
        skipped = self._reason_to_skip(client, store, customer)
        for _ in range(MAX_RECORD_ATTEMPTS):
            if skipped is None and not client.update_member_tags(
                store.list_id, customer, changes, is_syncing=True if history else None
            ):
                skipped = "no_audience_member"
            if skipped is not None:
                metrics.add_metric(name="SegmentTagsSkipped", unit="Count", value=1)
                logger.info("segment tags skipped", customer_id=customer, reason=skipped)
                self._aggregates.record_skipped(store.store_id, customer, skipped)
                return {"segments": "skipped", "segments_reason": skipped}
            if self._aggregates.record_written(store.store_id, customer, stored.revision, wanted):
                return {"segments": "written", "segment_tags": sorted(wanted)}
            # Another container changed the aggregate after ours was read: declare the newest one's tags in full.
            stored = self._aggregates.read(store.store_id, customer)
            wanted = frozenset(segments_of(stored.aggregate.standing(), rules, now))
            changes = {tag: tag in wanted for tag in rules.tag_names() | stored.written}
        raise RuntimeError("the customer's segment aggregate kept changing while its tags were written")

    def retag(
        self, client: MailchimpClient, store: Store, customer: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """The customer's tags brought up to date from their aggregate as stored (a replayed dead letter of the
        nightly pass)."""
        if store.segments is None:
            return {"segments": "off"}
        stored = self._aggregates.read(store.store_id, customer)
        return self.write_tags(client, store, store.segments, customer, stored, False, now or datetime.now(UTC))

    def _reason_to_skip(self, client: MailchimpClient, store: Store, customer: str) -> str | None:
        known = self._state.applied(store.store_id, CUSTOMER, customer) or {}
        if known.get("compliance_state"):
            return "compliance_state"
        member = client.get_member(store.list_id, customer, fields="status")
        if member is None:
            return "no_audience_member"
        status = member.get("status")
        return f"member_{status}" if status in UNTOUCHABLE else None
