"""The cart_events handler invoked with SQS events (as the event source mapping would), against moto
server and the Mailchimp emulator: what Mailchimp holds afterwards and which records it reports as
failed."""

from __future__ import annotations

import copy
import io
import json
import uuid
from pathlib import Path
from typing import Any

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "cart_events_sqs.json"


def sqs_event(store_id: str, *changes: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An SQS event with one cart.updated record per `changes` entry, each with a fresh cart and event id."""
    template = json.loads(SAMPLE.read_text())["Records"][0]
    records, details = [], []
    for change in changes:
        record = copy.deepcopy(template)
        message = json.loads(record["body"])
        detail = message["detail"]
        cart_id = uuid.uuid4().hex
        detail.update(event_id=f"test:{uuid.uuid4()}", store_id=store_id, entity_id=cart_id)
        detail["data"]["id"] = cart_id
        detail["data"].update(change)
        record["messageId"] = str(uuid.uuid4())
        record["body"] = json.dumps(message)
        records.append(record)
        details.append(detail)
    return {"Records": records}, details


def test_a_batch_writes_every_cart_and_reports_no_failure(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    event, details = sqs_event(shopify_store.store_id, {}, {"order_total": "19.99"})

    result = runner.invoke("CartEventsFunction", event)

    assert result == {"batchItemFailures": []}
    for detail in details:
        cart = mailchimp_reader.resource(f"/ecommerce/stores/{shopify_store.store_id}/carts/{detail['entity_id']}")
        assert cart is not None
        assert cart["order_total"] == float(detail["data"]["order_total"])


def test_a_record_that_can_never_succeed_is_dead_lettered_at_once_with_its_reason(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    event, details = sqs_event(shopify_store.store_id, {}, {"currency_code": "not a currency"})

    result = runner.invoke("CartEventsFunction", event)

    # The bad record is not retried (it would fail the same way five times): it is already kept.
    assert result == {"batchItemFailures": []}
    good, bad = details
    assert mailchimp_reader.resource(f"/ecommerce/stores/{shopify_store.store_id}/carts/{good['entity_id']}")
    assert mailchimp_reader.resource(f"/ecommerce/stores/{shopify_store.store_id}/carts/{bad['entity_id']}") is None
    kept = take_dead_letters(runner, "CartEventsDeadLetterQueue", bad["event_id"])
    assert len(kept) == 1
    attributes = {name: value["StringValue"] for name, value in kept[0]["MessageAttributes"].items()}
    assert attributes["error_type"] == "ValidationError"
    assert "currency_code" in attributes["error_message"]
    assert attributes["permanent"] == "true"
    assert json.loads(kept[0]["Body"]) == json.loads(event["Records"][1]["body"]), "the record is kept unchanged"


def take_dead_letters(runner: LocalRunner, queue: str, event_id: str) -> list[dict[str, Any]]:
    """Receive (and delete) the dead letters whose canonical event id is `event_id`."""
    sqs = runner.client("sqs")
    url = runner.queue_url(queue)
    found = []
    for _ in range(5):
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
        ).get("Messages", [])
        for message in messages:
            if json.loads(message["Body"])["detail"]["event_id"] == event_id:
                found.append(message)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        if found:
            break
    return found


def test_an_event_for_an_unregistered_store_is_failed_not_dropped(runner: LocalRunner) -> None:
    event, _ = sqs_event("no-such-store", {})

    result = runner.invoke("CartEventsFunction", event)

    assert result["batchItemFailures"] == [{"itemIdentifier": event["Records"][0]["messageId"]}]


def test_a_cart_without_an_email_writes_nothing(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator
) -> None:
    event, details = sqs_event(shopify_store.store_id, {"customer": {"id": "guest-without-email"}})

    result = runner.invoke("CartEventsFunction", event)

    assert result == {"batchItemFailures": []}
    writes = [r for r in mailchimp.requests if details[0]["entity_id"] in r["path"]]
    assert writes == []


def test_logs_hold_no_email_address_nor_key(
    runner: LocalRunner, shopify_store: RegisteredStore, captured_logs: io.StringIO
) -> None:
    email = f"Private.Person.{uuid.uuid4().hex[:6]}@Example.org"
    event, _ = sqs_event(
        shopify_store.store_id,
        {"customer": {"id": "c-1", "email": email, "consent": {"state": "granted"}}},
    )

    runner.invoke("CartEventsFunction", event)

    logged = captured_logs.getvalue()
    assert "cart.updated synced" in logged, "the handler logged"
    assert email.lower() not in logged.lower()
    assert shopify_store.webhook_secret not in logged
    assert "0123456789abcdef0123456789abcdef" not in logged


def same_cart_event(store_id: str, cart_id: str, version: str, customer: dict[str, Any]) -> dict[str, Any]:
    """One cart.updated record for `cart_id` at `version`, with a fresh event id."""
    record = copy.deepcopy(json.loads(SAMPLE.read_text())["Records"][0])
    message = json.loads(record["body"])
    detail = message["detail"]
    detail.update(event_id=f"test:{uuid.uuid4()}", store_id=store_id, entity_id=cart_id, entity_version=version)
    detail["data"].update(id=cart_id, customer=customer)
    record.update(messageId=str(uuid.uuid4()), body=json.dumps(message))
    return {"Records": [record]}


def test_a_waiting_cart_is_written_by_an_event_of_the_same_moment_that_brings_the_email(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader, captured_logs: io.StringIO
) -> None:
    # Shopify's carts/create and checkouts/create examples of one visit carry the same updated_at; only
    # the checkout knows the shopper.
    cart_id, version = uuid.uuid4().hex, "2022-01-01T00:00:00.000000Z"
    shopper = {"id": "c-7", "email": f"same.moment.{uuid.uuid4().hex[:6]}@example.com"}
    path = f"/ecommerce/stores/{shopify_store.store_id}/carts/{cart_id}"

    for customer in ({}, shopper, {"id": "c-7"}):
        assert runner.invoke(
            "CartEventsFunction", same_cart_event(shopify_store.store_id, cart_id, version, customer)
        ) == {"batchItemFailures": []}

    lines = [line[line.index("{") :] for line in captured_logs.getvalue().splitlines() if cart_id in line]
    outcomes = [outcome for line in lines if (outcome := json.loads(line).get("outcome"))]
    assert outcomes == ["waiting_for_email", "synced", "stale"]
    cart = mailchimp_reader.resource(path)
    assert cart is not None and cart["customer"]["email_address"] == shopper["email"]
