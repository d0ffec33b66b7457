"""Shopify carts, checkouts and customers through the local API: what Mailchimp holds after each
sequence of webhooks, including the ones that must not write (cart after purchase, stale events)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import dead_letters
from tests.harness import MailchimpReader, RegisteredStore, mailchimp_customer_id, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def send(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any]) -> None:
    response = send_shopify(runner.url, store.webhook_secret, topic, store.identity, json.dumps(body).encode())
    assert response.status_code == 202, response.text


def visit() -> tuple[dict[str, Any], dict[str, Any]]:
    """A cart and its checkout from one visit: the checkout's cart_token is the cart's token."""
    cart_token = uuid.uuid4().hex
    cart = sample("shopify_cart_update_body.json")
    cart.update(id=cart_token, token=cart_token)
    checkout = sample("shopify_checkout_update_body.json")
    checkout.update(id=int(uuid.uuid4().int % 10**12), token=uuid.uuid4().hex, cart_token=cart_token)
    checkout["customer"]["id"] = int(uuid.uuid4().int % 10**12)
    checkout["email"] = f"Buyer.{uuid.uuid4().hex[:6]}@Example.COM"
    return cart, checkout


def cart_in_mailchimp(reader: MailchimpReader, store: RegisteredStore, cart_id: str) -> dict[str, Any] | None:
    return reader.resource(f"/ecommerce/stores/{store.store_id}/carts/{cart_id}")


def test_a_cart_waits_for_an_email_then_follows_the_checkout_and_later_cart_updates(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    cart, checkout = visit()
    cart["updated_at"] = "2025-03-14T09:10:00-04:00"
    send(runner, shopify_store, "carts/create", cart)
    runner.wait_until_idle()
    assert cart_in_mailchimp(mailchimp_reader, shopify_store, cart["token"]) is None, "no e-mail yet: nothing sent"

    checkout["updated_at"] = "2025-03-14T09:15:00-04:00"
    send(runner, shopify_store, "checkouts/update", checkout)
    runner.wait_until_idle()
    held = cart_in_mailchimp(mailchimp_reader, shopify_store, cart["token"])
    assert held is not None
    assert held["customer"]["email_address"] == checkout["email"].lower()
    assert held["checkout_url"] == checkout["abandoned_checkout_url"]

    cart["updated_at"] = "2025-03-14T09:20:00-04:00"
    cart["line_items"] = [dict(cart["line_items"][0], quantity=5)]
    send(runner, shopify_store, "carts/update", cart)
    runner.wait_until_idle()
    held = cart_in_mailchimp(mailchimp_reader, shopify_store, cart["token"])
    assert held is not None
    assert [(line["product_variant_id"], line["quantity"]) for line in held["lines"]] == [
        (str(cart["line_items"][0]["variant_id"]), 5)
    ]
    assert held["checkout_url"] == checkout["abandoned_checkout_url"], "remembered from the checkout"
    assert held["order_total"] == pytest.approx(5 * float(cart["line_items"][0]["price"]))


def test_an_emptied_cart_is_deleted(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    cart, checkout = visit()
    send(runner, shopify_store, "checkouts/update", checkout)
    runner.wait_until_idle()
    assert cart_in_mailchimp(mailchimp_reader, shopify_store, cart["token"]) is not None

    cart.update(updated_at="2025-03-14T10:00:00-04:00", line_items=[])
    send(runner, shopify_store, "carts/update", cart)
    runner.wait_until_idle()

    assert cart_in_mailchimp(mailchimp_reader, shopify_store, cart["token"]) is None


def test_a_completed_checkout_removes_the_cart_and_no_late_event_brings_it_back(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    cart, checkout = visit()
    checkout["updated_at"] = "2025-03-14T09:15:00-04:00"
    send(runner, shopify_store, "checkouts/update", checkout)
    runner.wait_until_idle()
    assert cart_in_mailchimp(mailchimp_reader, shopify_store, cart["token"]) is not None

    completed = dict(checkout, completed_at="2025-03-14T09:30:00-04:00", updated_at="2025-03-14T09:30:00-04:00")
    send(runner, shopify_store, "checkouts/update", completed)
    runner.wait_until_idle()
    assert cart_in_mailchimp(mailchimp_reader, shopify_store, cart["token"]) is None

    # Deliveries that were in flight when the purchase happened, arriving late:
    send(runner, shopify_store, "checkouts/update", dict(checkout, updated_at="2025-03-14T09:25:00-04:00"))
    send(runner, shopify_store, "carts/update", dict(cart, updated_at="2025-03-14T09:40:00-04:00"))
    other_cart, other_checkout = visit()
    # The same shopper's other cart, last touched before the purchase.
    other_checkout.update(
        customer=checkout["customer"], email=checkout["email"], updated_at="2025-03-14T09:28:00-04:00"
    )
    send(runner, shopify_store, "checkouts/update", other_checkout)
    runner.wait_until_idle()

    assert cart_in_mailchimp(mailchimp_reader, shopify_store, cart["token"]) is None
    assert cart_in_mailchimp(mailchimp_reader, shopify_store, other_cart["token"]) is None

    # A new visit after the purchase is a new cart, and is sent.
    newer_cart, newer_checkout = visit()
    newer_checkout.update(customer=checkout["customer"], email=checkout["email"], updated_at="2025-03-15T08:00:00Z")
    send(runner, shopify_store, "checkouts/update", newer_checkout)
    runner.wait_until_idle()
    assert cart_in_mailchimp(mailchimp_reader, shopify_store, newer_cart["token"]) is not None


def test_a_deleted_checkout_known_only_by_its_id_removes_its_cart(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    cart, checkout = visit()
    send(runner, shopify_store, "checkouts/update", checkout)
    runner.wait_until_idle()
    assert cart_in_mailchimp(mailchimp_reader, shopify_store, cart["token"]) is not None

    send(runner, shopify_store, "checkouts/delete", {"id": checkout["id"]})
    runner.wait_until_idle()

    assert cart_in_mailchimp(mailchimp_reader, shopify_store, cart["token"]) is None


def test_customers_are_created_updated_in_order_and_deleted(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    customer = sample("shopify_customer_update_body.json")
    customer["id"] = int(uuid.uuid4().int % 10**12)
    path = f"/ecommerce/stores/{shopify_store.store_id}/customers/{mailchimp_customer_id(customer['email'])}"
    send(runner, shopify_store, "customers/create", dict(customer, updated_at="2025-03-14T10:00:00Z"))
    runner.wait_until_idle()
    held = mailchimp_reader.resource(path)
    assert held is not None
    assert held["email_address"] == customer["email"].lower()
    assert held["first_name"] == "Zoë"
    assert held["opt_in_status"] is True

    send(runner, shopify_store, "customers/update", dict(customer, last_name="Neu", updated_at="2025-03-14T12:00:00Z"))
    send(runner, shopify_store, "customers/update", dict(customer, last_name="Alt", updated_at="2025-03-14T11:00:00Z"))
    runner.wait_until_idle()
    assert mailchimp_reader.resource(path)["last_name"] == "Neu", "the older update arriving late was skipped"

    send(runner, shopify_store, "customers/delete", {"id": customer["id"]})
    runner.wait_until_idle()
    assert mailchimp_reader.resource(path) is None


def test_without_consent_a_new_contact_is_transactional_and_an_unsubscribed_one_stays_so(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator
) -> None:
    quiet = sample("shopify_customer_update_body.json")
    quiet.update(id=int(uuid.uuid4().int % 10**12), email=f"quiet.{uuid.uuid4().hex[:6]}@example.com")
    quiet["email_marketing_consent"] = {"state": "not_subscribed"}
    gone = sample("shopify_customer_update_body.json")
    gone.update(id=int(uuid.uuid4().int % 10**12), email=f"gone.{uuid.uuid4().hex[:6]}@example.com")
    mailchimp.set_member_status(shopify_store.store.list_id, gone["email"], "unsubscribed")

    send(runner, shopify_store, "customers/create", quiet)
    send(runner, shopify_store, "customers/create", gone)  # consents on the store, but unsubscribed
    runner.wait_until_idle()

    assert mailchimp.member(shopify_store.store.list_id, quiet["email"])["status"] == "transactional"
    assert mailchimp.member(shopify_store.store.list_id, gone["email"])["status"] == "unsubscribed"


def test_double_opt_in_store_asks_for_confirmation_and_never_touches_subscribed_members(
    runner: LocalRunner, mailchimp: MailchimpEmulator
) -> None:
    store = register_store("shopify", list_id=f"doi-{uuid.uuid4().hex[:6]}", double_opt_in=True)
    new = sample("shopify_customer_update_body.json")
    new.update(id=int(uuid.uuid4().int % 10**12), email=f"new.{uuid.uuid4().hex[:6]}@example.com")
    subscribed = sample("shopify_customer_update_body.json")
    subscribed.update(id=int(uuid.uuid4().int % 10**12), email=f"sub.{uuid.uuid4().hex[:6]}@example.com")
    mailchimp.set_member_status(store.store.list_id, subscribed["email"], "subscribed")

    send(runner, store, "customers/create", new)
    send(runner, store, "customers/create", subscribed)
    runner.wait_until_idle()

    assert mailchimp.member(store.store.list_id, new["email"])["status"] == "pending"
    assert mailchimp.member(store.store.list_id, subscribed["email"])["status"] == "subscribed"
    customer = mailchimp.state.stores[store.store_id].customers[mailchimp_customer_id(new["email"])]
    assert customer["opt_in_status"] is False, "the confirmation e-mail decides, not the customer write"


def test_a_large_cart_in_yen_with_free_lines_keeps_every_line_and_exact_totals(
    runner: LocalRunner, mailchimp_reader: MailchimpReader
) -> None:
    store = register_store("shopify", currency_code="JPY")
    _, checkout = visit()
    template = checkout["line_items"][0]
    checkout["line_items"] = [
        dict(
            template,
            key=f"k{i}",
            variant_id=9_000_000 + i,
            product_id=8_000_000 + i,
            title=f"商品 {i}",
            price="0" if i % 10 == 0 else "1200",
            quantity=1,
        )
        for i in range(100)
    ]
    checkout.update(currency="JPY", presentment_currency="JPY", total_price="108000", total_tax="0")
    send(runner, store, "checkouts/update", checkout)
    runner.wait_until_idle(timeout=60)

    held = cart_in_mailchimp(mailchimp_reader, store, checkout["cart_token"])
    assert held is not None
    assert len(held["lines"]) == 100
    assert held["order_total"] == 108000
    assert sum(line["price"] * line["quantity"] for line in held["lines"]) == 108000
    assert {line["price"] for line in held["lines"]} == {0, 1200}


def test_an_address_mailchimp_refuses_by_its_syntax_is_skipped_at_the_edge(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shopify cannot change what its shopper typed: a 400 would only bring the delivery back. The entity is
    skipped with the reason (200), nothing reaches Mailchimp, nothing is dead-lettered to page anyone."""
    customer = sample("shopify_customer_update_body.json")
    customer.update(id=int(uuid.uuid4().int % 10**12), email=f"zoë.{uuid.uuid4().hex[:6]}@example.de")
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)
    before = len(mailchimp.requests)

    body = json.dumps(customer).encode()
    response = send_shopify(runner.url, shopify_store.webhook_secret, "customers/create", shopify_store.identity, body)
    runner.wait_until_idle()

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ignored"
    assert "email" in response.json()["reason"] and "ASCII" in response.json()["reason"]
    assert "zoë" not in response.text
    assert [r for r in mailchimp.requests[before:] if shopify_store.store_id in r["path"]] == []
    assert [letter for letter in dead_letters.peek("cart_events") if str(customer["id"]) in letter.body] == []


