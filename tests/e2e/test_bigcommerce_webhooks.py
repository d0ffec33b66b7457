"""BigCommerce deliveries through real HTTP: thin payloads posted to the local API, the cart fetched from
the BigCommerce emulator, published, processed by cart_events and written to the Mailchimp emulator;
plus the refusals and the deliveries that are acknowledged without a write.

For cart.deleted and the customer events only the webhook answer and the published event are checked
here; what cart_events does with them is tested with that function.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from commerce_sync.platforms.lines import custom_item_variant_id
from commerce_sync.platforms.signatures import sign_standard_webhook

from emulators.bigcommerce import BigCommerceEmulator
from emulators.mailchimp import MailchimpEmulator
from local_runner.runner import LocalRunner
from tests.harness import MailchimpReader, RegisteredStore, mailchimp_customer_id, register_store

EVENTS = Path(__file__).resolve().parents[2] / "events"
ACCESS_TOKEN = "bc-e2e-access-token"
# The client secret of the app that owns the hooks: BigCommerce signs Standard Webhooks deliveries with it.
CLIENT_SECRET = "bc-e2e-app-client-secret-7Hq2"
TIMEOUT = (3.05, 30)


@pytest.fixture
def bigcommerce() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(f"e2e{uuid.uuid4().hex[:10]}", ACCESS_TOKEN) as running:
        yield running


def register_bigcommerce(bigcommerce: BigCommerceEmulator, **options: Any) -> RegisteredStore:
    return register_store(
        "bigcommerce",
        identity=bigcommerce.store_hash,
        currency_code="EUR",
        platform_api_url=bigcommerce.base_url,
        platform_api_credentials={"access_token": ACCESS_TOKEN},
        **options,
    )


@pytest.fixture
def bc_store(runner: LocalRunner, bigcommerce: BigCommerceEmulator) -> RegisteredStore:
    return register_bigcommerce(bigcommerce)


@pytest.fixture
def bc_store_with_client_secret(runner: LocalRunner, bigcommerce: BigCommerceEmulator) -> RegisteredStore:
    """A store registered with the app's client secret beside its header token; BigCommerce signs with it."""
    bigcommerce.set_client_secret(CLIENT_SECRET)
    return register_bigcommerce(bigcommerce, client_secret=CLIENT_SECRET)


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def put_cart(bigcommerce: BigCommerceEmulator, **changes: Any) -> dict[str, Any]:
    """The sample cart under a fresh id, with its customer and their newsletter subscription."""
    cart = sample("bigcommerce_cart.json")["data"]
    del cart["redirect_urls"]
    cart.update(id=str(uuid.uuid4()), **changes)
    customer = sample("bigcommerce_customer.json")["data"][0]
    bigcommerce.put_customer(customer)
    bigcommerce.put_subscriber({"email": customer["email"], "consents": ["marketing_newsletter"]})
    return bigcommerce.put_cart(cart)


