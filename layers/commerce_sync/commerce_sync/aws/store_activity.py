"""What each store's deliveries and events did lately, for `commerce-sync status` (docs/operations.md): per store and
per hour, in the sync-state table, partition `<store_id>#activity`, sort key `hour#<YYYY-MM-DDTHH>` (UTC):

- `delivery:<accepted|ignored|refused>`: webhook deliveries the receiver answered so (refused: a signature, body or
  header it would not take, for a store it knows);
- `outcome:<outcome>`: events the queue consumers applied, by outcome (`synced`, `duplicate`, `stale`, …);
- `seen:<topic>`: when a delivery of that topic last arrived (the platform's topic — Shopify's `orders/paid`,
  WooCommerce's `order.updated`, BigCommerce's scope — or the canonical event types), ISO time.

The events' outcomes are counted in the container and written once per store and hour when the invocation ends
(`flush`, called by the queue handlers), so a batch of ten events costs one UpdateItem, not ten (counters are
ADDed, so concurrent containers never lose a count). An accepted delivery is counted there too: the receiver
stamps the first event it published with the delivery (`CanonicalEvent.delivery`), and the consumer counts it, in
the hour it was received, with that event's outcome, so accepting a delivery costs no write of its own. It shows
once its event is applied (seconds later; later while a queue is backed up); one whose event was dead-lettered
shows once the event is replayed. An ignored or refused delivery publishes nothing: the receiver writes it (one
UpdateItem). Items expire after RETENTION_HOURS, so status reads at most that many small items per store. Recording
never fails a delivery or an event: a failed write is logged and dropped (it is a dashboard, not a ledger).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from commerce_sync.aws.batch_items import items_with_prefix
from commerce_sync.aws.observability import logger

if TYPE_CHECKING:
    # For the annotation only: every function builds this through Services, and the connect function never needs
    # the canonical model otherwise (docs/performance.md).
    from commerce_sync.canonical.model import AcceptedDelivery

RETENTION_HOURS = 48
HOUR = "hour#"
DeliveryResult = Literal["accepted", "ignored", "refused"]
# Outcomes of events of a store erased whole (commerce_sync.privacy.store_erasure): not recorded, or the store's
# partition would come back after the erasure swept every item of it.
ERASED_STORE_OUTCOMES = frozenset({"store_erased", "already_erased"})


def partition(store_id: str) -> str:
    return f"{store_id}#activity"


def _hour(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


@dataclass
class ActivitySummary:
    """A store's last `hours`: counts by delivery result and by outcome, and each topic's last delivery."""

    hours: int
    deliveries: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    last_seen: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "hours": self.hours,
            "deliveries": dict(sorted(self.deliveries.items())),
            "outcomes": dict(sorted(self.outcomes.items())),
            "last_seen": dict(sorted(self.last_seen.items())),
        }


class StoreActivity:
    def __init__(self, table: Any) -> None:
        self._table = table
        # Outcomes and accepted deliveries counted since the last flush, by store and hour.
        self._outcomes: dict[tuple[str, str], Counter[str]] = {}
        # The latest delivery of each topic counted since the last flush, by store and hour.
        self._seen: dict[tuple[str, str], dict[str, str]] = {}
        self._counting = threading.Lock()

    def delivery(self, store_id: str, result: DeliveryResult, topic: str | None) -> None:
        now = datetime.now(UTC)
        names = {"#count": f"delivery:{result}"}
        values: dict[str, Any] = {":one": 1}
        expression = "ADD #count :one"
        if topic:
            names["#seen"] = f"seen:{topic[:100]}"
            values[":now"] = now.isoformat(timespec="seconds")
            expression += " SET #seen = :now, expires_at = :expires"
        else:
            expression += " SET expires_at = :expires"
        self._update(store_id, now, expression, names, values)

    def outcome(self, store_id: str, outcome: str, delivery: AcceptedDelivery | None = None) -> None:
        """Counted now, written by the next `flush`. `delivery`: the one the event came in, counted as accepted."""
        if outcome in ERASED_STORE_OUTCOMES:
            return
        now = datetime.now(UTC)
        with self._counting:
            self._outcomes.setdefault((store_id, _hour(now)), Counter())[f"outcome:{outcome}"] += 1
            # A delivery replayed from the archive long after it came is not counted again into an hour gone by.
            if delivery is not None and now - delivery.received_at < timedelta(hours=RETENTION_HOURS):
                hour = (store_id, _hour(delivery.received_at))
                self._outcomes.setdefault(hour, Counter())["delivery:accepted"] += 1
                if delivery.topic:
                    seen = self._seen.setdefault(hour, {})
                    moment = delivery.received_at.astimezone(UTC).isoformat(timespec="seconds")
                    seen[delivery.topic] = max(seen.get(delivery.topic, ""), moment)

    def flush(self) -> None:
        """Writes what was counted since the last flush: one UpdateItem per store and hour."""
        with self._counting:
            counted, self._outcomes = self._outcomes, {}
            seen, self._seen = self._seen, {}
        for key, counts in counted.items():
            names = {f"#c{index}": name for index, name in enumerate(counts)}
            values: dict[str, Any] = {f":n{index}": count for index, count in enumerate(counts.values())}
            expression = "ADD " + ", ".join(f"#c{index} :n{index}" for index in range(len(counts)))
            settings = ["expires_at = :expires"]
            for index, (topic, moment) in enumerate(seen.get(key, {}).items()):
                names[f"#s{index}"] = f"seen:{topic}"
                values[f":s{index}"] = moment
                settings.append(f"#s{index} = :s{index}")
            store_id, hour = key
            self._update_hour(store_id, hour, f"{expression} SET {', '.join(settings)}", names, values)

    def _update(
        self, store_id: str, now: datetime, expression: str, names: Mapping[str, str], values: dict[str, Any]
    ) -> None:
        self._update_hour(store_id, _hour(now), expression, names, values)

    def _update_hour(
        self, store_id: str, hour: str, expression: str, names: Mapping[str, str], values: dict[str, Any]
    ) -> None:
        try:
            self._table.update_item(
                Key={"pk": partition(store_id), "sk": HOUR + hour},
                UpdateExpression=expression,
                ExpressionAttributeNames=dict(names),
                ExpressionAttributeValues={**values, ":expires": int(time.time()) + RETENTION_HOURS * 3600},
            )
        except (ClientError, BotoCoreError) as error:
            logger.warning("store activity not recorded", error=str(error))

    def summary(self, store_id: str, hours: int = 24, now: datetime | None = None) -> ActivitySummary:
        """Counts over the last `hours` (whole hours, the current one included); last seen over every hour kept."""
        now = now or datetime.now(UTC)
        since = _hour(now - timedelta(hours=hours - 1))
        summary = ActivitySummary(hours=hours)
        for item in items_with_prefix(self._table, partition(store_id), HOUR):
            in_window = str(item["sk"]).removeprefix(HOUR) >= since
            for name, value in item.items():
                if name.startswith("seen:"):
                    topic = name.removeprefix("seen:")
                    summary.last_seen[topic] = max(summary.last_seen.get(topic, ""), str(value))
                elif in_window and name.startswith("delivery:"):
                    key = name.removeprefix("delivery:")
                    summary.deliveries[key] = summary.deliveries.get(key, 0) + int(value)
                elif in_window and name.startswith("outcome:"):
                    key = name.removeprefix("outcome:")
                    summary.outcomes[key] = summary.outcomes.get(key, 0) + int(value)
        return summary
