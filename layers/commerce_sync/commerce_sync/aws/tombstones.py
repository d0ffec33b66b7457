"""What stays of an erased shopper: salted hashes that keep every write path from bringing them back
(docs/privacy.md, "Tombstones").

Per store, in the sync-state table, partition `privacy#<store_id>`:
- `email#<hash>`, `customer#<hash>` (the platform's customer id), `order#<hash>`: `erased_at`, a version string
  (commerce_sync.canonical.versions) of when the erasure was applied.
A hash is HMAC-SHA256 of `<store_id>\\0<kind>\\0<value>` keyed with the deployment's salt, so it names the
shopper in this store only and no dictionary of e-mail hashes made elsewhere (Mailchimp's MD5 subscriber hash is
public knowledge) can read it back. The salt is 32 random bytes, made once per deployment (`privacy#salt`) by a
conditional write, readable only by the functions' role, as the rest of the table. A Secrets Manager secret would
add a second place to lose it without adding a reader it keeps out.

What a tombstone refuses (`Tombstones.refuses`):
- an order erased by id, for ever: its later changes (a refund weeks after) are the erased shopper's too;
- anything of an erased e-mail or customer id dated at or before the erasure: a replay from the archive or the
  dead-letter queue, a backfill or repair reading the store, a webhook delivered late. A change dated after it
  (a new sign-up, a new order with that address) is the shopper's new consent and is written: the store sent it
  after the erasure, so the shopper is back of their own accord.
Dates are the entity's version when it is a timestamp (the platform's own `updated_at`), else the event's
`occurred_at`.

A store erased whole (commerce_sync.privacy.store_erasure) leaves one tombstone in partition `privacy-stores`,
`store#<store_id>` (a store id names no shopper): `erased_at` and the request; no store id can make that partition
(`privacy#stores` would be the shoppers' partition of a store called "stores"). Once its registration is gone, an
event of the store still on its way (a queue's retry, a replay) is dropped rather than failed as from an unknown
store, and the erasure request itself, delivered again, is done already.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import ClientError

from commerce_sync.aws.batch_items import get_many, items_with_prefix
from commerce_sync.aws.read_ahead import ReadAhead
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.canonical.model import CanonicalEvent, EventType
from commerce_sync.canonical.versions import version_from_timestamp

Kind = Literal["email", "customer", "order"]
SALT_KEY = {"pk": "privacy#salt", "sk": "state"}
STORES_PARTITION = "privacy-stores"
KINDS: tuple[Kind, ...] = ("email", "customer", "order")
_TIMESTAMP_PREFIX_LENGTH = len("2026-01-01T00:00:00")


def partition(store_id: str) -> str:
    return f"privacy#{store_id}"


def store_key(store_id: str) -> dict[str, str]:
    return {"pk": STORES_PARTITION, "sk": f"store#{store_id}"}


def comparable_time(version: str, occurred_at: datetime) -> str:
    """The moment a change was true, as a version string: the version itself when it is a platform timestamp,
    else when the event says it occurred."""
    if len(version) >= _TIMESTAMP_PREFIX_LENGTH and version[4] == "-" and version[10] == "T":
        return version
    return version_from_timestamp(occurred_at)


@dataclass(frozen=True)
class Shopper:
    """Whom a change is about: any of these may be unknown. An e-mail address is kept as its Mailchimp customer
    id (the MD5 subscriber hash), which is all the sync state knows of the addresses a platform customer used."""

    email: str | None = None
    customer_id: str | None = None
    order_id: str | None = None
    mailchimp_id: str | None = None

    def tombstone_keys(self) -> list[tuple[Kind, str]]:
        found: list[tuple[Kind, str]] = []
        mailchimp_id = self.mailchimp_id or (subscriber_hash(self.email) if self.email else None)
        if mailchimp_id:
            found.append(("email", mailchimp_id))
        if self.customer_id:
            found.append(("customer", self.customer_id))
        if self.order_id:
            found.append(("order", self.order_id))
        return found


def shopper_of(event: CanonicalEvent) -> Shopper | None:
    """Whom an event would write about; None for events that write no shopper (deletions, products, imports)."""
    if event.type is EventType.CART_UPDATED:
        customer = event.cart().customer
        return Shopper(email=customer.email, customer_id=customer.id)
    if event.type is EventType.CUSTOMER_UPDATED:
        customer = event.customer()
        return Shopper(email=customer.email, customer_id=customer.id)
    if event.type is EventType.ORDER_UPDATED:
        order = event.order()
        return Shopper(email=order.customer.email, customer_id=order.customer.id, order_id=order.id)
    if event.type is EventType.ORDER_SHIPMENT:
        return Shopper(order_id=event.order_shipment().order_id)
    if event.type is EventType.ORDER_REFUND:
        return Shopper(order_id=event.order_refund().order_id)
    return None


class Tombstones:
    """`table` is the sync-state table (a boto3 Table resource), `dynamodb` the resource it was made from."""

    def __init__(self, table: Any, dynamodb: Any, read_ahead: ReadAhead | None = None) -> None:
        self._table = table
        self._dynamodb = dynamodb
        self._salt: bytes | None = None
        # The event's items read together (commerce_sync.aws.read_ahead): tombstones read ahead are not read again.
        self._read_ahead = read_ahead

    # ---- the salt ------------------------------------------------------------------------------------------

    def salt(self) -> bytes:
        if self._salt is None:
            item = self._table.get_item(Key=SALT_KEY, ConsistentRead=True).get("Item")
            if item is None:
                try:
                    self._table.put_item(
                        Item={**SALT_KEY, "salt": secrets.token_hex(32), "created_at": int(time.time())},
                        ConditionExpression="attribute_not_exists(pk)",
                    )
                except ClientError as error:
                    if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                        raise
                item = self._table.get_item(Key=SALT_KEY, ConsistentRead=True)["Item"]
            self._salt = bytes.fromhex(str(item["salt"]))
        return self._salt

    def digest(self, store_id: str, kind: Kind, value: str) -> str:
        message = f"{store_id}\0{kind}\0{value}".encode()
        return hmac.new(self.salt(), message, hashlib.sha256).hexdigest()

    def _key(self, store_id: str, kind: Kind, value: str) -> dict[str, str]:
        return {"pk": partition(store_id), "sk": f"{kind}#{self.digest(store_id, kind, value)}"}

    # ---- writing -------------------------------------------------------------------------------------------

    def bury(self, store_id: str, shoppers: Iterable[tuple[Kind, str]], erased_at: str, request: str) -> None:
        """Tombstones for each (kind, value), dated `erased_at`; a later erasure moves the date on."""
        with self._table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as batch:
            for kind, value in shoppers:
                batch.put_item(Item={**self._key(store_id, kind, value), "erased_at": erased_at, "request": request})

    def remove_store(self, store_id: str) -> int:
        """Every shopper tombstone of a store (the store's own tombstone stands for them once it is erased)."""
        # Tombstones only: the partition of a store called "salt" also holds the deployment's salt.
        keys = [
            {"pk": item["pk"], "sk": item["sk"]}
            for item in items_with_prefix(self._table, partition(store_id), "")
            if str(item["sk"]).split("#", 1)[0] in KINDS
        ]
        with self._table.batch_writer() as batch:
            for key in keys:
                batch.delete_item(Key=key)
        return len(keys)

    def bury_store(self, store_id: str, erased_at: str, request: str) -> None:
        """The store's own tombstone; a retried erasure keeps the first date."""
        self._table.update_item(
            Key=store_key(store_id),
            UpdateExpression="SET erased_at = if_not_exists(erased_at, :at), #r = if_not_exists(#r, :request)",
            ExpressionAttributeNames={"#r": "request"},
            ExpressionAttributeValues={":at": erased_at, ":request": request},
        )

    # ---- reading -------------------------------------------------------------------------------------------

    def store_erased(self, store_id: str) -> bool:
        key = store_key(store_id)

        def read() -> dict[str, Any] | None:
            item: dict[str, Any] | None = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
            return item

        return (self._read_ahead.get(key, read) if self._read_ahead else read()) is not None

    def keys_of_event(self, event: CanonicalEvent) -> list[dict[str, str]]:
        """The tombstones `refuses_event` and `store_erased` read for the event (for reading them ahead)."""
        shopper = shopper_of(event)
        kinds = shopper.tombstone_keys() if shopper is not None else []
        return [store_key(event.store_id), *(self._key(event.store_id, kind, value) for kind, value in kinds)]

    def refuses_event(self, event: CanonicalEvent) -> bool:
        shopper = shopper_of(event)
        if shopper is None:
            return False
        return self.refuses(event.store_id, shopper, comparable_time(event.entity_version, event.occurred_at))

    def refuses(self, store_id: str, shopper: Shopper, changed_at: str) -> bool:
        """True when writing this change would bring an erased shopper back (the module docstring's rule)."""
        return bool(self.refused_many(store_id, [(shopper, changed_at)]))

    def refused_many(self, store_id: str, changes: Sequence[tuple[Shopper, str]]) -> set[int]:
        """The indexes of the changes a tombstone refuses, with one batched read for all of them."""
        wanted: dict[str, tuple[Kind, str]] = {}
        per_change: list[list[str]] = []
        for shopper, _ in changes:
            sort_keys = []
            for kind, value in shopper.tombstone_keys():
                key = self._key(store_id, kind, value)
                wanted[key["sk"]] = (kind, value)
                sort_keys.append(key["sk"])
            per_change.append(sort_keys)
        if not wanted:
            return set()
        keys = [{"pk": partition(store_id), "sk": sort_key} for sort_key in wanted]
        read_ahead = self._read_ahead
        if read_ahead is not None and all(read_ahead.holds(key) for key in keys):
            held = (read_ahead.get(key, lambda: None) for key in keys)
            found = {item["sk"]: item for item in held if item is not None}
        else:
            found = {item["sk"]: item for item in get_many(self._dynamodb, self._table.name, keys)}
        refused: set[int] = set()
        for index, ((_, changed_at), sort_keys) in enumerate(zip(changes, per_change, strict=True)):
            for sort_key in sort_keys:
                item = found.get(sort_key)
                if item is None:
                    continue
                if sort_key.startswith("order#") or changed_at <= str(item.get("erased_at", "")):
                    refused.add(index)
                    break
        return refused
