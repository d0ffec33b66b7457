"""Per-entity sync state in DynamoDB: the last version applied to Mailchimp, so that a stale or
out-of-order event never overwrites a newer one.

Versions are strings that sort in time order (see `version_from_timestamp`); adapters produce them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

STATE_SORT_KEY = "state"


def version_from_timestamp(value: datetime) -> str:
    """A fixed-width UTC timestamp, so that string order is time order."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entity_key(store_id: str, entity_type: str, entity_id: str) -> str:
    return f"{store_id}#{entity_type}#{entity_id}"


class SyncState:
    def __init__(self, table_name: str, dynamodb: Any | None = None) -> None:
        self._table = (dynamodb or boto3.resource("dynamodb")).Table(table_name)

    def applied(self, store_id: str, entity_type: str, entity_id: str) -> dict[str, Any] | None:
        key = {"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY}
        return self._table.get_item(Key=key, ConsistentRead=True).get("Item")

    def is_stale(self, store_id: str, entity_type: str, entity_id: str, version: str) -> bool:
        """True when a version newer than `version` (or the same one) has already been applied."""
        item = self.applied(store_id, entity_type, entity_id)
        return bool(item) and str(item.get("applied_version", "")) >= version

    def record_applied(self, store_id: str, entity_type: str, entity_id: str, version: str, **attributes: Any) -> bool:
        """Record `version` as applied unless a newer one already is; False when it lost that race.

        Other attributes of the item (a conversion mark, a remembered customer) are kept.
        """
        values = {"applied_version": version, "applied_at": datetime.now(UTC).isoformat(), **attributes}
        try:
            self._update(
                store_id,
                entity_type,
                entity_id,
                values,
                condition="attribute_not_exists(applied_version) OR applied_version < :applied_version",
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
    ) -> None:
        names = {f"#{name}": name for name in values}
        arguments: dict[str, Any] = {
            "Key": {"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY},
            "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in values),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": {f":{name}": value for name, value in values.items()},
        }
        if condition:
            arguments["ConditionExpression"] = condition
        self._table.update_item(**arguments)
