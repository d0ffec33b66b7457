"""What the sync-state table remembers about a store's promotions (docs/promotions.md, "Sync-state items").

One partition per store, `pk = "<store_id>#promotions"`, apart from the catalog's (whose run lock and checkpoint
the promotions share), so the sweep can Query rules and codes in key order:

- `rule#<rule>`, `code#<rule>#<code>`: the last write Mailchimp accepted: `hash` of the body, the `version` it
  came from, `removed` (a deletion, kept 40 days so a late, older event cannot bring the rule or code back),
  and `failed` (why Mailchimp refused the content; that content is not sent again until it changes). A rule's
  `since` is the version it was last created at: Mailchimp deleted its codes with it before, so a code record
  older than that says nothing of what Mailchimp holds (a WooCommerce coupon trashed, then restored). Entity
  ids never hold `#` (commerce_sync.canonical.ids), so a key always splits back into its ids.
- `seen#rule#<rule>`, `seen#code#<rule>#<code>`: `seen_at` (ms), when a run last saw it on the platform;
  `codesread#<rule>`: when a run last read every code of the rule. Blind batch writes, apart from the records,
  so marking 100,000 unchanged codes can never overwrite a concurrent change.
- `batch#<key>`: a Mailchimp batch in flight (its operations: record key -> hash and kind), written before the
  batch is submitted.

Records are written with a condition on what was read (`hash`) by the nightly run and on the `version` by
events, as the catalog's are.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError

from commerce_sync.aws.batch_items import get_many, items_with_prefix, transact_conditional
from commerce_sync.catalog.checkpoints import BatchRecord

RULE = "rule#"
CODE = "code#"
SEEN = "seen#"
CODES_READ = "codesread#"
BATCH = "batch#"
MARK_TTL_DAYS = 40
REMOVED_TTL_DAYS = 40
BATCH_TTL_DAYS = 8


def partition(store_id: str) -> str:
    return f"{store_id}#promotions"


def rule_key(rule_id: str) -> str:
    return RULE + rule_id


def code_key(rule_id: str, code_id: str) -> str:
    return f"{CODE}{rule_id}#{code_id}"


def _ttl(days: int) -> int:
    return int(time.time()) + days * 86400


@dataclass(frozen=True)
class PromoRecord:
    key: str
    hash: str = ""
    version: str = ""
    removed: bool = False
    failed: str = ""
    since: str = ""

    @property
    def is_rule(self) -> bool:
        return self.key.startswith(RULE)

    @property
    def rule_id(self) -> str:
        if self.is_rule:
            return self.key.removeprefix(RULE)
        return self.key.removeprefix(CODE).split("#", 1)[0]

    @property
    def code_id(self) -> str | None:
        return None if self.is_rule else self.key.removeprefix(CODE).split("#", 1)[1]

    @property
    def in_mailchimp(self) -> bool:
        """Mailchimp accepted its last write, and it was not a deletion."""
        return bool(self.hash) and not self.removed and not self.failed

    def with_changes(self, **changes: Any) -> PromoRecord:
        return replace(self, **changes)

    def item(self, store_id: str) -> dict[str, Any]:
        item: dict[str, Any] = {
            "pk": partition(store_id),
            "sk": self.key,
            "hash": self.hash,
            "version": self.version,
            "removed": self.removed,
            "failed": self.failed,
            "since": self.since,
            "updated_at": int(time.time()),
        }
        if self.removed:
            item["expires_at"] = _ttl(REMOVED_TTL_DAYS)
        return item

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> PromoRecord:
        return cls(
            key=str(item["sk"]),
            hash=str(item.get("hash", "")),
            version=str(item.get("version", "")),
            removed=bool(item.get("removed", False)),
            failed=str(item.get("failed", "")),
            since=str(item.get("since", "")),
        )

    def current(self, since: str) -> PromoRecord | None:
        """This code record, if it was written under the rule's present life (`since`, the rule's); else None:
        Mailchimp deleted the code with an earlier life of the rule."""
        return self if self.version >= since else None


class Marks:
    """Seen (or codes-read) marks in key order, advanced alongside records of the same order."""

    def __init__(self, items: Iterator[tuple[str, int]]) -> None:
        self._items = items
        self._head: tuple[str, int] | None = next(items, None)

    def at(self, key: str) -> int:
        while self._head is not None and self._head[0] < key:
            self._head = next(self._items, None)
        if self._head is not None and self._head[0] == key:
            return self._head[1]
        return 0


class PromotionState:
    def __init__(self, table_name: str, dynamodb: Any) -> None:
        self._dynamodb = dynamodb
        self.table = dynamodb.Table(table_name)
        self._table_name = table_name
        self._client = dynamodb.meta.client

    # ---- records -----------------------------------------------------------------------------------------

    def record(self, store_id: str, key: str) -> PromoRecord | None:
        item = self.table.get_item(Key={"pk": partition(store_id), "sk": key}, ConsistentRead=True).get("Item")
        return PromoRecord.from_item(item) if item else None

    def records(self, store_id: str, keys: Sequence[str]) -> dict[str, PromoRecord]:
        """Consistent reads, 100 keys a request."""
        wanted = [{"pk": partition(store_id), "sk": key} for key in dict.fromkeys(keys)]
        found = (PromoRecord.from_item(item) for item in get_many(self._dynamodb, self._table_name, wanted))
        return {record.key: record for record in found}

    def put_records(self, store_id: str, writes: Sequence[tuple[PromoRecord, str | None]]) -> set[str]:
        """Each record only if the stored hash is still the one read (None: none was); the keys whose
        condition failed (an event wrote them meanwhile) are returned."""
        items = []
        for record, expected in writes:
            put: dict[str, Any] = {"TableName": self._table_name, "Item": record.item(store_id)}
            if expected is None:
                put["ConditionExpression"] = "attribute_not_exists(pk)"
            else:
                put["ConditionExpression"] = "#hash = :expected"
                put["ExpressionAttributeNames"] = {"#hash": "hash"}
                put["ExpressionAttributeValues"] = {":expected": expected}
            items.append((record.key, {"Put": put}))
        return transact_conditional(self._client, items)

    def put_if_newer(self, store_id: str, record: PromoRecord) -> bool:
        """The events' write: unless a newer version is recorded already. False when it is."""
        try:
            self.table.put_item(
                Item=record.item(store_id),
                ConditionExpression="attribute_not_exists(pk) OR #version <= :version",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":version": record.version},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def forget_hash(self, store_id: str, key: str, expected_hash: str) -> bool:
        """Make the next run write it again (its write was lost or failed), unless written since. A deletion that
        failed becomes a record to delete again."""
        try:
            self.table.update_item(
                Key={"pk": partition(store_id), "sk": key},
                UpdateExpression="SET #hash = :empty, #removed = :false REMOVE expires_at",
                ConditionExpression="#hash = :expected",
                ExpressionAttributeNames={"#hash": "hash", "#removed": "removed"},
                ExpressionAttributeValues={":empty": "", ":false": False, ":expected": expected_hash},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def delete_records(self, store_id: str, keys: Sequence[str]) -> None:
        with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer:
            for key in dict.fromkeys(keys):
                writer.delete_item(Key={"pk": partition(store_id), "sk": key})

    def iter_records(self, store_id: str, prefix: str, after: str | None = None) -> Iterator[PromoRecord]:
        for item in self._query(store_id, prefix, after):
            yield PromoRecord.from_item(item)

    # ---- marks ---------------------------------------------------------------------------------------------

    def mark_seen(self, store_id: str, keys: Sequence[str], at: float | None = None) -> None:
        self._mark(store_id, [SEEN + key for key in keys], at)

    def mark_codes_read(self, store_id: str, rule_ids: Sequence[str], at: float | None = None) -> None:
        self._mark(store_id, [CODES_READ + rule_id for rule_id in rule_ids], at)

    def codes_read_at(self, store_id: str, rule_id: str) -> int:
        """When (ms) a run last read every code of the rule; 0 when none did (within the marks' 40 days)."""
        item = self.table.get_item(
            Key={"pk": partition(store_id), "sk": CODES_READ + rule_id}, ConsistentRead=True
        ).get("Item")
        return int(item.get("seen_at", 0)) if item else 0

    def _mark(self, store_id: str, sort_keys: Sequence[str], at: float | None) -> None:
        # Milliseconds: a run that starts within a second of the previous one must still tell them apart.
        stamp = int((at if at is not None else time.time()) * 1000)
        expires = _ttl(MARK_TTL_DAYS)
        with self.table.batch_writer(overwrite_by_pkeys=["pk", "sk"]) as writer:
            for sort_key in dict.fromkeys(sort_keys):
                writer.put_item(
                    Item={"pk": partition(store_id), "sk": sort_key, "seen_at": stamp, "expires_at": expires}
                )

    def marks(self, store_id: str, prefix: str, after: str | None = None) -> Marks:
        """The marks under `prefix` (SEEN + RULE, SEEN + CODE or CODES_READ), keyed without it, in key order."""
        items = (
            (str(item["sk"]).removeprefix(prefix), int(item.get("seen_at", 0)))
            for item in self._query(store_id, prefix, after, projection="sk, seen_at")
        )
        return Marks(items)

    def _query(
        self, store_id: str, prefix: str, after: str | None, projection: str | None = None
    ) -> Iterator[dict[str, Any]]:
        return items_with_prefix(self.table, partition(store_id), prefix, after, projection)

    # ---- batches -------------------------------------------------------------------------------------------

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
        records = [BatchRecord.model_validate_json(item["doc"]) for item in self._query(store_id, BATCH, None)]
        return sorted(records, key=lambda record: record.submitted_at)
