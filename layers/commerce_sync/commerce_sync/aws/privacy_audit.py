"""One audit line per privacy request, so an operator can prove it was completed (docs/privacy.md, "Audit").

Items in the sync-state table, partition `privacy-audit`, sort key `<received at>#<request id>`: the store,
the request's kind (`customers/redact`, `customers/data_request`, `shop/redact`, `customer.erased`, `cli erase`,
`customer.deleted`, `cli export`), who it is about as a salted hash (commerce_sync.privacy.tombstones) — never an
address or a name — when it was received and completed, and the counts of what was removed (an erasure) or found
(a data request's export, with the key it is kept under). Lines are kept AUDIT_DAYS (three
years: the usual period within which a supervisory authority may ask for proof) and then expire (TTL). They live
apart from the store's partitions, so a shop/redact, which removes everything of the store, keeps its own proof.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.conditions import Key

AUDIT_PARTITION = "privacy-audit"
AUDIT_DAYS = 3 * 365


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class PrivacyAudit:
    def __init__(self, table: Any) -> None:
        self._table = table

    def received(self, store_id: str, kind: str, request_id: str, subject: str, received_at: str) -> str:
        """Opens (or, for a retried request, keeps) the request's line; returns its sort key."""
        sort_key = f"{received_at}#{request_id}"
        self._table.update_item(
            Key={"pk": AUDIT_PARTITION, "sk": sort_key},
            UpdateExpression=(
                "SET store_id = :store, kind = :kind, request_id = :request, subject = :subject, "
                "received_at = :received, expires_at = if_not_exists(expires_at, :expires)"
            ),
            ExpressionAttributeValues={
                ":store": store_id,
                ":kind": kind,
                ":request": request_id,
                ":subject": subject,
                ":received": received_at,
                ":expires": int(time.time()) + AUDIT_DAYS * 86400,
            },
        )
        return sort_key

    def completed(self, sort_key: str, outcome: dict[str, Any]) -> None:
        self._table.update_item(
            Key={"pk": AUDIT_PARTITION, "sk": sort_key},
            UpdateExpression="SET completed_at = :completed, outcome = :outcome",
            ExpressionAttributeValues={":completed": now_iso(), ":outcome": outcome},
        )

    def lines(self, store_id: str | None = None) -> Iterator[dict[str, Any]]:
        """Every line (of one store), oldest first."""
        arguments: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(AUDIT_PARTITION)}
        while True:
            page = self._table.query(**arguments)
            for item in page.get("Items", []):
                if store_id is None or item.get("store_id") == store_id:
                    yield item
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
