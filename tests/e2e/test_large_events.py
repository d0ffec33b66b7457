"""Carts, orders and products too large for EventBridge, through the local API: a signed Shopify webhook whose
canonical event is well over the bus's 256 KB (the local runner refuses larger PutEvents requests as
AWS does) but whose body is under the receiver's 1 MB is accepted, travels by claim check and lands in
Mailchimp whole; a dead-lettered reference replays and lands too."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from commerce_sync.aws.bus_entries import PUT_EVENTS_MAX_BYTES
from commerce_sync.aws.event_bus import CLAIM_CHECK_PREFIX
from commerce_sync.canonical.model import CanonicalEvent

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import dead_letters
from operator_cli import main as operator_main
from tests.harness import MailchimpReader, RegisteredStore

EVENTS = Path(__file__).resolve().parents[2] / "events"
LINES = 1500
# Three products of two variants each: the lines are many, the catalog Mailchimp must learn is small.
VARIANTS = [(f"88{product:011d}", f"46{product:04d}{variant:08d}") for product in range(3) for variant in range(2)]
PRICE = Decimal("19.99")
RECEIVER_BODY_LIMIT = 1024 * 1024


def long_title(index: int) -> str:
    return f"Chaussettes de trail, mérinos, talon et pointe renforcés, édition {index:04d} " + "-" * 150


def large_checkout() -> dict[str, Any]:
    body = json.loads((EVENTS / "shopify_checkout_update_body.json").read_text())
    body["token"], body["cart_token"] = uuid.uuid4().hex, uuid.uuid4().hex
    body["line_items"] = [
        {
            "key": uuid.uuid4().hex,
            "product_id": int(VARIANTS[index % len(VARIANTS)][0]),
            "variant_id": int(VARIANTS[index % len(VARIANTS)][1]),
            "title": long_title(index),
            "variant_title": f"Size {index % 2}",
            "sku": f"SOCK-{index:04d}",
            "quantity": 1 + index % 3,
            "price": str(PRICE),
        }
        for index in range(LINES)
    ]
    body["total_price"] = str(sum(PRICE * item["quantity"] for item in body["line_items"]))
    return body


def large_order() -> dict[str, Any]:
    body = json.loads((EVENTS / "shopify_order_body.json").read_text())
    body.update(id=int(uuid.uuid4().int % 10**12), cart_token=uuid.uuid4().hex, checkout_token=uuid.uuid4().hex)
    body["customer"]["id"] = int(uuid.uuid4().int % 10**12)
    body["line_items"] = [
        {
            "id": 10**12 + index,
            "product_id": int(VARIANTS[index % len(VARIANTS)][0]),
            "variant_id": int(VARIANTS[index % len(VARIANTS)][1]),
            "title": long_title(index),
            "variant_title": f"Size {index % 2}",
            "sku": f"SOCK-{index:04d}",
            "quantity": 1 + index % 3,
            "price": str(PRICE),
            "total_discount": "0.00",
        }
        for index in range(LINES)
    ]
    subtotal = sum(PRICE * item["quantity"] for item in body["line_items"])
    body.update(subtotal_price=str(subtotal), total_discounts="0.00", total_tax="0.00", discount_codes=[])
    body["total_price"] = str(subtotal + Decimal("8.00"))
    return body


def post(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any]) -> Any:
    raw = json.dumps(body, ensure_ascii=False).encode()
    assert len(raw) < RECEIVER_BODY_LIMIT, "a body the receiver takes"
    return send_shopify(runner.url, store.webhook_secret, topic, store.identity, raw)


def claim_checks_of(runner: LocalRunner, store_id: str) -> list[CanonicalEvent]:
    """The events held in the claim-check bucket for a store, read straight from S3."""
    s3 = runner.client("s3")
    bucket = runner.function_environment("WebhooksFunction")["CLAIM_CHECK_BUCKET"]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{CLAIM_CHECK_PREFIX}{store_id}/").get("Contents", [])
    events = []
    for item in listed:
        assert item["Size"] > PUT_EVENTS_MAX_BYTES, "only what the bus could not carry is stored"
        body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        events.append(CanonicalEvent.model_validate_json(body))
    return events


def assert_lines_match(lines: list[dict[str, Any]], items: list[dict[str, Any]], id_field: str) -> None:
    assert len(lines) == LINES
    by_id = {line["id"]: line for line in lines}
    assert set(by_id) == {str(item[id_field]) for item in items}
    for item in items:
        line = by_id[str(item[id_field])]
        assert (line["product_id"], line["product_variant_id"]) == (str(item["product_id"]), str(item["variant_id"]))
        assert line["quantity"] == item["quantity"]
        assert line["price"] == float(item["price"])


def test_a_cart_too_large_for_the_bus_lands_whole_in_mailchimp(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    body = large_checkout()

    response = post(runner, shopify_store, "checkouts/update", body)

    assert response.status_code == 202, response.text
    runner.wait_until_idle(timeout=120)
    store = shopify_store.store_id
    cart = mailchimp_reader.resource(f"/ecommerce/stores/{store}/carts/{body['cart_token']}")
    assert cart is not None
    assert cart["order_total"] == float(body["total_price"])
    assert_lines_match(cart["lines"], body["line_items"], "key")
    (stored,) = claim_checks_of(runner, store)
    assert stored.event_id == response.json()["event_ids"][0]
    assert (stored.type, stored.entity_id) == ("cart.updated", body["cart_token"])
    assert len(stored.cart().lines) == LINES
    for product_id, variant_id in VARIANTS:
        product = mailchimp_reader.resource(f"/ecommerce/stores/{store}/products/{product_id}")
        assert product is not None
        assert variant_id in {variant["id"] for variant in product["variants"]}


def test_an_order_too_large_for_the_bus_lands_whole_in_mailchimp(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    body = large_order()

    response = post(runner, shopify_store, "orders/create", body)

    assert response.status_code == 202, response.text
    runner.wait_until_idle(timeout=120)
    order = mailchimp_reader.resource(f"/ecommerce/stores/{shopify_store.store_id}/orders/{body['id']}")
    assert order is not None
    assert order["order_total"] == float(body["total_price"])
    assert_lines_match(order["lines"], body["line_items"], "id")
    (stored,) = claim_checks_of(runner, shopify_store.store_id)
    assert (stored.type, stored.entity_id) == ("order.updated", str(body["id"]))


def test_a_product_too_large_for_the_bus_lands_in_mailchimp(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    body = json.loads((EVENTS / "shopify_product_update_body.json").read_text())
    body["id"] = int(uuid.uuid4().int % 10**12)
    body["body_html"] = "<p>" + "Merino socks for long runs, knitted in Portugal. " * 6000 + "</p>"

    response = post(runner, shopify_store, "products/update", body)

    assert response.status_code == 202, response.text
    runner.wait_until_idle(timeout=120)
    product = mailchimp_reader.resource(f"/ecommerce/stores/{shopify_store.store_id}/products/{body['id']}")
    assert product is not None
    assert product["description"] == body["body_html"]
    (stored,) = claim_checks_of(runner, shopify_store.store_id)
    assert (stored.type, stored.entity_id) == ("product.updated", str(body["id"]))


def test_a_dead_lettered_reference_replays_and_lands(
    runner: LocalRunner,
    shopify_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # About ten seconds: five receives, one second apart, each with its fast client retries.
    body = large_checkout()
    cart_path = f"/ecommerce/stores/{shopify_store.store_id}/carts/{body['cart_token']}"
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    mailchimp.set_faults(rate_500=1.0, seed=3)

    assert post(runner, shopify_store, "checkouts/update", body).status_code == 202
    runner.wait_until_idle(timeout=120)
    mailchimp.set_faults()

    assert mailchimp_reader.resource(cart_path) is None
    letters = [
        letter
        for letter in dead_letters.peek("cart_events")
        if json.loads(letter.body)["detail"]["entity_id"] == body["cart_token"]
    ]
    assert len(letters) == 1
    assert letters[0].error_type == "MailchimpError"
    kept = json.loads(letters[0].body)["detail"]
    assert "claim_check" in kept and "data" not in kept, "the dead-letter queue holds the small reference"
    assert len(letters[0].body) < 4096

    assert operator_main.main(["dead-letters", "cart_events", "--replay"]) == 0
    replay_output = capsys.readouterr().out
    runner.wait_until_idle(timeout=120)

    cart = mailchimp_reader.resource(cart_path)
    assert cart is not None, f"the replayed reference reached Mailchimp ({replay_output})"
    assert_lines_match(cart["lines"], body["line_items"], "key")