def thin(bigcommerce: BigCommerceEmulator, scope: str, data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A delivery as BigCommerce sends it: scope, store, the changed entity's id, hash, time, producer."""
    body = {
        "scope": scope,
        "store_id": "1025646",
        "data": data,
        "hash": uuid.uuid4().hex + "0" * 8,
        "created_at": int(time.time()),
        "producer": f"stores/{bigcommerce.store_hash}",
    }
    body.update(changes)
    return body


def deliver(
    runner: LocalRunner, body: dict[str, Any] | bytes, token: str | None, headers: dict[str, str] | None = None
) -> requests.Response:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", "User-Agent": "BigCommerce-Webhooks/1.0", **(headers or {})}
    if token is not None:
        sent["X-Commerce-Sync-Token"] = token
    return requests.post(f"{runner.url}/webhooks/bigcommerce", data=raw, headers=sent, timeout=TIMEOUT)


def writes_to(mailchimp: MailchimpEmulator, store_id: str) -> list[tuple[str, str]]:
    prefix = f"/3.0/ecommerce/stores/{store_id}/"
    return [
        (request["method"], request["path"])
        for request in mailchimp.requests
        if request["method"] != "GET" and request["path"].startswith(prefix)
    ]


def published_types(logs: io.StringIO, event_id: str) -> list[str]:
    """The types the receiver logged when it published `event_id` (Powertools JSON lines)."""
    for line in logs.getvalue().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("message") == "webhook accepted" and event_id in record.get("event_ids", []):
            return list(record["types"])
    return []


def test_cart_updated_is_fetched_and_lands_in_mailchimp(
    runner: LocalRunner,
    bigcommerce: BigCommerceEmulator,
    bc_store: RegisteredStore,
    mailchimp_reader: MailchimpReader,
) -> None:
    cart = put_cart(bigcommerce)
    body = thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": cart["id"]})

    response = deliver(runner, body, bc_store.webhook_secret)

    assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "accepted",
        "event_ids": [f"bigcommerce:{body['hash']}:store/cart/updated:{body['created_at']}"],
    }
    runner.wait_until_idle()
    store = bc_store.store_id
    held = mailchimp_reader.resource(f"/ecommerce/stores/{store}/carts/{cart['id']}")
    assert held is not None
    assert held["checkout_url"] == bigcommerce.last_redirect_urls(cart["id"])["checkout_url"]  # type: ignore[index]
    assert held["currency_code"] == "EUR"
    assert held["order_total"] == 66.89
    assert held["customer"]["id"] == mailchimp_customer_id(held["customer"]["email_address"])
    assert held["customer"]["email_address"] == "zoe.martin-lefevre@example.com"
    items = [*cart["line_items"]["physical_items"], *cart["line_items"]["digital_items"]]
    [custom] = cart["line_items"]["custom_items"]
    # The custom item (gift wrap) is a variant of the store's custom-items product (docs/line-items.md).
    assert sorted((line["product_variant_id"], line["quantity"], line["price"]) for line in held["lines"]) == sorted(
        [
            *((str(item["variant_id"]), item["quantity"], item["sale_price"]) for item in items),
            (custom_item_variant_id(custom["name"], custom["sku"]), custom["quantity"], custom["list_price"]),
        ]
    )
    customer = mailchimp_reader.resource(f"/ecommerce/stores/{store}/customers/{held['customer']['id']}")
    assert customer is not None
    assert customer["email_address"] == "zoe.martin-lefevre@example.com"
    assert (customer["first_name"], customer["opt_in_status"]) == ("Zoë", True)
    product = mailchimp_reader.resource(f"/ecommerce/stores/{store}/products/191")
    assert product is not None and product["title"] == "Tasse Café Crème \u2013 Ø 9 cm"


def test_a_standard_webhooks_signed_line_item_event_lands_the_cart(
    runner: LocalRunner,
    bigcommerce: BigCommerceEmulator,
    bc_store: RegisteredStore,
    mailchimp_reader: MailchimpReader,
) -> None:
    # bc_store holds no client_secret (as every store registered before it existed): its webhook secret
    # keeps verifying signatures, so nothing breaks on upgrade.
    cart = put_cart(bigcommerce, customer_id=0, email="Guest.Shopper@Example.NET")
    raw = json.dumps(
        thin(bigcommerce, "store/cart/lineItem/created", {"type": "cart_line_item", "id": "l1", "cartId": cart["id"]})
    ).encode()
    message_id, sent_at = f"msg_{uuid.uuid4().hex}", int(time.time())
    signed = {
        "webhook-id": message_id,
        "webhook-timestamp": str(sent_at),
        "webhook-signature": sign_standard_webhook(bc_store.webhook_secret, message_id, sent_at, raw),
    }

    response = deliver(runner, raw, token=None, headers=signed)

    assert response.status_code == 202, response.text
    runner.wait_until_idle()
    held = mailchimp_reader.resource(f"/ecommerce/stores/{bc_store.store_id}/carts/{cart['id']}")
    assert held is not None
    assert held["customer"]["email_address"] == "guest.shopper@example.net"
    assert len(held["lines"]) == 4  # three catalog items and the custom item


def test_a_forged_or_missing_token_is_401_and_nothing_is_fetched_or_written(
    runner: LocalRunner,
    bigcommerce: BigCommerceEmulator,
    bc_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
) -> None:
    cart = put_cart(bigcommerce)
    body = thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": cart["id"]})

    forged = deliver(runner, body, "not-the-store-token")
    missing = deliver(runner, body, token=None)

    assert forged.status_code == 401 and "does not match" in forged.json()["message"]
    assert missing.status_code == 401 and "missing" in missing.json()["message"]
    runner.wait_until_idle()
    assert bigcommerce.requests == []
    assert writes_to(mailchimp, bc_store.store_id) == []


