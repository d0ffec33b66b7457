"""A lease-based lock held in the sync-state table, so that two runs of the same job never overlap.

The lock is one item (`pk`, `sk`) with the holder's token and the time its lease ends. Taking it is a
conditional write that succeeds when the item is absent, the lease has ended, or the caller already holds
it. The holder renews the lease while it works (the catalog sync does so after every page), so the lease
can be short: a holder that crashed — or a Lambda that was killed at its timeout — frees the lock within one
lease, and the next run takes over. The item also carries the table's TTL attribute (`expires_at`), only so
that locks of stores that are gone do not stay forever; expiry of the *lease* is checked by the condition,
never left to TTL (DynamoDB deletes expired items up to days late).

Tokens are per holder (one per Lambda invocation), not per job: two invocations continuing the same run
still exclude each other.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

# Leftover lock items are removed by TTL a day after their lease ended.
LOCK_ITEM_TTL_SECONDS = 24 * 3600


class LockLost(Exception):
    """The lease ended and another holder took the lock; the work in hand must stop."""


@dataclass(frozen=True)
class LockHolder:
    token: str
    lease_until: float
    acquired_at: float
    label: str = ""

    @property
    def expired(self) -> bool:
        return self.lease_until < time.time()


def new_token() -> str:
    return uuid.uuid4().hex


def _conditional_failure(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class SyncLock:
    """One named lock. `table` is a boto3 DynamoDB Table resource (the sync-state table)."""

    def __init__(self, table: Any, pk: str, sk: str = "lock", clock: Any = time.time) -> None:
        self._table = table
        self._key = {"pk": pk, "sk": sk}
        self._clock = clock

    def acquire(self, token: str, lease_seconds: float, label: str = "") -> bool:
        """Take (or re-take) the lock for `lease_seconds`; False when another holder's lease is running."""
        now = self._clock()
        try:
            self._table.put_item(
                Item={
                    **self._key,
                    "holder": token,
                    "label": label,
                    "lease_until": _number(now + lease_seconds),
                    "acquired_at": _number(now),
                    "expires_at": int(now + lease_seconds + LOCK_ITEM_TTL_SECONDS),
                },
                ConditionExpression="attribute_not_exists(pk) OR lease_until < :now OR holder = :token",
                ExpressionAttributeValues={":now": _number(now), ":token": token},
            )
        except ClientError as error:
            if _conditional_failure(error):
                return False
            raise
        return True

    def renew(self, token: str, lease_seconds: float) -> None:
        """Extend the lease; raises LockLost when this holder no longer has it."""
        now = self._clock()
        try:
            self._table.update_item(
                Key=self._key,
                UpdateExpression="SET lease_until = :until, expires_at = :ttl",
                ConditionExpression="holder = :token",
                ExpressionAttributeValues={
                    ":until": _number(now + lease_seconds),
                    ":ttl": int(now + lease_seconds + LOCK_ITEM_TTL_SECONDS),
                    ":token": token,
                },
            )
        except ClientError as error:
            if _conditional_failure(error):
                raise LockLost(f"the lock {self._key['pk']} is held by someone else now") from error
            raise

    def release(self, token: str) -> None:
        """Give the lock up; a lock already taken over by another holder is left alone."""
        try:
            self._table.delete_item(
                Key=self._key,
                ConditionExpression="holder = :token",
                ExpressionAttributeValues={":token": token},
            )
        except ClientError as error:
            if not _conditional_failure(error):
                raise

    def holder(self) -> LockHolder | None:
        item = self._table.get_item(Key=self._key, ConsistentRead=True).get("Item")
        if not item:
            return None
        return LockHolder(
            token=str(item.get("holder", "")),
            lease_until=float(item.get("lease_until", 0)),
            acquired_at=float(item.get("acquired_at", 0)),
            label=str(item.get("label", "")),
        )


def _number(value: float) -> Any:
    """DynamoDB numbers go through Decimal; millisecond precision is plenty for leases."""
    return Decimal(str(round(value, 3)))
