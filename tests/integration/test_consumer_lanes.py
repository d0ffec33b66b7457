"""The cart consumer applying one SQS batch on several lanes (commerce_sync.processing.batch_lanes), invoked as the
event source mapping would, against moto server and the Mailchimp emulator: records of different carts are written
at once, the records of one cart one after another in the batch's order, and a failing record is the only one
reported."""

from __future__ import annotations

import copy
import json
import threading
import time
import uuid
from typing import Any

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore
from tests.integration.test_cart_events_handler import SAMPLE

FUNCTION = "CartEventsFunction"


def cart_record(store_id: str, cart_id: str, version: str, total: str) -> dict[str, Any]:
    record = copy.deepcopy(json.loads(SAMPLE.read_text())["Records"][0])
    message = json.loads(record["body"])
    detail = message["detail"]
    detail.update(event_id=f"test:{uuid.uuid4()}", store_id=store_id, entity_id=cart_id, entity_version=version)
    detail["data"].update(id=cart_id, order_total=total)
    record["messageId"] = str(uuid.uuid4())
    record["body"] = json.dumps(message)
    return record


def test_the_carts_of_one_batch_are_written_at_once(
    runner: LocalRunner,
    shopify_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    store_id = shopify_store.store_id
    first, *others = [uuid.uuid4().hex for _ in range(4)]
    event = {"Records": [cart_record(store_id, cart, "2025-03-14T13:18:02Z", "10.00") for cart in (first, *others)]}
    result: dict[str, Any] = {}
    first_path = f"/ecommerce/stores/{store_id}/carts"

    def first_cart(method: str, path: str, body: Any) -> bool:
        return method in ("POST", "PATCH") and first_path in path and (first in path or (body or {}).get("id") == first)

    with mailchimp.hold(first_cart) as hold:
        worker = threading.Thread(target=lambda: result.update(runner.invoke(FUNCTION, event)))
        worker.start()
        assert hold.wait_for_requests(1, timeout=30)
        # The first cart's write is held. One record after another, the others would wait for it: its client gives
        # up only after 2 s a try (MAILCHIMP_READ_TIMEOUT in the tests), four tries in all.
        deadline = time.monotonic() + 4
        written: set[str] = set()
        while len(written) < len(others) and time.monotonic() < deadline:
            written = {c for c in others if mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/carts/{c}")}
            time.sleep(0.05)
        first_pending = mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/carts/{first}") is None
    worker.join(timeout=60)

    assert first_pending and written == set(others), "the other carts waited for the first cart's write"
    assert result == {"batchItemFailures": []}
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/carts/{first}") is not None


def test_the_changes_of_one_cart_are_applied_in_the_batch_order(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store_id = shopify_store.store_id
    cart = uuid.uuid4().hex
    others = [uuid.uuid4().hex for _ in range(5)]
    records = []
    for step, total in enumerate(["10.00", "20.00", "30.00"]):
        records.append(cart_record(store_id, cart, f"2025-03-14T13:18:0{step + 2}Z", total))
        records.append(cart_record(store_id, others[step], "2025-03-14T13:18:02Z", "5.00"))
    records += [cart_record(store_id, other, "2025-03-14T13:18:02Z", "5.00") for other in others[3:]]
    since = len(mailchimp.requests)
    mailchimp.set_faults(latency_ms=100)
    try:
        result = runner.invoke(FUNCTION, {"Records": records})
    finally:
        mailchimp.set_faults()

    assert result == {"batchItemFailures": []}
    path = f"/3.0/ecommerce/stores/{store_id}/carts"
    writes = [
        request["body"]["order_total"]
        for request in mailchimp.requests[since:]
        if request["method"] in ("POST", "PATCH")
        and request["path"] in (path, f"{path}/{cart}")
        and (request["body"] or {}).get("id", cart) == cart
        and request["status"] < 300
    ]
    # Each change written, in order: none was taken for stale because a newer one overtook it.
    assert writes == [10.0, 20.0, 30.0]
    held = mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/carts/{cart}")
    assert held is not None and held["order_total"] == 30.0


def test_only_the_failing_record_of_a_batch_is_reported(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    store_id = shopify_store.store_id
    carts = [uuid.uuid4().hex for _ in range(4)]
    records = [cart_record(store_id, cart, "2025-03-14T13:18:02Z", "10.00") for cart in carts]
    records.insert(2, cart_record("no-such-store", uuid.uuid4().hex, "2025-03-14T13:18:02Z", "10.00"))

    result = runner.invoke(FUNCTION, {"Records": records})

    assert result == {"batchItemFailures": [{"itemIdentifier": records[2]["messageId"]}]}
    for cart in carts:
        assert mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/carts/{cart}") is not None


def test_a_redelivered_event_is_a_duplicate_known_from_its_cart_s_own_state(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator
) -> None:
    """No idempotency record: the cart's state item keeps digests of its last events, read with its lease."""
    store_id = shopify_store.store_id
    cart = uuid.uuid4().hex
    first = cart_record(store_id, cart, "2025-03-14T13:18:02Z", "10.00")
    newer = cart_record(store_id, cart, "2025-03-14T13:18:03Z", "20.00")
    since = len(mailchimp.requests)
    with runner.logs.capture(whole_lines=True) as logged:
        for records in ([first], [newer], [first], [first, newer]):
            assert runner.invoke(FUNCTION, {"Records": records}) == {"batchItemFailures": []}

    path = f"/3.0/ecommerce/stores/{store_id}/carts"
    writes = [
        r["body"]["order_total"]
        for r in mailchimp.requests[since:]
        if r["method"] in ("POST", "PATCH") and r["path"] in (path, f"{path}/{cart}") and r["status"] < 300
    ]
    assert writes == [10.0, 20.0]
    outcomes = [json.loads(line.split(" ", 2)[2]).get("outcome") for line in logged.getvalue().splitlines()]
    assert outcomes.count("duplicate") == 3, outcomes
