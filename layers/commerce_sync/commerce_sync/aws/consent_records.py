"""What two-way consent keeps in the sync-state table (docs/consent.md).

- `ConsentWithdrawals`: per store, partition `<store_id>#consent-withdrawn`, one item per contact whose consent
  Mailchimp withdrew (an unsubscribe or a cleaned address), keyed by the tombstones' salted HMAC of the address
  (commerce_sync.aws.tombstones: never the address, nor Mailchimp's public MD5 of it): `withdrawn_at` and
  `reason`. While it stands, no write path sends that contact to Mailchimp as opted in, whatever the platform
  says; Mailchimp's own `subscribe` of the contact later removes it. A store's erasure sweeps it with the rest of
  the store's partitions (`<store_id>#…`).
- `AudienceDeliveries`: the audience webhook deliveries received, partition `<store_id>#mailchimp-deliveries`,
  keyed by a SHA-256 of what identifies one (Mailchimp sends no delivery id), kept until `expires_at` (the
  replay window): the same delivery again is acknowledged and not published twice.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from botocore.exceptions import ClientError

from commerce_sync.aws.read_ahead import ReadAhead
from commerce_sync.aws.tombstones import Tombstones

STATE = "state"
WITHDRAWN = "consent-withdrawn"
DELIVERIES = "mailchimp-deliveries"


def withdrawn_partition(store_id: str) -> str:
    return f"{store_id}#{WITHDRAWN}"


def deliveries_partition(store_id: str) -> str:
    return f"{store_id}#{DELIVERIES}"


class ConsentWithdrawals:
    def __init__(self, table: Any, tombstones: Tombstones, read_ahead: ReadAhead | None = None) -> None:
        self._table = table
        self._tombstones = tombstones
        # The event's items read together (commerce_sync.aws.read_ahead): a withdrawal read ahead is not read again.
        self._read_ahead = read_ahead

    def key(self, store_id: str, email: str) -> dict[str, str]:
        """The item that records the withdrawal of `email`'s consent (for reading it ahead)."""
        return self._key(store_id, email)

    def _key(self, store_id: str, email: str) -> dict[str, str]:
        digest = self._tombstones.digest(store_id, "email", email.strip().lower())
        return {"pk": withdrawn_partition(store_id), "sk": digest}

    def withdraw(self, store_id: str, email: str, withdrawn_at: str, reason: str) -> None:
        """Records the withdrawal (an older one delivered late changes nothing)."""
        if self._read_ahead:
            self._read_ahead.forget(self._key(store_id, email))
        try:
            self._table.update_item(
                Key=self._key(store_id, email),
                UpdateExpression="SET withdrawn_at = :at, reason = :reason",
                ConditionExpression="attribute_not_exists(withdrawn_at) OR withdrawn_at <= :at",
                ExpressionAttributeValues={":at": withdrawn_at, ":reason": reason},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def withdrawn(self, store_id: str, email: str) -> bool:
        key = self._key(store_id, email)

        def read() -> dict[str, Any] | None:
            item: dict[str, Any] | None = self._table.get_item(Key=key, ConsistentRead=True).get("Item")
            return item

        return (self._read_ahead.get(key, read) if self._read_ahead else read()) is not None

    def granted(self, store_id: str, email: str, granted_at: str) -> bool:
        """Mailchimp subscribed the contact again: the record goes, unless it is of a later withdrawal (an
        unsubscribe and a subscribe delivered out of order). True when there is no record left."""
        if self._read_ahead:
            self._read_ahead.forget(self._key(store_id, email))
        try:
            self._table.delete_item(
                Key=self._key(store_id, email),
                ConditionExpression="attribute_not_exists(withdrawn_at) OR withdrawn_at <= :at",
                ExpressionAttributeValues={":at": granted_at},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


class AudienceDeliveries:
    """Audience webhook deliveries already received, so a replay publishes nothing."""

    def __init__(self, table: Any, window_seconds: int) -> None:
        self._table = table
        self.window_seconds = window_seconds

    @staticmethod
    def _key(store_id: str, identity: str) -> dict[str, str]:
        return {"pk": deliveries_partition(store_id), "sk": hashlib.sha256(identity.encode()).hexdigest()}

    def claim(self, store_id: str, identity: str, now: float | None = None, keep_seconds: int | None = None) -> bool:
        """True when this delivery is new (and now claimed, for `keep_seconds`: the window unless told); False when
        it was received already."""
        moment = int(now if now is not None else time.time())
        keep = self.window_seconds if keep_seconds is None else keep_seconds
        try:
            self._table.put_item(
                Item={
                    **self._key(store_id, identity),
                    "received_at": moment,
                    "expires_at": moment + keep,
                },
                ConditionExpression="attribute_not_exists(pk) OR expires_at < :now",
                ExpressionAttributeValues={":now": moment},
            )
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def release(self, store_id: str, identity: str) -> None:
        """The claimed delivery was not published (the bus failed): Mailchimp's retry of it must get through."""
        self._table.delete_item(Key=self._key(store_id, identity))