def test_an_address_mailchimp_judges_fake_is_tried_once_and_skipped_not_dead_lettered(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = sample("shopify_customer_update_body.json")
    address = f"erased.{uuid.uuid4().hex[:6]}@site.invalid"  # well-formed; the emulator judges it fake
    customer.update(id=int(uuid.uuid4().int % 10**12), email=address)
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)

    send(runner, shopify_store, "customers/create", customer)
    runner.wait_until_idle()

    attempts = [r for r in mailchimp.requests if r["path"].endswith(f"/customers/{mailchimp_customer_id(address)}")]
    assert len(attempts) == 1, "a refusal Mailchimp will repeat is not retried"
    assert [letter for letter in dead_letters.peek("cart_events") if str(customer["id"]) in letter.body] == []
    assert mailchimp.state.stores[shopify_store.store_id].customers.get(mailchimp_customer_id(address)) is None


def test_a_guest_checkout_is_keyed_by_its_address(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    cart, checkout = visit()
    checkout["customer"] = None
    send(runner, shopify_store, "checkouts/update", checkout)
    runner.wait_until_idle()

    held = cart_in_mailchimp(mailchimp_reader, shopify_store, cart["token"])
    assert held is not None
    assert held["customer"]["id"] == mailchimp_customer_id(checkout["email"])
    assert checkout["email"].lower() not in held["customer"]["id"]


def test_a_known_campaign_is_kept_and_a_stale_one_dropped_without_losing_the_cart(
    runner: LocalRunner, shopify_store: RegisteredStore, mailchimp: MailchimpEmulator, mailchimp_reader: MailchimpReader
) -> None:
    known_cart, known = visit()
    known["landing_site"] = "/?mc_cid=live-campaign-1&mc_eid=abc"
    mailchimp.add_campaign("live-campaign-1")
    stale_cart, stale = visit()
    stale["landing_site"] = "/?mc_cid=deleted-campaign&mc_eid=abc"

    send(runner, shopify_store, "checkouts/update", known)
    send(runner, shopify_store, "checkouts/update", stale)
    runner.wait_until_idle()

    assert cart_in_mailchimp(mailchimp_reader, shopify_store, known_cart["token"])["campaign_id"] == "live-campaign-1"
    held = cart_in_mailchimp(mailchimp_reader, shopify_store, stale_cart["token"])
    assert held is not None
    assert not held.get("campaign_id")
