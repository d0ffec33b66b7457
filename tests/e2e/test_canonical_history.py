"""History and same-second changes in the canonical format, end to end through the local runner: what an ERP or
an adapter pushing a store's past to /webhooks/canonical gets (docs/canonical-events.md), judged by what
Mailchimp ends up holding and which order e-mails it sends (the emulator's `order_notifications`)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import requests

from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import send_canonical
from tests.harness import MailchimpReader, RegisteredStore, register_store

SECOND = "2025-03-14T13:18:02.000000Z"


@pytest.fixture
def canonical_store(runner: LocalRunner) -> RegisteredStore:
    return register_store("canonical", currency_code="EUR")


def order_event(
    store: RegisteredStore,
    order_id: str,
    *,
    version: str = SECOND,
    financial_status: str = "paid",
    event_id: str | None = None,
    **envelope: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": order_id,
        "customer": {"email": f"buyer-{order_id}@example.com", "consent": {"state": "granted"}},
        "currency_code": "EUR",
        "order_total": "42.50",
        "financial_status": financial_status,
        "processed_at": "2025-03-14T13:18:00Z",
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
    return {
        "schema_version": "1",
        "event_id": event_id or f"erp:order:{order_id}:{uuid.uuid4().hex}",
        "type": "order.updated",
        "store_id": store.store_id,
        "platform": "canonical",
        "occurred_at": "2025-03-14T13:18:02Z",
        "entity_id": order_id,
        "entity_version": version,
        "data": data,
        **envelope,
    }


def post(runner: LocalRunner, store: RegisteredStore, event: dict[str, Any]) -> requests.Response:
    return send_canonical(runner.url, store.webhook_secret, store.store_id, json.dumps(event).encode())


def accepted(runner: LocalRunner, store: RegisteredStore, event: dict[str, Any]) -> dict[str, Any]:
    response = post(runner, store, event)
    assert response.status_code == 202, response.text
    return dict(response.json())


# ---- versions that tie -----------------------------------------------------------------------------------------


def test_two_changes_in_the_same_second_both_apply_in_order_and_a_true_duplicate_is_ignored(
    runner: LocalRunner,
    canonical_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
    mailchimp_reader: MailchimpReader,
) -> None:
    order_id = uuid.uuid4().hex[:12]
    placed = order_event(canonical_store, order_id, financial_status="pending", sequence=1)
    paid = order_event(canonical_store, order_id, financial_status="paid", sequence=2)

    accepted(runner, canonical_store, placed)
    runner.wait_until_idle()
    accepted(runner, canonical_store, paid)
    runner.wait_until_idle()
    # The very same delivery again (a sender's retry), and the same change under another event id.
    accepted(runner, canonical_store, paid)
    accepted(runner, canonical_store, {**paid, "event_id": f"{paid['event_id']}-again", "data": placed["data"]})
    runner.wait_until_idle()

    store = canonical_store.store_id
    assert mailchimp.order_status_history(store, order_id) == [("pending", None), ("paid", None)]
    assert [n.kind for n in mailchimp.order_notifications(store, order_id)] == ["order_confirmation", "order_invoice"]
    held = mailchimp_reader.resource(f"/ecommerce/stores/{store}/orders/{order_id}")
    assert held is not None and held["financial_status"] == "paid"


def test_without_a_sequence_the_second_change_of_the_same_second_is_stale(
    runner: LocalRunner, canonical_store: RegisteredStore, mailchimp: MailchimpEmulator
) -> None:
    order_id = uuid.uuid4().hex[:12]

    accepted(runner, canonical_store, order_event(canonical_store, order_id, financial_status="pending"))
    runner.wait_until_idle()
    accepted(runner, canonical_store, order_event(canonical_store, order_id, financial_status="paid"))
    runner.wait_until_idle()

    # What the issue reported, and why the sequence exists: equal versions are not newer.
    assert mailchimp.order_status_history(canonical_store.store_id, order_id) == [("pending", None)]
