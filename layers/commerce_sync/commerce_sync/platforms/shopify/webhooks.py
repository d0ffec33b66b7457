"""Shopify webhooks: HMAC-SHA256 (base64) of the raw body in X-Shopify-Hmac-Sha256, keyed with the
app's client secret; the store is X-Shopify-Shop-Domain; X-Shopify-Event-Id is the duplicate key.

Shopify signs the body only. The X-Shopify-Topic header says what the delivery is, but a captured signed
body can be resent under another topic, so the topic must agree with the body's shape (TOPIC_SHAPES):
a delete carries no more than ids (no `updated_at`, no content), an order carries `financial_status`, a
checkout a `token` and no `financial_status`, and so on; a mismatch is a 400. Versions come from the
signed body (`updated_at`, `processed_at`, ...). X-Shopify-Triggered-At, unsigned, dates only what has no
time of its own (deletions), and only within a day before now (sync_state.claimed_time).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import (
    CanonicalEvent,
    CanonicalModel,
    Cart,
    CartRemoval,
    CartRemovalReason,
    ConsentState,
    Customer,
    DeletedEntity,
    EntityId,
    EventType,
    Line,
    MarketingConsent,
    make_event,
)
from commerce_sync.canonical.versions import claimed_time, version_from_timestamp
from commerce_sync.platforms.adapter import (
    BodyShape,
    IgnoredKind,
    Normalised,
    PlatformAdapter,
    StoreApi,
    WebhookRequest,
    build_canonical,
    parse_json,
    parse_model,
)
from commerce_sync.platforms.campaign_links import Landing, campaign_of
from commerce_sync.platforms.lines import NoLineLeft, PlatformLine, to_lines
from commerce_sync.platforms.order_statuses import UnknownStatus
from commerce_sync.platforms.shopify.addresses import ShopifyAddress, to_canonical_address
from commerce_sync.platforms.shopify.catalog import ShopifyProduct
from commerce_sync.platforms.shopify.catalog import to_canonical_product as shopify_product
from commerce_sync.platforms.shopify.compliance import COMPLIANCE_TOPICS, normalise_compliance_webhook
from commerce_sync.platforms.shopify.orders import (
    FULFILLMENT_TOPICS,
    ORDER_EDITED_TOPIC,
    ORDER_TOPICS,
    CartToken,
    ShopifyDeletedOrder,
    ShopifyFulfillment,
    ShopifyOrder,
    ShopifyRefund,
    deleted_order,
    fulfillment_to_shipment,
    order_to_order,
    refund_to_refund,
)
from commerce_sync.platforms.shopify.promotions import DISCOUNT_SHAPE, DISCOUNT_TOPICS, normalise_discount_webhook
from commerce_sync.platforms.signatures import verify_base64_hmac

CHECKOUT_TOPICS = frozenset({"checkouts/create", "checkouts/update"})
CART_TOPICS = frozenset({"carts/create", "carts/update"})
CUSTOMER_TOPICS = frozenset({"customers/create", "customers/update"})
# A draft order is not an order: a merchant's quote or invoice until it is paid or completed, when Shopify
# creates the order (orders/create, `source_name: shopify_draft_order`). Acknowledged and ignored.
DRAFT_ORDER_TOPICS = frozenset({"draft_orders/create", "draft_orders/update", "draft_orders/delete"})
CHECKOUT_REFERENCE = "shopify-checkout:"

# What each topic's body must and must not carry, so that a signed body cannot be replayed as another
# topic. The keys are ones every real payload of the kind has (orders: `financial_status`, which checkouts
# and carts lack; deletions: only ids and a few empty fields, never `updated_at`).
_DELETION = BodyShape.of(
    needs="id", forbids="updated_at created_at email line_items title variants transactions financial_status"
)
TOPIC_SHAPES: dict[str, BodyShape] = {
    **dict.fromkeys(CHECKOUT_TOPICS, BodyShape.of(needs="token line_items", forbids="financial_status order_number")),
    **dict.fromkeys(CART_TOPICS, BodyShape.of(needs="token line_items", forbids="financial_status email")),
    **dict.fromkeys(CUSTOMER_TOPICS, BodyShape.of(forbids="line_items financial_status variants transactions")),
    **dict.fromkeys(ORDER_TOPICS, BodyShape.of(needs="line_items financial_status")),
    **dict.fromkeys(FULFILLMENT_TOPICS, BodyShape.of(needs="order_id", forbids="financial_status")),
    "refunds/create": BodyShape.of(needs="order_id", forbids="financial_status line_items"),
    ORDER_EDITED_TOPIC: BodyShape.of(needs="order_edit", forbids="financial_status line_items"),
    **dict.fromkeys(DRAFT_ORDER_TOPICS, BodyShape.of(needs="id", forbids="financial_status")),
    "products/create": BodyShape.of(needs="title variants", forbids="line_items"),
    "products/update": BodyShape.of(needs="title variants", forbids="line_items"),
    **dict.fromkeys(("checkouts/delete", "customers/delete", "orders/delete", "products/delete"), _DELETION),
    **dict.fromkeys(DISCOUNT_TOPICS, DISCOUNT_SHAPE),
}
# What a store whose subscriptions commerce-sync makes through the Admin API is subscribed to (platforms.hooks,
# docs/shopify.md): every topic the adapter applies. Draft orders and order edits, acknowledged and ignored on
# purpose, would only cost deliveries.
SUBSCRIBED_TOPICS: tuple[str, ...] = tuple(sorted(set(TOPIC_SHAPES) - DRAFT_ORDER_TOPICS - {ORDER_EDITED_TOPIC}))


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
    updated_at: datetime | None = None


class ShopifyLineItem(ShopifyModel):
    """Ids may be null (custom items, deleted products and variants) and numbers odd: the line rule in
    commerce_sync.platforms.lines decides, so one such line never refuses the whole delivery."""

    key: str | None = None
    id: str | None = None
    product_id: str | None = None
    variant_id: str | None = None
    title: str | None = None
    variant_title: str | None = None
    sku: str | None = None
    quantity: int
    price: Decimal

    def platform_line(self) -> PlatformLine:
        return PlatformLine(
            id=self.key or self.id,
            product_id=self.product_id,
            variant_id=self.variant_id,
            title=self.title,
            variant_title=self.variant_title or None,
            sku=self.sku or None,
            quantity=self.quantity,
            price=self.price,
        )


class ShopifyNoteAttribute(ShopifyModel):
    name: str
    value: str | None = None


class ShopifyCheckout(ShopifyModel):
    # The REST checkout (Shopify's API library fixtures) has no `id`, only its token, which is what
    # identifies the checkout: the id only lets a later checkouts/delete, which names nothing else, find it.
    id: str | None = None
    token: CartToken = Field(min_length=1)
    cart_token: CartToken | None = None
    email: str | None = None
    buyer_accepts_marketing: bool | None = None
    landing_site: str | None = None
    # The shop's currency; a checkout's amounts are in the one the shopper is shown, `presentment_currency`.
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    presentment_currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
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


class ShopifyCart(ShopifyModel):
    """carts/create and carts/update: no e-mail, no currency, no checkout URL."""

    id: str | None = None
    token: CartToken = Field(min_length=1)
    line_items: list[ShopifyLineItem] = []
    updated_at: datetime
    created_at: datetime | None = None


class ShopifyCheckoutRef(ShopifyModel):
    """checkouts/delete: the payload may carry no more than the checkout id."""

    id: EntityId
    token: CartToken | None = None
    cart_token: CartToken | None = None
    updated_at: datetime | None = None


class ShopifyEditSummary(ShopifyModel):
    id: str | None = None
    order_id: EntityId


class ShopifyOrderEdit(ShopifyModel):
    """orders/edited: not the order, only which lines an edit added or removed (ids and deltas)."""

    order_edit: ShopifyEditSummary


class ShopifyDeletedCustomer(ShopifyModel):
    id: str


class ShopifyCustomerPayload(ShopifyCustomer):
    id: str
    updated_at: datetime
    default_address: ShopifyAddress | None = None


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


def _attribute(checkout: ShopifyCheckout, name: str) -> str | None:
    return next((a.value for a in checkout.note_attributes if a.name == name and a.value), None)


def campaign_id(checkout: ShopifyCheckout) -> str | None:
    """mc_cid from a cart attribute (set by a storefront script) or the landing page's query string."""
    return campaign_of(Landing(url=checkout.landing_site, campaign_id=_attribute(checkout, "mc_cid"))).campaign_id


