"""What one webhook costs in AWS requests, counted at the local runner's moto server (local_runner.aws_requests), with
the store cache on as in AWS: warm containers read no store per delivery or event, and a cart event's sync-state reads
and writes are one batched read and one write. The figures per kind are `make bench-aws-calls`'s (docs/performance.md);
these are the invariants behind them."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bench import cost_model
from local_runner.aws_requests import AwsRequest
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from local_runner.workers import InvocationReport
from tests.e2e.test_shopify_orders import new_order
from tests.harness import RegisteredStore, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"
CARTS = 6
# A log line of a payload would be kilobytes; the receiver's and the consumer's lines of a cart are about 2 KB in all.
MAX_LOG_LINE_BYTES = 1500
MAX_LOG_BYTES_PER_EVENT = 3000


def checkout(n: int) -> bytes:
    body: dict[str, Any] = json.loads((EVENTS / "shopify_checkout_update_body.json").read_text())
    token = uuid.uuid4().hex
    body.update(id=int(uuid.uuid4().int % 10**12), token=token, cart_token=f"cart-{token}")
    body["email"] = f"shopper.{token[:8]}@example.com"
    body["customer"]["id"] = int(uuid.uuid4().int % 10**12)
    body["updated_at"] = f"2026-12-05T10:00:{n:02d}Z"
    return json.dumps(body).encode()


@pytest.fixture
def cached_stores(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store cache as deployed (the suite turns it off: its tests change stores between deliveries). The runner
    starts fresh containers when the functions' environment changes, and again when it is set back."""
    monkeypatch.setenv("STORE_CACHE_SECONDS", "30")


def calls_of(records: list[AwsRequest], function: str, table: str | None = None) -> Counter[str]:
    """`service:Operation` → requests the function made (to `table` only, when given)."""
    return Counter(
        record.call for record in records if record.caller == function and (table is None or record.resource == table)
    )


def test_a_warm_cart_event_reads_no_store_and_reads_and_writes_its_state_once(
    runner: LocalRunner, cached_stores: None
) -> None:
    store: RegisteredStore = register_store("shopify")
    stores_table = runner.environment()["STORES_TABLE"]

    def deliver(n: int) -> None:
        response = send_shopify(runner.url, store.webhook_secret, "checkouts/update", store.identity, checkout(n))
        assert response.status_code == 202, response.text

    # The first delivery warms the containers and their caches (the store, the tombstones' salt, secrets).
    deliver(0)
    runner.wait_until_idle()
    mark = runner.aws_requests.mark()
    with runner.logs.capture(whole_lines=True) as logged:
        for n in range(1, CARTS + 1):
            deliver(n)
            # One at a time: each event is a batch of its own, the dearest case (batches share the slot's requests).
            runner.wait_until_idle()
    records = runner.aws_requests.since(mark)
    # What CloudWatch ingests, bounded: no line carries a payload, and an event logs a few lines in all.
    messages = [line.split(" ", 2)[2] for line in logged.getvalue().splitlines() if line.count(" ") >= 2]
    assert max(len(message.encode()) for message in messages) <= MAX_LOG_LINE_BYTES
    assert sum(len(message.encode()) + 1 for message in messages) <= CARTS * MAX_LOG_BYTES_PER_EVENT

    assert not calls_of(records, "WebhooksFunction", stores_table), "the receiver read the registry"
    assert not calls_of(records, "CartEventsFunction", stores_table), "the consumer read the registry"
    assert calls_of(records, "WebhooksFunction")["events:PutEvents"] == CARTS
    consumer = calls_of(records, "CartEventsFunction")
    assert consumer["dynamodb:BatchGetItem"] == CARTS, f"one batched read of the event's items: {consumer}"
    assert consumer["dynamodb:GetItem"] == 0, f"nothing read apart: {consumer}"
    assert consumer["dynamodb:TransactWriteItems"] == CARTS, f"the event's writes together: {consumer}"
    # The rest, per event of a batch of one: the cart's lease, which reads its state and its last events (whether this
    # one was applied: no idempotency record), the account's connection slot (query, put, delete) and the store's
    # activity counters (update).
    assert not calls_of(records, "CartEventsFunction", runner.environment()["IDEMPOTENCY_TABLE"]), "idempotency"
    total = sum(count for call, count in consumer.items() if call.startswith("dynamodb:"))
    assert total <= CARTS * 10, f"{total / CARTS:.1f} DynamoDB requests per cart event: {consumer}"


def test_the_cost_model_counts_a_known_run_as_the_runners_request_log_shows_it(runner: LocalRunner) -> None:
    """Eight carts, one at a time: each is one API request, one event on the bus, one invocation of the receiver
    and one of the consumer, and the SQS requests of its delivery (EventBridge's send, the poll that brought it,
    the delete after it); every other request is the log's own count divided by eight."""
    store: RegisteredStore = register_store("shopify")
    invocations: list[InvocationReport] = []

    pools = [pool for pool in runner.functions.values() if hasattr(pool, "listeners")]
    mark = runner.aws_requests.mark()
    for pool in pools:
        pool.listeners.append(invocations.append)
    try:
        for n in range(8):
            body = checkout(n)
            response = send_shopify(runner.url, store.webhook_secret, "checkouts/update", store.identity, body)
            assert response.status_code == 202, response.text
            runner.wait_until_idle()
    finally:
        for pool in pools:
            pool.listeners.remove(invocations.append)
    records = runner.aws_requests.since(mark)
    memory = {spec.logical_id: spec.memory_size for spec in runner.template.functions()}

    usage = cost_model.usage_of(
        "cart", 8, records, invocations, {}, 0, memory, dict.fromkeys(memory, "x86_64"), cost_model.Assumptions()
    )

    assert usage.api_requests == 1 and usage.eventbridge_events == 1
    assert usage.lambda_requests == 2, [report.function for report in invocations]
    assert usage.sqs_requests == pytest.approx(3)
    logged = Counter(record.call for record in records if record.caller != "runner")
    assert usage.calls == pytest.approx({call: count / 8 for call, count in logged.items()})
    assert usage.dynamodb_write_units >= usage.calls.get("dynamodb:UpdateItem", 0)
    assert usage.gb_seconds["x86_64"] > 0


def test_a_new_orders_purchase_marks_take_its_lease_so_it_costs_one_read_and_two_writes(
    runner: LocalRunner, cached_stores: None
) -> None:
    """The order is read with its carts and shopper before its lease is taken; the transaction marking its carts and
    shopper (before the carts are deleted from Mailchimp) takes the lease, and the one recording the order gives it
    back: no UpdateItem of its own for the lease (the one UpdateItem an event left: the store's activity counters)."""
    store: RegisteredStore = register_store("shopify")
    orders = 4

    def deliver(order: dict[str, Any]) -> None:
        body = json.dumps(order).encode()
        response = send_shopify(runner.url, store.webhook_secret, "orders/create", store.identity, body)
        assert response.status_code == 202, response.text

    deliver(new_order())
    runner.wait_until_idle()
    mark = runner.aws_requests.mark()
    for _ in range(orders):
        deliver(new_order())
        runner.wait_until_idle()
    records = runner.aws_requests.since(mark)

    consumer = calls_of(records, "OrderStatusFunction")
    assert consumer["dynamodb:BatchGetItem"] == orders, consumer
    assert consumer["dynamodb:TransactWriteItems"] == 2 * orders, consumer
    assert consumer["dynamodb:GetItem"] == 0, consumer
    assert consumer["dynamodb:UpdateItem"] == orders, f"the activity counters only, no lease apart: {consumer}"
