"""Shopify webhooks: HMAC-SHA256 (base64) of the raw body in X-Shopify-Hmac-Sha256, keyed with the
app's client secret; the store is X-Shopify-Shop-Domain; X-Shopify-Event-Id is the duplicate key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import BaseModel, ConfigDict, Field

from commerce_sync.canonical import (
    Address,
    Cart,
    ConsentState,
    Customer,
    EventType,
    Line,
    MarketingConsent,
    make_event,
)
from commerce_sync.errors import NotImplementedYet
from commerce_sync.platforms import (
    Normalised,
    PlatformAdapter,
    StoreApi,
    WebhookRequest,
    build_canonical,
    parse_json,
    parse_model,
)
from commerce_sync.signatures import verify_base64_hmac
from commerce_sync.store_registry import Store
from commerce_sync.sync_state import version_from_timestamp

CART_TOPICS = frozenset({"checkouts/create", "checkouts/update"})
# Topics the design covers that later issues build; until then they are refused with 501, not lost.
PLANNED_TOPICS = frozenset(
    {
        "checkouts/delete",
        "carts/create",
        "carts/update",
        "customers/create",
        "customers/update",
        "customers/delete",
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
        "orders/edited",
        "orders/delete",
        "refunds/create",
        "fulfillments/create",
        "fulfillments/update",
        "products/create",
        "products/update",
        "products/delete",
    }
)


class ShopifyModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class ShopifyConsent(ShopifyModel):
    state: str | None = None
    opt_in_level: str | None = None
    consent_updated_at: datetime | None = None


class ShopifyCustomer(ShopifyModel):
    id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    accepts_marketing: bool | None = None
    email_marketing_consent: ShopifyConsent | None = None


class ShopifyAddress(ShopifyModel):
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    province: str | None = None
    province_code: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    phone: str | None = None


class ShopifyLineItem(ShopifyModel):
    key: str | None = None
    id: str | None = None
    product_id: str
    variant_id: str
    title: str
    variant_title: str | None = None
    sku: str | None = None
    quantity: int = Field(ge=0)
    price: Decimal = Field(ge=0)


class ShopifyNoteAttribute(ShopifyModel):
    name: str
    value: str | None = None


class ShopifyCheckout(ShopifyModel):
    id: str
    token: str = Field(min_length=1)
    email: str | None = None
    buyer_accepts_marketing: bool | None = None
    landing_site: str | None = None
    currency: str = Field(min_length=3, max_length=3)
    total_price: Decimal = Field(ge=0)
    total_tax: Decimal | None = None
    abandoned_checkout_url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime
    completed_at: datetime | None = None
    customer: ShopifyCustomer | None = None
    billing_address: ShopifyAddress | None = None
    line_items: list[ShopifyLineItem] = []
    note_attributes: list[ShopifyNoteAttribute] = []


def _consent(customer: ShopifyCustomer | None, buyer_accepts_marketing: bool | None) -> MarketingConsent:
    if customer is None:
        customer = ShopifyCustomer(accepts_marketing=buyer_accepts_marketing)
    consent = customer.email_marketing_consent
    if consent and consent.state:
        state = {
            "subscribed": ConsentState.GRANTED,
            "unsubscribed": ConsentState.DENIED,
            "not_subscribed": ConsentState.DENIED,
        }.get(consent.state, ConsentState.UNKNOWN)
        return MarketingConsent(state=state, source="shopify", updated_at=consent.consent_updated_at)
    accepts = customer.accepts_marketing if customer.accepts_marketing is not None else buyer_accepts_marketing
    if accepts is not None:
        state = ConsentState.GRANTED if accepts else ConsentState.DENIED
        return MarketingConsent(state=state, source="shopify")
    return MarketingConsent()


def _address(address: ShopifyAddress | None) -> Address | None:
    if address is None:
        return None
    name = " ".join(part for part in (address.first_name, address.last_name) if part) or None
    return Address(
        name=name,
        company=address.company,
        address1=address.address1,
        address2=address.address2,
        city=address.city,
        province=address.province,
        province_code=address.province_code,
        postal_code=address.zip,
        country=address.country,
        country_code=address.country_code,
        phone=address.phone,
    )


def _attribute(checkout: ShopifyCheckout, name: str) -> str | None:
    return next((a.value for a in checkout.note_attributes if a.name == name and a.value), None)


def campaign_id(checkout: ShopifyCheckout) -> str | None:
    """mc_cid from a cart attribute (set by a storefront script) or the landing page's query string."""
    from_attribute = _attribute(checkout, "mc_cid")
    if from_attribute or not checkout.landing_site:
        return from_attribute
    values = parse_qs(urlsplit(checkout.landing_site).query).get("mc_cid")
    return values[0] if values else None


def checkout_to_cart(checkout: ShopifyCheckout) -> Cart:
    customer = checkout.customer
    email = checkout.email or (customer.email if customer else None)
    return Cart(
        id=checkout.token,
        customer=Customer(
            id=customer.id if customer else None,
            email=email,
            first_name=customer.first_name if customer else None,
            last_name=customer.last_name if customer else None,
            address=_address(checkout.billing_address),
            consent=_consent(customer, checkout.buyer_accepts_marketing),
        ),
        currency_code=checkout.currency,
        order_total=checkout.total_price,
        tax_total=checkout.total_tax,
        checkout_url=checkout.abandoned_checkout_url,
        campaign_id=campaign_id(checkout),
        created_at=checkout.created_at,
        updated_at=checkout.updated_at,
        lines=tuple(
            Line(
                id=item.key or item.id or item.variant_id,
                product_id=item.product_id,
                variant_id=item.variant_id,
                product_title=item.title,
                variant_title=item.variant_title,
                sku=item.sku,
                quantity=item.quantity,
                price=item.price,
            )
            for item in checkout.line_items
        ),
    )


class ShopifyAdapter(PlatformAdapter):
    name = "shopify"

    def store_identity(self, request: WebhookRequest) -> str:
        return request.require_header("X-Shopify-Shop-Domain")

    def verify(self, request: WebhookRequest, secrets: Sequence[str]) -> int:
        return verify_base64_hmac(secrets, request.body, request.header("X-Shopify-Hmac-Sha256"))

    def normalise(self, request: WebhookRequest, store: Store, api: StoreApi | None = None) -> Normalised:
        topic = request.require_header("X-Shopify-Topic")
        payload: Any = parse_json(request.body)
        if topic in CART_TOPICS:
            return self._checkout(request, store, topic, payload)
        if topic in PLANNED_TOPICS:
            raise NotImplementedYet(f"Shopify topic {topic} is not implemented yet")
        return Normalised(ignored_reason=f"Shopify topic {topic} is not one commerce-sync handles")

    @staticmethod
    def _checkout(request: WebhookRequest, store: Store, topic: str, payload: Any) -> Normalised:
        checkout = parse_model(ShopifyCheckout, payload)
        cart = build_canonical(lambda: checkout_to_cart(checkout))
        version = version_from_timestamp(checkout.updated_at)
        delivery_id = request.header("X-Shopify-Event-Id") or request.header("X-Shopify-Webhook-Id")
        event = make_event(
            event_type=EventType.CART_UPDATED,
            event_id=f"shopify:{delivery_id}" if delivery_id else f"shopify:{topic}:{cart.id}:{version}",
            store_id=store.store_id,
            platform="shopify",
            entity=cart,
            entity_id=cart.id,
            entity_version=version,
            occurred_at=checkout.updated_at,
        )
        return Normalised(events=[event])