def _lines(entity: str, items: list[ShopifyLineItem]) -> tuple[Line, ...]:
    """Checkouts and carts carry the same line shape."""
    return to_lines("shopify", entity, (item.platform_line() for item in items))


def checkout_to_cart(checkout: ShopifyCheckout) -> Cart:
    customer = checkout.customer
    email = checkout.email or (customer.email if customer else None)
    return Cart(
        # The cart token, when there is one, is shared with the carts/* topics of the same visit.
        id=checkout.cart_token or checkout.token,
        references=tuple(
            reference for reference in (checkout.id and CHECKOUT_REFERENCE + checkout.id, checkout.token) if reference
        ),
        customer=Customer(
            id=customer.id if customer else None,
            email=email,
            first_name=customer.first_name if customer else None,
            last_name=customer.last_name if customer else None,
            address=to_canonical_address(checkout.billing_address),
            consent=_consent(customer, checkout.buyer_accepts_marketing),
        ),
        # A checkout's amounts are in the shopper's currency (Shopify's multi-currency guide): the cart is
        # written in it, so the abandoned-cart e-mail shows the prices the shopper saw.
        currency_code=checkout.presentment_currency or checkout.currency,
        order_total=checkout.total_price,
        tax_total=checkout.total_tax,
        checkout_url=checkout.abandoned_checkout_url,
        campaign_id=campaign_id(checkout),
        created_at=checkout.created_at,
        updated_at=checkout.updated_at,
        lines=_lines(checkout.token, checkout.line_items),
    )


