"""BigCommerce order and shipment scopes to canonical order events (docs/order-status.md).

Deliveries carry only ids, so the whole order is fetched, through the adapter's pooled session and
with the same policy as a cart (short timeouts, two retries, no waiting out a long throttle):

- `store/order/created|updated|statusUpdated` and `store/order/refund/created` (`data: {type: "order",
  id}`), and `store/shipment/created|updated|deleted` (`data: {type: "shipment", id, orderId}`):
  `GET /v2/orders/{id}`, its `/products`, `/shipments` and `/coupons`, the newsletter subscriber of the
  billing e-mail (marketing consent, as for carts: see `order_consent`), and, when `refunded_amount` is above 0,
  `GET /v3/orders/{id}/payment_actions/refunds` → `order.updated`. A shipment event fetches the whole
  order as well: every shipment the order has is then in the event.
- `store/order/archived` → `order.deleted`; so does a fetched order that is archived (`is_deleted`).
- Any other `store/order/*` scope (messages, transactions) is acknowledged and ignored.

An order that is gone (404 on any of its reads) is acknowledged and ignored; failures that may pass
raise StoreApiUnavailable (503, BigCommerce delivers again). Each delivery costs 5 reads (6 with a
refund); v2 lists answer 204 when empty and are paged by 250.

Mapping: the status from `status_id` (commerce_sync.platforms.order_statuses; 0, Incomplete, is not an order yet,
and an id missing from the table is a 400 naming `status_id`); the customer from `customer_id` (0 is a
guest) and `billing_address`; lines from every order product, pick-list and bundle children (often at
price 0) included, by the line rule of commerce_sync.platforms.lines (docs/line-items.md; the unit price
including tax, as `total_inc_tax` is the order total; `applied_discounts` as the line discount);
shipments by id (`tracking_carrier`, else `shipping_provider`; `tracking_link`); refunds from the v3
refunds (or, when the store lists none, one refund of `refunded_amount`); coupons as promos; the cart is
`cart_id`; amounts are in `default_currency_code`, the currency the shopper paid in.

Versions: `date_modified` (RFC 2822), or the newest shipment or refund time when that is later, so a
new parcel or refund is never taken for a stale copy. Event ids are the delivery's, as for carts, with
the store named too (`bigcommerce:{store id}:{hash}:{scope}:{created_at}`): event ids must be unique
across stores, and order ids are small numbers that every store repeats.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Annotated, Any
from urllib.parse import quote

from pydantic import BeforeValidator, Field

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import (
    Address,
    CanonicalModel,
    ConsentState,
    Customer,
    DeletedEntity,
    EntityId,
    EventType,
    MarketingConsent,
    Order,
    Promo,
    Refund,
    Shipment,
    make_event,
)
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.platforms.adapter import IgnoredKind, Normalised, build_canonical, parse_model
from commerce_sync.platforms.bigcommerce.api import BigCommerceApi
from commerce_sync.platforms.bigcommerce.customers import subscriber_of
from commerce_sync.platforms.bigcommerce.models import (
    PLATFORM,
    BcEntityData,
    BcModel,
    BcSubscriber,
    BcWebhook,
    consent_from_subscriber,
    parse_fetched,
    removal_version,
    text,
)
from commerce_sync.platforms.http import PlatformNotFound
from commerce_sync.platforms.lines import NoLineLeft, PlatformLine, order_lines
from commerce_sync.platforms.order_statuses import UnknownStatus, bigcommerce_status

ORDER_SCOPES = frozenset(
    {"store/order/created", "store/order/updated", "store/order/statusUpdated", "store/order/refund/created"}
)
ORDER_ARCHIVED_SCOPE = "store/order/archived"
SHIPMENT_SCOPES = frozenset({"store/shipment/created", "store/shipment/updated", "store/shipment/deleted"})
PAGE_LIMIT = 250
PERCENTAGE_COUPON = 1


def _rfc2822(value: Any) -> Any:
    """BigCommerce v2 dates are RFC 2822 (`Fri, 14 Mar 2025 13:18:02 +0000`); "" is absent."""
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return value  # ISO 8601 is still accepted; anything else fails validation, naming the field
    return value


V2Time = Annotated[datetime | None, BeforeValidator(_rfc2822)]


# No two currencies are further apart than this (the rate between the strongest and the weakest is ~10^6).
_RATE_BOUNDS = (Decimal("1e-9"), Decimal("1e9"))


def _rate(value: Any) -> Any:
    """An exchange rate as sent ("1.0000000000"); "" or anything that is no plausible rate is no rate."""
    try:
        rate = Decimal(str(value).strip())
    except (ArithmeticError, ValueError, TypeError):
        return None
    return rate if rate.is_finite() and _RATE_BOUNDS[0] < rate < _RATE_BOUNDS[1] else None


ExchangeRate = Annotated[Decimal | None, BeforeValidator(_rate)]


# ----- what the API answers ------------------------------------------------------------------------------


class BcOrderAddress(BcModel):
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    street_1: str | None = None
    street_2: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    country_iso2: str | None = None
    phone: str | None = None
    email: str | None = None


class BcOrder(BcModel):
    """`GET /v2/orders/{id}`: money as strings, dates in RFC 2822."""

    id: str = Field(min_length=1)
    customer_id: str | None = None
    date_created: V2Time = None
    date_modified: Annotated[datetime, BeforeValidator(_rfc2822)]
    status_id: int
    status: str | None = None
    total_inc_tax: Decimal = Field(ge=0)
    total_tax: Decimal | None = None
    shipping_cost_inc_tax: Decimal | None = None
    discount_amount: Decimal | None = None
    coupon_discount: Decimal | None = None
    refunded_amount: Decimal = Decimal(0)
    currency_code: str | None = None
    default_currency_code: str | None = None
    store_default_currency_code: str | None = None
    store_default_to_transactional_exchange_rate: ExchangeRate = None
    cart_id: str | None = None
    is_deleted: bool = False
    # The shopper ticked the newsletter box at checkout (read-only on BigCommerce).
    is_email_opt_in: bool | None = None
    billing_address: BcOrderAddress | None = None

    @property
    def registered_customer_id(self) -> str | None:
        """Guests have `customer_id` 0."""
        return self.customer_id if self.customer_id not in (None, "", "0") else None

    @property
    def email(self) -> str | None:
        return text(self.billing_address.email) if self.billing_address else None


class BcAppliedDiscount(BcModel):
    amount: Decimal = Decimal(0)


class BcOrderProduct(BcModel):
    id: str = Field(min_length=1)
    product_id: str | None = None
    variant_id: str | None = None
    name: str = ""
    sku: str | None = None
    # Unconstrained: the line rule leaves an odd line out, not the order.
    quantity: int
    price_inc_tax: Decimal
    parent_order_product_id: str | None = None
    applied_discounts: list[BcAppliedDiscount] = []


class BcShipment(BcModel):
    id: str = Field(min_length=1)
    tracking_number: str | None = None
    shipping_provider: str | None = None
    tracking_carrier: str | None = None
    tracking_link: str | None = None
    date_created: V2Time = None
    shipping_address: BcOrderAddress | None = None


class BcOrderCoupon(BcModel):
    code: str = Field(min_length=1)
    type: int | None = None
    discount: Decimal = Decimal(0)


class BcRefund(BcModel):
    id: str = Field(min_length=1)
    created: datetime | None = None
    total_amount: Decimal = Field(ge=0)


class BcFetchedOrder(BcModel):
    """Everything one order event needs, as fetched."""

    order: BcOrder
    products: list[BcOrderProduct] = []
    shipments: list[BcShipment] = []
    coupons: list[BcOrderCoupon] = []
    refunds: list[BcRefund] = []
    subscriber: BcSubscriber | None = None

    @property
    def changed_at(self) -> datetime:
        times = [self.order.date_modified]
        times += [shipment.date_created for shipment in self.shipments if shipment.date_created]
        times += [refund.created for refund in self.refunds if refund.created]
        return max(times, key=lambda at: version_from_timestamp(at))


class BcOrderWebhook(BcWebhook):
    data: BcEntityData  # type: ignore[assignment]


class BcShipmentData(BcEntityData):
    order_id: EntityId = Field(alias="orderId")


class BcShipmentWebhook(BcWebhook):
    data: BcShipmentData  # type: ignore[assignment]


# ----- the store's API -----------------------------------------------------------------------------------


class BigCommerceOrderApi(BigCommerceApi):
    """The order reads, over the adapter's client (the same store, token and pooled session). Not found
    raises PlatformNotFound: an order is read whole or not at all."""

    @classmethod
    def of(cls, client: BigCommerceApi) -> BigCommerceOrderApi:
        orders = cls.__new__(cls)
        orders.__dict__.update(vars(client))
        return orders

    def order(self, order_id: str) -> Any:
        return self._get(f"/v2/orders/{quote(order_id, safe='')}")

    def order_list(self, order_id: str, kind: str) -> list[Any]:
        """Every page of `/v2/orders/{id}/{kind}` (204, no body, when there is nothing)."""
        items: list[Any] = []
        page = 1
        while True:
            answer = self._get(
                f"/v2/orders/{quote(order_id, safe='')}/{kind}", {"page": str(page), "limit": str(PAGE_LIMIT)}
            )
            chunk = answer if isinstance(answer, list) else []
            items.extend(chunk)
            if len(chunk) < PAGE_LIMIT:
                return items
            page += 1

    def refunds(self, order_id: str) -> list[Any]:
        answer = self._get(f"/v3/orders/{quote(order_id, safe='')}/payment_actions/refunds")
        data = answer.get("data") if isinstance(answer, dict) else None
        return data if isinstance(data, list) else []

    def fetch(self, order_id: str) -> BcFetchedOrder:
        return self.complete(self.order(order_id))

    def complete(self, raw_order: Any, subscribers: dict[str, Any] | None = None) -> BcFetchedOrder:
        """Everything an order event needs, from the order as `GET /v2/orders/{id}` (or the list) answered it:
        its products, shipments and coupons, its refunds when it has some, the billing e-mail's subscriber
        (read once per address when `subscribers` caches them)."""
        order = parse_fetched(BcOrder, raw_order, "order")
        order_id = order.id
        products = [parse_fetched(BcOrderProduct, p, "order product") for p in self.order_list(order_id, "products")]
        shipments = [parse_fetched(BcShipment, s, "shipment") for s in self.order_list(order_id, "shipments")]
        coupons = [parse_fetched(BcOrderCoupon, c, "coupon") for c in self.order_list(order_id, "coupons")]
        refunds = (
            [parse_fetched(BcRefund, r, "refund") for r in self.refunds(order_id)] if order.refunded_amount > 0 else []
        )
        subscriber = subscriber_of(self, order.email, subscribers)
        return BcFetchedOrder(
            order=order, products=products, shipments=shipments, coupons=coupons, refunds=refunds, subscriber=subscriber
        )


# ----- mapping to the canonical model --------------------------------------------------------------------


def _address(address: BcOrderAddress | None) -> Address | None:
    if address is None:
        return None
    name = " ".join(part for part in (text(address.first_name), text(address.last_name)) if part) or None
    mapped = Address(
        name=name,
        company=text(address.company),
        address1=text(address.street_1),
        address2=text(address.street_2),
        city=text(address.city),
        province=text(address.state),
        postal_code=text(address.zip),
        country=text(address.country),
        country_code=text(address.country_iso2),
        phone=text(address.phone),
    )
    return mapped if mapped.model_dump(exclude_none=True) else None


Money = Callable[[Decimal], Decimal]


def order_currency(order: BcOrder, fallback_currency: str | None) -> tuple[str, Money]:
    """The currency the order is written in and how its amounts get there (module docstring)."""
    stated = text(order.default_currency_code) or text(order.currency_code)
    default = text(order.store_default_currency_code)
    rate = order.store_default_to_transactional_exchange_rate
    if stated and default and default.upper() != stated.upper() and rate is not None:
        return default, lambda amount: amount / rate
    return stated or fallback_currency or "", lambda amount: amount


def _line(product: BcOrderProduct, money: Money) -> PlatformLine:
    # Custom products and gift certificates have product_id 0: the line rule maps them to custom items.
    return PlatformLine(
        id=product.id,
        product_id=product.product_id,
        variant_id=product.variant_id,
        title=text(product.name),
        sku=text(product.sku),
        quantity=product.quantity,
        price=money(product.price_inc_tax),
        discount=money(sum((max(d.amount, Decimal(0)) for d in product.applied_discounts), Decimal(0))),
    )


def _shipment(shipment: BcShipment) -> Shipment:
    return Shipment(
        id=f"shipment-{shipment.id}",
        tracking_number=text(shipment.tracking_number),
        tracking_carrier=text(shipment.tracking_carrier) or text(shipment.shipping_provider),
        tracking_url=text(shipment.tracking_link),
        shipped_at=shipment.date_created,
    )


def _refunds(fetched: BcFetchedOrder, money: Money) -> tuple[Refund, ...]:
    refunds = tuple(
        Refund(id=f"refund-{r.id}", amount=money(r.total_amount), refunded_at=r.created)
        for r in fetched.refunds
        if r.total_amount > 0
    )
    if refunds or fetched.order.refunded_amount <= 0:
        return refunds
    # Refunds made before BigCommerce's refunds API (or outside it) are only an amount on the order.
    return (Refund(id="refunded-amount", amount=money(fetched.order.refunded_amount)),)


def order_consent(fetched: BcFetchedOrder) -> MarketingConsent:
    """Granted when the shopper ticked the box at checkout (`is_email_opt_in`) or the newsletter subscriber
    of the billing e-mail holds `marketing_newsletter`; a "no" from one never undoes the other's "yes"
    (MarketingConsent.from_any). An unticked box is no answer at all, not a refusal: BigCommerce also
    sends false for orders no shopper checked out (manual, API, marketplace orders)."""
    order = fetched.order
    at_checkout = (
        MarketingConsent(state=ConsentState.GRANTED, source="bigcommerce_checkout", updated_at=order.date_created)
        if order.is_email_opt_in
        else MarketingConsent()
    )
    return MarketingConsent.from_any(at_checkout, consent_from_subscriber(fetched.subscriber))


def order_url(order: BcOrder, domain: str | None) -> str | None:
    """The storefront's order page, for a registered customer when the store's domain is known."""
    if not (domain and order.registered_customer_id):
        return None
    host = domain.strip().rstrip("/")
    base = host if host.startswith(("http://", "https://")) else f"https://{host}"
    return f"{base}/account.php?action=view_order&order_id={order.id}"


def order_to_order(fetched: BcFetchedOrder, fallback_currency: str | None = None, domain: str | None = None) -> Order:
    """Raises UnknownStatus for a `status_id` missing from the table."""
    order = fetched.order
    status = bigcommerce_status(order.status_id)
    billing = order.billing_address
    shipments = tuple(_shipment(s) for s in fetched.shipments)
    currency, money = order_currency(order, fallback_currency)
    first_shipped_to = next((s.shipping_address for s in fetched.shipments if s.shipping_address), None)
    return Order(
        id=order.id,
        customer=Customer(
            id=order.registered_customer_id,
            email=order.email,
            first_name=text(billing.first_name) if billing else None,
            last_name=text(billing.last_name) if billing else None,
            company=text(billing.company) if billing else None,
            address=_address(billing),
            consent=order_consent(fetched),
        ),
        currency_code=currency,
        order_total=money(order.total_inc_tax),
        tax_total=money(order.total_tax) if order.total_tax is not None else None,
        shipping_total=money(order.shipping_cost_inc_tax) if order.shipping_cost_inc_tax is not None else None,
        discount_total=money((order.discount_amount or Decimal(0)) + (order.coupon_discount or Decimal(0))),
        financial_status=status.financial,
        shipped=status.shipped or bool(shipments),
        shipments=shipments,
        refunds=_refunds(fetched, money),
        cart_id=text(order.cart_id),
        order_url=order_url(order, domain),
        promos=tuple(
            Promo(
                code=coupon.code[:50],
                amount_discounted=money(max(coupon.discount, Decimal(0))),
                type="percentage" if coupon.type == PERCENTAGE_COUPON else "fixed",
            )
            for coupon in fetched.coupons
        ),
        billing_address=_address(billing),
        shipping_address=_address(first_shipped_to),
        processed_at=order.date_created,
        updated_at=order.date_modified,
        lines=order_lines("bigcommerce", order.id, (_line(p, money) for p in fetched.products)),
    )


# ----- the adapter's entry point -------------------------------------------------------------------------


def normalise_order(client: Callable[[], BigCommerceApi], payload: Any, store: Store) -> Normalised:
    """The BigCommerce adapter's answer for a `store/order/*` or `store/shipment/*` scope; `client` gives the
    store's API client (only asked for when the order must be read)."""
    scope = parse_model(BcWebhook, payload).scope
    if scope == ORDER_ARCHIVED_SCOPE:
        webhook = parse_model(BcOrderWebhook, payload)
        version_at = removal_version(webhook)
        deleted = DeletedEntity(id=webhook.data.id)
        return _event(delivery_event_id(webhook, store), store, EventType.ORDER_DELETED, deleted, version_at)
    if scope in ORDER_SCOPES:
        order_webhook = parse_model(BcOrderWebhook, payload)
        return _fetched_order(client, order_webhook, order_webhook.data.id, store)
    if scope in SHIPMENT_SCOPES:
        shipment_webhook = parse_model(BcShipmentWebhook, payload)
        return _fetched_order(client, shipment_webhook, shipment_webhook.data.order_id, store)
    return Normalised.ignored(IgnoredKind.NOT_HANDLED, f"BigCommerce scope {scope} is not one commerce-sync handles")


