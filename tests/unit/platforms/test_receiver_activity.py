"""What the webhook receiver records of a known store's deliveries (commerce_sync.aws.store_activity, read by
`commerce-sync status`): accepted or ignored with the platform's topic (WooCommerce's header, BigCommerce's scope from
the body), refused without one, and nothing for a delivery of no registered store. The Shopify route is exercised
end to end in tests/e2e/test_store_status_cli.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from commerce_sync.aws.secret_store import SigningKeyring, SigningSecret
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import UnknownStore
from commerce_sync.canonical.model import CanonicalEvent
from commerce_sync.platforms.bigcommerce.webhooks import BigCommerceAdapter
from commerce_sync.platforms.receiver import WebhookReceiver, stamped_with_delivery
from commerce_sync.platforms.signatures import SignatureError, sign_base64_hmac
from commerce_sync.platforms.woocommerce.webhooks import WooCommerceAdapter

from tests.paths import EVENTS

SECRET = "s" * 40


class Registry:
    def __init__(self, store: Store) -> None:
        self.store = store

    def find(self, platform: str, identity: str) -> Store | None:
        return self.store if (platform, identity) == (self.store.platform, self.store.identity) else None

    def get(self, store_id: str) -> Store | None:
        return self.store if store_id == self.store.store_id else None


class Secrets:
    def signing_keyring(self, secret_id: str, refresh: bool = False) -> SigningKeyring:
        return SigningKeyring((SigningSecret("current", SECRET),), fetched_at=0)

    def current(self, secret_id: str, refresh: bool = False) -> dict[str, Any]:
        return {"webhook_secret": SECRET}


class Activity:
    def __init__(self) -> None:
        self.deliveries: list[tuple[str, str, str | None]] = []

    def delivery(self, store_id: str, result: str, topic: str | None) -> None:
        self.deliveries.append((store_id, result, topic))


def store_of(platform: str, identity: str) -> Store:
    return Store(
        store_id=f"{platform[:4]}-activity",
        platform=platform,
        identity=identity,
        name="Activity store",
        list_id="list-activity",
        currency_code="USD",
        secret_id=f"commerce-sync/stores/{platform[:4]}-activity",
    )


def receiver(store: Store, activity: Activity) -> WebhookReceiver:
    adapters = {"woocommerce": WooCommerceAdapter(consent_meta_keys=()), "bigcommerce": BigCommerceAdapter()}
    return WebhookReceiver(adapters, Registry(store), Secrets(), None, activity=activity)  # type: ignore[arg-type]


def woo_headers(topic: str, body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {
        "X-WC-Webhook-Source": "https://shop.example.com",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Signature": sign_base64_hmac(secret, body),
    }


def test_woocommerce_deliveries_are_recorded_with_their_topic_and_a_forged_one_without() -> None:
    store, activity = store_of("woocommerce", "https://shop.example.com"), Activity()
    body = b'{"id": 7}'

    receipt = receiver(store, activity).receive("woocommerce", woo_headers("Action.Woocommerce_Thing ", body), body)
    assert receipt.status == "ignored"
    with pytest.raises(SignatureError):
        receiver(store, activity).receive("woocommerce", woo_headers("order.updated", body, "x" * 40), body)

    assert activity.deliveries == [
        (store.store_id, "ignored", "action.woocommerce_thing"),
        (store.store_id, "refused", None),
    ]


def test_bigcommerce_deliveries_are_recorded_with_the_scope_of_their_body() -> None:
    store, activity = store_of("bigcommerce", "abc123"), Activity()
    body = json.dumps(
        {
            "scope": "store/app/uninstalled",
            "store_id": "1",
            "producer": "stores/abc123",
            "data": {},
            "hash": "h",
            "created_at": 1,
        }
    ).encode()

    receipt = receiver(store, activity).receive("bigcommerce", {"X-Commerce-Sync-Token": SECRET}, body)

    assert receipt.status == "ignored"
    assert activity.deliveries == [(store.store_id, "ignored", "store/app/uninstalled")]


def test_a_delivery_of_no_registered_store_is_not_recorded() -> None:
    store, activity = store_of("woocommerce", "https://shop.example.com"), Activity()
    body = b'{"id": 7}'
    headers = {**woo_headers("order.updated", body), "X-WC-Webhook-Source": "https://other.example.com"}

    with pytest.raises(UnknownStore):
        receiver(store, activity).receive("woocommerce", headers, body)

    assert activity.deliveries == []


class Publisher:
    def __init__(self) -> None:
        self.published: list[CanonicalEvent] = []

    def publish(self, events: list[CanonicalEvent]) -> None:
        self.published.extend(events)


def test_an_accepted_delivery_is_left_to_its_event_s_consumer_to_count() -> None:
    store, activity, publisher = store_of("woocommerce", "https://shop.example.com"), Activity(), Publisher()
    product = json.loads((EVENTS / "woocommerce_product_updated.json").read_text(encoding="utf-8"))
    body = json.dumps({**product, "type": "simple", "variations": [], "manage_stock": False}).encode()
    adapters = {"woocommerce": WooCommerceAdapter(consent_meta_keys=())}
    receiving = WebhookReceiver(adapters, Registry(store), Secrets(), publisher, activity=activity)  # type: ignore[arg-type]
    before = datetime.now(UTC)

    receipt = receiving.receive("woocommerce", woo_headers("product.updated", body), body)

    assert receipt.status == "accepted"
    assert activity.deliveries == [], "no write of the receiver's own: the consumer counts it with the outcome"
    (event,) = publisher.published
    assert event.delivery is not None and event.delivery.topic == "product.updated"
    assert before <= event.delivery.received_at <= datetime.now(UTC)


def event_of(event_type: str, entity_id: str, delivery: dict[str, str] | None = None) -> CanonicalEvent:
    return CanonicalEvent.model_validate(
        {
            "event_id": f"e-{entity_id}",
            "type": event_type,
            "store_id": "s1",
            "platform": "canonical",
            "occurred_at": "2026-12-05T10:00:00Z",
            "entity_id": entity_id,
            "entity_version": "1",
            "data": {"id": entity_id},
            **({"delivery": delivery} if delivery else {}),
        }
    )


def test_only_the_first_event_a_delivery_published_carries_it_and_what_a_sender_put_there_is_replaced() -> None:
    forged = {"topic": "orders/paid", "received_at": "2020-01-01T00:00:00Z"}
    events = [event_of("customer.deleted", "c1", forged), event_of("order.deleted", "o1", forged)]

    first, second = stamped_with_delivery(events, "customers/delete")

    assert first.delivery is not None and first.delivery.topic == "customers/delete"
    assert first.delivery.received_at > datetime.now(UTC) - timedelta(minutes=1)
    assert second.delivery is None


def test_a_store_erasure_never_carries_its_delivery() -> None:
    erasure = event_of("store.erased", "s1")
    (stamped,) = stamped_with_delivery([erasure], "shop/redact")
    assert stamped.delivery is None