def cart_to_cart(cart: ShopifyCart, currency_code: str) -> Cart:
    """A Shopify cart knows no shopper; commerce-sync sends it once an event for the token brings one."""
    lines = _lines(cart.token, cart.line_items)
    return Cart(
        id=cart.token,
        customer=Customer(),
        currency_code=currency_code,
        # The total of the lines Mailchimp holds, so a line left out is not counted in it either.
        order_total=sum((line.price * line.quantity for line in lines), Decimal(0)),
        created_at=cart.created_at,
        updated_at=cart.updated_at,
        lines=lines,
    )


def customer_to_customer(customer: ShopifyCustomerPayload) -> Customer:
    return Customer(
        id=customer.id,
        email=customer.email,
        first_name=customer.first_name,
        last_name=customer.last_name,
        address=to_canonical_address(customer.default_address),
        consent=_consent(customer, None),
    )


class ShopifyAdapter(PlatformAdapter):
    name = "shopify"

    def store_identity(self, request: WebhookRequest) -> str:
        return request.require_header("X-Shopify-Shop-Domain")

    def verify(self, request: WebhookRequest, secrets: Sequence[str]) -> int:
        return verify_base64_hmac(secrets, request.body, request.header("X-Shopify-Hmac-Sha256"))

    def may_carry_privacy_request(self, request: WebhookRequest) -> bool:
        topic = request.header("X-Shopify-Topic")
        return topic in COMPLIANCE_TOPICS or topic == "customers/delete"

    def topic(self, request: WebhookRequest) -> str | None:
        return request.header("X-Shopify-Topic")

    def normalise(self, request: WebhookRequest, store: Store, api: StoreApi | None = None) -> Normalised:
        topic = request.require_header("X-Shopify-Topic")
        payload: Any = parse_json(request.body)
        if topic in TOPIC_SHAPES:
            TOPIC_SHAPES[topic].check(topic, payload)
        if topic in CHECKOUT_TOPICS:
            return self._checkout(request, store, payload)
        if topic == "checkouts/delete":
            return self._checkout_deleted(request, store, payload)
        if topic in CART_TOPICS:
            return self._cart(request, store, payload)
        if topic in CUSTOMER_TOPICS:
            return self._customer(request, store, payload)
        if topic == "customers/delete":
            return self._customer_deleted(request, store, payload)
        if topic in ORDER_TOPICS or topic in FULFILLMENT_TOPICS or topic in ("orders/delete", "refunds/create"):
            return self._order(request, store, topic, payload)
        if topic in PRODUCT_TOPICS:
            return normalise_product_webhook(request, store, payload)
        if topic in DRAFT_ORDER_TOPICS:
            return Normalised.ignored(
                IgnoredKind.DRAFT_ORDER,
                f"draft order {payload.get('id')} is not an order until it is completed; "
                "the order it becomes arrives as orders/create",
            )
        if topic == ORDER_EDITED_TOPIC:
            edit = parse_model(ShopifyOrderEdit, payload).order_edit
            return Normalised.ignored(
                IgnoredKind.ORDER_EDIT,
                f"order edit {edit.id} of order {edit.order_id} names only the lines it changed; "
                "the orders/updated of the same edit carries the edited order",
            )
        if topic in DISCOUNT_TOPICS:
            event_id = partial(_delivery_event_id, request)
            return normalise_discount_webhook(topic, store, payload, api, event_id, _triggered_at(request))
        if topic in COMPLIANCE_TOPICS:
            event_id = partial(_delivery_event_id, request)
            return normalise_compliance_webhook(topic, store, payload, event_id, _triggered_at(request))
        return Normalised.ignored(IgnoredKind.NOT_HANDLED, f"Shopify topic {topic} is not one commerce-sync handles")

    def _order(self, request: WebhookRequest, store: Store, topic: str, payload: Any) -> Normalised:
        if topic in ORDER_TOPICS:
            order = parse_model(ShopifyOrder, payload)
            try:
                event = order_updated_event(store, order, partial(_delivery_event_id, request))
            except UnknownStatus as error:
                raise BadRequest(str(error), field="financial_status") from error
            except NoLineLeft as error:
                return Normalised.ignored(IgnoredKind.SKIPPED, str(error))
            return Normalised(events=[event])
        if topic == "orders/delete":
            deleted = parse_model(ShopifyDeletedOrder, payload)
            at = _triggered_at(request)
            return self._event(
                request,
                store,
                EventType.ORDER_DELETED,
                deleted_order(deleted),
                deleted.id,
                version_from_timestamp(at),
                at,
            )
        if topic == "refunds/create":
            refund = parse_model(ShopifyRefund, payload)
            amended = build_canonical(lambda: refund_to_refund(refund))
            at = refund.processed_at or refund.created_at or _triggered_at(request)
            return self._event(
                request, store, EventType.ORDER_REFUND, amended, amended.order_id, version_from_timestamp(at), at
            )
        fulfillment = parse_model(ShopifyFulfillment, payload)
        if not fulfillment.shipped:
            # fulfillments/update brings the same fulfillment again once it has shipped (`success`).
            return Normalised.ignored(
                IgnoredKind.SKIPPED, f"fulfillment {fulfillment.id} is {fulfillment.status}: nothing shipped"
            )
        shipment = build_canonical(lambda: fulfillment_to_shipment(fulfillment))
        at = fulfillment.updated_at or fulfillment.created_at or _triggered_at(request)
        return self._event(
            request, store, EventType.ORDER_SHIPMENT, shipment, shipment.order_id, version_from_timestamp(at), at
        )

    @staticmethod
    def _event(
        request: WebhookRequest,
        store: Store,
        event_type: EventType,
        entity: CanonicalModel,
        entity_id: str,
        version: str,
        occurred_at: datetime | None,
    ) -> Normalised:
        event = make_event(
            event_type=event_type,
            event_id=_delivery_event_id(request, entity_id, version),
            store_id=store.store_id,
            platform="shopify",
            entity=entity,
            entity_id=entity_id,
            entity_version=version,
            occurred_at=occurred_at,
        )
        return Normalised(events=[event])

    def _checkout(self, request: WebhookRequest, store: Store, payload: Any) -> Normalised:
        checkout = parse_model(ShopifyCheckout, payload)
        cart = build_canonical(lambda: checkout_to_cart(checkout))
        if checkout.completed_at is not None:
            # A completed checkout is a purchase: the cart leaves Mailchimp and may never come back.
            removal = CartRemoval(
                id=cart.id, reason=CartRemovalReason.CONVERTED, customer=cart.customer, removed_at=checkout.completed_at
            )
            version = version_from_timestamp(max(checkout.completed_at, checkout.updated_at))
            return self._event(request, store, EventType.CART_DELETED, removal, cart.id, version, checkout.completed_at)
        version = version_from_timestamp(checkout.updated_at)
        return self._event(request, store, EventType.CART_UPDATED, cart, cart.id, version, checkout.updated_at)

    def _checkout_deleted(self, request: WebhookRequest, store: Store, payload: Any) -> Normalised:
        checkout = parse_model(ShopifyCheckoutRef, payload)
        cart_id = checkout.cart_token or checkout.token or CHECKOUT_REFERENCE + checkout.id
        deleted_at = checkout.updated_at or _triggered_at(request)
        version = version_from_timestamp(deleted_at)
        removal = CartRemoval(id=cart_id, reason=CartRemovalReason.DELETED, removed_at=deleted_at)
        return self._event(request, store, EventType.CART_DELETED, removal, cart_id, version, deleted_at)

    def _cart(self, request: WebhookRequest, store: Store, payload: Any) -> Normalised:
        shopify_cart = parse_model(ShopifyCart, payload)
        cart = build_canonical(lambda: cart_to_cart(shopify_cart, store.currency_code))
        version = version_from_timestamp(shopify_cart.updated_at)
        return self._event(request, store, EventType.CART_UPDATED, cart, cart.id, version, shopify_cart.updated_at)

    def _customer(self, request: WebhookRequest, store: Store, payload: Any) -> Normalised:
        shopify_customer = parse_model(ShopifyCustomerPayload, payload)
        event = customer_updated_event(store, shopify_customer, partial(_delivery_event_id, request))
        return Normalised(events=[event])

    def _customer_deleted(self, request: WebhookRequest, store: Store, payload: Any) -> Normalised:
        deleted = parse_model(ShopifyDeletedCustomer, payload)
        deleted_at = _triggered_at(request)
        version = version_from_timestamp(deleted_at)
        return self._event(
            request, store, EventType.CUSTOMER_DELETED, DeletedEntity(id=deleted.id), deleted.id, version, deleted_at
        )


