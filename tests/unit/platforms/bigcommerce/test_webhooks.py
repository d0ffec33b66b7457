"""The BigCommerce adapter: identity, authenticity, the mapping of fetched carts and customers, and the
scopes that need no fetch, on the samples in events/ (bigcommerce_*.json). The paths that fetch from
the store's API run against the BigCommerce emulator on 127.0.0.1 (real HTTP, no mocks)."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from commerce_sync.aws.secret_store import SigningSecret
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import CUSTOM_ITEMS_PRODUCT_ID, CartRemovalReason, ConsentState, EventType
from commerce_sync.platforms.adapter import StoreApi, WebhookRequest
from commerce_sync.platforms.bigcommerce.models import (
    TOKEN_HEADER,
    BcCart,
    BcCustomer,
    BcSubscriber,
    consent_from_subscriber,
)
from commerce_sync.platforms.bigcommerce.webhooks import BigCommerceAdapter, to_canonical_cart
from commerce_sync.platforms.http import HttpPolicy, StoreApiUnavailable
from commerce_sync.platforms.lines import custom_item_variant_id
from commerce_sync.platforms.registry import adapters
from commerce_sync.platforms.signatures import SignatureError, sign_standard_webhook

from emulators.bigcommerce import BigCommerceEmulator
from tests.paths import EVENTS

STORE_HASH = "k7x2m9q4ab"
SECRET = "bc-hook-token-8sPq2"
ACCESS_TOKEN = "bc-access-token-Zr71"
CART_ID = "a4c3e1b2-7d6f-4e8a-9b0c-1d2e3f4a5b6c"
FAST = HttpPolicy(connect_timeout=1.0, read_timeout=2.0, retries=2, backoff_factor=0.01, backoff_max=0.05, max_wait=1)


def sample(name: str) -> Any:
    return json.loads((EVENTS / name).read_text(encoding="utf-8"))


def fetched_cart(**changes: Any) -> dict[str, Any]:
    cart = sample("bigcommerce_cart.json")["data"]
    cart.update(changes)
    return cart


def fetched_customer(**changes: Any) -> dict[str, Any]:
    customer = sample("bigcommerce_customer.json")["data"][0]
    customer.update(changes)
    return customer


def delivery(payload: dict[str, Any] | bytes, **headers: str) -> WebhookRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return WebhookRequest(platform="bigcommerce", headers=headers, body=body)


def webhook(scope: str, data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = sample("bigcommerce_cart_updated_webhook.json")
    body.update(scope=scope, data=data, **changes)
    return body


@pytest.fixture
def bc_store() -> Store:
    return Store(
        store_id="bc-shop",
        platform="bigcommerce",
        identity=STORE_HASH,
        name="Atelier Zoë",
        list_id="a1b2c3d4e5",
        currency_code="EUR",
        secret_id="commerce-sync/stores/bc-shop",
    )


@pytest.fixture
def adapter() -> BigCommerceAdapter:
    return BigCommerceAdapter(policy=FAST)


@pytest.fixture
def emulator() -> Iterator[BigCommerceEmulator]:
    with BigCommerceEmulator(STORE_HASH, ACCESS_TOKEN) as running:
        yield running


@pytest.fixture
def api(emulator: BigCommerceEmulator) -> StoreApi:
    return StoreApi(base_url=emulator.base_url, credentials={"access_token": ACCESS_TOKEN})


# ----- registration, identity, authenticity --------------------------------------------------------------


def test_the_adapter_is_registered_under_its_platform_name() -> None:
    assert isinstance(adapters()["bigcommerce"], BigCommerceAdapter)


def test_store_identity_is_the_hash_in_producer(adapter: BigCommerceAdapter) -> None:
    assert adapter.store_identity(delivery(sample("bigcommerce_cart_updated_webhook.json"))) == STORE_HASH


@pytest.mark.parametrize(
    "body",
    [
        {"scope": "store/cart/updated"},
        {"producer": "merchants/abc"},
        {"producer": "stores/"},
        {"producer": 17},
        ["stores/abc"],
    ],
)
def test_store_identity_without_a_producer_hash_is_a_400_naming_producer(
    adapter: BigCommerceAdapter, body: Any
) -> None:
    with pytest.raises(BadRequest) as refused:
        adapter.store_identity(delivery(json.dumps(body).encode()))
    assert refused.value.field == "producer"


def test_store_identity_of_a_body_that_is_not_json_is_a_400(adapter: BigCommerceAdapter) -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        adapter.store_identity(delivery(b'{"producer": "stores/'))


def test_the_token_header_is_matched_against_every_candidate_secret(adapter: BigCommerceAdapter) -> None:
    request = delivery(sample("bigcommerce_cart_updated_webhook.json"), **{TOKEN_HEADER: SECRET})

    assert adapter.verify(request, [SECRET, "pending"]) == 0
    assert adapter.verify(request, ["old-one", SECRET]) == 1


def test_the_token_header_is_read_case_insensitively(adapter: BigCommerceAdapter) -> None:
    request = delivery(sample("bigcommerce_cart_updated_webhook.json"), **{TOKEN_HEADER.lower(): SECRET})

    assert adapter.verify(request, [SECRET]) == 0


def test_a_wrong_token_is_refused(adapter: BigCommerceAdapter) -> None:
    request = delivery(sample("bigcommerce_cart_updated_webhook.json"), **{TOKEN_HEADER: SECRET + "x"})

    with pytest.raises(SignatureError, match="does not match"):
        adapter.verify(request, [SECRET, ""])


def test_a_delivery_with_neither_token_nor_signature_is_refused_as_missing(adapter: BigCommerceAdapter) -> None:
    with pytest.raises(SignatureError, match="missing"):
        adapter.verify(delivery(sample("bigcommerce_cart_updated_webhook.json")), [SECRET])


def signed_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    message_id, sent_at = f"msg_{uuid.uuid4().hex}", timestamp or int(time.time())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(sent_at),
        "webhook-signature": sign_standard_webhook(secret, message_id, sent_at, body),
    }


def test_a_standard_webhooks_signature_is_verified(adapter: BigCommerceAdapter) -> None:
    body = json.dumps(sample("bigcommerce_cart_updated_webhook.json")).encode()

    assert adapter.verify(delivery(body, **signed_headers(SECRET, body)), ["old", SECRET]) == 1


def test_a_forged_or_stale_signature_without_a_token_is_refused(adapter: BigCommerceAdapter) -> None:
    body = json.dumps(sample("bigcommerce_cart_updated_webhook.json")).encode()

    with pytest.raises(SignatureError, match="does not match"):
        adapter.verify(delivery(body, **signed_headers("someone-else", body)), [SECRET])
    with pytest.raises(SignatureError, match="window"):
        adapter.verify(delivery(body, **signed_headers(SECRET, body, timestamp=int(time.time()) - 3600)), [SECRET])


def test_a_signature_by_another_key_still_passes_with_our_token(adapter: BigCommerceAdapter) -> None:
    # BigCommerce signs with the app's client secret; our own token in the hook's headers proves the sender.
    body = json.dumps(sample("bigcommerce_cart_updated_webhook.json")).encode()
    headers = {**signed_headers("the-app-client-secret", body), TOKEN_HEADER: SECRET}

    assert adapter.verify(delivery(body, **headers), [SECRET]) == 0
    with pytest.raises(SignatureError, match="does not match"):
        adapter.verify(delivery(body, **{**headers, TOKEN_HEADER: "forged"}), [SECRET])


CLIENT_SECRET = "bc-app-client-secret-Yq3v"


def test_with_a_client_secret_the_token_or_a_client_secret_signature_passes() -> None:
    body = json.dumps(sample("bigcommerce_cart_updated_webhook.json")).encode()
    keyring = [SigningSecret("current", SECRET, CLIENT_SECRET)]
    adapter = BigCommerceAdapter()

    assert adapter.verify_keyring(delivery(body, **{TOKEN_HEADER: SECRET}), keyring) == 0
    assert adapter.verify_keyring(delivery(body, **signed_headers(CLIENT_SECRET, body)), keyring) == 0
    # A forged token does not spoil a good signature, nor a foreign signature a good token: either is enough.
    forged_token = {**signed_headers(CLIENT_SECRET, body), TOKEN_HEADER: "x"}
    foreign_signature = {**signed_headers("x" * 20, body), TOKEN_HEADER: SECRET}
    assert adapter.verify_keyring(delivery(body, **forged_token), keyring) == 0
    assert adapter.verify_keyring(delivery(body, **foreign_signature), keyring) == 0


def test_with_a_client_secret_a_signature_made_with_the_token_is_refused() -> None:
    body = json.dumps(sample("bigcommerce_cart_updated_webhook.json")).encode()
    keyring = [SigningSecret("current", SECRET, CLIENT_SECRET)]

    with pytest.raises(SignatureError, match=r"^Standard Webhooks signature: the signature does not match$"):
        BigCommerceAdapter().verify_keyring(delivery(body, **signed_headers(SECRET, body)), keyring)
    with pytest.raises(SignatureError, match="header does not match; Standard Webhooks signature: the signature"):
        headers = {**signed_headers(SECRET, body), TOKEN_HEADER: CLIENT_SECRET}
        BigCommerceAdapter().verify_keyring(delivery(body, **headers), keyring)


def test_each_version_checks_signatures_with_its_own_key() -> None:
    """Rotation grace for both keys; a version without a client secret (registered before there was one)
    checks signatures with its webhook secret, as every store did before."""
    body = json.dumps(sample("bigcommerce_cart_updated_webhook.json")).encode()
    keyring = [
        SigningSecret("current", "new-token-value-1", "new-client-secret"),
        SigningSecret("previous", "old-token-value-1", None),
    ]
    adapter = BigCommerceAdapter()

    assert adapter.verify_keyring(delivery(body, **signed_headers("new-client-secret", body)), keyring) == 0
    assert adapter.verify_keyring(delivery(body, **signed_headers("old-token-value-1", body)), keyring) == 1
    assert adapter.verify_keyring(delivery(body, **{TOKEN_HEADER: "old-token-value-1"}), keyring) == 1
    with pytest.raises(SignatureError):
        adapter.verify_keyring(delivery(body, **signed_headers("new-token-value-1", body)), keyring)


# ----- mapping a fetched cart ----------------------------------------------------------------------------


def test_a_fetched_cart_becomes_a_canonical_cart() -> None:
    bc_cart = BcCart.model_validate(fetched_cart())
    customer = BcCustomer.model_validate(fetched_customer())
    subscriber = BcSubscriber(email="zoe.martin-lefevre@example.com", consents=["marketing_newsletter"])

    cart = to_canonical_cart(bc_cart, customer, subscriber, fallback_currency="USD")

    assert cart.id == CART_ID
    assert cart.currency_code == "EUR"
    assert cart.order_total == Decimal("66.89")
    assert cart.checkout_url == fetched_cart()["redirect_urls"]["checkout_url"]
    assert cart.updated_at == datetime(2025, 3, 14, 13, 18, 2, tzinfo=UTC)
    assert cart.customer.id == "42"
    assert cart.customer.email == "zoe.martin-lefevre@example.com"
    assert (cart.customer.first_name, cart.customer.last_name) == ("Zoë", "Martin-Lefèvre")
    assert cart.customer.company == "Atelier Zoë"
    assert cart.customer.consent.state is ConsentState.GRANTED
    # Physical and digital items, then the custom item (gift wrap), a variant of the custom-items product.
    assert [(line.product_id, line.variant_id, line.quantity, line.price) for line in cart.lines] == [
        ("191", "362", 2, Decimal("19.50")),
        ("204", "377", 1, Decimal("12.90")),
        ("230", "401", 1, Decimal("9.99")),
        (CUSTOM_ITEMS_PRODUCT_ID, custom_item_variant_id("Emballage cadeau", "GIFT-WRAP"), 1, Decimal("5.00")),
    ]
    first = cart.lines[0]
    assert first.id == "6e193ce6-f327-4dcc-b75e-72cf6738525e"
    assert first.product_title == "Tasse Café Crème \u2013 Ø 9 cm"
    assert first.sku == "MUG-CREME-9"
    assert first.url == "https://www.atelier-zoe.example/tasse-cafe-creme/"
    assert first.image_url and first.image_url.startswith("https://cdn11.bigcommerce.com/")


def test_a_guest_cart_takes_the_cart_email_and_the_store_currency_when_it_has_none() -> None:
    raw = fetched_cart(customer_id=0, email="Guest.Shopper@Example.NET")
    del raw["currency"]
    del raw["redirect_urls"]

    cart = to_canonical_cart(BcCart.model_validate(raw), fallback_currency="CAD")

    assert cart.customer.id is None
    assert cart.customer.email == "guest.shopper@example.net"
    assert cart.customer.consent.state is ConsentState.UNKNOWN
    assert cart.currency_code == "CAD"
    assert cart.checkout_url is None


def test_a_cart_without_any_email_maps_with_none() -> None:
    cart = to_canonical_cart(BcCart.model_validate(fetched_cart(customer_id=0, email="")))

    assert cart.customer.email is None


def test_a_line_without_a_sale_price_uses_its_list_price_and_a_missing_variant_the_product() -> None:
    raw = fetched_cart()
    item = raw["line_items"]["physical_items"][0]
    del item["sale_price"]
    item["variant_id"] = None

    line = to_canonical_cart(BcCart.model_validate(raw)).lines[0]

    assert (line.price, line.variant_id) == (Decimal("24.00"), "191")


@pytest.mark.parametrize(
    ("consents", "state"),
    [
        (["marketing_newsletter"], ConsentState.GRANTED),
        (["abandoned_cart", "marketing_newsletter"], ConsentState.GRANTED),
        (["abandoned_cart"], ConsentState.DENIED),
        ([], ConsentState.DENIED),
        (None, ConsentState.UNKNOWN),
    ],
)
def test_consent_is_granted_only_by_the_newsletter_subscription(
    consents: list[str] | None, state: ConsentState
) -> None:
    assert consent_from_subscriber(BcSubscriber(email="a@b.co", consents=consents)).state is state


def test_no_subscriber_and_the_review_and_abandoned_cart_flag_are_not_consent() -> None:
    customer = BcCustomer.model_validate(fetched_customer(accepts_product_review_abandoned_cart_emails=True))
    cart = to_canonical_cart(BcCart.model_validate(fetched_cart()), customer, None)

    assert consent_from_subscriber(None).state is ConsentState.UNKNOWN
    assert cart.customer.consent.state is ConsentState.UNKNOWN


# ----- scopes that need no fetch -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [("bigcommerce_cart_converted_webhook.json", CartRemovalReason.CONVERTED), (None, CartRemovalReason.DELETED)],
)
def test_cart_deleted_and_converted_become_cart_deleted_without_a_fetch(
    adapter: BigCommerceAdapter, bc_store: Store, name: str | None, reason: CartRemovalReason
) -> None:
    body = sample(name) if name else webhook("store/cart/deleted", {"type": "cart", "id": CART_ID})
    body["created_at"] = int(datetime.now(UTC).timestamp()) - 60  # a recent delivery: its time is believed

    # No API at all: a converted or deleted cart no longer exists on BigCommerce, nothing is fetched.
    [event] = adapter.normalise(delivery(body), bc_store, None).events

    assert event.type is EventType.CART_DELETED
    removal = event.cart_removal()
    assert (removal.id, removal.reason, removal.customer) == (CART_ID, reason, None)
    assert event.event_id == f"bigcommerce:{body['hash']}:{body['scope']}:{body['created_at']}"
    assert (event.store_id, event.platform, event.entity_id) == ("bc-shop", "bigcommerce", CART_ID)
    assert event.occurred_at == datetime.fromtimestamp(body["created_at"], UTC)
    # The removal sorts after any change of the cart within the same second.
    second = datetime.fromtimestamp(body["created_at"], UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert event.entity_version == f"{second}.999999Z"


def test_customer_deleted_becomes_customer_deleted(adapter: BigCommerceAdapter, bc_store: Store) -> None:
    body = webhook("store/customer/deleted", {"type": "customer", "id": 42})

    [event] = adapter.normalise(delivery(body), bc_store, None).events

    assert event.type is EventType.CUSTOMER_DELETED
    assert event.deleted().id == "42"


def test_without_a_hash_the_event_id_comes_from_scope_id_and_time(adapter: BigCommerceAdapter, bc_store: Store) -> None:
    body = webhook("store/customer/deleted", {"type": "customer", "id": 42})
    del body["hash"]

    [event] = adapter.normalise(delivery(body), bc_store, None).events

    assert event.event_id == f"bigcommerce:store/customer/deleted:42:{body['created_at']}"


def test_two_updates_of_one_cart_with_the_same_hash_get_different_event_ids(
    adapter: BigCommerceAdapter, bc_store: Store
) -> None:
    first = webhook("store/cart/deleted", {"type": "cart", "id": CART_ID})
    later = dict(first, created_at=first["created_at"] + 90)

    ids = {adapter.normalise(delivery(body), bc_store, None).events[0].event_id for body in (first, later, first)}

    assert len(ids) == 2


@pytest.mark.parametrize(
    ("scope", "data"),
    [
        ("store/category/created", {"type": "category", "id": 42}),
        ("store/cart/metafield/created", {"metafield_id": 20, "resource_id": CART_ID}),
        ("store/customer/address/created", {"type": "customer", "id": 60, "address": {"customer_id": 32}}),
    ],
)
def test_other_scopes_are_acknowledged_and_ignored(
    adapter: BigCommerceAdapter, bc_store: Store, scope: str, data: dict[str, Any]
) -> None:
    normalised = adapter.normalise(delivery(webhook(scope, data)), bc_store, None)

    assert normalised.events == ()
    assert normalised.ignored_reason and scope in normalised.ignored_reason


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scope": None}, "scope"),
        ({"created_at": "yesterday"}, "created_at"),
        ({"scope": "store/cart/lineItem/created", "data": {"type": "cart_line_item", "id": "l1"}}, "data.cartId"),
        ({"scope": "store/cart/deleted", "data": {"type": "cart"}}, "data.id"),
    ],
)
def test_an_unusable_payload_is_a_400_naming_the_field(
    adapter: BigCommerceAdapter, bc_store: Store, change: dict[str, Any], field: str
) -> None:
    body = sample("bigcommerce_cart_updated_webhook.json")
    body.update(change)

    with pytest.raises(BadRequest) as refused:
        adapter.normalise(delivery(body), bc_store, None)
    assert refused.value.field == field


# ----- scopes that fetch, against the emulator -----------------------------------------------------------


def test_cart_updated_fetches_the_cart_customer_and_subscriber(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    emulator.put_cart(fetched_cart(redirect_urls=None))
    emulator.put_customer(fetched_customer())
    emulator.put_subscriber({"email": "zoe.martin-lefevre@example.com", "consents": ["marketing_newsletter"]})
    body = sample("bigcommerce_cart_updated_webhook.json")

    [event] = adapter.normalise(delivery(body), bc_store, api).events

    assert event.type is EventType.CART_UPDATED
    assert event.event_id == f"bigcommerce:{body['hash']}:store/cart/updated:{body['created_at']}"
    assert event.entity_version == "2025-03-14T13:18:02.000000Z"
    cart = event.cart()
    assert cart.checkout_url == emulator.last_redirect_urls(CART_ID)["checkout_url"]  # type: ignore[index]
    assert cart.customer.email == "zoe.martin-lefevre@example.com"
    assert cart.customer.consent.state is ConsentState.GRANTED
    assert len(cart.lines) == 4
    paths = [(r["path"], r["query"]) for r in emulator.requests]
    assert paths == [
        (f"/stores/{STORE_HASH}/v3/carts/{CART_ID}", {"include": "redirect_urls"}),
        (f"/stores/{STORE_HASH}/v3/customers", {"id:in": "42"}),
        # The address as BigCommerce holds it on the customer.
        (f"/stores/{STORE_HASH}/v3/customers/subscribers", {"email": "Zoe.Martin-Lefevre@Example.com"}),
    ]


def test_a_guest_cart_is_not_looked_up_as_a_customer(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    emulator.put_cart(fetched_cart(customer_id=0, email="Guest@Example.org"))

    [event] = adapter.normalise(delivery(sample("bigcommerce_cart_updated_webhook.json")), bc_store, api).events

    assert event.cart().customer.email == "guest@example.org"
    assert [r["path"].rsplit("/v3/", 1)[1] for r in emulator.requests] == [f"carts/{CART_ID}", "customers/subscribers"]


def test_a_line_item_event_fetches_the_cart_named_by_cart_id(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    emulator.put_cart(fetched_cart())
    body = webhook("store/cart/lineItem/updated", {"type": "cart_line_item", "id": "9b2d6f1a", "cartId": CART_ID})

    [event] = adapter.normalise(delivery(body), bc_store, api).events

    assert (event.type, event.entity_id) == (EventType.CART_UPDATED, CART_ID)


def test_a_cart_that_is_gone_is_acknowledged_and_ignored(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    normalised = adapter.normalise(delivery(sample("bigcommerce_cart_updated_webhook.json")), bc_store, api)

    assert normalised.events == ()
    assert normalised.ignored_reason == f"cart {CART_ID} no longer exists on BigCommerce"


def test_customer_updated_fetches_the_customer_and_their_consent(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    emulator.put_customer(fetched_customer())
    emulator.put_subscriber({"email": "zoe.martin-lefevre@example.com", "consents": []})

    [event] = adapter.normalise(delivery(sample("bigcommerce_customer_updated_webhook.json")), bc_store, api).events

    assert (event.type, event.entity_id) == (EventType.CUSTOMER_UPDATED, "42")
    assert event.entity_version == "2025-03-14T13:21:30.000000Z"
    customer = event.customer()
    assert (customer.id, customer.email, customer.first_name) == ("42", "zoe.martin-lefevre@example.com", "Zoë")
    assert customer.consent.state is ConsentState.DENIED


def test_a_customer_that_is_gone_is_ignored(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    normalised = adapter.normalise(delivery(sample("bigcommerce_customer_updated_webhook.json")), bc_store, api)

    assert normalised.ignored_reason == "customer 42 no longer exists on BigCommerce"


def test_throttling_is_waited_out_within_the_budget(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    emulator.put_cart(fetched_cart(customer_id=0))
    emulator.set_faults(rate_429=0.5, reset_ms=20, seed=3)

    [event] = adapter.normalise(delivery(sample("bigcommerce_cart_updated_webhook.json")), bc_store, api).events

    assert event.entity_id == CART_ID
    assert 429 in {r["status"] for r in emulator.requests}


def test_an_api_that_keeps_failing_is_unavailable(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    emulator.put_cart(fetched_cart())
    emulator.set_faults(rate_500=1.0)

    with pytest.raises(StoreApiUnavailable, match="500"):
        adapter.normalise(delivery(sample("bigcommerce_cart_updated_webhook.json")), bc_store, api)
    assert len(emulator.requests) == 1 + FAST.retries


def test_a_throttle_longer_than_the_budget_is_not_waited_for(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    emulator.put_cart(fetched_cart())
    emulator.set_faults(rate_429=1.0, reset_ms=30_000)
    started = time.monotonic()

    with pytest.raises(StoreApiUnavailable, match="429"):
        adapter.normalise(delivery(sample("bigcommerce_cart_updated_webhook.json")), bc_store, api)
    assert time.monotonic() - started < 1.0
    assert len(emulator.requests) == 1


def test_refused_credentials_are_unavailable_and_never_echo_the_token(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator
) -> None:
    emulator.put_cart(fetched_cart())
    wrong = StoreApi(base_url=emulator.base_url, credentials={"access_token": "revoked-token-Xy9"})

    with pytest.raises(StoreApiUnavailable, match="refused the store's access token") as refused:
        adapter.normalise(delivery(sample("bigcommerce_cart_updated_webhook.json")), bc_store, wrong)
    assert "revoked-token-Xy9" not in str(refused.value)
    assert [r["status"] for r in emulator.requests] == [401]


def test_a_store_without_an_access_token_is_unavailable(adapter: BigCommerceAdapter, bc_store: Store) -> None:
    with pytest.raises(StoreApiUnavailable, match="access token"):
        adapter.normalise(delivery(sample("bigcommerce_cart_updated_webhook.json")), bc_store, StoreApi(base_url=None))


def test_a_fetched_cart_we_cannot_use_is_a_400_naming_the_field(
    adapter: BigCommerceAdapter, bc_store: Store, emulator: BigCommerceEmulator, api: StoreApi
) -> None:
    broken = copy.deepcopy(fetched_cart(customer_id=0))
    # Not a number at all: a malformed answer, unlike an odd line (which is left out, see test_lines).
    broken["line_items"]["physical_items"][0]["quantity"] = "many"
    emulator.put_cart(broken)

    with pytest.raises(BadRequest) as refused:
        adapter.normalise(delivery(sample("bigcommerce_cart_updated_webhook.json")), bc_store, api)
    assert refused.value.field == "cart.line_items.physical_items.0.quantity"
