"""The backfill end to end through the product_sync function as Lambda runs it (runner.invoke): a Shopify stand-in
with months of paged order and customer history, moto server, the Mailchimp emulator."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from commerce_sync.aws.entity_locks import EntityLocks
from commerce_sync.aws.sync_state import SyncState, applied_version
from commerce_sync.canonical.model import FinancialStatus
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.carts.customers import PLATFORM_CUSTOMER
from commerce_sync.orders.stored import ORDER_ATTRIBUTE, packed, stored_order
from commerce_sync.orders.sync import ORDER

from emulators.mailchimp import MailchimpEmulator
from emulators.mailchimp.batch_faults import fail_batch_operations, hold_batches
from emulators.shopify import ShopifyEmulator
from emulators.shopify.fixtures import sample_catalog
from emulators.shopify.history import generate_history, history_customer, history_order, stamp
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from tests.harness import MailchimpReader, RegisteredStore, local_aws, register_store

TOKEN = "shpat_backfill"
FUNCTION = "ProductSyncFunction"
CUSTOMERS, ORDERS = 12, 30


@pytest.fixture
def shopify() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator(f"shop-{uuid.uuid4().hex[:8]}.myshopify.com", TOKEN) as emulator:
        for product in sample_catalog():
            emulator.put_product(product)
        now = datetime.now(UTC)
        customers, orders = generate_history(
            CUSTOMERS, ORDERS, now - timedelta(days=150), now - timedelta(days=1), [(1001, 10011), (1003, 10031)]
        )
        emulator.history["customers"].put_many(customers)
        emulator.history["orders"].put_many(orders)
        # Older than six months: outside the default window.
        old_customers, old_orders = generate_history(
            2, 3, now - timedelta(days=400), now - timedelta(days=300), first_customer_id=1, first_order_id=1
        )
        emulator.history["customers"].put_many(old_customers)
        emulator.history["orders"].put_many(old_orders)
        emulator.page_size_cap = 7
        yield emulator


@pytest.fixture
def store(runner: LocalRunner, shopify: ShopifyEmulator) -> RegisteredStore:
    return register_store(
        "shopify",
        identity=shopify.shop_domain,
        platform_api_url=shopify.base_url,
        platform_api_credentials={"access_token": TOKEN},
    )


def backfill(runner: LocalRunner, store_id: str) -> dict[str, Any]:
    return runner.invoke(FUNCTION, {"action": "backfill", "store_id": store_id})


def total(reader: MailchimpReader, store_id: str, collection: str) -> int:
    found = reader.resource(f"/ecommerce/stores/{store_id}/{collection}?count=1")
    assert found is not None
    return int(found["total_items"])


def order_posts(mailchimp: MailchimpEmulator, store_id: str) -> list[str]:
    path = f"/3.0/ecommerce/stores/{store_id}/orders"
    return [
        r["path"] for r in mailchimp.requests if r["method"] == "POST" and r["path"] == path and r["source"] == "http"
    ]


def batch_posts(mailchimp: MailchimpEmulator, since: int) -> int:
    """Batches submitted since the `since`-th request the emulator served."""
    return len([r for r in mailchimp.requests[since:] if r["method"] == "POST" and r["path"] == "/3.0/batches"])


def wait_for_three_batches(
    mailchimp: MailchimpEmulator, since: int, worker: threading.Thread, outcome: dict[str, Any]
) -> None:
    """Until the backfill has submitted its two customer batches and its first order batch (held, none run)."""
    deadline = time.monotonic() + 60
    while batch_posts(mailchimp, since) < 3:
        assert time.monotonic() < deadline and worker.is_alive(), outcome
        time.sleep(0.05)


def assert_landed_quietly(mailchimp: MailchimpEmulator, reader: MailchimpReader, store_id: str) -> None:
    assert total(reader, store_id, "orders") == ORDERS
    assert total(reader, store_id, "products") == 4
    # The 12 customers of the history (orders name only them).
    assert total(reader, store_id, "customers") == CUSTOMERS
    assert reader.resource(f"/ecommerce/stores/{store_id}")["is_syncing"] is False  # type: ignore[index]
    for n in range(ORDERS):
        events = mailchimp.order_status_events(store_id, str(900_000 + n))
        # Written once, with its final status, while the store was syncing: no notification.
        assert [(e.statuses, e.store_is_syncing) for e in events] == [(("paid", None), True)], n


def test_a_backfill_brings_six_months_of_history_quietly(
    runner: LocalRunner, store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    result = backfill(runner, store.store_id)

    assert result["status"] == "done", result
    progress = result["progress"]
    assert progress["customers"]["total"] == progress["customers"]["read"] == progress["customers"]["written"] == 12
    assert progress["orders"]["total"] == progress["orders"]["read"] == progress["orders"]["written"] == ORDERS
    assert progress["products"]["written"] == 4
    assert_landed_quietly(mailchimp, mailchimp_reader, store.store_id)
    # Everything went through batches: no order was written by a direct call.
    assert not order_posts(mailchimp, store.store_id)

    again = backfill(runner, store.store_id)
    assert again["status"] == "done"
    assert again["progress"]["orders"]["unchanged"] == ORDERS and again["progress"]["orders"]["written"] == 0


def test_a_run_that_fails_mid_way_resumes_without_duplicates(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKFILL_POLL_INITIAL_SECONDS", "0.05")
    order_pages = {"n": 0}

    def third_order_page_fails(path: str, query: dict[str, str]) -> int | None:
        if path.endswith("/orders.json"):
            order_pages["n"] += 1
            return 422 if order_pages["n"] >= 3 else None  # not retried: the slice fails at once
        return None

    shopify.fail_when(third_order_page_fails)
    with pytest.raises(Exception, match=r"422|Refused|orders"):
        backfill(runner, store.store_id)
    # The failed slice left no flag on.
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}")["is_syncing"] is False  # type: ignore[index]
    shopify.fail_when(None)

    result = backfill(runner, store.store_id)

    assert result["status"] == "done", result
    assert result["slices"] == 2 and result["last_error"]
    assert result["progress"]["orders"]["read"] == ORDERS
    assert_landed_quietly(mailchimp, mailchimp_reader, store.store_id)


def test_failed_operations_are_retried_and_a_lasting_refusal_is_dead_lettered(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKFILL_POLL_INITIAL_SECONDS", "0.05")
    # Mailchimp judges this address fake, in a batch and directly alike: a refusal that lasts.
    refused = history_customer(500_100, "gone@shop.invalid", stamp(datetime.now(UTC) - timedelta(days=10)))
    shopify.history["customers"].put_many([refused])
    # Two orders fail inside their batch once: their direct retry writes them.
    flaky = {"order:900003:", "order:900011:"}
    fault = fail_batch_operations(
        mailchimp, lambda op: any(str(op["operation_id"]).startswith(f) for f in flaky), status=500
    )
    try:
        result = backfill(runner, store.store_id)
    finally:
        fault.remove()

    assert result["status"] == "done", result
    orders, customers = result["progress"]["orders"], result["progress"]["customers"]
    assert orders["written"] == ORDERS and orders["retried"] == 2 and orders["failed"] == 0
    assert customers["written"] == CUSTOMERS and customers["failed"] == 1 and customers["dead_lettered"] == 1
    assert_landed_quietly(mailchimp, mailchimp_reader, store.store_id)
    # The refused customer's version was taken back (so the reconciliation finds it missing) ...
    state = SyncState(
        runner.environment()["SYNC_STATE_TABLE"], local_aws("dynamodb", runner.aws_endpoint_url, resource=True)
    )
    assert "applied_version" not in (state.applied(store.store_id, PLATFORM_CUSTOMER, "500100") or {})
    # ... and it waits in the dead-letter queue with its reason, as an event to publish again.
    sqs = runner.client("sqs")
    url = runner.queue_url("ProductSyncDeadLetterQueue")
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])["Messages"]
    assert len(messages) == 1
    body = json.loads(messages[0]["Body"])
    assert body["action"] == "publish_event" and body["event"]["entity_id"] == "500100"
    reasons = " ".join(str(v.get("StringValue", "")) for v in messages[0]["MessageAttributes"].values())
    assert "fake or invalid" in reasons and "gone@shop.invalid" not in reasons


def test_a_live_change_during_the_backfill_is_neither_duplicated_nor_undone(
    runner: LocalRunner,
    store: RegisteredStore,
    shopify: ShopifyEmulator,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BACKFILL_POLL_INITIAL_SECONDS", "0.05")
    monkeypatch.setenv("BACKFILL_POLL_MAX_SECONDS", "0.2")
    since = len(mailchimp.requests)  # the emulator serves the whole session
    held = hold_batches(mailchimp)
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(backfill(runner, store.store_id)))
    worker.start()
    try:
        # Two customer batches and the first order batch (orders 900000-900006) submitted, none run yet.
        wait_for_three_batches(mailchimp, since, worker, outcome)
        # Order 900005 is refunded on the store meanwhile, and its webhook is applied at once.
        deadline = time.monotonic() + 60
        customer = shopify.history["customers"].get(500_005)
        refunded = history_order(900_005, customer, stamp(datetime.now(UTC)), financial_status="refunded")
        response = send_shopify(
            runner.url, store.webhook_secret, "orders/updated", store.identity, json.dumps(refunded).encode()
        )
        assert response.status_code == 202, response.text
        path = f"/ecommerce/stores/{store.store_id}/orders/900005"
        while (mailchimp_reader.resource(path) or {}).get("financial_status") != "refunded":
            assert time.monotonic() < deadline, "the live change never reached Mailchimp"
            time.sleep(0.05)
    finally:
        held.remove()
        worker.join(timeout=120)

    assert outcome.get("status") == "done", outcome
    assert outcome["progress"]["orders"]["superseded"] == 1
    # The batch's older body did not undo the live change, and no order was written twice.
    order = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/orders/900005")
    assert order is not None and order["financial_status"] == "refunded"
    assert total(mailchimp_reader, store.store_id, "orders") == ORDERS


def test_the_backfill_waits_for_a_live_change_still_recording_before_it_judges_its_batch(
    runner: LocalRunner,
    store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A live event records its version only as it gives its lease back, a moment after its Mailchimp write. Here
    the test is that event: it holds order 900005's lease while the batch (which ran after the live write) is
    judged, and records the refund only then. Judged without waiting, the batch's older body would stay."""
    monkeypatch.setenv("BACKFILL_POLL_INITIAL_SECONDS", "0.05")
    monkeypatch.setenv("BACKFILL_POLL_MAX_SECONDS", "0.2")
    state = SyncState(
        runner.environment()["SYNC_STATE_TABLE"], local_aws("dynamodb", runner.aws_endpoint_url, resource=True)
    )
    since = len(mailchimp.requests)  # the emulator serves the whole session
    held = hold_batches(mailchimp)
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(backfill(runner, store.store_id)))
    worker.start()
    locks = EntityLocks(state.table)
    try:
        wait_for_three_batches(mailchimp, since, worker, outcome)
        deadline = time.monotonic() + 60
        with locks.holding(store.store_id, ORDER, ["900005"]):
            recorded = state.applied(store.store_id, ORDER, "900005") or {}
            backfilled = stored_order(recorded)
            assert backfilled is not None
            held.remove()
            # The batch runs and its results are read while the live event still holds the order.
            path = f"/ecommerce/stores/{store.store_id}/orders/900005"
            while mailchimp_reader.resource(path) is None:
                assert time.monotonic() < deadline, "the batch never ran"
                time.sleep(0.05)
            time.sleep(1.0)
            assert worker.is_alive(), outcome
            refunded = backfilled.model_copy(update={"financial_status": FinancialStatus.REFUNDED})
            newer = version_from_timestamp(datetime.now(UTC))
            assert newer > applied_version(recorded)
            assert state.record_applied(
                store.store_id, ORDER, "900005", newer, **{ORDER_ATTRIBUTE: packed(refunded), "sent": True}
            )
    finally:
        held.remove()
        worker.join(timeout=120)

    assert outcome.get("status") == "done", outcome
    assert outcome["progress"]["orders"]["superseded"] == 1
    order = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/orders/900005")
    assert order is not None and order["financial_status"] == "refunded"
    assert total(mailchimp_reader, store.store_id, "orders") == ORDERS
