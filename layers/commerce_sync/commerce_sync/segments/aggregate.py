"""A customer's order history as the segment rules read it: one sync-state item per Mailchimp customer of a store
(pk `<store_id>#segment#<mailchimp customer id>`; the customer id is the address's subscriber hash), updated as
orders are applied.

Per order it keeps the net revenue the order contributes and when it was placed, so a refund or a cancellation
*replaces* that order's contribution. An order's entry is only replaced by a newer one: ordered by (the order's
applied version, the amount refunded) — refunds merge into an order without changing its version, and only
ever add up — so the same order applied twice, or its events out of order, give the same aggregate.

Which orders count, and for how much, is the order path's rule (orders.sync.segment_entry: paid orders, net of
refunds); a pending, cancelled, wholly refunded or deleted order counts for nothing but is remembered, so a late
duplicate of its older version cannot bring it back.

Bounded: at most MAX_ORDER_ENTRIES entries, the most recently placed; older ones are folded into running totals
(count, value, first and last time). A change to a folded order is ignored (it is kept as it was folded), and so
is an order never seen that was placed at or before the newest folded one: it cannot be told from a duplicate
of a folded order. Both only touch customers with more than MAX_ORDER_ENTRIES orders.

Listed per store (the nightly pass, `commerce-sync segments`): every aggregate item also carries
`segment_shard` (`<store_id>#<0-f>`, the customer id's crc32 modulo SHARDS) and `segment_customer`, the keys of
the sync-state table's sparse index SEGMENT_INDEX. Sharded so one store's order traffic is spread over 16 index
partitions rather than one; a store's aggregates are the union of its 16 shards' Queries.

Concurrency: the order consumer holds the *order's* lease, not the customer's, so two orders of one customer can
be applied at once by two containers. Each update is read, merged, and written only if the item's `revision`
is still the one read (a conditional write), else read again and merged again: no order's entry is lost.
"""

import random
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict

from commerce_sync.aws.sync_state import STATE_SORT_KEY, SyncState, entity_key
from commerce_sync.canonical.model import Order
from commerce_sync.segments.rules import Standing

SEGMENT = "segment"
SEGMENT_INDEX = "segments-index"
SHARDS = 16
# Items per index Query page (DynamoDB also stops a page at 1 MB).
PAGE_ITEMS = 500
MAX_ORDER_ENTRIES = 50
# Conditional-write attempts before giving up (the event is then retried by the queue), with a growing random
# pause between them so containers that collided do not collide again.
MAX_ATTEMPTS = 10
BACKOFF_SECONDS = 0.02


class AggregateConflict(Exception):
    """Other containers kept changing the customer's aggregate: the event is retried later."""