# The event id of a resource at a version: a webhook's delivery id, a history reader's `history:…` id.
EventIdFor = Callable[[str, str], str]


def _delivery_event_id(request: WebhookRequest, entity_id: str, version: str) -> str:
    """X-Shopify-Event-Id (the duplicate key), else one made from the topic, the entity and its version."""
    topic = request.header("X-Shopify-Topic")
    delivery_id = request.header("X-Shopify-Event-Id") or request.header("X-Shopify-Webhook-Id")
    return f"shopify:{delivery_id}" if delivery_id else f"shopify:{topic}:{entity_id}:{version}"


def order_updated_event(store: Store, order: ShopifyOrder, event_id: EventIdFor) -> CanonicalEvent:
    """The `order.updated` an order makes, whether a webhook delivered it or the history reader read it:
    versioned by the order's `updated_at`. Raises UnknownStatus and NoLineLeft for the caller to class."""
    consent = _consent(None, order.buyer_accepts_marketing)
    canonical = build_canonical(lambda: order_to_order(order, consent))
    version = version_from_timestamp(order.updated_at)
    return make_event(
        event_type=EventType.ORDER_UPDATED,
        event_id=event_id(canonical.id, version),
        store_id=store.store_id,
        platform="shopify",
        entity=canonical,
        entity_id=canonical.id,
        entity_version=version,
        occurred_at=order.updated_at,
    )


