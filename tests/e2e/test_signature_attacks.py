"""Signature attacks on every signed webhook route, through the local runner over real HTTP.

For each scheme (docs: platforms/signatures.py): Shopify's and WooCommerce's base64 HMAC-SHA256 of the body,
BigCommerce's `X-Commerce-Sync-Token` header and its Standard Webhooks signature, API2Cart's callback-URL token and
its `X-Webhook-Signature` over body and headers, and the canonical route's Standard Webhooks signature: a wrong
secret, a truncated signature, a case-changed one (every signature here is base64 or a plain token, both
case-sensitive: there is no hex scheme), the body changed after signing, and, where the scheme signs a time, a
timestamp outside its tolerance (300 s both ways) are each refused with 401 and a message, and nothing for the store
reaches Mailchimp. A valid delivery sent twice (an old delivery replayed) is applied once: the second answer names the
same events and writes nothing more.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from commerce_sync.platforms.signatures import sign_base64_hmac, sign_standard_webhook

from emulators.api2cart import Api2CartEmulator
from emulators.api2cart.app import a2c_time
from emulators.bigcommerce import BigCommerceEmulator
from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from local_runner.senders import shopify_headers
from tests.harness import RegisteredStore, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"
TIMEOUT = (3.05, 60)
A2C_KEY = "a2c-sigattack-api-key-0123456789ab"
BC_TOKEN = "bc-sigattack-access-token"
OUTSIDE_TOLERANCE = 3600


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def unique_number() -> int:
    return int(uuid.uuid4().int % 10**12) + 1


def swapped_case(text: str) -> str:
    changed = text.swapcase()
    assert changed != text
    return changed


@dataclass
class Delivery:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)

    def send(self) -> requests.Response:
        return requests.post(self.url, data=self.body, headers=self.headers, timeout=TIMEOUT)


@dataclass
class Target:
    """One signed route with one store: `make(secret, sent_at)` builds a valid delivery of a fresh entity signed
    with `secret` (the store's own by default) at `sent_at` (now by default)."""

    store: RegisteredStore
    make: Callable[[str | None, int | None], Delivery]
    signature_header: str
    # What an attacker changes in a signed body: the shopper's address, or (BigCommerce's thin body) the entity id.
    tamper: tuple[bytes, bytes] = (b'"sig.', b'"evil.')


# ---- the routes ----------------------------------------------------------------------------------------------


def shopify_target(runner: LocalRunner) -> Target:
    store = register_store("shopify")

    def make(secret: str | None, sent_at: int | None) -> Delivery:
        customer = sample("shopify_customer_update_body.json")
        customer.update(id=unique_number(), email=f"sig.{uuid.uuid4().hex[:8]}@example.com")
        body = json.dumps(customer).encode()
        headers = shopify_headers(secret or store.webhook_secret, "customers/update", store.identity, body)
        return Delivery(f"{runner.url}/webhooks/shopify", body, headers)

    return Target(store, make, "X-Shopify-Hmac-Sha256")


def woocommerce_target(runner: LocalRunner) -> Target:
    store = register_store("woocommerce", identity=f"https://{uuid.uuid4().hex[:12]}.example.com")

    def make(secret: str | None, sent_at: int | None) -> Delivery:
        customer = sample("woocommerce_customer_created.json")
        customer.update(id=unique_number(), email=f"sig.{uuid.uuid4().hex[:8]}@example.com")
        body = json.dumps(customer).encode()
        headers = {
            "Content-Type": "application/json",
            "X-WC-Webhook-Source": store.identity + "/",
            "X-WC-Webhook-Topic": "customer.created",
            "X-WC-Webhook-Signature": sign_base64_hmac(secret or store.webhook_secret, body),
            "X-WC-Webhook-Delivery-ID": uuid.uuid4().hex,
        }
        return Delivery(f"{runner.url}/webhooks/woocommerce", body, headers)

    return Target(store, make, "X-WC-Webhook-Signature")


def standard_webhook_headers(secret: str, body: bytes, sent_at: int | None) -> dict[str, str]:
    message_id, timestamp = f"msg_{uuid.uuid4().hex}", sent_at if sent_at is not None else int(time.time())
    return {
        "Content-Type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_standard_webhook(secret, message_id, timestamp, body),
    }


def canonical_target(runner: LocalRunner) -> Target:
    store = register_store("canonical")

    def make(secret: str | None, sent_at: int | None) -> Delivery:
        cart_id = uuid.uuid4().hex
        event = {
            "schema_version": "1",
            "event_id": f"sig:{uuid.uuid4().hex}",
            "type": "cart.updated",
            "store_id": store.store_id,
            "platform": "canonical",
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "entity_id": cart_id,
            "entity_version": f"{time.time_ns()}",
            "data": {
                "id": cart_id,
                "customer": {"email": f"sig.{uuid.uuid4().hex[:8]}@example.com"},
                "currency_code": "USD",
                "order_total": "10.00",
                "checkout_url": "https://shop.example.com/checkout",
                "lines": [
                    {
                        "id": "l1",
                        "product_id": "p1",
                        "variant_id": "v1",
                        "product_title": "Socks",
                        "quantity": 1,
                        "price": "10.00",
                    }
                ],
            },
        }
        body = json.dumps(event).encode()
        headers = {
            "commerce-sync-store": store.store_id,
            **standard_webhook_headers(secret or store.webhook_secret, body, sent_at),
        }
        return Delivery(f"{runner.url}/webhooks/canonical", body, headers)

    return Target(store, make, "webhook-signature")


def bigcommerce_delivery(store: RegisteredStore, bigcommerce: BigCommerceEmulator) -> bytes:
    customer_id = unique_number() % 10**9
    bigcommerce.put_customer(
        {
            "id": customer_id,
            "email": f"sig.{uuid.uuid4().hex[:8]}@example.com",
            "first_name": "Sig",
            "last_name": "Attack",
            "accepts_product_review_abandoned_cart_emails": False,
        }
    )
    body = {
        "scope": "store/customer/updated",
        "store_id": "1025646",
        "data": {"type": "customer", "id": customer_id},
        "hash": uuid.uuid4().hex,
        "created_at": int(time.time()),
        "producer": f"stores/{store.identity}",
    }
    return json.dumps(body).encode()


def bigcommerce_store(bigcommerce: BigCommerceEmulator) -> RegisteredStore:
    return register_store(
        "bigcommerce",
        identity=bigcommerce.store_hash,
        platform_api_url=bigcommerce.base_url,
        platform_api_credentials={"access_token": BC_TOKEN},
    )


def bigcommerce_token_target(runner: LocalRunner, bigcommerce: BigCommerceEmulator) -> Target:
    store = bigcommerce_store(bigcommerce)

    def make(secret: str | None, sent_at: int | None) -> Delivery:
        headers = {"Content-Type": "application/json", "X-Commerce-Sync-Token": secret or store.webhook_secret}
        return Delivery(f"{runner.url}/webhooks/bigcommerce", bigcommerce_delivery(store, bigcommerce), headers)

    return Target(store, make, "X-Commerce-Sync-Token")


def bigcommerce_signed_target(runner: LocalRunner, bigcommerce: BigCommerceEmulator) -> Target:
    """No client secret is registered, so the webhook secret signs (platforms/bigcommerce/webhooks.py)."""
    store = bigcommerce_store(bigcommerce)

    def make(secret: str | None, sent_at: int | None) -> Delivery:
        body = bigcommerce_delivery(store, bigcommerce)
        headers = standard_webhook_headers(secret or store.webhook_secret, body, sent_at)
        return Delivery(f"{runner.url}/webhooks/bigcommerce", body, headers)

    return Target(store, make, "webhook-signature", tamper=(b'"id": ', b'"id": 1'))


def api2cart_target(runner: LocalRunner, api2cart: Api2CartEmulator) -> Target:
    store_key = api2cart.add_store(f"Sig{uuid.uuid4().hex[:6]}", url="https://sig.example", currency="USD")
    store = register_store(
        "api2cart",
        identity=store_key,
        platform_api_url=api2cart.base_url,
        platform_api_credentials={"api_key": A2C_KEY, "store_key": store_key},
    )

    def make(secret: str | None, sent_at: int | None) -> Delivery:
        # As `customer.info` answers it, with the time it changed (which dates the event, and so names it).
        customer = {
            "id": str(unique_number()),
            "email": f"sig.{uuid.uuid4().hex[:8]}@example.com",
            "first_name": "Sig",
            "last_name": "Attack",
            "modified_time": a2c_time(datetime.now(UTC)),
        }
        body = json.dumps(customer).encode()
        signer = Api2CartEmulator(secret) if secret else api2cart
        headers = signer.signed_headers("customer", "update", body, sent_at=sent_at)
        url = f"{runner.url}/webhooks/api2cart?store={store.store_id}&token={store.webhook_secret}"
        return Delivery(url, body, headers)

    return Target(store, make, "X-Webhook-Signature")


# ---- fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api2cart() -> Iterator[Api2CartEmulator]:
    with Api2CartEmulator(A2C_KEY) as running:
        yield running


ROUTES = ["shopify", "woocommerce", "canonical", "bigcommerce-token", "bigcommerce-signed", "api2cart"]
TIMED = ["canonical", "bigcommerce-signed", "api2cart"]
# The X-Commerce-Sync-Token header authenticates the sender, not the body (BigCommerce's own hooks sign nothing).
BODY_SIGNED = [route for route in ROUTES if route != "bigcommerce-token"]


@pytest.fixture
def target_of(runner: LocalRunner, api2cart: Api2CartEmulator) -> Iterator[Callable[[str], Target]]:
    """Each BigCommerce store has a stand-in of its own: the store hash is its identity."""
    emulators = ExitStack()

    def bigcommerce() -> BigCommerceEmulator:
        return emulators.enter_context(BigCommerceEmulator(f"sa{uuid.uuid4().hex[:10]}", BC_TOKEN))

    def build(route: str) -> Target:
        builders: dict[str, Callable[[], Target]] = {
            "shopify": lambda: shopify_target(runner),
            "woocommerce": lambda: woocommerce_target(runner),
            "canonical": lambda: canonical_target(runner),
            "bigcommerce-token": lambda: bigcommerce_token_target(runner, bigcommerce()),
            "bigcommerce-signed": lambda: bigcommerce_signed_target(runner, bigcommerce()),
            "api2cart": lambda: api2cart_target(runner, api2cart),
        }
        return builders[route]()

    with emulators:
        yield build


def writes_for(mailchimp: MailchimpEmulator, store_id: str, since: int) -> list[dict[str, Any]]:
    return [
        request
        for request in mailchimp.requests[since:]
        if store_id in request["path"] and request["method"] in ("POST", "PUT", "PATCH", "DELETE")
    ]


def assert_refused_and_nothing_written(
    runner: LocalRunner, mailchimp: MailchimpEmulator, target: Target, delivery: Delivery
) -> None:
    before = len(mailchimp.requests)
    answer = delivery.send()
    assert answer.status_code == 401, answer.text
    assert answer.json().get("message"), answer.text
    runner.wait_until_idle(timeout=60)
    assert not writes_for(mailchimp, target.store.store_id, before), "a refused delivery wrote to Mailchimp"


# ---- the attacks ---------------------------------------------------------------------------------------------


def test_every_route_accepts_its_valid_delivery(
    runner: LocalRunner, mailchimp: MailchimpEmulator, target_of: Callable[[str], Target]
) -> None:
    """The baseline the attacks alter: each route's valid delivery is accepted and written."""
    for route in ROUTES:
        target = target_of(route)
        before = len(mailchimp.requests)
        answer = target.make(None, None).send()
        assert answer.status_code == 202, (route, answer.text)
        runner.wait_until_idle(timeout=60)
        assert writes_for(mailchimp, target.store.store_id, before), route


@pytest.mark.parametrize("route", ROUTES)
def test_a_wrong_secret_is_refused(
    runner: LocalRunner, mailchimp: MailchimpEmulator, target_of: Callable[[str], Target], route: str
) -> None:
    target = target_of(route)
    wrong = f"wrong-{uuid.uuid4().hex}"
    assert_refused_and_nothing_written(runner, mailchimp, target, target.make(wrong, None))


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("cut", ["half", "last-char", "empty-after-scheme"])
def test_a_truncated_signature_is_refused(
    runner: LocalRunner, mailchimp: MailchimpEmulator, target_of: Callable[[str], Target], route: str, cut: str
) -> None:
    target = target_of(route)
    delivery = target.make(None, None)
    signature = delivery.headers[target.signature_header]
    truncated = {
        "half": signature[: len(signature) // 2],
        "last-char": signature[:-1],
        "empty-after-scheme": signature.split(",")[0] + "," if "," in signature else signature[:1],
    }[cut]
    delivery.headers[target.signature_header] = truncated
    assert_refused_and_nothing_written(runner, mailchimp, target, delivery)


@pytest.mark.parametrize("route", ROUTES)
def test_a_case_changed_signature_is_refused(
    runner: LocalRunner, mailchimp: MailchimpEmulator, target_of: Callable[[str], Target], route: str
) -> None:
    """Base64 and the plain token are case-sensitive: a case-changed value is another value. (No scheme here is
    hex, so there is no case-insensitive encoding to accept.) The Standard Webhooks `v1,` prefix is kept so only
    the signature itself changes."""
    target = target_of(route)
    delivery = target.make(None, None)
    signature = delivery.headers[target.signature_header]
    scheme, comma, value = signature.rpartition(",")
    delivery.headers[target.signature_header] = scheme + comma + swapped_case(value)
    assert_refused_and_nothing_written(runner, mailchimp, target, delivery)


@pytest.mark.parametrize("route", BODY_SIGNED)
def test_a_body_changed_after_signing_is_refused(
    runner: LocalRunner, mailchimp: MailchimpEmulator, target_of: Callable[[str], Target], route: str
) -> None:
    target = target_of(route)
    delivery = target.make(None, None)
    changed = replace(delivery, body=delivery.body.replace(*target.tamper, 1))
    assert changed.body != delivery.body
    assert_refused_and_nothing_written(runner, mailchimp, target, changed)


@pytest.mark.parametrize("route", TIMED)
@pytest.mark.parametrize("offset", [-OUTSIDE_TOLERANCE, -302, OUTSIDE_TOLERANCE])
def test_a_timestamp_outside_the_tolerance_is_refused(
    runner: LocalRunner, mailchimp: MailchimpEmulator, target_of: Callable[[str], Target], route: str, offset: int
) -> None:
    """Signed correctly, but at a time more than 300 s from now (a stale delivery replayed, or one from the
    future). -302 s is just outside the window."""
    target = target_of(route)
    delivery = target.make(None, int(time.time()) + offset)
    assert_refused_and_nothing_written(runner, mailchimp, target, delivery)


@pytest.mark.parametrize("route", ROUTES)
def test_an_old_delivery_replayed_is_applied_once(
    runner: LocalRunner, mailchimp: MailchimpEmulator, target_of: Callable[[str], Target], route: str
) -> None:
    """The same signed delivery twice (within the tolerance, where there is one): the second is acknowledged as the
    same events and writes nothing more to Mailchimp."""
    target = target_of(route)
    delivery = target.make(None, None)
    before = len(mailchimp.requests)
    first = delivery.send()
    assert first.status_code == 202, first.text
    runner.wait_until_idle(timeout=60)
    assert writes_for(mailchimp, target.store.store_id, before)

    after_first = len(mailchimp.requests)
    second = delivery.send()
    # Acknowledged again (a platform resends what it thinks was lost), as the same events: the consumers skip them
    # as duplicates (docs/outcomes.md).
    assert second.status_code == 202, second.text
    assert second.json()["event_ids"] == first.json()["event_ids"], (first.text, second.text)
    runner.wait_until_idle(timeout=60)
    assert not writes_for(mailchimp, target.store.store_id, after_first), "a replayed delivery was applied again"
