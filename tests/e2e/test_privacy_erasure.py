"""Erasure through the local runner, real HTTP, moto and the Mailchimp emulator (docs/privacy.md): a shopper with a
customer record, orders, an open cart and a subscribed member, erased by a canonical `customer.erased`; then the
same changes delivered again (as an archive or dead-letter replay, or a late webhook, would) bring nothing back,
while a change the store makes after the erasure is honoured."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from commerce_sync.aws.privacy_audit import AUDIT_PARTITION
from commerce_sync.aws.settings import Settings
from commerce_sync.aws.sync_state import SyncState
from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.carts.conversion import CUSTOMER

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_canonical
from operator_cli import main as operator_main
from tests.harness import MailchimpReader, RegisteredStore, register_store

EMAIL = "erase.me@example.com"
OTHER = "stays@example.com"


def version(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(store_id: str, event_type: str, entity_id: str, data: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {
        "schema_version": "1",
        "event_id": f"site:{event_type}:{entity_id}:{uuid.uuid4().hex[:8]}",
        "type": event_type,
        "store_id": store_id,
        "platform": "canonical",
        "occurred_at": version(at),
        "entity_id": entity_id,
        "entity_version": version(at),
        "data": data,
    }


def shopper(email: str, customer_id: str) -> dict[str, Any]:
    return {"id": customer_id, "email": email, "first_name": "Ada", "consent": {"state": "granted"}}


def line() -> dict[str, Any]:
    return {
        "id": "l1",
        "product_id": "p1",
        "variant_id": "p1-m",
        "product_title": "Socks",
        "quantity": 1,
        "price": "10",
    }


def order(order_id: str, email: str, customer_id: str) -> dict[str, Any]:
    return {
        "id": order_id,
        "customer": shopper(email, customer_id),
        "currency_code": "USD",
        "order_total": "10",
        "financial_status": "paid",
        "lines": [line()],
    }


def cart(cart_id: str, email: str, customer_id: str) -> dict[str, Any]:
    return {
        "id": cart_id,
        "customer": shopper(email, customer_id),
        "currency_code": "USD",
        "order_total": "10",
        "checkout_url": f"https://shop.example.com/checkout/{cart_id}",
        "lines": [line()],
    }


def forget_idempotency(table_name: str) -> None:
    table = boto3.resource("dynamodb").Table(table_name)
    for item in table.scan(ProjectionExpression="id")["Items"]:
        table.delete_item(Key={"id": item["id"]})


def send_all(runner: LocalRunner, store: RegisteredStore, events: list[dict[str, Any]]) -> None:
    for item in events:
        answer = send_canonical(runner.url, store.webhook_secret, store.store_id, json.dumps(item).encode())
        assert answer.status_code == 202, answer.text
    runner.wait_until_idle(timeout=60)


def test_an_erased_shopper_leaves_mailchimp_and_stays_gone(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    captured_logs: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = register_store("canonical", list_id=f"list-{uuid.uuid4().hex[:6]}")
    store_id, before = store.store_id, datetime.now(UTC) - timedelta(hours=2)
    history = [
        event(store_id, "customer.updated", "c-1", shopper(EMAIL, "c-1"), before),
        event(store_id, "order.updated", "o-1", order("o-1", EMAIL, "c-1"), before + timedelta(minutes=1)),
        event(store_id, "order.updated", "o-2", order("o-2", EMAIL, "c-1"), before + timedelta(minutes=2)),
        event(store_id, "cart.updated", "k-1", cart("k-1", EMAIL, "c-1"), before + timedelta(minutes=3)),
        event(store_id, "order.updated", "o-9", order("o-9", OTHER, "c-9"), before + timedelta(minutes=4)),
    ]
    # The cart after the orders are applied: a purchase ends the shopper's carts that were open before it.
    send_all(runner, store, [item for item in history if item["type"] != "cart.updated"])
    send_all(runner, store, [item for item in history if item["type"] == "cart.updated"])
    mine = subscriber_hash(EMAIL)
    base = f"/ecommerce/stores/{store_id}"
    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is not None
    assert mailchimp_reader.resource(f"{base}/carts/k-1") is not None
    member = mailchimp_reader.resource(f"/lists/{store.store.list_id}/members/{mine}")
    assert member is not None and member["status"] == "subscribed"

    erasure = {"email": EMAIL, "customer_id": "c-1", "request_id": "ticket-42"}
    send_all(runner, store, [event(store_id, "customer.erased", "c-1", erasure, datetime.now(UTC))])

    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is None
    for order_id in ("o-1", "o-2"):
        assert mailchimp_reader.resource(f"{base}/orders/{order_id}") is None
    assert mailchimp_reader.resource(f"{base}/carts/k-1") is None
    member = mailchimp_reader.resource(f"/lists/{store.store.list_id}/members/{mine}")
    assert member is not None and member["status"] == "archived", "the store's default: archived"
    assert mailchimp_reader.resource(f"{base}/orders/o-9") is not None, "another shopper is untouched"
    settings = Settings.from_environment()
    state = SyncState(settings.sync_state_table, boto3.resource("dynamodb"))
    assert state.applied(store_id, CUSTOMER, mine) is None, "the shopper's sync state is gone"
    table = boto3.resource("dynamodb").Table(settings.sync_state_table)
    lines = [
        item
        for item in table.query(KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": AUDIT_PARTITION})[
            "Items"
        ]
        if item.get("store_id") == store_id
    ]
    assert len(lines) == 1 and lines[0]["request_id"] == "ticket-42" and lines[0].get("completed_at")
    assert EMAIL not in json.dumps(lines[0], default=str) and mine not in json.dumps(lines[0], default=str)
    assert lines[0]["outcome"]["orders"] == 2 and lines[0]["outcome"]["carts"] == 1

    # The bus archive's window replayed (commerce-sync replay) a day later, when the consumers' idempotency records
    # of those events have expired (24 hours): only the tombstones stand between the archive and Mailchimp.
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    forget_idempotency(settings.idempotency_table)
    assert operator_main.main(["replay", "--from", "30m", "--store", store_id]) == 0
    runner.wait_until_idle(timeout=60)
    assert "erased_shopper" in captured_logs.getvalue(), "the replayed events met the tombstones"
    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is None
    assert mailchimp_reader.resource(f"{base}/orders/o-1") is None
    assert mailchimp_reader.resource(f"{base}/carts/k-1") is None
    # The same changes again, under new event ids (a late webhook, a sender that sends again).
    replayed = [{**item, "event_id": item["event_id"] + ":again"} for item in history[:4]]
    send_all(runner, store, replayed)
    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is None
    assert mailchimp_reader.resource(f"{base}/orders/o-1") is None
    assert mailchimp_reader.resource(f"{base}/carts/k-1") is None
    # An erased order stays erased even when the store changes it later (a refund weeks after).
    late = event(store_id, "order.updated", "o-1", order("o-1", OTHER, "c-9"), datetime.now(UTC) + timedelta(seconds=5))
    send_all(runner, store, [late])
    assert mailchimp_reader.resource(f"{base}/orders/o-1") is None

    # The shopper comes back of their own accord after the erasure: a new order is theirs to give.
    again = datetime.now(UTC) + timedelta(seconds=10)
    send_all(runner, store, [event(store_id, "order.updated", "o-3", order("o-3", EMAIL, "c-1"), again)])
    assert mailchimp_reader.resource(f"{base}/orders/o-3") is not None
    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is not None
    logged = captured_logs.getvalue()
    assert "erased" in logged and EMAIL not in logged, "the erasure is logged, the address never"


def test_an_erasure_naming_nobody_is_a_400_naming_the_problem(runner: LocalRunner) -> None:
    store = register_store("canonical")
    body = event(store.store_id, "customer.erased", "c-0", {"request_id": "ticket-0"}, datetime.now(UTC))
    answer = send_canonical(runner.url, store.webhook_secret, store.store_id, json.dumps(body).encode())
    assert answer.status_code == 400, answer.text
    assert "email, customer_id or both" in answer.text
