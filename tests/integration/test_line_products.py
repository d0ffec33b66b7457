"""Products that cart and order lines name but Mailchimp lacks, created through the cart_events and
order_status handlers (moto server, the Mailchimp emulator over HTTP): what Mailchimp holds afterwards and
which requests the emulator recorded."""

from __future__ import annotations

import copy
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from commerce_sync.canonical.model import Line
from commerce_sync.carts.line_products import DEFAULT_POLICY, ProductsNotCreated, create_missing_products
from commerce_sync.mailchimp.client import MailchimpClient, RetryPolicy

from emulators.mailchimp import MailchimpEmulator
from emulators.mailchimp.batch_faults import fail_batch_operations, hold_batches, shuffle_batch_operations
from local_runner.runner import LocalRunner
from tests.harness import API_KEY, MailchimpReader, RegisteredStore
from tests.integration.test_cart_events_handler import sqs_event, take_dead_letters

ORDER_SAMPLE = Path(__file__).resolve().parents[2] / "events" / "order_status_sqs.json"


def lines_over(products: int, variants: int, count: int, prefix: str = "p") -> list[dict[str, Any]]:
    """`count` lines; line n names product n % products and, cycling, one of its `variants` variants."""
    return [
        {
            "id": f"line-{n}",
            "product_id": f"{prefix}{n % products}",
            "variant_id": f"{prefix}{n % products}-v{(n // products) % variants}",
            "product_title": f"Product {n % products}",
            "variant_title": f"Variant {(n // products) % variants}",
            "quantity": 1,
            "price": "3.00",
        }
        for n in range(count)
    ]


def cart_change(lines: list[dict[str, Any]]) -> dict[str, Any]:
    return {"lines": lines, "order_total": f"{3 * len(lines)}.00", "tax_total": "0.00", "campaign_id": None}


