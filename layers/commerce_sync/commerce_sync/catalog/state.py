"""What the sync-state table remembers about a store's catalog.

All of one store's catalog items share one partition, `pk = "<store_id>#catalog"`, so that the sweep for
removed products can Query them in order instead of scanning the table:

- `product#<id>`: the last write Mailchimp accepted: `hash` of the body, `title` and `variants` (id →
  title: every variant Mailchimp has, so a removal can hide them all), the platform `version` it came
  from, `removed`, `failed` (why a write was dead-lettered), and `source`: the fingerprint of the platform's
  product the write was made from, when a catalog page gave one (platforms.products.fingerprinted). A product
  event's lease is two attributes of the same item (`lease_holder`, `lease_until`; `ProductClaim`): taking it reads
  the record, and the event's record write, a whole-item put, gives it back (issue 17: a product event is two
  DynamoDB requests, not four). Taking the lease of a product without a record makes an item of the lease alone,
  which readers skip (it has no `updated_at`) and which is deleted when the lease is given back unwritten.
- `seen-run#<run started, ms>#<written, ms>#<token>`: `seen_ids`, the products one page of a catalog run saw. Kept
  apart from the product records, so that marking 100,000 unchanged products is blind writes, which can never
  overwrite a concurrent change; a page's marks are one item (at 100,000 products, 400 puts of a few KB instead
  of 4,000 batch writes of 25 per-product items: issue 17); written once, never overwritten, so a page read twice
  adds a list and loses none. The sweep reads the run's lists as one set. A product an event wrote during the run
  is known from its record's `updated_at`, with no mark of its own.
- `run`: the checkpoint of the current or last run (`RunCheckpoint`, JSON).
- `lock`: the run lock (commerce_sync.aws.sync_lock).
- `batch#<key>`: a Mailchimp batch in flight: its operations (product id → hash), written *before* the
  batch is submitted, so nothing submitted is ever unaccounted for.
- `summary#last`, `summary#<finished>`: run summaries (the latter expire after SUMMARY_TTL_DAYS).

Product items are written with a condition on what was read (`hash`, see `put_products`) and on no product
event holding the item's lease, so a catalog run never overwrites a newer real-time change it did not see, nor one
being applied.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from functools import partial
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from commerce_sync.aws import run_records
from commerce_sync.aws.batch_items import (
    BATCH_GET_LIMIT,
    concurrently,
    get_batch,
    get_many,
    items_with_prefix,
    transact_conditional,
)
from commerce_sync.aws.entity_locks import lease_claim, wall_clock
from commerce_sync.aws.sync_state import LEASE_HOLDER, LEASE_UNTIL

if TYPE_CHECKING:
    # Imported where a run's record is first read: product events, most of product_sync's work, read none.
    from commerce_sync.catalog.checkpoints import BatchRecord, RunCheckpoint

PRODUCT = "product#"
SEEN_IN_RUN = "seen-run#"
BATCH = "batch#"
RUN = "run"
LOCK = "lock"
LAST_SUMMARY = run_records.LAST_SUMMARY
SUMMARY = run_records.SUMMARY
# A seen list serves only its own run, and a run older than a day starts over (CatalogConfig.run_max_age_seconds).
SEEN_LIST_TTL_DAYS = 2
SUMMARY_TTL_DAYS = run_records.SUMMARY_TTL_DAYS
BATCH_TTL_DAYS = 8
# A page's requests go out together rather than one after another: a page of 250 products is 3 reads, 10 seen-mark
# writes and, when it changed, 3 transactions, and the nightly sync of 100,000 products waited on thousands of
# sequential round trips (issue 5). Each writes or reads distinct items, so none waits on another.
REQUEST_CONCURRENCY = 8
# Product ids per seen list: a Shopify page is 250; 500 ids of up to 64 characters stay far below DynamoDB's
# 400 KB item limit.
SEEN_LIST_SIZE = 500


def partition(store_id: str) -> str:
    return f"{store_id}#catalog"


def _ttl(days: int) -> int:
    return int(time.time()) + days * 86400


def _seen_at(at: float | None) -> int:
    """Milliseconds: a run that starts within a second of the previous one must still tell them apart."""
    return int((at if at is not None else time.time()) * 1000)


def _call(work: Callable[[], Any]) -> Any:
    return work()


def _plain(value: Any) -> Any:
    """DynamoDB numbers arrive as Decimal; the models want int/float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