class OrderEntry(BaseModel):
    """What one order contributes (orders.sync makes it from the order as applied, with the order rules)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    net: Decimal
    placed_at: datetime
    counted: bool
    version: str
    refunded: Decimal = Decimal(0)

    def supersedes(self, other: "OrderEntry") -> bool:
        return (self.version, self.refunded) > (other.version, other.refunded)


def removed_entry(known: OrderEntry | None, order: Order | None, version: str) -> OrderEntry:
    """A deleted order: remembered (at the deletion's version), counted for nothing."""
    placed = known.placed_at if known else (order.processed_at or order.updated_at) if order else None
    return OrderEntry(net=Decimal(0), placed_at=placed or datetime.now(UTC), counted=False, version=version)


class Aggregate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    orders: dict[str, OrderEntry] = {}
    folded_orders: int = 0
    folded_value: Decimal = Decimal(0)
    folded_first_at: datetime | None = None
    folded_last_at: datetime | None = None

    def with_order(self, order_id: str, entry: OrderEntry) -> "Aggregate | None":
        """The aggregate with `entry` for the order; None when it changes nothing (a duplicate, an older
        version, a folded order)."""
        known = self.orders.get(order_id)
        if known is not None and not entry.supersedes(known):
            return None
        if known is None and self.folded_last_at is not None and entry.placed_at <= self.folded_last_at:
            return None
        return self._folded({**self.orders, order_id: entry})

    def _folded(self, orders: dict[str, OrderEntry]) -> "Aggregate":
        if len(orders) <= MAX_ORDER_ENTRIES:
            return self.model_copy(update={"orders": orders})
        newest_first = sorted(orders.items(), key=lambda item: (item[1].placed_at, item[0]), reverse=True)
        kept, old = dict(newest_first[:MAX_ORDER_ENTRIES]), [entry for _, entry in newest_first[MAX_ORDER_ENTRIES:]]
        counted = [entry for entry in old if entry.counted]
        first_times = [entry.placed_at for entry in counted] + ([self.folded_first_at] if self.folded_first_at else [])
        last_times = [entry.placed_at for entry in old] + ([self.folded_last_at] if self.folded_last_at else [])
        return Aggregate(
            orders=kept,
            folded_orders=self.folded_orders + len(counted),
            folded_value=self.folded_value + sum((entry.net for entry in counted), Decimal(0)),
            folded_first_at=min(first_times) if first_times else None,
            folded_last_at=max(last_times),
        )

    def standing(self) -> Standing:
        counted = sorted((entry for entry in self.orders.values() if entry.counted), key=lambda e: e.placed_at)
        times = [entry.placed_at for entry in counted]
        firsts = times[:1] + ([self.folded_first_at] if self.folded_first_at and self.folded_orders else [])
        return Standing(
            orders=self.folded_orders + len(counted),
            lifetime_value=self.folded_value + sum((entry.net for entry in counted), Decimal(0)),
            first_order_at=min(firsts) if firsts else None,
            # Folded orders are older than every kept one; only the newest folded time is known (of a counted
            # order or not), near enough for a rule measured in months.
            last_order_at=times[-1] if times else (self.folded_last_at if self.folded_orders else None),
            recent_order_times=tuple(reversed(times)),
        )


def shard_of(store_id: str, customer: str) -> str:
    return f"{store_id}#{zlib.crc32(customer.encode()) % SHARDS:x}"


def store_shards(store_id: str) -> list[str]:
    return [f"{store_id}#{shard:x}" for shard in range(SHARDS)]


@dataclass(frozen=True)
class Stored:
    """The aggregate as read, with the item's revision and the tags last written to Mailchimp."""

    aggregate: Aggregate
    revision: int
    written: frozenset[str]

    @classmethod
    def of_item(cls, item: dict[str, Any]) -> "Stored":
        aggregate = Aggregate.model_validate_json(item["aggregate"]) if item.get("aggregate") else Aggregate()
        return cls(aggregate, int(item.get("revision", 0)), frozenset(item.get("written_tags") or ()))


@dataclass(frozen=True)
class Listed:
    """One aggregate of a store's listing, with its customer id and why their tags were last skipped ("": they
    were not)."""

    customer: str
    stored: Stored
    skipped: str = ""


@dataclass(frozen=True)
class ListedPage:
    aggregates: list[Listed]
    # Where the next page of the shard starts (DynamoDB's LastEvaluatedKey); None: the shard is done.
    next_key: dict[str, Any] | None


class Aggregates:
    def __init__(self, state: SyncState) -> None:
        self._table = state.table

    @staticmethod
    def _key(store_id: str, customer: str) -> dict[str, str]:
        return {"pk": entity_key(store_id, SEGMENT, customer), "sk": STATE_SORT_KEY}

    def read(self, store_id: str, customer: str) -> Stored:
        item: dict[str, Any] = (
            self._table.get_item(Key=self._key(store_id, customer), ConsistentRead=True).get("Item") or {}
        )
        return Stored.of_item(item)

    def page(self, shard: str, start_key: dict[str, Any] | None = None, limit: int = PAGE_ITEMS) -> ListedPage:
        """One page of a shard's aggregates (store_shards), in customer id order. Read from the index, so
        eventually consistent: a change of the last second may be missed, and is the order path's anyway."""
        arguments: dict[str, Any] = {
            "IndexName": SEGMENT_INDEX,
            "KeyConditionExpression": "#shard = :shard",
            "ExpressionAttributeNames": {"#shard": "segment_shard"},
            "ExpressionAttributeValues": {":shard": shard},
            "Limit": limit,
        }
        if start_key:
            arguments["ExclusiveStartKey"] = start_key
        answer = self._table.query(**arguments)
        listed = [
            Listed(str(item["segment_customer"]), Stored.of_item(item), str(item.get("skipped") or ""))
            for item in answer.get("Items", [])
            if item.get("segment_customer")
        ]
        return ListedPage(listed, answer.get("LastEvaluatedKey"))

    def every(self, store_id: str) -> Iterator[Listed]:
        """Every aggregate of the store, a page at a time (constant memory)."""
        for shard in store_shards(store_id):
            key: dict[str, Any] | None = None
            while True:
                page = self.page(shard, key)
                yield from page.aggregates
                key = page.next_key
                if key is None:
                    break

    def apply(self, store_id: str, customer: str, order_id: str, entry: OrderEntry) -> tuple[Stored, bool]:
        """Merges the order's entry (conditional on the revision read; re-read and retried on a conflict).
        Returns the aggregate now stored and whether this call changed it."""
        for attempt in range(MAX_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, BACKOFF_SECONDS * 2**attempt))
            stored = self.read(store_id, customer)
            changed = stored.aggregate.with_order(order_id, entry)
            if changed is None:
                return stored, False
            if self._update_if(store_id, customer, stored.revision, aggregate=changed.model_dump_json()):
                return Stored(changed, stored.revision + 1, stored.written), True
        raise AggregateConflict(f"the segment aggregate of order {order_id}'s customer kept changing")

    def record_written(self, store_id: str, customer: str, revision: int, tags: frozenset[str]) -> bool:
        """Records the tags written for the aggregate at `revision`; False when it changed meanwhile."""
        try:
            self._table.update_item(
                Key=self._key(store_id, customer),
                UpdateExpression="SET #written = :tags, #skipped = :none, #written_at = :at",
                ConditionExpression="#revision = :revision",
                ExpressionAttributeNames={
                    "#written": "written_tags",
                    "#skipped": "skipped",
                    "#written_at": "written_at",
                    "#revision": "revision",
                },
                ExpressionAttributeValues={
                    ":tags": sorted(tags),
                    ":none": "",
                    ":at": datetime.now(UTC).isoformat(),
                    ":revision": revision,
                },
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def record_skipped(self, store_id: str, customer: str, reason: str) -> None:
        """Why the customer's tags were not written (no audience member, compliance state): kept for operators."""
        self._table.update_item(
            Key=self._key(store_id, customer),
            UpdateExpression="SET #skipped = :reason, #skipped_at = :at",
            ExpressionAttributeNames={"#skipped": "skipped", "#skipped_at": "skipped_at"},
            ExpressionAttributeValues={":reason": reason, ":at": datetime.now(UTC).isoformat()},
        )

    def _update_if(self, store_id: str, customer: str, revision: int, aggregate: str) -> bool:
        condition = "attribute_not_exists(#revision)" if revision == 0 else "#revision = :revision"
        values: dict[str, Any] = {
            ":aggregate": aggregate,
            ":next": revision + 1,
            ":at": datetime.now(UTC).isoformat(),
            ":shard": shard_of(store_id, customer),
            ":customer": customer,
        }
        if revision:
            values[":revision"] = revision
        try:
            self._table.update_item(
                Key=self._key(store_id, customer),
                UpdateExpression="SET #aggregate = :aggregate, #revision = :next, #updated_at = :at, "
                "#shard = :shard, #customer = :customer",
                ExpressionAttributeNames={
                    "#aggregate": "aggregate",
                    "#revision": "revision",
                    "#updated_at": "updated_at",
                    "#shard": "segment_shard",
                    "#customer": "segment_customer",
                },
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True
