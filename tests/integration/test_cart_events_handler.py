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


def test_only_the_bad_record_is_reported_failed(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    event, details = sqs_event(shopify_store.store_id, {}, {"currency_code": "not a currency"})

    result = runner.invoke("CartEventsFunction", event)

    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    good, bad = details
    assert mailchimp_reader.resource(f"/ecommerce/stores/{shopify_store.store_id}/carts/{good['entity_id']}")
    assert mailchimp_reader.resource(f"/ecommerce/stores/{shopify_store.store_id}/carts/{bad['entity_id']}") is None


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
