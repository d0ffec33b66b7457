"""The consumers given claim-check references (SQS events as the event source mapping delivers them,
against moto server and the Mailchimp emulator): product_sync reads them like cart_events and
order_status, and a reference whose object was changed or is gone is dead-lettered at once with the
reason, never dropped and never applied."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from commerce_sync.aws.bus_entries import event_source
from commerce_sync.aws.event_bus import ClaimCheckReference, ClaimChecks
from commerce_sync.canonical.model import (
    CanonicalEvent,
    Cart,
    Customer,
    EventType,
    Line,
    Product,
    ProductVariant,
    make_event,
)

from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore
from tests.integration.test_cart_events_handler import take_dead_letters


def check_in(runner: LocalRunner, function: str, event: CanonicalEvent) -> dict[str, Any]:
    """An SQS event whose one record is a bus message carrying `event` by claim check (checked in
    whatever its size, as the publisher does for large ones)."""
    bucket = runner.function_environment(function)["CLAIM_CHECK_BUCKET"]
    claim = ClaimChecks(bucket, runner.client("s3")).check_in(event, event.model_dump_json().encode())
    message = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": event.type.value,
        "source": event_source(event.platform),
        "detail": json.loads(ClaimCheckReference.of(event, claim).model_dump_json()),
    }
    record = {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": "AQEB-local",
        "body": json.dumps(message),
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": runner.template.attributes[(function.replace("Function", "Queue"), "Arn")],
        "awsRegion": "us-east-1",
    }
    return {"Records": [record]}


def cart_event(store_id: str) -> CanonicalEvent:
    cart_id = uuid.uuid4().hex
    cart = Cart(
        id=cart_id,
        customer=Customer(id=f"c-{cart_id[:8]}", email=f"{cart_id[:8]}@example.com"),
        currency_code="USD",
        order_total=Decimal("19.99"),
        checkout_url=f"https://shop.example.com/checkout/{cart_id}",
        lines=(
            Line(id="1", product_id="p-1", variant_id="v-1", product_title="Socks", quantity=1, price=Decimal("19.99")),
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


def test_product_sync_reads_a_product_event_by_claim_check(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    product_id = f"p-{uuid.uuid4().hex[:10]}"
    product = Product(
        id=product_id,
        title="Fountain Pen",
        description="Writes. " * 100,
        variants=(ProductVariant(id=f"{product_id}-blue", title="Blue", price=Decimal("12.00")),),
    )
    event = make_event(
        event_type=EventType.PRODUCT_UPDATED,
        event_id=f"test:{uuid.uuid4()}",
        store_id=shopify_store.store_id,
        platform="shopify",
        entity=product,
        entity_id=product_id,
        entity_version="2025-03-14T13:18:02.000000Z",
    )

    result = runner.invoke("ProductSyncFunction", check_in(runner, "ProductSyncFunction", event))

    assert result == {"batchItemFailures": []}
    written = mailchimp_reader.resource(f"/ecommerce/stores/{shopify_store.store_id}/products/{product_id}")
    assert written is not None
    assert written["description"] == product.description
    assert [variant["id"] for variant in written["variants"]] == [f"{product_id}-blue"]


def test_a_changed_claim_check_is_dead_lettered_with_its_reason(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    event = cart_event(shopify_store.store_id)
    sqs_event = check_in(runner, "CartEventsFunction", event)
    claim = json.loads(sqs_event["Records"][0]["body"])["detail"]["claim_check"]
    s3 = runner.client("s3")
    stored = json.loads(s3.get_object(Bucket=claim["bucket"], Key=claim["key"])["Body"].read())
    stored["data"]["order_total"] = "0.01"
    s3.put_object(Bucket=claim["bucket"], Key=claim["key"], Body=json.dumps(stored).encode())

    result = runner.invoke("CartEventsFunction", sqs_event)

    assert result == {"batchItemFailures": []}, "kept at once: retrying cannot help"
    assert mailchimp_reader.resource(f"/ecommerce/stores/{shopify_store.store_id}/carts/{event.entity_id}") is None
    (kept,) = take_dead_letters(runner, "CartEventsDeadLetterQueue", event.event_id)
    attributes = {name: value["StringValue"] for name, value in kept["MessageAttributes"].items()}
    assert attributes["error_type"] == "ClaimCheckError"
    assert "sha256" in attributes["error_message"] and claim["key"] in attributes["error_message"]
    assert attributes["permanent"] == "true"
    assert kept["Body"] == sqs_event["Records"][0]["body"], "the reference is kept unchanged, for a replay"


def test_a_missing_claim_check_is_dead_lettered_with_its_reason(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    event = cart_event(shopify_store.store_id)
    sqs_event = check_in(runner, "CartEventsFunction", event)
    claim = json.loads(sqs_event["Records"][0]["body"])["detail"]["claim_check"]
    runner.client("s3").delete_object(Bucket=claim["bucket"], Key=claim["key"])

    result = runner.invoke("CartEventsFunction", sqs_event)

    assert result == {"batchItemFailures": []}
    assert mailchimp_reader.resource(f"/ecommerce/stores/{shopify_store.store_id}/carts/{event.entity_id}") is None
    (kept,) = take_dead_letters(runner, "CartEventsDeadLetterQueue", event.event_id)
    attributes = {name: value["StringValue"] for name, value in kept["MessageAttributes"].items()}
    assert attributes["error_type"] == "ClaimCheckError"
    assert "missing" in attributes["error_message"]
    assert attributes["permanent"] == "true"
