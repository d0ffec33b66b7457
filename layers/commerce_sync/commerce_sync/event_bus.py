"""Publishing canonical events to the EventBridge bus that routes them to the processing queues."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import boto3
from pydantic import BaseModel, ConfigDict, Field

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


class BusMessage(BaseModel):
    """An EventBridge event as an SQS target receives it. Only what we use is required: Powertools'
    EventBridgeModel also demands `account`, `region` and `time`, which moto's delivery omits."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str | None = None
    source: str | None = None
    detail_type: str = Field(alias="detail-type")
    detail: CanonicalEvent


def event_from_message(body: dict[str, Any]) -> CanonicalEvent:
    message = BusMessage.model_validate(body)
    if message.detail_type != message.detail.type.value:
        raise ValueError(f"detail-type {message.detail_type!r} does not match the event type {message.detail.type}")
    return message.detail
