"""Publishing canonical events to the EventBridge bus that routes them to the processing queues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3

from commerce_sync.canonical import CanonicalEvent
from commerce_sync.errors import PublishError

PUT_EVENTS_LIMIT = 10


def event_source(platform: str) -> str:
    return f"commerce-sync.{platform}"


def to_entry(event: CanonicalEvent, bus_name: str) -> dict[str, Any]:
    return {
        "EventBusName": bus_name,
        "Source": event_source(event.platform),
        "DetailType": event.type.value,
        "Detail": event.model_dump_json(),
        "Time": event.occurred_at,
    }


class EventPublisher:
    def __init__(self, bus_name: str, client: Any | None = None) -> None:
        self._bus_name = bus_name
        self._client = client or boto3.client("events")

    def publish(self, events: Sequence[CanonicalEvent]) -> None:
        for start in range(0, len(events), PUT_EVENTS_LIMIT):
            chunk = [to_entry(event, self._bus_name) for event in events[start : start + PUT_EVENTS_LIMIT]]
            response = self._client.put_events(Entries=chunk)
            if response.get("FailedEntryCount"):
                codes = {entry.get("ErrorCode") for entry in response["Entries"] if entry.get("ErrorCode")}
                raise PublishError(f"the event bus refused {response['FailedEntryCount']} event(s): {codes}")
