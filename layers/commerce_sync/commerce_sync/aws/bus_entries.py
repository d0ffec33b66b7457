"""PutEvents entries on the EventBridge bus, whatever they carry: their size as EventBridge counts it, the
requests that stay within its limits, and putting bus messages that were set aside back as they were.

Apart from commerce_sync.aws.event_bus, which builds on this to publish canonical events, because this part
needs no canonical model: the Mailchimp connect function only puts a paused account's parked messages back
(commerce_sync.accounts.connections), and importing the model would cost its cold start for nothing
(docs/performance.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import boto3

from commerce_sync.canonical.errors import PublishError

# PutEvents takes at most 10 entries, and their sizes must total less than 256 KB, counted as
# `entry_size` does: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-putevent-size.html
PUT_EVENTS_MAX_ENTRIES = 10
PUT_EVENTS_MAX_BYTES = 256 * 1024
PUT_EVENTS_TIME_BYTES = 14


def event_source(platform: str) -> str:
    return f"commerce-sync.{platform}"


def entry_size(entry: Mapping[str, Any]) -> int:
    """A PutEvents entry's size as EventBridge counts it (see above): the UTF-8 bytes of Source,
    DetailType, Detail and each of Resources, plus 14 bytes when Time is given. EventBusName is free."""
    size = PUT_EVENTS_TIME_BYTES if entry.get("Time") is not None else 0
    for name in ("Source", "DetailType", "Detail"):
        size += len(str(entry.get(name) or "").encode("utf-8"))
    return size + sum(len(resource.encode("utf-8")) for resource in entry.get("Resources") or [] if resource)


def put_events_requests(entries: Sequence[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """The entries in order, grouped into requests PutEvents accepts: at most 10 entries, and sizes
    totalling less than 256 KB. An entry that alone reaches the limit still gets a request of its
    own (the publisher never makes one, and the bus then says what is wrong)."""
    request: list[dict[str, Any]] = []
    total = 0
    for entry in entries:
        size = entry_size(entry)
        if request and (len(request) == PUT_EVENTS_MAX_ENTRIES or total + size >= PUT_EVENTS_MAX_BYTES):
            yield request
            request, total = [], 0
        request.append(entry)
        total += size
    if request:
        yield request


class BusMessagePublisher:
    """Puts entries on one bus, in as few PutEvents requests as its limits allow; any refused entry is a
    PublishError (503 where a request is answered), so the caller tries again rather than losing it."""

    def __init__(self, bus_name: str, client: Any | None = None) -> None:
        self._bus_name = bus_name
        self._client: Any = client or boto3.client("events")

    def republish(self, messages: Sequence[Mapping[str, Any]]) -> None:
        """Puts bus messages that were set aside (a paused Mailchimp account's parked events) back on the bus
        as they were: the same source, detail-type and detail (an event, or its claim-check reference)."""
        self.put(
            [
                {
                    "EventBusName": self._bus_name,
                    "Source": str(message["source"]),
                    "DetailType": str(message["detail-type"]),
                    "Detail": json.dumps(message["detail"]),
                }
                for message in messages
            ]
        )

    def put(self, entries: Sequence[dict[str, Any]]) -> None:
        for request in put_events_requests(entries):
            response = self._client.put_events(Entries=request)
            if response.get("FailedEntryCount"):
                codes = {entry.get("ErrorCode") for entry in response["Entries"] if entry.get("ErrorCode")}
                raise PublishError(f"the event bus refused {response['FailedEntryCount']} event(s): {codes}")