def customer_updated_event(store: Store, customer: ShopifyCustomerPayload, event_id: EventIdFor) -> CanonicalEvent:
    """The `customer.updated` a customer makes (customers/create|update webhooks, the history reader)."""
    canonical = build_canonical(lambda: customer_to_customer(customer))
    version = version_from_timestamp(customer.updated_at)
    entity_id = canonical.id or ""
    return make_event(
        event_type=EventType.CUSTOMER_UPDATED,
        event_id=event_id(entity_id, version),
        store_id=store.store_id,
        platform="shopify",
        entity=canonical,
        entity_id=entity_id,
        entity_version=version,
        occurred_at=customer.updated_at,
    )


def _triggered_at(request: WebhookRequest) -> datetime:
    """When Shopify fired the webhook, for what has no time of its own (deletions). The header is not
    signed: it counts only within a day before now (sync_state.claimed_time), else the time is now."""
    raw = request.header("X-Shopify-Triggered-At")
    claimed = None
    if raw and len(raw) <= 40:
        try:
            claimed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            claimed = None
    return claimed_time(claimed)


# ----- products ------------------------------------------------------------------------------------------

PRODUCT_TOPICS = frozenset({"products/create", "products/update", "products/delete"})


class ShopifyDeletedProduct(ShopifyModel):
    id: str


def normalise_product_webhook(request: WebhookRequest, store: Store, payload: Any) -> Normalised:
    """products/create|update deliver the REST product (the catalog sync's shape, mapped the same way);
    products/delete only its id."""
    if request.header("X-Shopify-Topic") == "products/delete":
        deleted = parse_model(ShopifyDeletedProduct, payload)
        deleted_at = _triggered_at(request)
        return ShopifyAdapter._event(
            request,
            store,
            EventType.PRODUCT_DELETED,
            DeletedEntity(id=deleted.id),
            deleted.id,
            version_from_timestamp(deleted_at),
            deleted_at,
        )
    shopify = parse_model(ShopifyProduct, payload)
    product = build_canonical(lambda: shopify_product(shopify, store))
    changed_at = shopify.updated_at or _triggered_at(request)
    return ShopifyAdapter._event(
        request, store, EventType.PRODUCT_UPDATED, product, product.id, version_from_timestamp(changed_at), changed_at
    )
