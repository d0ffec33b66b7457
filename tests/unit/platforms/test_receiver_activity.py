"""What the webhook receiver records of a known store's deliveries (commerce_sync.aws.store_activity, read by
`commerce-sync status`): accepted or ignored with the platform's topic (WooCommerce's header, BigCommerce's scope from
the body), refused without one, and nothing for a delivery of no registered store. The Shopify route is exercised
end to end in tests/e2e/test_store_status_cli.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from commerce_sync.aws.secret_store import SigningKeyring, SigningSecret
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import UnknownStore
from commerce_sync.platforms.bigcommerce.webhooks import BigCommerceAdapter
from commerce_sync.platforms.receiver import WebhookReceiver
from commerce_sync.platforms.signatures import SignatureError, sign_base64_hmac
from commerce_sync.platforms.woocommerce.webhooks import WooCommerceAdapter

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
