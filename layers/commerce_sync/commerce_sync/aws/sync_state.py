"""Per-entity sync state in DynamoDB: the last version applied to Mailchimp, so that a stale or
out-of-order event never overwrites a newer one.

Versions are strings that sort in time order (commerce_sync.canonical.versions); adapters produce them. A
stored version that is impossible (from the future, written before versions were bounded) is treated as
absent and overwritten.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from commerce_sync.aws.batch_items import get_many, transact_conditional
from commerce_sync.canonical.versions import is_impossible

STATE_SORT_KEY = "state"
NEWER_CONDITION = "attribute_not_exists(applied_version) OR applied_version < :applied_version"


def applied_version(item: dict[str, Any] | None) -> str:
    """The version an item records as applied; "" when none, or when the recorded one is impossible."""
    version = str((item or {}).get("applied_version", ""))
    return "" if is_impossible(version) else version


def entity_key(store_id: str, entity_type: str, entity_id: str) -> str:
    return f"{store_id}#{entity_type}#{entity_id}"


class SyncState:
    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self._dynamodb = dynamodb or boto3.resource("dynamodb")
        self._table = self._dynamodb.Table(table_name)

    @property
    def table(self) -> Any:
        """The table (a boto3 Table resource): entity leases live beside the state they guard."""
        return self._table

    @property
    def dynamodb(self) -> Any:
        """The boto3 DynamoDB resource the table is read through (for batched reads of other items in it)."""
        return self._dynamodb

    def applied(self, store_id: str, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        key = {"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY}
        return self._table.get_item(Key=key, ConsistentRead=True).get("Item")

    def is_stale(self, store_id: str, entity_type: str, entity_id: str, version: str) -> bool:
        """True when a version newer than `version` (or the same one) has already been applied."""
        item = self.applied(store_id, entity_type, entity_id)
        return bool(item) and applied_version(item) >= version

    def record_applied(self, store_id: str, entity_type: str, entity_id: str, version: str, **attributes: Any) -> bool:
        """Record `version` as applied unless a newer one already is; False when it lost that race.

        Other attributes of the item (a conversion mark, a remembered customer) are kept.
        """
        values = {"applied_version": version, "applied_at": datetime.now(UTC).isoformat(), **attributes}
        key = (store_id, entity_type, entity_id)
        if self._update_if(*key, values, NEWER_CONDITION):
            return True
        # An impossible recorded version (written before versions were bounded) yields to a real one.
        recorded = str((self.applied(*key) or {}).get("applied_version", ""))
        return is_impossible(recorded) and self._update_if(
            *key, values, "applied_version = :recorded", extra_values={":recorded": recorded}
        )

    def _update_if(
        self,
        store_id: str,
        entity_type: str,
        entity_id: str,
        values: dict[str, Any],
        condition: str,
        extra_values: dict[str, Any] | None = None,
    ) -> bool:
        """The conditional update; False when the condition did not hold."""
        try:
            self._update(store_id, entity_type, entity_id, values, condition=condition, extra_values=extra_values)
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def forget_version(self, store_id: str, entity_type: str, entity_id: str, version: str) -> bool:
        """Take back `version` as applied (a write of it failed for good), unless a newer one was applied since;
        the next event or reconciliation of the entity then applies as if it were new. False when superseded."""
        try:
            self._table.update_item(
                Key={"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY},
                UpdateExpression="REMOVE applied_version",
                ConditionExpression="applied_version = :version",
                ExpressionAttributeValues={":version": version},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def mark(self, store_id: str, entity_type: str, entity_id: str, **attributes: Any) -> None:
        """Set attributes whatever the applied version (a conversion mark is final)."""
        self._update(store_id, entity_type, entity_id, attributes)

    def add_to_set(self, store_id: str, entity_type: str, entity_id: str, attribute: str, values: set[str]) -> None:
        self._table.update_item(
            Key={"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY},
            UpdateExpression="ADD #attribute :values",
            ExpressionAttributeNames={"#attribute": attribute},
            ExpressionAttributeValues={":values": set(values)},
        )

    def remove_from_set(
        self, store_id: str, entity_type: str, entity_id: str, attribute: str, values: set[str]
    ) -> None:
        self._table.update_item(
            Key={"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY},
            UpdateExpression="DELETE #attribute :values",
            ExpressionAttributeNames={"#attribute": attribute},
            ExpressionAttributeValues={":values": set(values)},
        )

    def _update(
        self,
        store_id: str,
        entity_type: str,
        entity_id: str,
        values: dict[str, Any],
        condition: str | None = None,
        extra_values: dict[str, Any] | None = None,
    ) -> None:
        self._table.update_item(**_update_arguments(store_id, entity_type, entity_id, values, condition, extra_values))

    # ---- many at once (a page of history) ------------------------------------------------------------

    def applied_many(self, store_id: str, entity_type: str, entity_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """`applied` of many entities of one type: batched consistent reads. Ids with nothing recorded are
        absent from the answer."""
        by_key = {entity_key(store_id, entity_type, entity_id): entity_id for entity_id in entity_ids}
        keys = [{"pk": key, "sk": STATE_SORT_KEY} for key in by_key]
        return {by_key[item["pk"]]: item for item in get_many(self._dynamodb, self._table.name, keys)}

    def record_applied_many(
        self, store_id: str, entity_type: str, writes: Sequence[tuple[str, str, dict[str, Any]]]
    ) -> set[str]:
        """`record_applied` of many `(entity id, version, attributes)`, in transactions; returns the ids that lost
        (a version as new or newer is recorded). Each id at most once."""
        ids = [entity_id for entity_id, _, _ in writes]
        if len(set(ids)) != len(ids):
            raise ValueError("record_applied_many: an entity appears twice")
        now = datetime.now(UTC).isoformat()
        values_of = {
            entity_id: {"applied_version": version, "applied_at": now, **attributes}
            for entity_id, version, attributes in writes
        }
        items = [
            (
                entity_id,
                {
                    "Update": {
                        "TableName": self._table.name,
                        **_update_arguments(store_id, entity_type, entity_id, values, NEWER_CONDITION),
                    }
                },
            )
            for entity_id, values in values_of.items()
        ]
        failed = transact_conditional(self._table.meta.client, items)
        # A failed condition is usually a newer version; record_applied also lets a real version replace an
        # impossible one.
        asked = {entity_id: (version, attributes) for entity_id, version, attributes in writes}
        return {
            entity_id
            for entity_id in failed
            if not self.record_applied(store_id, entity_type, entity_id, asked[entity_id][0], **asked[entity_id][1])
        }

    def mark_many(self, store_id: str, marks: Sequence[tuple[str, str, dict[str, Any], dict[str, set[str]]]]) -> None:
        """`mark` and `add_to_set` of many `(entity type, entity id, attributes to set, sets to add to)`, whatever
        the applied version, in transactions; marks of one item are merged."""
        merged: dict[tuple[str, str], tuple[dict[str, Any], dict[str, set[str]]]] = {}
        for entity_type, entity_id, values, additions in marks:
            held_values, held_additions = merged.setdefault((entity_type, entity_id), ({}, {}))
            held_values.update(values)
            for attribute, members in additions.items():
                held_additions.setdefault(attribute, set()).update(members)
        items = []
        for (entity_type, entity_id), (values, additions) in merged.items():
            arguments = _update_arguments(store_id, entity_type, entity_id, values, additions=additions)
            items.append((f"{entity_type}#{entity_id}", {"Update": {"TableName": self._table.name, **arguments}}))
        transact_conditional(self._table.meta.client, items)


def _update_arguments(
    store_id: str,
    entity_type: str,
    entity_id: str,
    values: dict[str, Any],
    condition: str | None = None,
    extra_values: dict[str, Any] | None = None,
    additions: dict[str, set[str]] | None = None,
) -> dict[str, Any]:
    """An UpdateItem's arguments: SET `values`, ADD `additions` (string sets), under `condition`."""
    names = {f"#{name}": name for name in values}
    expression_values = {f":{name}": value for name, value in values.items()} | (extra_values or {})
    clauses = []
    if values:
        clauses.append("SET " + ", ".join(f"#{name} = :{name}" for name in values))
    if additions:
        names |= {f"#add{index}": name for index, name in enumerate(additions)}
        expression_values |= {f":add{index}": set(members) for index, members in enumerate(additions.values())}
        clauses.append("ADD " + ", ".join(f"#add{index} :add{index}" for index in range(len(additions))))
    arguments: dict[str, Any] = {
        "Key": {"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY},
        "UpdateExpression": " ".join(clauses),
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": expression_values,
    }
    if condition:
        arguments["ConditionExpression"] = condition
    return arguments
