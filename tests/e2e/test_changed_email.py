"""A shopper who changes e-mail address keeps their history (docs/carts-and-customers.md, "Mailchimp customer
ids"). Mailchimp never lets a customer's address change, so each address is a customer of its own: orders
land on the address they were placed with, a cart moves to the address the shopper typed last, and the
platform's deletion of the shopper removes every one of them. Through the local runner over real HTTP."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import dead_letters
from tests.harness import MailchimpReader, RegisteredStore, mailchimp_customer_id

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def at(minutes: int) -> str:
    """A time this many minutes before now (Shopify's times are recent; the runner believes them)."""
    return (datetime.now(UTC) - timedelta(minutes=60 - minutes)).isoformat()


def send(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any]) -> None:
    response = send_shopify(runner.url, store.webhook_secret, topic, store.identity, json.dumps(body).encode())
    assert response.status_code == 202, response.text


def test_a_shopper_who_changes_address_between_two_orders_keeps_both_orders(
    runner: LocalRunner,
    shopify_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    monkeypatch: Any,
) -> None:
    shopper = int(uuid.uuid4().int % 10**12)
    first, second = (f"{name}.{uuid.uuid4().hex[:6]}@example.com" for name in ("old", "new"))
    store = shopify_store.store_id

    first_order = sample("shopify_order_body.json")
    first_order.update(id=int(uuid.uuid4().int % 10**12), email=first, updated_at=at(1), financial_status="pending")
    first_order["customer"].update(id=shopper, email=first)
    send(runner, shopify_store, "orders/create", first_order)
    runner.wait_until_idle()

    customer = sample("shopify_customer_update_body.json")
    customer.update(id=shopper, email=second, updated_at=at(2))
    send(runner, shopify_store, "customers/update", customer)

    second_order = sample("shopify_order_body.json")
    second_order.update(id=int(uuid.uuid4().int % 10**12), email=second, updated_at=at(3))
    second_order["customer"].update(id=shopper, email=second)
    send(runner, shopify_store, "orders/create", second_order)
    # The first order is paid later; Shopify now shows the shopper's new address on it.
    send(
        runner, shopify_store, "orders/paid", dict(first_order, email=second, financial_status="paid", updated_at=at(4))
    )
    runner.wait_until_idle()

    held_first = mailchimp_reader.resource(f"/ecommerce/stores/{store}/orders/{first_order['id']}")
    held_second = mailchimp_reader.resource(f"/ecommerce/stores/{store}/orders/{second_order['id']}")
    assert held_first is not None and held_second is not None
    assert held_first["customer"]["id"] == mailchimp_customer_id(first), "an order stays with who placed it"
    assert held_first["financial_status"] == "paid", "and later changes of it still apply"
    assert held_second["customer"]["id"] == mailchimp_customer_id(second)
    for address in (first, second):
        held = mailchimp_reader.resource(f"/ecommerce/stores/{store}/customers/{mailchimp_customer_id(address)}")
        assert held is not None and held["email_address"] == address
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    assert not [letter for letter in dead_letters.peek("order_status") if str(first_order["id"]) in letter.body]

    send(runner, shopify_store, "customers/delete", {"id": shopper})
    runner.wait_until_idle()
    for address in (first, second):
        gone = mailchimp_reader.resource(f"/ecommerce/stores/{store}/customers/{mailchimp_customer_id(address)}")
        assert gone is None, "the platform's deletion reaches every address the shopper used"


def test_a_cart_moves_to_the_address_the_shopper_typed_last(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator
) -> None:
    cart_token = uuid.uuid4().hex
    checkout = sample("shopify_checkout_update_body.json")
    checkout.update(id=int(uuid.uuid4().int % 10**12), token=uuid.uuid4().hex, cart_token=cart_token)
    checkout["customer"]["id"] = int(uuid.uuid4().int % 10**12)
    typo, fixed = (f"{name}.{uuid.uuid4().hex[:6]}@example.com" for name in ("typo", "fixed"))

    send(runner, shopify_store, "checkouts/update", dict(checkout, email=typo, updated_at=at(1)))
    runner.wait_until_idle()
    send(runner, shopify_store, "checkouts/update", dict(checkout, email=fixed, updated_at=at(2)))
    runner.wait_until_idle()

    cart = mailchimp.state.stores[shopify_store.store_id].carts[cart_token]
    assert cart["customer"]["id"] == mailchimp_customer_id(fixed)
    assert len(cart["lines"]) == len(checkout["line_items"])
