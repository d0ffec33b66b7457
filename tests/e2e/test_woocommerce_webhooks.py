"""WooCommerce deliveries through real HTTP: the creation ping, the refusals, customer events published
with their ids, the answers for topics that are planned or ignored, and the cart plugin's canonical
events reaching the same (WooCommerce-registered) store.

Only the webhook answers and the published event ids are checked here; what cart_events writes to
Mailchimp for a customer event is tested with that function.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from local_runner.runner import LocalRunner
from local_runner.senders import send_canonical
from tests.harness import RegisteredStore, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"
TIMEOUT = (3.05, 30)
USER_AGENT = "WooCommerce/9.7.1 Hookshot (WordPress/6.7.2)"


@pytest.fixture
def woo_store(runner: LocalRunner) -> RegisteredStore:
    # Registered with the trailing slash the merchant copies from WordPress; deliveries name the site the same way.
    return register_store("woocommerce", identity=f"https://{uuid.uuid4().hex[:12]}.example.com/")


def customer(**changes: Any) -> dict[str, Any]:
    body = json.loads((EVENTS / "woocommerce_customer_created.json").read_text(encoding="utf-8"))
    body["id"] = int(uuid.uuid4().int % 10_000_000) + 1
    body.update(changes)
    return body


def deliver(
    runner: LocalRunner,
    store: RegisteredStore,
    body: dict[str, Any] | bytes,
    topic: str = "customer.created",
    secret: str | None = None,
    source: str | None = None,
) -> requests.Response:
    """POST as WC_Webhook::deliver does: the JSON body, signed, with every X-WC-Webhook-* header."""
    from commerce_sync.platforms.signatures import sign_base64_hmac

    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    resource, _, event = topic.partition(".")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-WC-Webhook-Source": source or store.identity,
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": sign_base64_hmac(secret or store.webhook_secret, raw),
        "X-WC-Webhook-ID": "17",
        "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
    }
    return requests.post(f"{runner.url}/webhooks/woocommerce", data=raw, headers=headers, timeout=TIMEOUT)


def test_the_creation_ping_gets_exactly_200(runner: LocalRunner) -> None:
    # WC_Webhook::deliver_ping: form-encoded, unsigned, no X-WC-* headers, so no store can be named.
    response = requests.post(
        f"{runner.url}/webhooks/woocommerce",
        data=(EVENTS / "woocommerce_ping.txt").read_bytes(),
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8", "User-Agent": USER_AGENT},
        timeout=TIMEOUT,
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ignored", "reason": "ping"}


def test_customer_created_is_accepted_with_its_event_id(runner: LocalRunner, woo_store: RegisteredStore) -> None:
    body = customer()

    response = deliver(runner, woo_store, body, source=woo_store.identity.rstrip("/"))

    assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "accepted",
        "event_ids": [f"woocommerce:customer:{body['id']}:2025-03-14T13:18:02.000000Z"],
    }


def test_customer_updated_and_deleted_are_accepted(runner: LocalRunner, woo_store: RegisteredStore) -> None:
    body = customer(date_modified_gmt="2025-03-15T08:00:00")

    updated = deliver(runner, woo_store, body, topic="customer.updated")
    deleted = deliver(runner, woo_store, {"id": body["id"]}, topic="customer.deleted")

    assert updated.status_code == 202, updated.text
    assert updated.json()["event_ids"] == [f"woocommerce:customer:{body['id']}:2025-03-15T08:00:00.000000Z"]
    assert deleted.status_code == 202, deleted.text
    [event_id] = deleted.json()["event_ids"]
    assert event_id.startswith("woocommerce:")


def test_a_forged_signature_is_refused(runner: LocalRunner, woo_store: RegisteredStore) -> None:
    response = deliver(runner, woo_store, customer(), secret="not-the-store-secret")

    assert response.status_code == 401
    assert "signature" in response.json()["message"]


def test_an_unsigned_delivery_that_is_not_a_ping_is_refused(runner: LocalRunner, woo_store: RegisteredStore) -> None:
    raw = json.dumps(customer()).encode()
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Source": woo_store.identity,
        "X-WC-Webhook-Topic": "customer.created",
    }
    response = requests.post(f"{runner.url}/webhooks/woocommerce", data=raw, headers=headers, timeout=TIMEOUT)

    assert response.status_code == 401


def test_an_unknown_site_is_not_found(runner: LocalRunner, woo_store: RegisteredStore) -> None:
    response = deliver(runner, woo_store, customer(), source=f"https://{uuid.uuid4().hex[:12]}.example.com/")

    assert response.status_code == 404


def test_malformed_json_is_a_bad_request(runner: LocalRunner, woo_store: RegisteredStore) -> None:
    response = deliver(runner, woo_store, b'{"id": 58, "email": ')

    assert response.status_code == 400
    assert "JSON" in response.json()["message"]


def test_a_customer_with_an_address_mailchimp_refuses_is_skipped_with_the_field_named(
    runner: LocalRunner, woo_store: RegisteredStore
) -> None:
    """WooCommerce disables a webhook after 5 failed deliveries and cannot change what was typed: 200."""
    response = deliver(runner, woo_store, customer(email="not-an-address"))

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ignored"
    assert "email" in response.json()["reason"]


def test_a_coupon_of_a_plugins_kind_is_ignored_with_200_and_the_reason(
    runner: LocalRunner, woo_store: RegisteredStore
) -> None:
    # Coupons are promotions (docs/promotions.md); a plugin's discount type has no Mailchimp kind.
    coupon = {"id": 719, "code": "credit50", "discount_type": "smart_coupon", "amount": "50"}
    response = deliver(runner, woo_store, coupon, topic="coupon.created")

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ignored"
    assert "smart_coupon" in response.json()["reason"]


def test_canonical_cart_events_from_the_wordpress_site_reach_its_woocommerce_store(
    runner: LocalRunner, woo_store: RegisteredStore
) -> None:
    # What the cart mu-plugin of docs/woocommerce.md sends: /webhooks/canonical, named by the store id.
    cart_id = uuid.uuid4().hex
    event = {
        "schema_version": "1",
        "event_id": f"woocommerce-cart:{cart_id}:2025-03-14T13:18:02.000000Z",
        "type": "cart.updated",
        "store_id": woo_store.store_id,
        "platform": "woocommerce",
        "occurred_at": "2025-03-14T13:18:02.000000Z",
        "entity_id": cart_id,
        "entity_version": "2025-03-14T13:18:02.000000Z",
        "data": {
            "id": cart_id,
            "customer": {"email": "shopper@example.com"},
            "currency_code": "USD",
            "order_total": "42.50",
            "checkout_url": "https://shop.example.com/checkout/",
            "lines": [
                {
                    "id": "k1",
                    "product_id": "31",
                    "variant_id": "31",
                    "product_title": "Socks",
                    "quantity": 2,
                    "price": "21.25",
                }
            ],
        },
    }

    response = send_canonical(runner.url, woo_store.webhook_secret, woo_store.store_id, json.dumps(event).encode())

    assert response.status_code == 202, response.text
    assert response.json()["event_ids"] == [event["event_id"]]
