"""A Mailchimp account's health: paused when Mailchimp refuses its credentials, and the events parked
meanwhile, kept until it is reconnected (docs/mailchimp-accounts.md).

A revoked OAuth token or a deleted API key answers 401 to every call, forever: retrying would only spin the
queue and then flood the dead-letter queue with events that are fine. So the first 401 that survives a fresh
read of the credentials pauses the account (one item beside its slots, `sk = health`, which every event of
the account reads with its slot query), and each of its events is **parked**: its bus message is kept in the
sync-state table (`pk = mailchimp-account#<account>#parked`), in arrival order. Other accounts' events are
other items and go on. Reconnecting the account (a new key, or OAuth again) clears the pause and puts the
parked messages back on the bus, where they are applied as if they had just arrived (their versions keep a
late one from undoing a newer change).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.conditions import Key

from commerce_sync.accounts.budget import (
    HEALTH_SORT_KEY,
    AccountBusy,
    AccountRefused,
    AccountUnavailable,
    account_partition,
)
from commerce_sync.aws.bus_entries import event_source
from commerce_sync.aws.metric_names import MAILCHIMP_ACCOUNT_PAUSED
from commerce_sync.aws.observability import logger, metrics

if TYPE_CHECKING:
    # Only the consumers park events; the connect function imports this module to resume an account and never
    # needs the canonical model (commerce_sync.aws.bus_entries).
    from commerce_sync.canonical.model import CanonicalEvent

PAUSED = "paused"


def parked_partition(account: str) -> str:
    return f"{account_partition(account)}#parked"


@dataclass(frozen=True)
class AccountHealth:
    account: str
    status: str  # "ok" or "paused"
    reason: str | None = None
    since: str | None = None
    store_id: str | None = None  # the store whose event met the refusal

    @property
    def paused(self) -> bool:
        return self.status == PAUSED


@dataclass(frozen=True)
class ParkedMessage:
    sort_key: str
    store_id: str
    event_id: str
    message: dict[str, Any]


class AccountHealthBook:
    """`table` is the sync-state table (a boto3 Table resource)."""

    def __init__(self, table: Any, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._clock = clock

    def health(self, account: str) -> AccountHealth:
        item = self._table.get_item(
            Key={"pk": account_partition(account), "sk": HEALTH_SORT_KEY}, ConsistentRead=True
        ).get("Item")
        if not item or item.get("status") != PAUSED:
            return AccountHealth(account, "ok")
        return AccountHealth(
            account,
            PAUSED,
            reason=str(item.get("reason") or ""),
            since=str(item.get("since") or ""),
            store_id=str(item.get("store_id") or "") or None,
        )

    def pause(self, account: str, reason: str, store_id: str) -> bool:
        """Marks the account paused; True when this call paused it (it was not paused already)."""
        try:
            self._table.put_item(
                Item={
                    "pk": account_partition(account),
                    "sk": HEALTH_SORT_KEY,
                    "status": PAUSED,
                    "reason": reason,
                    "since": datetime.fromtimestamp(self._clock(), UTC).isoformat(),
                    "store_id": store_id,
                },
                ConditionExpression="attribute_not_exists(pk) OR #status <> :paused",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={":paused": PAUSED},
            )
        except self._table.meta.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def clear(self, account: str) -> None:
        self._table.delete_item(Key={"pk": account_partition(account), "sk": HEALTH_SORT_KEY})

    def park(self, account: str, store_id: str, event_id: str, message: dict[str, Any]) -> str:
        """Keeps a bus message until the account is reconnected; returns its sort key."""
        now = self._clock()
        sort_key = f"{now:017.6f}#{event_id}"
        self._table.put_item(
            Item={
                "pk": parked_partition(account),
                "sk": sort_key,
                "store_id": store_id,
                "event_id": event_id,
                "parked_at": Decimal(str(round(now, 6))),
                "message": json.dumps(message),
            }
        )
        return sort_key

    def parked(self, account: str) -> Iterator[ParkedMessage]:
        """The account's parked messages, oldest first."""
        arguments: dict[str, Any] = {"KeyConditionExpression": Key("pk").eq(parked_partition(account))}
        while True:
            page = self._table.query(**arguments)
            for item in page.get("Items", []):
                yield ParkedMessage(
                    sort_key=str(item["sk"]),
                    store_id=str(item.get("store_id") or ""),
                    event_id=str(item.get("event_id") or ""),
                    message=json.loads(str(item["message"])),
                )
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def parked_count(self, account: str) -> int:
        arguments: dict[str, Any] = {
            "KeyConditionExpression": Key("pk").eq(parked_partition(account)),
            "Select": "COUNT",
        }
        total = 0
        while True:
            page = self._table.query(**arguments)
            total += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return total
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def park_event(
        self, event: CanonicalEvent, message: dict[str, Any] | None, unavailable: AccountUnavailable
    ) -> None:
        """Keeps the event (its bus message as it came, when known) for when its account is reconnected, and
        pauses the account first when Mailchimp has just refused its credentials. Raises AccountBusy when the
        account was reconnected while the event was being parked (the replay may have missed it): the queue
        then delivers it again and it is applied."""
        account = unavailable.account
        if isinstance(unavailable, AccountRefused) and self.pause(account, unavailable.reason, event.store_id):
            metrics.add_metric(name=MAILCHIMP_ACCOUNT_PAUSED.name, unit="Count", value=1)
            logger.error(
                "Mailchimp refuses the account's credentials: its stores are paused and their events parked until "
                "it is reconnected (commerce-sync connect-mailchimp, or stores set-mailchimp-key)",
                mailchimp_account=account,
                reason=unavailable.reason,
            )
        kept = message or {
            "source": event_source(event.platform),
            "detail-type": event.type.value,
            "detail": event.model_dump(mode="json"),
        }
        detail = kept.get("detail")
        if isinstance(detail, dict) and detail.get("delivery") is not None:
            # Its delivery is counted with the outcome "parked"; the replay must not count it again.
            kept = {**kept, "detail": {**detail, "delivery": None}}
        sort_key = self.park(account, event.store_id, event.event_id, kept)
        if not self.health(account).paused:
            self.unpark(account, sort_key)
            raise AccountBusy(f"Mailchimp account {account} was reconnected meanwhile; the event is retried")

    def unpark(self, account: str, sort_key: str) -> None:
        self._table.delete_item(Key={"pk": parked_partition(account), "sk": sort_key})
