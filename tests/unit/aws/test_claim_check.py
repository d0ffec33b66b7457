"""Publishing events too large for EventBridge by claim check, and reading them back (moto server for S3,
EventBridge and SQS): the entry-size rule, the inline/claim-check boundary, PutEvents requests split by
size as well as count, and every way a reference is refused."""

from __future__ import annotations

import hashlib
import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
from commerce_sync.aws.bus_entries import PUT_EVENTS_MAX_BYTES, PUT_EVENTS_MAX_ENTRIES, entry_size
from commerce_sync.aws.event_bus import (
    INLINE_ENTRY_MAX_BYTES,
    ClaimCheckError,
    ClaimChecks,
    EventPublisher,
    claim_key,
    event_from_message,
    to_entry,
)
from commerce_sync.canonical.errors import PublishError
from commerce_sync.canonical.model import CanonicalEvent, Cart, Customer, EventType, Line, make_event
from commerce_sync.processing.dead_letters import is_permanent

from tests.harness import local_aws

BUS = "claim-check-tests"


def _client(service: str, endpoint: str) -> Any:
    return local_aws(service, endpoint)


class RecordingEvents:
    """The real (moto) EventBridge client, keeping the Entries of every PutEvents call."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.requests: list[list[dict[str, Any]]] = []

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.requests.append(Entries)
        return self._client.put_events(Entries=Entries)


@pytest.fixture(scope="module")
def bus_queue(moto_endpoint: str) -> str:
    """A bus whose every event is delivered to a queue, as the template's rules do."""
    events, sqs = _client("events", moto_endpoint), _client("sqs", moto_endpoint)
    events.create_event_bus(Name=BUS)
    queue_url = sqs.create_queue(QueueName="claim-check-tests")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="everything", EventBusName=BUS, EventPattern=json.dumps({"source": [{"prefix": ""}]}))
    events.put_targets(Rule="everything", EventBusName=BUS, Targets=[{"Id": "queue", "Arn": queue_arn}])
    return queue_url


