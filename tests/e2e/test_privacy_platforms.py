"""Erasure from each platform's own request, through the local runner (docs/privacy.md): Shopify's signed
customers/redact (and a forged one), a WooCommerce or BigCommerce customer deletion at a store that takes it as an
erasure, the `commerce-sync privacy erase` command, and a dead letter from before the erasure replayed after it."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from commerce_sync.aws.privacy_audit import PrivacyAudit
from commerce_sync.aws.settings import Settings
from commerce_sync.canonical.emails import subscriber_hash

from emulators.bigcommerce import BigCommerceEmulator
from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_shopify
from operator_cli import dead_letters
from operator_cli import main as operator_main
from tests.e2e.test_bigcommerce_webhooks import ACCESS_TOKEN, put_cart, register_bigcommerce, thin
from tests.e2e.test_bigcommerce_webhooks import deliver as deliver_bigcommerce
from tests.e2e.test_shopify_orders import new_order
from tests.e2e.test_woocommerce_webhooks import customer as woo_customer
from tests.e2e.test_woocommerce_webhooks import deliver as deliver_woo
from tests.harness import MailchimpReader, RegisteredStore, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"


def audit_lines(store_id: str) -> list[dict[str, Any]]:
    table = boto3.resource("dynamodb").Table(Settings.from_environment().sync_state_table)
    return list(PrivacyAudit(table).lines(store_id))


def shopify_order(email: str) -> dict[str, Any]:
    order = new_order()
    order["email"] = email
    order["customer"]["email"] = email
    order["buyer_accepts_marketing"] = True
    order["updated_at"] = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    return order


def send(runner: LocalRunner, store: RegisteredStore, topic: str, body: dict[str, Any]) -> requests.Response:
    return send_shopify(runner.url, store.webhook_secret, topic, store.identity, json.dumps(body).encode())


@pytest.fixture
def operator_env(runner: LocalRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in runner.operator_environment().items():
        monkeypatch.setenv(name, value)


def test_shopify_customers_redact_erases_the_customer_and_the_orders_it_names(
    runner: LocalRunner, mailchimp_reader: MailchimpReader
) -> None:
    store = register_store("shopify")
    email = f"redact-{uuid.uuid4().hex[:6]}@example.com"
    order = shopify_order(email)
    assert send(runner, store, "orders/create", order).status_code == 202
    runner.wait_until_idle(timeout=60)
    # A new cart after that order (a purchase ends the carts open before it).
    checkout = json.loads((EVENTS / "shopify_checkout_update_body.json").read_text(encoding="utf-8"))
    checkout.update(
        token=uuid.uuid4().hex,
        cart_token=uuid.uuid4().hex,
        email=email,
        updated_at=(datetime.now(UTC) - timedelta(minutes=30)).isoformat(),
    )
    checkout["customer"] = {**checkout["customer"], "id": order["customer"]["id"], "email": email}
    assert send(runner, store, "checkouts/update", checkout).status_code == 202
    runner.wait_until_idle(timeout=60)
    base, mine = f"/ecommerce/stores/{store.store_id}", subscriber_hash(email)
    assert mailchimp_reader.resource(f"{base}/orders/{order['id']}") is not None
    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is not None
    assert mailchimp_reader.resource(f"{base}/carts/{checkout['cart_token']}") is not None
    member = mailchimp_reader.resource(f"/lists/{store.store.list_id}/members/{mine}")
    assert member is not None and member["status"] == "subscribed"

    redact = {
        "shop_id": 954889,
        "shop_domain": store.identity,
        "customer": {"id": order["customer"]["id"], "email": email, "phone": "555-625-1199"},
        "orders_to_redact": [order["id"]],
    }
    forged = send_shopify(runner.url, "not-the-secret", "customers/redact", store.identity, json.dumps(redact).encode())
    assert forged.status_code == 401
    runner.wait_until_idle(timeout=60)
    assert mailchimp_reader.resource(f"{base}/orders/{order['id']}") is not None, "a forged request erases nothing"

    answer = send(runner, store, "customers/redact", redact)
    assert answer.status_code == 202, answer.text
    runner.wait_until_idle(timeout=60)
    assert mailchimp_reader.resource(f"{base}/orders/{order['id']}") is None
    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is None
    assert mailchimp_reader.resource(f"{base}/carts/{checkout['cart_token']}") is None
    member = mailchimp_reader.resource(f"/lists/{store.store.list_id}/members/{mine}")
    assert member is not None and member["status"] == "archived"
    (line,) = audit_lines(store.store_id)
    assert line["kind"] == "shopify customers/redact" and line.get("completed_at")

    # Shopify delivers the old order again (a retry of a delivery that timed out before the erasure): not back.
    again = send_shopify(runner.url, store.webhook_secret, "orders/updated", store.identity, json.dumps(order).encode())
    assert again.status_code == 202
    runner.wait_until_idle(timeout=60)
    assert mailchimp_reader.resource(f"{base}/orders/{order['id']}") is None


def test_a_redact_for_another_shop_than_the_signed_one_is_refused(runner: LocalRunner) -> None:
    store = register_store("shopify")
    body = {"shop_id": 1, "shop_domain": "someone-else.myshopify.com", "customer": {"id": 5}, "orders_to_redact": []}
    answer = send(runner, store, "customers/redact", body)
    assert answer.status_code == 400 and "shop_domain" in answer.text


def test_a_woocommerce_customer_deletion_is_an_erasure_where_the_store_says_so(
    runner: LocalRunner, mailchimp_reader: MailchimpReader
) -> None:
    store = register_store(
        "woocommerce", identity=f"https://{uuid.uuid4().hex[:12]}.example.com/", erase_on_customer_delete=True
    )
    body = woo_customer(email=f"woo-{uuid.uuid4().hex[:6]}@example.com")
    assert deliver_woo(runner, store, body).status_code == 202
    runner.wait_until_idle(timeout=60)
    order = json.loads((EVENTS / "woocommerce_order_created.json").read_text(encoding="utf-8"))
    order.update(id=int(uuid.uuid4().int % 10**6), customer_id=body["id"], status="processing")
    order["billing"] = {**order["billing"], "email": body["email"]}
    assert deliver_woo(runner, store, order, topic="order.created").status_code == 202
    runner.wait_until_idle(timeout=60)
    mine = subscriber_hash(body["email"])
    base = f"/ecommerce/stores/{store.store_id}"
    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is not None
    assert mailchimp_reader.resource(f"{base}/orders/{order['id']}") is not None

    answer = deliver_woo(runner, store, {"id": body["id"]}, topic="customer.deleted")
    assert answer.status_code == 202, answer.text
    runner.wait_until_idle(timeout=60)
    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is None
    assert mailchimp_reader.resource(f"{base}/orders/{order['id']}") is None
    member = mailchimp_reader.resource(f"/lists/{store.store.list_id}/members/{mine}")
    assert member is not None and member["status"] == "archived"
    (line,) = audit_lines(store.store_id)
    assert line["kind"] == "woocommerce customer deleted" and line.get("completed_at")

    # WooCommerce sends the customer's last state late: the erased customer stays out.
    assert deliver_woo(runner, store, body, topic="customer.updated").status_code == 202
    runner.wait_until_idle(timeout=60)
    assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/customers/{mine}") is None


@pytest.fixture
def bigcommerce() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(f"e2e{uuid.uuid4().hex[:10]}", ACCESS_TOKEN) as running:
        yield running


def test_a_bigcommerce_customer_deletion_is_an_erasure_where_the_store_says_so(
    runner: LocalRunner, bigcommerce: BigCommerceEmulator, mailchimp_reader: MailchimpReader
) -> None:
    store = register_bigcommerce(bigcommerce, erase_on_customer_delete=True, erasure_member="delete_permanent")
    # The sample cart is the sample customer's (put_cart puts both, and their newsletter subscription).
    cart = put_cart(bigcommerce)
    customer = json.loads((EVENTS / "bigcommerce_customer.json").read_text(encoding="utf-8"))["data"][0]
    created = thin(bigcommerce, "store/customer/created", {"type": "customer", "id": customer["id"]})
    assert deliver_bigcommerce(runner, created, store.webhook_secret).status_code == 202
    updated = thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": cart["id"]})
    assert deliver_bigcommerce(runner, updated, store.webhook_secret).status_code == 202
    runner.wait_until_idle(timeout=60)
    mine, base = subscriber_hash(customer["email"]), f"/ecommerce/stores/{store.store_id}"
    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is not None
    assert mailchimp_reader.resource(f"{base}/carts/{cart['id']}") is not None

    deleted = thin(bigcommerce, "store/customer/deleted", {"type": "customer", "id": customer["id"]})
    assert deliver_bigcommerce(runner, deleted, store.webhook_secret).status_code == 202
    runner.wait_until_idle(timeout=60)
    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is None
    assert mailchimp_reader.resource(f"{base}/carts/{cart['id']}") is None
    assert mailchimp_reader.resource(f"/lists/{store.store.list_id}/members/{mine}") is None, "deleted for good"


def test_the_cli_erases_by_address_and_a_dead_letter_from_before_stays_out(
    runner: LocalRunner,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
    operator_env: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = register_store("shopify")
    email = f"cli-{uuid.uuid4().hex[:6]}@example.com"
    first, second = shopify_order(email), shopify_order(email)
    second["customer"] = copy.deepcopy(first["customer"])
    assert send(runner, store, "orders/create", first).status_code == 202
    runner.wait_until_idle(timeout=60)
    # The second order fails for good while Mailchimp is down: it waits in the dead-letter queue.
    mailchimp.set_faults(rate_500=1.0, seed=5)
    try:
        assert send(runner, store, "orders/create", second).status_code == 202
        runner.wait_until_idle(timeout=180)
    finally:
        mailchimp.set_faults()
    letters = [
        letter
        for letter in dead_letters.peek("order_status")
        if json.loads(letter.body)["detail"]["store_id"] == store.store_id
    ]
    assert len(letters) == 1

    code = operator_main.main(["privacy", "erase", store.store_id, "--email", email, "--wait"])
    output = capsys.readouterr().out
    assert code == 0, output
    assert "erased:" in output and email not in output
    base, mine = f"/ecommerce/stores/{store.store_id}", subscriber_hash(email)
    assert mailchimp_reader.resource(f"{base}/orders/{first['id']}") is None
    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is None

    assert operator_main.main(["dead-letters", "order_status", "--replay"]) == 0
    runner.wait_until_idle(timeout=60)
    time.sleep(0.5)
    assert mailchimp_reader.resource(f"{base}/orders/{second['id']}") is None, "the replayed dead letter stays out"
    assert mailchimp_reader.resource(f"{base}/customers/{mine}") is None

    assert operator_main.main(["privacy", "audit", store.store_id]) == 0
    listing = capsys.readouterr().out
    assert "cli erase" in listing and email not in listing and mine not in listing


def test_a_disabled_store_still_carries_out_privacy_requests(
    runner: LocalRunner, mailchimp_reader: MailchimpReader, operator_env: None
) -> None:
    store = register_store("shopify")
    email = f"disabled-{uuid.uuid4().hex[:6]}@example.com"
    order = shopify_order(email)
    assert send(runner, store, "orders/create", order).status_code == 202
    runner.wait_until_idle(timeout=60)
    base = f"/ecommerce/stores/{store.store_id}"
    assert mailchimp_reader.resource(f"{base}/orders/{order['id']}") is not None
    assert operator_main.main(["stores", "disable", store.store_id]) == 0

    later = shopify_order(email)
    ignored = send(runner, store, "orders/create", later)
    assert (ignored.status_code, ignored.json()["status"]) == (200, "ignored"), "a disabled store syncs nothing"
    redact = {
        "shop_id": 1,
        "shop_domain": store.identity,
        "customer": {"id": order["customer"]["id"], "email": email},
        "orders_to_redact": [order["id"]],
    }
    answer = send(runner, store, "customers/redact", redact)
    assert answer.status_code == 202, answer.text
    runner.wait_until_idle(timeout=60)

    assert mailchimp_reader.resource(f"{base}/orders/{order['id']}") is None, "the erasure was carried out"
    assert mailchimp_reader.resource(f"{base}/orders/{later['id']}") is None
    (line,) = audit_lines(store.store_id)
    assert line["kind"] == "shopify customers/redact" and line.get("completed_at")
