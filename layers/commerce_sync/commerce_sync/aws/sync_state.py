"""Per-entity sync state in DynamoDB: the last version applied to Mailchimp, so that a stale or
out-of-order event never overwrites a newer one.

Versions are strings that sort in time order (commerce_sync.canonical.versions); adapters produce them. A
stored version that is impossible (from the future, written before versions were bounded) is treated as
absent and overwritten.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from commerce_sync.canonical.versions import is_impossible

STATE_SORT_KEY = "state"


def applied_version(item: dict[str, Any] | None) -> str:
    """The version an item records as applied; "" when none, or when the recorded one is impossible."""
    version = str((item or {}).get("applied_version", ""))
    return "" if is_impossible(version) else version


def entity_key(store_id: str, entity_type: str, entity_id: str) -> str:
    return f"{store_id}#{entity_type}#{entity_id}"


class SyncState:
    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self._table = (dynamodb or boto3.resource("dynamodb")).Table(table_name)

    @property
    def table(self) -> Any:
        """The table (a boto3 Table resource): entity leases live beside the state they guard."""
        return self._table

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
        newer = "attribute_not_exists(applied_version) OR applied_version < :applied_version"
        if self._update_if(*key, values, newer):
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
        names = {f"#{name}": name for name in values}
        arguments: dict[str, Any] = {
            "Key": {"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY},
            "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in values),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {f":{name}": value for name, value in values.items()} | (extra_values or {}),
        }
        if condition:
            arguments["ConditionExpression"] = condition
        self._table.update_item(**arguments)