def test_an_unknown_store_hash_is_404(
    runner: LocalRunner, bigcommerce: BigCommerceEmulator, bc_store: RegisteredStore
) -> None:
    body = thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": "x"}, producer="stores/nobodyregistered")

    response = deliver(runner, body, bc_store.webhook_secret)

    assert response.status_code == 404
    assert "no active bigcommerce store" in response.json()["message"]


def test_a_payload_without_producer_is_a_400_naming_it(runner: LocalRunner) -> None:
    response = deliver(runner, {"scope": "store/cart/updated", "data": {"id": "x"}}, token="anything")

    assert response.status_code == 400
    assert response.json()["message"].startswith("producer:")


def test_a_duplicate_delivery_writes_nothing_more(
    runner: LocalRunner,
    bigcommerce: BigCommerceEmulator,
    bc_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
) -> None:
    cart = put_cart(bigcommerce)
    body = thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": cart["id"]})
    first = deliver(runner, body, bc_store.webhook_secret)
    runner.wait_until_idle()
    writes_after_first = writes_to(mailchimp, bc_store.store_id)

    again = deliver(runner, body, bc_store.webhook_secret)
    runner.wait_until_idle()

    assert first.status_code == again.status_code == 202
    assert again.json()["event_ids"] == first.json()["event_ids"]
    assert writes_after_first
    assert writes_to(mailchimp, bc_store.store_id) == writes_after_first