def delivery_event_id(webhook: BcWebhook, store: Store) -> Callable[[str, str], str]:
    """The delivery's id with the store named (module docstring), whatever the order and version."""
    event_id = webhook.event_id.replace(f"{PLATFORM}:", f"{PLATFORM}:{store.store_id}:", 1)
    return lambda *_: event_id


def _fetched_order(client: Callable[[], BigCommerceApi], webhook: BcWebhook, order_id: str, store: Store) -> Normalised:
    orders = BigCommerceOrderApi.of(client())
    try:
        fetched = orders.fetch(order_id)
    except PlatformNotFound:
        return Normalised.ignored(IgnoredKind.GONE, f"order {order_id} no longer exists on BigCommerce")
    return order_normalised(fetched, store, delivery_event_id(webhook, store))


def order_normalised(fetched: BcFetchedOrder, store: Store, event_id: Callable[[str, str], str]) -> Normalised:
    """The event a fetched order makes (a webhook's read, or a listed order completed), or why it is deliberately
    left out; `event_id(order id, version)` names it. Raises BadRequest for an order that cannot be used."""
    order = fetched.order
    if order.is_deleted:
        return _event(event_id, store, EventType.ORDER_DELETED, DeletedEntity(id=order.id), fetched.changed_at)
    if not fetched.products:
        return Normalised.ignored(IgnoredKind.SKIPPED, f"order {order.id} has no products Mailchimp can show")
    if not order.email:
        return Normalised.ignored(
            IgnoredKind.SKIPPED, f"order {order.id} has no billing e-mail address, which Mailchimp needs"
        )
    try:
        canonical = build_canonical(lambda: order_to_order(fetched, store.currency_code, store.domain))
    except NoLineLeft as error:
        return Normalised.ignored(IgnoredKind.SKIPPED, str(error))
    except UnknownStatus as error:
        raise BadRequest(str(error), field="status_id") from error
    return _event(event_id, store, EventType.ORDER_UPDATED, canonical, fetched.changed_at)


def _event(
    event_id: Callable[[str, str], str],
    store: Store,
    event_type: EventType,
    entity: CanonicalModel,
    version_at: datetime,
) -> Normalised:
    entity_id = str(entity.id)  # type: ignore[attr-defined]
    version = version_from_timestamp(version_at)
    event = make_event(
        event_type=event_type,
        event_id=event_id(entity_id, version),
        store_id=store.store_id,
        platform=PLATFORM,
        entity=entity,
        entity_id=entity_id,
        entity_version=version,
        occurred_at=version_at,
    )
    return Normalised(events=[event])