@dataclass(frozen=True)
class ProductRecord:
    product_id: str
    hash: str = ""
    title: str = ""
    variants: dict[str, str] = field(default_factory=dict)
    version: str = ""
    removed: bool = False
    failed: str = ""
    updated_at: int = 0
    # The fingerprint of the platform's product this content was mapped from ("" when none was given).
    source: str = ""
    # The digest of the product event that wrote this record ("" when the catalog sync did): a redelivery of that
    # event is known from the record itself (catalog.product_events), with no idempotency record of its own.
    applied_event: str = ""

    def item(self, store_id: str) -> dict[str, Any]:
        item = {
            "pk": partition(store_id),
            "sk": PRODUCT + self.product_id,
            "hash": self.hash,
            "title": self.title,
            "variants": dict(self.variants),
            "version": self.version,
            "removed": self.removed,
            "failed": self.failed,
            "updated_at": int(time.time()),
        }
        if self.source:
            item["source"] = self.source
        if self.applied_event:
            item["applied_event"] = self.applied_event
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ProductRecord:
        return cls(
            product_id=str(item["sk"]).removeprefix(PRODUCT),
            hash=str(item.get("hash", "")),
            title=str(item.get("title", "")),
            variants={str(k): str(v) for k, v in (item.get("variants") or {}).items()},
            version=str(item.get("version", "")),
            removed=bool(item.get("removed", False)),
            failed=str(item.get("failed", "")),
            updated_at=int(item.get("updated_at", 0)),
            source=str(item.get("source", "")),
            applied_event=str(item.get("applied_event", "")),
        )

    def with_changes(self, **changes: Any) -> ProductRecord:
        return replace(self, **changes)

    @classmethod
    def from_mailchimp(cls, product: dict[str, Any]) -> ProductRecord:
        """What a product Mailchimp holds tells about itself, for one we have no record of (written by an
        order or cart line, another tool, or before commerce-sync): its title and every variant, so a
        removal can hide them all. No hash: nothing we wrote."""
        variants = {str(v["id"]): str(v.get("title") or v["id"]) for v in product.get("variants") or [] if "id" in v}
        return cls(product_id=str(product["id"]), title=str(product.get("title") or ""), variants=variants)


@dataclass
class ProductClaim:
    """A product event's lease on the product's record item, held by `token` (catalog.product_events)."""

    product_id: str
    token: str
    # The record as taking the lease read it; None: the product has none.
    record: ProductRecord | None
    # The item held nothing before: taking the lease made it, so giving it back unwritten deletes it.
    made: bool
    # A record write under the lease gave it back (the put replaced the item, lease attributes and all).
    released: bool = False


def _is_record(item: dict[str, Any]) -> bool:
    """A product's record, not the item a product event's lease made (lease attributes alone)."""
    return "updated_at" in item


# No product event holds the item's lease (catalog writes; `#until` and `:now` are bound by the caller).
LEASE_LAPSED = "(attribute_not_exists(#until) OR #until < :now)"


