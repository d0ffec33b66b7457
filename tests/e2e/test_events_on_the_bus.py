"""Canonical events put straight on the bus (PutEvents from inside the account) are routed by the
template's rules to the same processing as webhooks."""

from __future__ import annotations

import json
import uuid

from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, mailchimp_customer_id, register_store


def test_a_canonical_cart_put_on_the_bus_reaches_mailchimp(
    runner: LocalRunner, mailchimp_reader: MailchimpReader
) -> None:
    store = register_store("canonical", currency_code="EUR")
    cart_id = uuid.uuid4().hex
    event = {
        "schema_version": "1",
        "event_id": f"erp:cart:{cart_id}:1",
        "type": "cart.updated",
        "store_id": store.store_id,
        "platform": "erp",
        "occurred_at": "2025-03-14T13:18:02Z",
        "entity_id": cart_id,
        "entity_version": "2025-03-14T13:18:02.000000Z",
        "data": {
            "id": cart_id,
            "customer": {"id": "erp-42", "email": "Buyer@Example.com", "consent": {"state": "denied"}},
            "currency_code": "EUR",
            "order_total": "10.5",
            "checkout_url": f"https://erp.example.com/basket/{cart_id}",
            "lines": [
                {
                    "id": "1",
                    "product_id": "p",
                    "variant_id": "p-1",
                    "product_title": "Pen",
                    "quantity": 3,
                    "price": "3.50",
                }
            ],
        },
    }
    answer = runner.client("events").put_events(
        Entries=[
            {
                "EventBusName": runner.environment()["EVENT_BUS_NAME"],
                "Source": "commerce-sync.erp",
                "DetailType": "cart.updated",
                "Detail": json.dumps(event),
            }
        ]
    )
    assert answer["FailedEntryCount"] == 0
    runner.wait_until_idle()

    cart = mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/carts/{cart_id}")
    assert cart is not None
    assert cart["order_total"] == 10.5
    assert cart["customer"]["id"] == mailchimp_customer_id("buyer@example.com")
    assert cart["customer"]["opt_in_status"] is False
