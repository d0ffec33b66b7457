"""POST /webhooks/canonical: signed canonical events from any platform, through the same pipeline."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import requests

from local_runner.runner import LocalRunner
from local_runner.senders import send_canonical
from tests.harness import MailchimpReader, RegisteredStore, register_store


@pytest.fixture
def canonical_store(runner: LocalRunner) -> RegisteredStore:
    return register_store("canonical", currency_code="EUR")


def cart_event(store_id: str, **data_changes: Any) -> dict[str, Any]:
    cart_id = uuid.uuid4().hex
    data = {
        "id": cart_id,
        "customer": {"email": "Shopper@Example.com", "consent": {"state": "granted"}},
        "currency_code": "EUR",
        "order_total": "42.50",
        "checkout_url": f"https://shop.example.com/checkout/{cart_id}",
        "lines": [
            {
                "id": "l1",
                "product_id": "p1",
                "variant_id": "p1-m",
                "product_title": "Socks",
                "quantity": 2,
                "price": "21.25",
            }
        ],
    }
    data.update(data_changes)
    return {
        "schema_version": "1",
        "event_id": f"site:cart:{cart_id}:1",
        "type": "cart.updated",
        "store_id": store_id,
        "platform": "canonical",
        "occurred_at": "2025-03-14T13:18:02Z",
        "entity_id": cart_id,
        "entity_version": "2025-03-14T13:18:02.000000Z",
        "data": data,
    }


def test_signed_canonical_cart_reaches_mailchimp(
    runner: LocalRunner, canonical_store: RegisteredStore, mailchimp_reader: MailchimpReader
) -> None:
    event = cart_event(canonical_store.store_id)

    response = send_canonical(
        runner.url, canonical_store.webhook_secret, canonical_store.store_id, json.dumps(event).encode()
    )

    assert response.status_code == 202, response.text
    runner.wait_until_idle()
    cart = mailchimp_reader.resource(f"/ecommerce/stores/{canonical_store.store_id}/carts/{event['entity_id']}")
    assert cart is not None
    assert cart["order_total"] == 42.5
    assert cart["currency_code"] == "EUR"
    assert cart["customer"]["email_address"] == "shopper@example.com"


def test_canonical_event_with_a_bad_field_is_a_400_naming_it(
    runner: LocalRunner, canonical_store: RegisteredStore
) -> None:
    event = cart_event(canonical_store.store_id, order_total="forty-two")

    response = send_canonical(
        runner.url, canonical_store.webhook_secret, canonical_store.store_id, json.dumps(event).encode()
    )

    assert response.status_code == 400
    assert response.json()["message"].startswith("order_total:")


def test_unsigned_or_stale_canonical_event_is_a_401(runner: LocalRunner, canonical_store: RegisteredStore) -> None:
    body = json.dumps(cart_event(canonical_store.store_id)).encode()
    unsigned = requests.post(
        f"{runner.url}/webhooks/canonical",
        data=body,
        headers={"commerce-sync-store": canonical_store.store_id},
        timeout=10,
    )
    stale_time = str(int(time.time()) - 3600)
    stale = requests.post(
        f"{runner.url}/webhooks/canonical",
        data=body,
        headers={
            "commerce-sync-store": canonical_store.store_id,
            "webhook-id": "m1",
            "webhook-timestamp": stale_time,
            "webhook-signature": "v1,AAAA",
        },
        timeout=10,
    )

    assert unsigned.status_code == 401
    assert stale.status_code == 401


@pytest.mark.parametrize("event_type", ["customer.consent_granted", "customer.consent_withdrawn"])
def test_a_consent_event_only_mailchimp_makes_is_a_400_from_a_sender(
    runner: LocalRunner, canonical_store: RegisteredStore, event_type: str
) -> None:
    # Signed by the store: still refused, or a sender could lift the guard Mailchimp's unsubscribe set.
    event = dict(
        cart_event(canonical_store.store_id),
        type=event_type,
        entity_id="a" * 32,
        data={"email": "shopper@example.com", "reason": "subscribe", "changed_at": "2025-03-14T13:18:02Z"},
    )

    response = send_canonical(
        runner.url, canonical_store.webhook_secret, canonical_store.store_id, json.dumps(event).encode()
    )

    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert message.startswith("type:") and "Mailchimp's audience webhook only" in message
