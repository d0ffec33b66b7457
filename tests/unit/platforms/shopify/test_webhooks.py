"""The Shopify adapter on the realistic checkouts/update sample (events/shopify_checkout_update_body.json)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import Cart, ConsentState, EventType
from commerce_sync.platforms.adapter import Normalised, WebhookRequest
from commerce_sync.platforms.registry import adapters
from commerce_sync.platforms.shopify.webhooks import ShopifyAdapter
from commerce_sync.platforms.signatures import SignatureError, sign_base64_hmac

from tests.paths import EVENTS

CHECKOUT_TOKEN = "b7f0d3c2a9e84e1f8c6d5a4b3e2f1a0c"
# The Mailchimp cart id is the checkout's cart token, shared with the carts/* topics of the same visit.
TOKEN = "Z2NwLXVzLWVhc3QxOjAxSlBEWDdHNEsyTVFaOFJUNVY2Q0I5V0hF"
EVENT_ID = "8f3c2a1e-5b6d-4c7e-9f80-1a2b3c4d5e6f"
WEBHOOK_ID = "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
SECRET = "shpss_test_secret"


def shopify_request(body: dict[str, Any] | bytes, topic: str = "checkouts/update") -> WebhookRequest:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "demo-shop.myshopify.com",
        "X-Shopify-Event-Id": EVENT_ID,
        "X-Shopify-Webhook-Id": WEBHOOK_ID,
        "X-Shopify-Hmac-Sha256": sign_base64_hmac(SECRET, raw),
    }
    return WebhookRequest(platform="shopify", headers=headers, body=raw)


def normalise(payload: dict[str, Any] | bytes, store: Store, **kwargs: Any) -> Normalised:
    return ShopifyAdapter().normalise(shopify_request(payload, **kwargs), store)


def only_cart(result: Normalised) -> Cart:
    assert result.ignored_reason is None
    assert len(result.events) == 1
    return result.events[0].cart()


# ---- the sample checkout --------------------------------------------------------------------------


def test_checkout_update_yields_one_cart_updated_event(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    result = normalise(checkout_payload, shopify_store)
    assert result.ignored_reason is None
    [event] = result.events
    assert event.type is EventType.CART_UPDATED
    assert event.entity_id == TOKEN
    assert event.store_id == shopify_store.store_id
    assert event.platform == "shopify"
    assert event.event_id == f"shopify:{EVENT_ID}"
    assert event.occurred_at == datetime(2025, 3, 14, 13, 18, 2, tzinfo=UTC)
    assert event.entity_version == "2025-03-14T13:18:02.000000Z"


def test_checkout_becomes_the_canonical_cart(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    cart = only_cart(normalise(checkout_payload, shopify_store))
    assert cart.id == TOKEN
    assert cart.currency_code == "USD"
    assert cart.order_total == Decimal("63.57")
    assert cart.tax_total == Decimal("3.60")
    assert cart.campaign_id == "3f8a1b2c4d"
    assert cart.checkout_url == checkout_payload["abandoned_checkout_url"]
    assert cart.customer.id == "7712345678909"
    assert cart.customer.email == "jane.doe@example.com"
    assert cart.customer.first_name == "Jane"
    assert cart.customer.consent.state is ConsentState.GRANTED
    assert cart.customer.consent.source == "shopify"
    assert cart.customer.address is not None
    assert cart.customer.address.postal_code == "04101"
    assert cart.customer.address.name == "Jane Doe"


def test_checkout_lines(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    cart = only_cart(normalise(checkout_payload, shopify_store))
    assert [(item.product_id, item.variant_id, item.quantity) for item in cart.lines] == [
        ("8821334556733", "46011223344573", 2),
        ("8821334622269", "46011223410109", 1),
    ]
    first = cart.lines[0]
    assert first.id == "7a1c9e0b2f3d4a5b6c7d8e9f0a1b2c3d"  # the line item key
    assert first.product_title == "Trail Running Socks"
    assert first.variant_title == "M / Blue"
    assert first.sku == "SOCK-TRL-M-BLU"
    for item in cart.lines:
        assert isinstance(item.product_id, str)
        assert isinstance(item.variant_id, str)
        assert isinstance(item.price, Decimal)
        assert item.price == Decimal("19.99")


def test_event_data_is_json_ready(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    [event] = normalise(checkout_payload, shopify_store).events
    data = json.loads(event.model_dump_json())["data"]
    assert data["customer"]["email"] == "jane.doe@example.com"
    assert data["lines"][0]["price"] == "19.99"
    assert data["lines"][0]["product_id"] == "8821334556733"


def test_checkout_create_is_also_a_cart(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    result = normalise(checkout_payload, shopify_store, topic="checkouts/create")
    assert only_cart(result).id == TOKEN
    assert result.events[0].type is EventType.CART_UPDATED


# ---- event ids ------------------------------------------------------------------------------------


def test_event_id_falls_back_to_the_webhook_id(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    raw = json.dumps(checkout_payload).encode()
    request = WebhookRequest(
        platform="shopify",
        headers={"X-Shopify-Topic": "checkouts/update", "X-Shopify-Webhook-Id": WEBHOOK_ID},
        body=raw,
    )
    [event] = ShopifyAdapter().normalise(request, shopify_store).events
    assert event.event_id == f"shopify:{WEBHOOK_ID}"


def test_event_id_without_delivery_headers_is_stable(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    raw = json.dumps(checkout_payload).encode()
    request = WebhookRequest(platform="shopify", headers={"x-shopify-topic": "checkouts/update"}, body=raw)
    first = ShopifyAdapter().normalise(request, shopify_store).events[0]
    second = ShopifyAdapter().normalise(request, shopify_store).events[0]
    assert first.event_id == second.event_id
    assert first.event_id.startswith("shopify:checkouts/update:" + TOKEN)


def test_header_lookup_is_case_insensitive(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    raw = json.dumps(checkout_payload).encode()
    headers = {"x-shopify-topic": "checkouts/update", "X-SHOPIFY-EVENT-ID": EVENT_ID, "x-shopify-shop-domain": "d"}
    request = WebhookRequest(platform="shopify", headers=headers, body=raw)
    assert request.header("X-Shopify-Event-Id") == EVENT_ID
    assert request.header("X-Shopify-Topic") == "checkouts/update"
    assert request.header("X-Missing") is None
    assert ShopifyAdapter().store_identity(request) == "d"
    [event] = ShopifyAdapter().normalise(request, shopify_store).events
    assert event.event_id == f"shopify:{EVENT_ID}"


# ---- consent and campaign -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("customer", "buyer_accepts", "expected"),
    [
        (None, True, ConsentState.GRANTED),
        (None, False, ConsentState.DENIED),
        (None, None, ConsentState.UNKNOWN),
        ({"id": 1, "accepts_marketing": True}, None, ConsentState.GRANTED),
        ({"id": 1, "accepts_marketing": False}, True, ConsentState.DENIED),
        ({"id": 1}, True, ConsentState.GRANTED),
        ({"id": 1, "accepts_marketing": True, "email_marketing_consent": {"state": "unsubscribed"}}, True, "denied"),
        ({"id": 1, "accepts_marketing": False, "email_marketing_consent": {"state": "subscribed"}}, False, "granted"),
        ({"id": 1, "email_marketing_consent": {"state": "not_subscribed"}}, True, ConsentState.DENIED),
        ({"id": 1, "email_marketing_consent": {"state": "pending"}}, True, ConsentState.UNKNOWN),
    ],
)
def test_consent(
    checkout_payload: dict[str, Any],
    shopify_store: Store,
    customer: dict[str, Any] | None,
    buyer_accepts: bool | None,
    expected: ConsentState,
) -> None:
    checkout_payload["customer"] = customer
    checkout_payload["buyer_accepts_marketing"] = buyer_accepts
    cart = only_cart(normalise(checkout_payload, shopify_store))
    assert cart.customer.consent.state == expected


def test_guest_checkout_has_no_customer_id(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    checkout_payload["customer"] = None
    cart = only_cart(normalise(checkout_payload, shopify_store))
    assert cart.customer.id is None
    assert cart.customer.email == "jane.doe@example.com"


def test_email_falls_back_to_the_customer(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    checkout_payload["email"] = None
    checkout_payload["customer"]["email"] = " Other@Example.COM "
    assert only_cart(normalise(checkout_payload, shopify_store)).customer.email == "other@example.com"


def test_campaign_id_from_cart_attribute_wins(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    checkout_payload["note_attributes"].append({"name": "mc_cid", "value": "attr12345"})
    assert only_cart(normalise(checkout_payload, shopify_store)).campaign_id == "attr12345"


@pytest.mark.parametrize("landing_site", [None, "/products/socks", "/?utm_source=newsletter", ""])
def test_no_campaign_id_without_mc_cid(
    checkout_payload: dict[str, Any], shopify_store: Store, landing_site: str | None
) -> None:
    checkout_payload["landing_site"] = landing_site
    assert only_cart(normalise(checkout_payload, shopify_store)).campaign_id is None


def test_money_is_quantised(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    checkout_payload["total_price"] = "63.5699999999999"
    checkout_payload["line_items"][0]["price"] = 19.989999999999998
    cart = only_cart(normalise(checkout_payload, shopify_store))
    assert str(cart.order_total) == "63.57"
    assert str(cart.lines[0].price) == "19.99"


# ---- topics and bad payloads ----------------------------------------------------------------------


@pytest.mark.parametrize("topic", ["app/uninstalled", "shop/update", "inventory_levels/update"])
def test_unknown_topic_is_ignored(checkout_payload: dict[str, Any], shopify_store: Store, topic: str) -> None:
    result = normalise(checkout_payload, shopify_store, topic=topic)
    assert result.events == ()
    assert result.ignored_reason is not None
    assert topic in result.ignored_reason


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe\x00", b'{"token": "abc"'])
def test_malformed_json_is_a_bad_request(shopify_store: Store, raw: bytes) -> None:
    with pytest.raises(BadRequest, match="not valid JSON"):
        normalise(raw, shopify_store)


@pytest.mark.parametrize("token", [None, "", "missing"])
def test_checkout_without_token_is_a_bad_request_naming_it(
    checkout_payload: dict[str, Any], shopify_store: Store, token: str | None
) -> None:
    if token == "missing":
        del checkout_payload["token"]
    else:
        checkout_payload["token"] = token
    with pytest.raises(BadRequest) as caught:
        normalise(checkout_payload, shopify_store)
    assert caught.value.field == "token"
    assert str(caught.value).startswith("token: ")


def test_bad_line_names_the_nested_field(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    # Not a number at all: a malformed payload, unlike an odd line (which is left out, see test_lines).
    checkout_payload["line_items"][1]["quantity"] = "many"
    with pytest.raises(BadRequest) as caught:
        normalise(checkout_payload, shopify_store)
    assert caught.value.field == "line_items.1.quantity"


def test_payload_that_is_not_an_object_is_a_bad_request(shopify_store: Store) -> None:
    with pytest.raises(BadRequest):
        normalise(b"[1, 2, 3]", shopify_store)


def test_missing_topic_header_is_a_bad_request(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    request = WebhookRequest(platform="shopify", headers={}, body=json.dumps(checkout_payload).encode())
    with pytest.raises(BadRequest, match="X-Shopify-Topic"):
        ShopifyAdapter().normalise(request, shopify_store)


@pytest.mark.parametrize(("field", "value"), [("email", "jane@localhost"), ("total_tax", "-1.00"), ("currency", "U$D")])
def test_checkout_the_canonical_model_rejects_is_a_bad_request(
    checkout_payload: dict[str, Any], shopify_store: Store, field: str, value: str
) -> None:
    checkout_payload[field] = value
    checkout_payload["customer"] = None
    with pytest.raises(BadRequest):
        normalise(checkout_payload, shopify_store)


# ---- identity and signatures ----------------------------------------------------------------------


def test_store_identity_is_the_shop_domain(checkout_payload: dict[str, Any]) -> None:
    assert ShopifyAdapter().store_identity(shopify_request(checkout_payload)) == "demo-shop.myshopify.com"
    with pytest.raises(BadRequest, match="X-Shopify-Shop-Domain"):
        ShopifyAdapter().store_identity(WebhookRequest(platform="shopify", headers={}, body=b"{}"))


def test_verify_with_the_right_secret(checkout_payload: dict[str, Any]) -> None:
    request = shopify_request(checkout_payload)
    assert ShopifyAdapter().verify(request, [SECRET]) == 0
    assert ShopifyAdapter().verify(request, ["old-secret", SECRET]) == 1


def test_verify_with_a_lower_cased_header_name(checkout_payload: dict[str, Any]) -> None:
    raw = json.dumps(checkout_payload).encode()
    request = WebhookRequest(
        platform="shopify", headers={"x-shopify-hmac-sha256": sign_base64_hmac(SECRET, raw)}, body=raw
    )
    assert ShopifyAdapter().verify(request, [SECRET]) == 0


def test_verify_with_the_wrong_secret(checkout_payload: dict[str, Any]) -> None:
    with pytest.raises(SignatureError):
        ShopifyAdapter().verify(shopify_request(checkout_payload), ["wrong-secret"])


def test_verify_rejects_a_changed_body(checkout_payload: dict[str, Any]) -> None:
    signed = shopify_request(checkout_payload)
    forged = WebhookRequest(platform="shopify", headers=signed.headers, body=signed.body.replace(b"19.99", b"0.01"))
    with pytest.raises(SignatureError):
        ShopifyAdapter().verify(forged, [SECRET])


def test_verify_without_a_signature(checkout_payload: dict[str, Any]) -> None:
    request = WebhookRequest(platform="shopify", headers={}, body=json.dumps(checkout_payload).encode())
    with pytest.raises(SignatureError, match="missing"):
        ShopifyAdapter().verify(request, [SECRET])


def test_adapters_registry() -> None:
    registry = adapters()
    assert {"shopify", "canonical"} <= set(registry)
    assert isinstance(registry["shopify"], ShopifyAdapter)
    assert not registry["shopify"].is_ping(WebhookRequest(platform="shopify", headers={}, body=b""))


def test_checkout_cart_keeps_its_checkout_references(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    cart = only_cart(normalise(checkout_payload, shopify_store))
    assert cart.references == (f"shopify-checkout:{checkout_payload['id']}", CHECKOUT_TOKEN)


def test_checkout_without_cart_token_uses_its_own_token(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    checkout_payload["cart_token"] = None
    assert only_cart(normalise(checkout_payload, shopify_store)).id == CHECKOUT_TOKEN


def test_a_rest_checkout_without_an_id_is_still_a_cart(checkout_payload: dict[str, Any], shopify_store: Store) -> None:
    # Shopify's REST checkout (shopify-api-ruby's fixture) carries its token, not an id.
    del checkout_payload["id"]
    cart = only_cart(normalise(checkout_payload, shopify_store))
    assert cart.id == TOKEN
    assert cart.references == (CHECKOUT_TOKEN,)


@pytest.mark.parametrize("status", ["pending", "open", "cancelled", "error", "failure"])
def test_a_fulfillment_that_has_not_shipped_is_acknowledged_and_ignored(shopify_store: Store, status: str) -> None:
    # Shopify's own fulfillment example is `pending` with a tracking number already assigned.
    fulfillment = {"id": 123456, "order_id": 99, "status": status, "tracking_number": "1z827wk74630"}
    result = normalise(fulfillment, shopify_store, topic="fulfillments/create")
    assert not result.events
    assert result.ignored_reason == f"fulfillment 123456 is {status}: nothing shipped"


@pytest.mark.parametrize("status", ["success", None])
def test_a_fulfillment_that_shipped_is_a_shipment(shopify_store: Store, status: str | None) -> None:
    fulfillment = {
        "id": 7,
        "order_id": 99,
        "status": status,
        "tracking_number": "T1",
        "created_at": "2025-03-14T10:00Z",
    }
    [event] = normalise(fulfillment, shopify_store, topic="fulfillments/update").events
    assert event.type is EventType.ORDER_SHIPMENT
    assert event.order_shipment().shipment.tracking_number == "T1"


def test_an_orders_unshipped_fulfillments_bring_no_tracking(shopify_store: Store) -> None:
    order = json.loads((EVENTS / "shopify_order_body.json").read_text())
    shipped = {"id": 1, "status": "success", "tracking_number": "SHIPPED", "created_at": "2025-03-14T10:00:00Z"}
    waiting = {"id": 2, "status": "pending", "tracking_number": "WAITING", "created_at": "2025-03-14T11:00:00Z"}
    order.update(fulfillment_status="partial", fulfillments=[shipped, waiting])
    [event] = normalise(order, shopify_store, topic="orders/updated").events
    assert [shipment.tracking_number for shipment in event.order().shipments] == ["SHIPPED"]