def named(lines: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Product id -> the variant ids the lines name."""
    wanted: dict[str, set[str]] = {}
    for line in lines:
        wanted.setdefault(line["product_id"], set()).add(line["variant_id"])
    return wanted


def held(mailchimp: MailchimpEmulator, store_id: str) -> dict[str, Any]:
    with mailchimp.state.lock:
        return copy.deepcopy(mailchimp.state.stores[store_id].products)


def held_variants(mailchimp: MailchimpEmulator, store_id: str, product_ids: set[str]) -> dict[str, set[str]]:
    products = held(mailchimp, store_id)
    return {pid: {v["id"] for v in products[pid]["variants"]} for pid in product_ids if pid in products}


def requests_for(mailchimp: MailchimpEmulator, store_id: str) -> list[dict[str, Any]]:
    """The HTTP requests made about one store: its own resources, and the batches whose operations touch it
    (submitted, polled). Batch operations run inside Mailchimp and are not requests."""
    root = f"/ecommerce/stores/{store_id}/"
    with mailchimp.state.lock:
        batches = {
            batch.id for batch in mailchimp.state.batches.values() if any(root in op["path"] for op in batch.operations)
        }
    ours = []
    for request in mailchimp.requests:
        if request["source"] != "http":
            continue
        path = request["path"].removeprefix("/3.0")
        submitted = path == "/batches" and any(
            op["path"].startswith(root) for op in (request["body"] or {}).get("operations", [])
        )
        if path.startswith(root) or submitted or path.removeprefix("/batches/") in batches:
            ours.append(request)
    return ours


def shape(request: dict[str, Any], store_id: str) -> str:
    """`METHOD resource` with ids dropped: `GET products`, `POST carts`, `GET batches/{id}`."""
    path = request["path"].removeprefix("/3.0").removeprefix(f"/ecommerce/stores/{store_id}/").strip("/")
    parts = path.split("/")
    resource = "/".join(part if index % 2 == 0 else "{id}" for index, part in enumerate(parts))
    return f"{request['method']} {resource}"


def cart_in_mailchimp(reader: MailchimpReader, store_id: str, cart_id: str) -> dict[str, Any] | None:
    return reader.resource(f"/ecommerce/stores/{store_id}/carts/{cart_id}")


def test_a_1200_line_cart_over_300_new_products_lands_with_a_handful_of_requests(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store_id = shopify_store.store_id
    lines = lines_over(products=300, variants=3, count=1200)
    event, details = sqs_event(store_id, cart_change(lines))

    result = runner.invoke("CartEventsFunction", event)

    assert result == {"batchItemFailures": []}
    cart = cart_in_mailchimp(mailchimp_reader, store_id, details[0]["entity_id"])
    assert cart is not None and len(cart["lines"]) == len(lines)
    wanted = named(lines)
    assert held_variants(mailchimp, store_id, set(wanted)) == wanted
    made = Counter(shape(request, store_id) for request in requests_for(mailchimp, store_id))
    assert made["POST batches"] == 1
    assert not [kind for kind in made if kind.split()[1].startswith("products")], "no product call one by one"
    assert made["POST carts"] == 2, "the refused write and the write after the products"
    assert sum(made.values()) <= 12, made


def test_existing_catalog_data_is_never_overwritten_in_a_batch_run_in_any_order(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store_id = shopify_store.store_id
    rich = pre_create_rich_product(mailchimp, store_id)
    lines = [*rich_lines(rich), *lines_over(products=14, variants=2, count=28, prefix="new")]
    event, details = sqs_event(store_id, cart_change(lines))

    shuffled = shuffle_batch_operations(mailchimp, seed=11)
    try:
        result = runner.invoke("CartEventsFunction", event)
    finally:
        shuffled.remove()

    assert result == {"batchItemFailures": []}
    assert Counter(shape(r, store_id) for r in requests_for(mailchimp, store_id))["POST batches"] == 1
    assert_rich_product_kept(mailchimp, store_id, rich)
    wanted = named(lines)
    assert held_variants(mailchimp, store_id, set(wanted)) == wanted, "the held product got its new variant"
    assert cart_in_mailchimp(mailchimp_reader, store_id, details[0]["entity_id"]) is not None


def test_a_small_cart_reads_each_distinct_product_once_and_keeps_existing_catalog_data(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store_id = shopify_store.store_id
    rich = pre_create_rich_product(mailchimp, store_id)
    # 20 lines over 3 products: the one Mailchimp holds (one known variant, one new) and two new ones.
    lines = [*rich_lines(rich)] * 5 + lines_over(products=2, variants=2, count=10, prefix="small")
    lines = [{**line, "id": f"line-{n}"} for n, line in enumerate(lines)]
    event, details = sqs_event(store_id, cart_change(lines))

    result = runner.invoke("CartEventsFunction", event)

    assert result == {"batchItemFailures": []}
    reads = Counter(
        r["path"].rsplit("/", 1)[1]
        for r in requests_for(mailchimp, store_id)
        if shape(r, store_id) == "GET products/{id}"
    )
    assert len(lines) == 20 and reads == dict.fromkeys(named(lines), 1)
    made = Counter(shape(r, store_id) for r in requests_for(mailchimp, store_id))
    assert made["POST batches"] == 0
    assert made["POST products"] == 2 and made["POST products/{id}/variants"] == 1
    assert_rich_product_kept(mailchimp, store_id, rich)
    wanted = named(lines)
    assert held_variants(mailchimp, store_id, set(wanted)) == wanted, "the held product got its new variant"
    assert cart_in_mailchimp(mailchimp_reader, store_id, details[0]["entity_id"]) is not None


RICH = {
    "title": "Merino Trail Sock — the full catalog entry",
    "description": "<p>Written by the catalog sync, from the shop's own product page.</p>",
    "url": "https://shop.example/products/merino-trail-sock",
    "image_url": "https://cdn.example/merino-trail-sock.jpg",
    "vendor": "Northern Wool",
}


def pre_create_rich_product(mailchimp: MailchimpEmulator, store_id: str) -> dict[str, Any]:
    product_id = f"rich-{uuid.uuid4().hex[:6]}"
    body = {
        "id": product_id,
        **RICH,
        "images": [{"id": "img-1", "url": "https://cdn.example/merino-1.jpg"}],
        "variants": [{"id": f"{product_id}-known", "title": "M / Grey (catalog)", "price": 24.0}],
    }
    client(mailchimp).request("PUT", f"/ecommerce/stores/{store_id}/products/{product_id}", body)
    return body


def rich_lines(rich: dict[str, Any]) -> list[dict[str, Any]]:
    """Lines naming the rich product with thin data: its known variant and a new one."""
    return [
        {
            "id": f"rich-line-{suffix}",
            "product_id": rich["id"],
            "variant_id": f"{rich['id']}-{suffix}",
            "product_title": "sock",
            "variant_title": f"thin {suffix}",
            "url": "https://shop.example/thin",
            "image_url": "https://cdn.example/thin.jpg",
            "quantity": 1,
            "price": "3.00",
        }
        for suffix in ("known", "new")
    ]


def assert_rich_product_kept(mailchimp: MailchimpEmulator, store_id: str, rich: dict[str, Any]) -> None:
    product = held(mailchimp, store_id)[rich["id"]]
    assert {name: product.get(name) for name in RICH} == RICH
    assert [image["url"] for image in product["images"]] == [image["url"] for image in rich["images"]]
    known = next(variant for variant in product["variants"] if variant["id"] == f"{rich['id']}-known")
    assert known["title"] == rich["variants"][0]["title"] and known["price"] == rich["variants"][0]["price"]


def client(mailchimp: MailchimpEmulator) -> MailchimpClient:
    return MailchimpClient(api_key=API_KEY, base_url=mailchimp.base_url, retry=RetryPolicy(total=1))


def failing_product(product_id: str) -> Any:
    def match(operation: dict[str, Any]) -> bool:
        body = json.loads(operation.get("body") or "{}")
        return operation["path"].endswith("/products") and body.get("id") == product_id

    return match


def test_a_failed_batch_operation_fails_the_record_and_its_retry_lands_the_cart(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store_id = shopify_store.store_id
    lines = lines_over(products=12, variants=2, count=24, prefix="retry")
    event, details = sqs_event(store_id, cart_change(lines))

    fault = fail_batch_operations(mailchimp, failing_product("retry5"), status=500, once=True)
    try:
        first = runner.invoke("CartEventsFunction", event)
        assert first == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
        assert cart_in_mailchimp(mailchimp_reader, store_id, details[0]["entity_id"]) is None
        assert "retry5" not in held(mailchimp, store_id)

        retried = runner.invoke("CartEventsFunction", event)
    finally:
        fault.remove()

    assert retried == {"batchItemFailures": []}
    assert cart_in_mailchimp(mailchimp_reader, store_id, details[0]["entity_id"]) is not None
    wanted = named(lines)
    assert held_variants(mailchimp, store_id, set(wanted)) == wanted


def test_on_its_last_receive_a_record_whose_products_fail_is_dead_lettered_with_the_reason(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator
) -> None:
    lines = lines_over(products=12, variants=2, count=24, prefix="dead")
    event, details = sqs_event(shopify_store.store_id, cart_change(lines))
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "5"

    fault = fail_batch_operations(mailchimp, failing_product("dead7"), status=500, once=False)
    try:
        result = runner.invoke("CartEventsFunction", event)
    finally:
        fault.remove()

    assert result == {"batchItemFailures": []}, "kept in the dead-letter queue, not retried again"
    (kept,) = take_dead_letters(runner, "CartEventsDeadLetterQueue", details[0]["event_id"])
    attributes = {name: value["StringValue"] for name, value in kept["MessageAttributes"].items()}
    assert attributes["error_type"] == ProductsNotCreated.__name__
    assert attributes["permanent"] == "false"
    assert "product dead7" in attributes["error_message"]
    assert "Internal Server Error" in attributes["error_message"]


def test_a_batch_that_does_not_finish_within_the_invocations_time_raises_and_keeps_running(
    mailchimp: MailchimpEmulator,
) -> None:
    store_id = f"slow-{uuid.uuid4().hex[:8]}"
    mailchimp_client = client(mailchimp)
    mailchimp_client.request(
        "POST", "/ecommerce/stores", {"id": store_id, "list_id": "list-s", "name": "Slow", "currency_code": "USD"}
    )
    lines = [Line.model_validate(line) for line in lines_over(products=15, variants=2, count=30)]
    # One second of waiting is what an invocation with the reserve plus one second left may spend.
    time_left = DEFAULT_POLICY.reserve_seconds + 1

    held_batches = hold_batches(mailchimp)
    try:
        with pytest.raises(ProductsNotCreated, match=r"still started after 1 s"):
            create_missing_products(mailchimp_client, store_id, lines, time_left=time_left)
        assert held(mailchimp, store_id) == {}
    finally:
        held_batches.remove()

    assert mailchimp.wait_for_batches(10)
    wanted = named([line.model_dump() for line in lines])
    assert held_variants(mailchimp, store_id, set(wanted)) == wanted, "the batch went on and created them"


def test_an_order_over_many_new_products_lands(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store_id = shopify_store.store_id
    lines = lines_over(products=40, variants=3, count=100, prefix="order")
    record = copy.deepcopy(json.loads(ORDER_SAMPLE.read_text())["Records"][0])
    message = json.loads(record["body"])
    detail = message["detail"]
    order_id = uuid.uuid4().hex
    detail.update(event_id=f"test:{uuid.uuid4()}", store_id=store_id, entity_id=order_id)
    detail["data"].update(id=order_id, lines=lines, order_total=f"{3 * len(lines)}.00", campaign_id=None, cart_id=None)
    record["body"] = json.dumps(message)

    result = runner.invoke("OrderStatusFunction", {"Records": [record]})

    assert result == {"batchItemFailures": []}
    order = mailchimp_reader.resource(f"/ecommerce/stores/{store_id}/orders/{order_id}")
    assert order is not None and len(order["lines"]) == len(lines)
    wanted = named(lines)
    assert held_variants(mailchimp, store_id, set(wanted)) == wanted
    assert Counter(shape(r, store_id) for r in requests_for(mailchimp, store_id))["POST batches"] == 1