class CatalogState:
    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._dynamodb = dynamodb
        self.table = dynamodb.Table(table_name)
        self._table_name = table_name
        self._client = dynamodb.meta.client

    # ---- products --------------------------------------------------------------------------------

    def product(self, store_id: str, product_id: str) -> ProductRecord | None:
        item = self.table.get_item(Key=self._product_key(store_id, product_id), ConsistentRead=True).get("Item")
        return ProductRecord.from_item(item) if item and _is_record(item) else None

    def claim_product(self, store_id: str, product_id: str, token: str, lease_seconds: float) -> ProductClaim | None:
        """Takes the product's lease for `token` unless another holder's is live (None then): one UpdateItem that
        returns the item, so the claim carries the record as it is under the lease."""
        try:
            answer = self.table.update_item(
                **lease_claim(self._product_key(store_id, product_id), token, lease_seconds), ReturnValues="ALL_NEW"
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        item = answer.get("Attributes") or {}
        record = ProductRecord.from_item(item) if _is_record(item) else None
        return ProductClaim(product_id=product_id, token=token, record=record, made=record is None)

    def release_product(self, store_id: str, claim: ProductClaim) -> None:
        """Gives the lease back, unless a record write under it did (or another holder took it over since); an item
        the lease made and nothing wrote goes whole."""
        if claim.released:
            return
        key = self._product_key(store_id, claim.product_id)
        try:
            if claim.made:
                self.table.delete_item(
                    Key=key,
                    ConditionExpression="#holder = :token AND attribute_not_exists(updated_at)",
                    ExpressionAttributeNames={"#holder": LEASE_HOLDER},
                    ExpressionAttributeValues={":token": claim.token},
                )
            else:
                self.table.update_item(
                    Key=key,
                    UpdateExpression="REMOVE #holder, #until",
                    ConditionExpression="#holder = :token",
                    ExpressionAttributeNames={"#holder": LEASE_HOLDER, "#until": LEASE_UNTIL},
                    ExpressionAttributeValues={":token": claim.token},
                )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        claim.released = True

    @staticmethod
    def _product_key(store_id: str, product_id: str) -> dict[str, str]:
        return {"pk": partition(store_id), "sk": PRODUCT + product_id}

    def products(self, store_id: str, product_ids: Sequence[str]) -> dict[str, ProductRecord]:
        """The records of these products (consistent reads, 100 keys per call, REQUEST_CONCURRENCY at once)."""
        keys = [{"pk": partition(store_id), "sk": PRODUCT + pid} for pid in dict.fromkeys(product_ids)]
        found = get_many(self._dynamodb, self._table_name, keys, concurrency=REQUEST_CONCURRENCY)
        records = (ProductRecord.from_item(item) for item in found if _is_record(item))
        return {record.product_id: record for record in records}

    def products_marking_seen(
        self, store_id: str, run_started_ms: int, product_ids: Sequence[str], at: float | None = None
    ) -> dict[str, ProductRecord]:
        """`products` and `mark_seen_in_run` of the same ids, their requests sent together (the seen list is
        another item than the records, so neither read nor write depends on the other); both are done when this
        returns."""
        unique = list(dict.fromkeys(product_ids))
        keys = [{"pk": partition(store_id), "sk": PRODUCT + pid} for pid in unique]
        reads: list[Callable[[], Any]] = [
            partial(get_batch, self._dynamodb, self._table_name, keys[start : start + BATCH_GET_LIMIT])
            for start in range(0, len(keys), BATCH_GET_LIMIT)
        ]
        writes = self._seen_list_writes(store_id, run_started_ms, unique, at)
        answers = concurrently(_call, [*reads, *writes], REQUEST_CONCURRENCY)
        records = (
            ProductRecord.from_item(item) for found in answers[: len(reads)] for item in found or () if _is_record(item)
        )
        return {record.product_id: record for record in records}

    def put_products(self, store_id: str, writes: Sequence[tuple[ProductRecord, str | None]]) -> set[str]:
        """Write records, each only if the stored hash is still the one read (None: no record was read).
        Returns the conflicting ids — a concurrent writer (a real-time event) changed them, and the caller must
        not write them."""
        return transact_conditional(
            self._client,
            [(record.product_id, self._conditional_put(store_id, record, expected)) for record, expected in writes],
            concurrency=REQUEST_CONCURRENCY,
        )

    def _conditional_put(self, store_id: str, record: ProductRecord, expected_hash: str | None) -> dict[str, Any]:
        put: dict[str, Any] = {
            "TableName": self._table_name,
            # The resource's client converts Python values itself (boto3's DynamoDB transformation).
            "Item": record.item(store_id),
        }
        # A record that has none yet may still be an item a product event's lease made (see ProductClaim).
        read = "attribute_not_exists(#hash)" if expected_hash is None else "#hash = :expected"
        put["ConditionExpression"] = f"{read} AND {LEASE_LAPSED}"
        put["ExpressionAttributeNames"] = {"#hash": "hash", "#until": LEASE_UNTIL}
        put["ExpressionAttributeValues"] = {":now": wall_clock()}
        if expected_hash is not None:
            put["ExpressionAttributeValues"][":expected"] = expected_hash
        return {"Put": put}

    def put_product_if_newer(self, store_id: str, record: ProductRecord, claim: ProductClaim) -> bool:
        """The real-time path's write, under the product's lease (`claim`), which the put gives back: unless a newer
        version is recorded already or the lease was lost. False then (the lease is still to be given back)."""
        try:
            self.table.put_item(
                Item=record.item(store_id),
                ConditionExpression="(attribute_not_exists(#version) OR #version <= :version) AND #holder = :token",
                ExpressionAttributeNames={"#version": "version", "#holder": LEASE_HOLDER},
                ExpressionAttributeValues={":version": record.version, ":token": claim.token},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        claim.released = True
        return True

    def forget_hash(self, store_id: str, product_id: str, expected_hash: str) -> bool:
        """Make the next run write this product again (its write was lost or failed), unless someone has
        written it since."""
        try:
            self.table.update_item(
                Key={"pk": partition(store_id), "sk": PRODUCT + product_id},
                UpdateExpression="SET #hash = :empty",
                ConditionExpression="#hash = :expected",
                ExpressionAttributeNames={"#hash": "hash"},
                ExpressionAttributeValues={":empty": "", ":expected": expected_hash},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def recorded_ids(self, store_id: str) -> set[str]:
        """The ids of every product with a record (removed ones too), from a keys-only Query."""
        items = self._query(store_id, PRODUCT, None, projection="sk, updated_at")
        return {str(item["sk"]).removeprefix(PRODUCT) for item in items if _is_record(item)}

    def iter_products(self, store_id: str, after: str | None = None) -> Iterator[ProductRecord]:
        for item in self._query(store_id, PRODUCT, after):
            if _is_record(item):
                yield ProductRecord.from_item(item)

    # ---- seen marks --------------------------------------------------------------------------------

    def mark_seen_in_run(
        self, store_id: str, run_started_ms: int, product_ids: Sequence[str], at: float | None = None
    ) -> None:
        """Mark these products seen by the catalog run that started at `run_started_ms` (a list item per
        SEEN_LIST_SIZE ids)."""
        writes = self._seen_list_writes(store_id, run_started_ms, list(dict.fromkeys(product_ids)), at)
        concurrently(_call, writes, REQUEST_CONCURRENCY)

    def _seen_list_writes(
        self, store_id: str, run_started_ms: int, unique_ids: Sequence[str], at: float | None
    ) -> list[Callable[[], Any]]:
        written_ms, expires = _seen_at(at), _ttl(SEEN_LIST_TTL_DAYS)
        return [
            partial(
                self.table.put_item,
                Item={
                    "pk": partition(store_id),
                    # A fresh key for every list: two reads of one page (a slice that paused after reading ahead)
                    # each add theirs, and no list replaces another.
                    "sk": f"{SEEN_IN_RUN}{run_started_ms}#{written_ms}#{secrets.token_hex(4)}",
                    "seen_ids": list(unique_ids[start : start + SEEN_LIST_SIZE]),
                    "expires_at": expires,
                },
            )
            for start in range(0, len(unique_ids), SEEN_LIST_SIZE)
        ]

    def seen_in_run(self, store_id: str, run_started_ms: int) -> set[str]:
        """Every product the catalog run that started at `run_started_ms` marked seen with `mark_seen_in_run`."""
        lists = self._query(store_id, f"{SEEN_IN_RUN}{run_started_ms}#", None, projection="seen_ids")
        return {str(product_id) for item in lists for product_id in item.get("seen_ids", ())}

    def _query(
        self, store_id: str, prefix: str, after: str | None, projection: str | None = None
    ) -> Iterator[dict[str, Any]]:
        return items_with_prefix(self.table, partition(store_id), prefix, after, projection)

    # ---- runs ------------------------------------------------------------------------------------

    def load_run(self, store_id: str) -> RunCheckpoint | None:
        from commerce_sync.catalog.checkpoints import RunCheckpoint  # deferred: see TYPE_CHECKING above

        item = self.table.get_item(Key={"pk": partition(store_id), "sk": RUN}, ConsistentRead=True).get("Item")
        return RunCheckpoint.model_validate_json(item["doc"]) if item else None

    def save_run(self, store_id: str, checkpoint: RunCheckpoint) -> None:
        run_records.save_checkpoint(self.table, partition(store_id), RUN, checkpoint)

    def save_summary(self, store_id: str, summary: dict[str, Any]) -> None:
        run_records.save_summary(self.table, partition(store_id), summary)

    def last_summary(self, store_id: str) -> dict[str, Any] | None:
        return run_records.last_summary(self.table, partition(store_id))

    def summaries(self, store_id: str, limit: int = 10) -> list[dict[str, Any]]:
        """The latest run summaries, newest first."""
        page = self.table.query(
            KeyConditionExpression=Key("pk").eq(partition(store_id)) & Key("sk").between(SUMMARY + "0", SUMMARY + "9~"),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [json.loads(item["doc"]) for item in page.get("Items", [])]

    # ---- batches ---------------------------------------------------------------------------------

    def put_batch(self, store_id: str, record: BatchRecord) -> None:
        self.table.put_item(
            Item={
                "pk": partition(store_id),
                "sk": BATCH + record.key,
                "doc": record.model_dump_json(),
                "expires_at": _ttl(BATCH_TTL_DAYS),
            }
        )

    def delete_batch(self, store_id: str, key: str) -> None:
        self.table.delete_item(Key={"pk": partition(store_id), "sk": BATCH + key})

    def open_batches(self, store_id: str) -> list[BatchRecord]:
        """Every batch still to be settled, oldest first (a handful at most: a run keeps few in flight)."""
        from commerce_sync.catalog.checkpoints import BatchRecord  # deferred: see TYPE_CHECKING above

        records = [BatchRecord.model_validate_json(item["doc"]) for item in self._query(store_id, BATCH, None)]
        return sorted(records, key=lambda record: record.submitted_at)

    def raw(self, store_id: str, sk: str) -> dict[str, Any] | None:
        item = self.table.get_item(Key={"pk": partition(store_id), "sk": sk}, ConsistentRead=True).get("Item")
        return _plain(item) if item else None