def test_a_cart_gone_before_the_fetch_is_acknowledged_and_ignored(
    runner: LocalRunner,
    bigcommerce: BigCommerceEmulator,
    bc_store: RegisteredStore,
    mailchimp: MailchimpEmulator,
) -> None:
    gone = str(uuid.uuid4())

    response = deliver(
        runner, thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": gone}), bc_store.webhook_secret
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ignored", "reason": f"cart {gone} no longer exists on BigCommerce"}
    assert [r["status"] for r in bigcommerce.requests] == [404]
    runner.wait_until_idle()
    assert writes_to(mailchimp, bc_store.store_id) == []


def test_unhandled_scopes_and_vanished_orders_are_acknowledged(
    runner: LocalRunner, bigcommerce: BigCommerceEmulator, bc_store: RegisteredStore
) -> None:
    vanished = deliver(
        runner, thin(bigcommerce, "store/order/created", {"type": "order", "id": 250}), bc_store.webhook_secret
    )
    ignored = deliver(
        runner, thin(bigcommerce, "store/category/created", {"type": "category", "id": 42}), bc_store.webhook_secret
    )

    assert vanished.status_code == 200 and vanished.json()["status"] == "ignored"
    assert ignored.status_code == 200 and ignored.json()["status"] == "ignored"


def test_a_bigcommerce_api_that_fails_or_refuses_the_token_is_a_server_error_without_secrets(
    runner: LocalRunner,
    bigcommerce: BigCommerceEmulator,
    bc_store: RegisteredStore,
    captured_logs: io.StringIO,
) -> None:
    cart = put_cart(bigcommerce)
    body = thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": cart["id"]})
    bigcommerce.set_faults(rate_500=1.0)

    failing = deliver(runner, body, bc_store.webhook_secret)
    bigcommerce.set_faults()
    bigcommerce.revoke_access_token(ACCESS_TOKEN)
    refused = deliver(runner, body, bc_store.webhook_secret)

    # 503 (StoreApiUnavailable), so BigCommerce delivers again later.
    assert failing.status_code == 503 and refused.status_code == 503
    for text in (failing.text, refused.text, captured_logs.getvalue()):
        assert ACCESS_TOKEN not in text and bc_store.webhook_secret not in text


@pytest.mark.parametrize(
    ("scope", "data", "event_type"),
    [
        ("store/cart/converted", {"type": "cart", "id": "CART", "orderId": 252}, "cart.deleted"),
        ("store/cart/deleted", {"type": "cart", "id": "CART"}, "cart.deleted"),
        ("store/customer/updated", {"type": "customer", "id": 42}, "customer.updated"),
        ("store/customer/deleted", {"type": "customer", "id": 42}, "customer.deleted"),
    ],
)
def test_removals_and_customer_events_are_published_with_their_type(
    runner: LocalRunner,
    bigcommerce: BigCommerceEmulator,
    bc_store: RegisteredStore,
    captured_logs: io.StringIO,
    scope: str,
    data: dict[str, Any],
    event_type: str,
) -> None:
    cart = put_cart(bigcommerce)
    body = thin(bigcommerce, scope, {**data, "id": cart["id"]} if data["id"] == "CART" else data)

    response = deliver(runner, body, bc_store.webhook_secret)

    assert response.status_code == 202, response.text
    [event_id] = response.json()["event_ids"]
    assert event_id == f"bigcommerce:{body['hash']}:{scope}:{body['created_at']}"
    assert published_types(captured_logs, event_id) == [event_type]
    # Removals fetch nothing (a converted cart is gone); customer.updated reads the customer and consent.
    fetched = [r["path"].rsplit("/v3/", 1)[1] for r in bigcommerce.requests]
    assert fetched == (["customers", "customers/subscribers"] if event_type == "customer.updated" else [])


# ----- the header token and the app's client secret, each enough on its own --------------------------------


def cart_updated(bigcommerce: BigCommerceEmulator) -> tuple[dict[str, Any], dict[str, Any]]:
    cart = put_cart(bigcommerce)
    return cart, thin(bigcommerce, "store/cart/updated", {"type": "cart", "id": cart["id"]})


def test_a_store_with_a_client_secret_takes_bigcommerces_signature_or_the_header_token(
    runner: LocalRunner,
    bigcommerce: BigCommerceEmulator,
    bc_store_with_client_secret: RegisteredStore,
    mailchimp_reader: MailchimpReader,
) -> None:
    store = bc_store_with_client_secret
    # A hook without our header (registered by the merchant's app): only BigCommerce's signature vouches for it.
    unsigned_hook = bigcommerce.put_hook("store/cart/updated", f"{runner.url}/webhooks/bigcommerce")
    signed_cart, signed_body = cart_updated(bigcommerce)
    token_cart, token_body = cart_updated(bigcommerce)

    by_signature = bigcommerce.deliver(unsigned_hook["id"], signed_body)
    by_token = deliver(runner, token_body, store.webhook_secret)

    assert by_signature.status_code == 202, by_signature.text
    assert by_token.status_code == 202, by_token.text
    runner.wait_until_idle()
    for cart in (signed_cart, token_cart):
        assert mailchimp_reader.resource(f"/ecommerce/stores/{store.store_id}/carts/{cart['id']}") is not None


def test_once_a_client_secret_is_kept_a_signature_made_with_the_header_token_is_refused(
    runner: LocalRunner,
    bigcommerce: BigCommerceEmulator,
    bc_store_with_client_secret: RegisteredStore,
    mailchimp: MailchimpEmulator,
    captured_logs: io.StringIO,
) -> None:
    store = bc_store_with_client_secret
    _, body = cart_updated(bigcommerce)
    raw = json.dumps(body).encode()
    message_id, sent_at = f"msg_{uuid.uuid4().hex}", int(time.time())
    signed_with_token = {
        "webhook-id": message_id,
        "webhook-timestamp": str(sent_at),
        "webhook-signature": sign_standard_webhook(store.webhook_secret, message_id, sent_at, raw),
    }
    # The app's client secret was regenerated in the developer portal and the store was not told.
    bigcommerce.set_client_secret("bc-e2e-regenerated-client-secret")
    stale_hook = bigcommerce.put_hook("store/cart/updated", f"{runner.url}/webhooks/bigcommerce")

    refused = deliver(runner, raw, token=None, headers=signed_with_token)
    stale = bigcommerce.deliver(stale_hook["id"], body)

    for response in (refused, stale):
        assert response.status_code == 401, response.text
        assert response.json()["message"] == "Standard Webhooks signature: the signature does not match"
    runner.wait_until_idle()
    assert bigcommerce.requests == []
    assert writes_to(mailchimp, store.store_id) == []
    assert store.webhook_secret not in captured_logs.getvalue() and CLIENT_SECRET not in captured_logs.getvalue()


def test_a_store_without_a_client_secret_still_takes_a_hook_with_its_token_whatever_signs_it(
    runner: LocalRunner, bigcommerce: BigCommerceEmulator, bc_store: RegisteredStore
) -> None:
    # BigCommerce signs with an app client secret this store never recorded; the hook's token is enough.
    bigcommerce.set_client_secret("an-app-secret-the-store-does-not-hold")
    hook = bigcommerce.put_hook(
        "store/cart/updated",
        f"{runner.url}/webhooks/bigcommerce",
        headers={"X-Commerce-Sync-Token": bc_store.webhook_secret},
    )
    _, body = cart_updated(bigcommerce)

    response = bigcommerce.deliver(hook["id"], body)

    assert response.status_code == 202, response.text