@pytest.fixture
def bucket(moto_endpoint: str) -> str:
    name = f"claims-{uuid.uuid4().hex[:12]}"
    _client("s3", moto_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3(moto_endpoint: str) -> Any:
    return _client("s3", moto_endpoint)


@pytest.fixture
def events(moto_endpoint: str, bus_queue: str) -> RecordingEvents:
    return RecordingEvents(_client("events", moto_endpoint))


def cart_event(lines: int = 1, title: str = "Socks", store_id: str = "store-1") -> CanonicalEvent:
    cart_id = uuid.uuid4().hex
    cart = Cart(
        id=cart_id,
        customer=Customer(id="c-1", email="shopper@example.com"),
        currency_code="USD",
        order_total=Decimal("19.99") * lines,
        lines=tuple(
            Line(
                id=f"line-{index}",
                product_id="p-1",
                variant_id="v-1",
                product_title=title,
                quantity=1,
                price=Decimal("19.99"),
            )
            for index in range(lines)
        ),
    )
    return make_event(
        event_type=EventType.CART_UPDATED,
        event_id=f"test:{uuid.uuid4()}",
        store_id=store_id,
        platform="shopify",
        entity=cart,
        entity_id=cart_id,
        entity_version="2025-03-14T13:18:02.000000Z",
    )


def sized_event(size: int) -> CanonicalEvent:
    """A cart event whose PutEvents entry is exactly `size` bytes (the padding is ASCII)."""
    event = cart_event(title="x")
    padding = size - entry_size(to_entry(event, BUS))
    data = json.loads(event.model_dump_json())["data"]
    data["lines"][0]["product_title"] = "x" * (1 + padding)
    sized = event.model_copy(update={"data": data})
    assert entry_size(to_entry(sized, BUS)) == size
    return sized


def bus_message(queue_url: str, endpoint: str, event_id: str) -> dict[str, Any]:
    """The message the bus delivered for `event_id` (the queue is shared by this module's tests)."""
    sqs = _client("sqs", endpoint)
    for _ in range(20):
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
            body = json.loads(message["Body"])
            if body["detail"]["event_id"] == event_id:
                return body
    raise AssertionError(f"the bus delivered nothing for {event_id}")


# ------------------------------------------------------------------ the size rule


def test_entry_size_is_eventbridges_rule() -> None:
    detail = json.dumps({"title": "Crème brûlée ☕"}, ensure_ascii=False)
    entry = {
        "EventBusName": "a bus name that does not count",
        "Source": "commerce-sync.shopify",
        "DetailType": "cart.updated",
        "Detail": detail,
        "Resources": ["arn:aws:s3:::b", "é"],
        "Time": "2025-03-14T13:18:02Z",
    }
    # 21 + 12 bytes of Source and DetailType; the detail's 3 two-byte and 1 three-byte characters count
    # as UTF-8; 14 + 2 resource bytes; 14 for Time whatever its form.
    utf8_detail = len(detail) + 3 + 2
    assert entry_size(entry) == 21 + 12 + utf8_detail + 14 + 2 + 14
    assert entry_size({**entry, "Time": None}) == entry_size(entry) - 14
    assert entry_size({key: value for key, value in entry.items() if key != "Resources"}) == entry_size(entry) - 16


# ------------------------------------------------------------------ inline or by claim check


def test_an_event_at_the_inline_limit_travels_inline(
    events: RecordingEvents, bus_queue: str, bucket: str, s3: Any, moto_endpoint: str
) -> None:
    event = sized_event(INLINE_ENTRY_MAX_BYTES)

    EventPublisher(BUS, client=events, claim_checks=ClaimChecks(bucket, s3)).publish([event])

    ((entry,),) = events.requests
    assert json.loads(entry["Detail"]) == json.loads(event.model_dump_json())
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    message = bus_message(bus_queue, moto_endpoint, event.event_id)
    assert event_from_message(message) == event


def test_an_event_one_byte_over_travels_by_claim_check(
    events: RecordingEvents, bus_queue: str, bucket: str, s3: Any, moto_endpoint: str
) -> None:
    event = sized_event(INLINE_ENTRY_MAX_BYTES + 1)
    claim_checks = ClaimChecks(bucket, s3)

    EventPublisher(BUS, client=events, claim_checks=claim_checks).publish([event])

    ((entry,),) = events.requests
    assert entry["DetailType"] == "cart.updated", "the rules route references like events"
    assert entry_size(entry) < 2048
    reference = json.loads(entry["Detail"])
    assert "data" not in reference
    for name in ("event_id", "type", "store_id", "platform", "entity_id", "entity_version"):
        assert reference[name] == json.loads(event.model_dump_json())[name]
    claim = reference["claim_check"]
    assert claim["bucket"] == bucket
    assert claim["key"] == claim_key(event.store_id, event.event_id)
    stored = s3.get_object(Bucket=bucket, Key=claim["key"])["Body"].read()
    assert CanonicalEvent.model_validate_json(stored) == event
    message = bus_message(bus_queue, moto_endpoint, event.event_id)
    assert event_from_message(message, claim_checks) == event


def test_a_redelivered_event_overwrites_its_claim_check(events: RecordingEvents, bucket: str, s3: Any) -> None:
    event = cart_event(lines=1200, title="A very long product title " * 8)
    publisher = EventPublisher(BUS, client=events, claim_checks=ClaimChecks(bucket, s3))

    publisher.publish([event])
    publisher.publish([event])

    assert [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [
        claim_key(event.store_id, event.event_id)
    ]
    assert claim_key(event.store_id, event.event_id).startswith(f"canonical-events/{event.store_id}/")


def test_claim_keys_are_one_folder_per_store_and_a_digest_of_the_event_id() -> None:
    digest = hashlib.sha256(b"shopify:9f1c/2?").hexdigest()
    assert claim_key("my-shop", "shopify:9f1c/2?") == f"canonical-events/my-shop/{digest}.json"
    # A store id cannot name a folder of another store's.
    assert claim_key("a/../b", "shopify:9f1c/2?") == f"canonical-events/a%2F..%2Fb/{digest}.json"


def test_without_a_bucket_an_oversized_event_is_refused_as_unavailable(events: RecordingEvents) -> None:
    event = sized_event(INLINE_ENTRY_MAX_BYTES + 1)

    with pytest.raises(PublishError, match="CLAIM_CHECK_BUCKET"):
        EventPublisher(BUS, client=events).publish([event])
    assert events.requests == [], "nothing was published"


# ------------------------------------------------------------------ PutEvents requests


def test_put_events_requests_are_split_by_count(events: RecordingEvents, bucket: str, s3: Any) -> None:
    batch = [cart_event() for _ in range(25)]

    EventPublisher(BUS, client=events, claim_checks=ClaimChecks(bucket, s3)).publish(batch)

    assert [len(request) for request in events.requests] == [10, 10, 5]
    sent = [json.loads(entry["Detail"])["event_id"] for request in events.requests for entry in request]
    assert sent == [event.event_id for event in batch], "every event, in order"


def test_put_events_requests_are_split_by_size(events: RecordingEvents, bucket: str, s3: Any) -> None:
    # Each about 100 KB: inline, but no more than two fit a request.
    batch = [sized_event(100 * 1024) for _ in range(5)]

    EventPublisher(BUS, client=events, claim_checks=ClaimChecks(bucket, s3)).publish(batch)

    assert [len(request) for request in events.requests] == [2, 2, 1]
    for request in events.requests:
        assert sum(entry_size(entry) for entry in request) < PUT_EVENTS_MAX_BYTES
        assert len(request) <= PUT_EVENTS_MAX_ENTRIES
    sent = [json.loads(entry["Detail"])["event_id"] for request in events.requests for entry in request]
    assert sent == [event.event_id for event in batch]
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0, "all of them inline"


def test_large_and_small_events_share_requests(events: RecordingEvents, bucket: str, s3: Any) -> None:
    big = [sized_event(INLINE_ENTRY_MAX_BYTES + 1) for _ in range(3)]
    small = [cart_event() for _ in range(3)]

    EventPublisher(BUS, client=events, claim_checks=ClaimChecks(bucket, s3)).publish(big + small)

    assert [len(request) for request in events.requests] == [6], "references are small"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 3


# ------------------------------------------------------------------ references refused


def published_reference(events: RecordingEvents, claim_checks: ClaimChecks, event: CanonicalEvent) -> dict[str, Any]:
    """The bus message a consumer would receive for `event`, published by claim check."""
    EventPublisher(BUS, client=events, claim_checks=claim_checks).publish([event])
    entry = events.requests[-1][0]
    return {"id": str(uuid.uuid4()), "detail-type": entry["DetailType"], "detail": json.loads(entry["Detail"])}


def test_a_tampered_claim_check_is_refused(events: RecordingEvents, bucket: str, s3: Any) -> None:
    claim_checks = ClaimChecks(bucket, s3)
    event = sized_event(INLINE_ENTRY_MAX_BYTES + 1)
    message = published_reference(events, claim_checks, event)
    key = message["detail"]["claim_check"]["key"]
    stored = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    stored["data"]["order_total"] = "0.01"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(stored).encode())

    with pytest.raises(ClaimCheckError, match="sha256") as refused:
        event_from_message(message, claim_checks)
    assert key in str(refused.value) and event.event_id in str(refused.value)
    assert is_permanent(refused.value), "dead-lettered at once, with the reason"


def test_a_claim_check_holding_another_event_is_refused(events: RecordingEvents, bucket: str, s3: Any) -> None:
    claim_checks = ClaimChecks(bucket, s3)
    message = published_reference(events, claim_checks, sized_event(INLINE_ENTRY_MAX_BYTES + 1))
    other = published_reference(events, claim_checks, sized_event(INLINE_ENTRY_MAX_BYTES + 1))
    # A reference naming the other event's object, with that object's true digest.
    message["detail"]["claim_check"] = other["detail"]["claim_check"]

    with pytest.raises(ClaimCheckError, match=r"does not match its reference \(event_id, ") as refused:
        event_from_message(message, claim_checks)
    assert is_permanent(refused.value)


def test_a_missing_claim_check_is_refused(events: RecordingEvents, bucket: str, s3: Any) -> None:
    claim_checks = ClaimChecks(bucket, s3)
    message = published_reference(events, claim_checks, sized_event(INLINE_ENTRY_MAX_BYTES + 1))
    s3.delete_object(Bucket=bucket, Key=message["detail"]["claim_check"]["key"])

    with pytest.raises(ClaimCheckError, match="missing") as refused:
        event_from_message(message, claim_checks)
    assert is_permanent(refused.value)


def test_a_claim_check_outside_this_stacks_bucket_is_refused(events: RecordingEvents, bucket: str, s3: Any) -> None:
    message = published_reference(events, ClaimChecks(bucket, s3), sized_event(INLINE_ENTRY_MAX_BYTES + 1))

    with pytest.raises(ClaimCheckError, match="not in this stack's claim-check bucket"):
        event_from_message(message, ClaimChecks("another-stacks-bucket", s3))


def test_a_reference_cannot_be_read_without_a_bucket(events: RecordingEvents, bucket: str, s3: Any) -> None:
    message = published_reference(events, ClaimChecks(bucket, s3), sized_event(INLINE_ENTRY_MAX_BYTES + 1))

    with pytest.raises(ClaimCheckError, match="no bucket") as refused:
        event_from_message(message)
    assert not is_permanent(refused.value), "a configuration fix heals it: retried first"


def test_a_reference_under_the_wrong_detail_type_is_refused(events: RecordingEvents, bucket: str, s3: Any) -> None:
    claim_checks = ClaimChecks(bucket, s3)
    message = published_reference(events, claim_checks, sized_event(INLINE_ENTRY_MAX_BYTES + 1))
    message["detail-type"] = "order.updated"

    with pytest.raises(ValueError, match="does not match the event type"):
        event_from_message(message, claim_checks)
