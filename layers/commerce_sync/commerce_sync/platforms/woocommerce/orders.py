"""WooCommerce order topics to canonical order events (docs/woocommerce.md, docs/order-status.md).

- `order.created`, `order.updated` and `order.restored` deliver the wc/v3 order
  (`GET /wp-json/wc/v3/orders/<id>`): each becomes `order.updated`, versioned by `date_modified_gmt`, so
  whichever save is newest wins in whatever order the deliveries arrive. The event id is
  `woocommerce:<store id>:order:<id>:<version>`: WooCommerce can fire several deliveries for one save
  (created and updated, several hooks), and they are applied once.
- `order.deleted` delivers only `{"id"}` (the order went to the trash or was deleted) → `order.deleted`,
  versioned by the time of receipt; the event id is the delivery's. A restore from the trash saves the
  order again, so its `order.restored` is newer and brings the order back.

The status comes from the table in commerce_sync.platforms.order_statuses (custom statuses through
WOOCOMMERCE_STATUS_MAP); a status missing from both is a 400 naming `status`. What the order carries:

- customer: `customer_id` (0 is a guest: no id), e-mail and names from `billing`, marketing consent from
  the order's `meta_data` with the same keys and rule as customers (the Mailchimp for WooCommerce plugin
  writes `mailchimp_woocommerce_is_subscribed` on the order too);
- lines (docs/line-items.md: custom items, deleted products, zero prices): `product_id`, the variation
  (or the product itself, as its own single variant), the unit price
  before coupons (`subtotal / quantity`, without tax, as the REST API gives every amount) and what the
  coupons took off the line (`subtotal - total`);
- totals: `total`, `total_tax`, `shipping_total`, `discount_total`;
- shipments: the WooCommerce Shipment Tracking meta `_wc_shipment_tracking_items` (also written by
  compatible plugins); a tracked parcel counts as shipped even before the order is completed;
- refunds: `refunds[]` (WooCommerce lists their totals as negative amounts);
- promos: `coupon_lines[]`, as fixed amounts (what the coupon took off);
- cart: the cart ids the commerce-sync carts plugin stores on the order (`_commerce_sync_cart_ids`), which
  are the ids its carts have in Mailchimp; without the plugin, `cart_hash` (it names no Mailchimp cart);
- campaign (the rule of commerce_sync.platforms.campaign_links): WooCommerce's own order attribution first,
  whose `_wc_order_attribution_session_entry` is the URL the visit landed on (`mc_cid`, `mc_tc` and the
  landing site are read from it); then the Mailchimp for WooCommerce plugin's
  `mailchimp_woocommerce_campaign_id` / `mailchimp_woocommerce_landing_site`, which sites that replaced
  the plugin no longer write; `tracking_code` is `prec` when either landing URL carried `mc_tc`;
- order_url: the REST `payment_url` while payment is awaited, else the account's order page
  (`<site>/my-account/view-order/<id>/`) for a registered customer; a paid guest order has none;
- processed_at: `date_paid_gmt`, else `date_created_gmt`; updated_at: `date_modified_gmt`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import (
    Customer,
    EventType,
    FinancialStatus,
    Order,
    Promo,
    Refund,
    Shipment,
    make_event,
)
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.platforms.adapter import IgnoredKind, Normalised, WebhookRequest, build_canonical, parse_model
from commerce_sync.platforms.campaign_links import Campaign, Landing, campaign_of
from commerce_sync.platforms.lines import NoLineLeft, PlatformLine, order_lines
from commerce_sync.platforms.order_statuses import WOOCOMMERCE_CUSTOM_ENV, UnknownStatus, woocommerce_status
from commerce_sync.platforms.woocommerce.models import (
    SOURCE_HEADER,
    GmtTime,
    Text,
    WooAddress,
    WooMeta,
    WooModel,
    address_of,
    blank_to_none,
    consent_from_meta,
    deletion,
    gmt,
)

PLATFORM = "woocommerce"
ORDER_TOPICS = frozenset({"order.created", "order.updated", "order.restored"})
ORDER_DELETED_TOPIC = "order.deleted"
TRASH_STATUS = "trash"

TRACKING_META_KEY = "_wc_shipment_tracking_items"
CART_IDS_META_KEY = "_commerce_sync_cart_ids"
# WooCommerce core (8.5+) keeps its order attribution as `_wc_order_attribution_<field>`; the session
# entry is the first URL of the visit that placed the order.
SESSION_ENTRY_META_KEY = "_wc_order_attribution_session_entry"
# Order attribution's placeholder for a value it does not know.
ATTRIBUTION_NONE = "(none)"
CAMPAIGN_META_KEY = "mailchimp_woocommerce_campaign_id"
LANDING_SITE_META_KEY = "mailchimp_woocommerce_landing_site"


class WooOrderLine(WooModel):
    id: str = Field(min_length=1)
    name: Text = None
    parent_name: Text = None
    product_id: str | None = None
    variation_id: str | None = None
    sku: Text = None
    # Unconstrained: the line rule (commerce_sync.platforms.lines) leaves an odd line out, not the order.
    quantity: int
    subtotal: Decimal
    total: Decimal
    price: Decimal | None = None


class WooCouponLine(WooModel):
    code: str = Field(min_length=1)
    discount: Decimal = Decimal(0)


class WooOrderRefund(WooModel):
    id: str = Field(min_length=1)
    total: Decimal


class WooOrder(WooModel):
    """A wc/v3 order, as order.created/updated/restored deliver it."""

    id: str = Field(min_length=1)
    status: str = Field(min_length=1)
    currency: str = Field(min_length=3, max_length=3)
    prices_include_tax: bool | None = None
    total: Decimal = Field(ge=0)
    total_tax: Decimal | None = None
    shipping_total: Decimal | None = None
    discount_total: Decimal | None = None
    customer_id: int = Field(default=0, ge=0)
    billing: Annotated[WooAddress | None, BeforeValidator(blank_to_none)] = None
    shipping: Annotated[WooAddress | None, BeforeValidator(blank_to_none)] = None
    cart_hash: Text = None
    payment_url: Text = None
    date_created_gmt: GmtTime = None
    date_modified_gmt: GmtTime = None
    date_paid_gmt: GmtTime = None
    meta_data: list[WooMeta] = []
    line_items: list[WooOrderLine] = []
    coupon_lines: list[WooCouponLine] = []
    refunds: list[WooOrderRefund] = []

    @property
    def modified_at(self) -> datetime | None:
        return gmt(self.date_modified_gmt) or gmt(self.date_created_gmt)

    def meta(self, key: str) -> Any:
        """The first entry of `key`, as `$order->get_meta($key, true)` reads it."""
        return next((entry.value for entry in self.meta_data if entry.key == key), None)


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def _shipped_at(value: Any) -> datetime | None:
    """Shipment Tracking stores `date_shipped` as a Unix timestamp; older entries hold `Y-m-d`."""
    text = str(value).strip() if isinstance(value, int | str) else ""
    if text.isdigit():
        try:
            return datetime.fromtimestamp(int(text), UTC)
        except (OverflowError, OSError, ValueError):
            return None  # a date no parcel can have: the parcel stays, undated
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def tracking_shipments(value: Any) -> tuple[Shipment, ...]:
    """`_wc_shipment_tracking_items`: [{tracking_id, tracking_provider, custom_tracking_provider,
    tracking_number, custom_tracking_link, date_shipped}]; entries that are not objects are skipped."""
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    shipments = []
    for item in items:
        if not isinstance(item, dict):
            continue
        number = _text(item.get("tracking_number"))
        key = _text(item.get("tracking_id")) or number
        if key is None:
            continue
        shipments.append(
            Shipment(
                id=f"tracking-{key}",
                tracking_number=number,
                tracking_carrier=_text(item.get("custom_tracking_provider")) or _text(item.get("tracking_provider")),
                tracking_url=_text(item.get("custom_tracking_link")),
                shipped_at=_shipped_at(item.get("date_shipped")),
            )
        )
    return tuple(shipments)


def cart_ids(order: WooOrder) -> list[str]:
    """The carts plugin's ids of every cart that led to the order, oldest first."""
    value = order.meta(CART_IDS_META_KEY)
    values = value if isinstance(value, list) else [value]
    return [text for text in (_text(str(v)) if isinstance(v, int | str) else None for v in values) if text]


def campaign(order: WooOrder) -> Campaign:
    """Core order attribution first, the Mailchimp plugin's meta as the fallback (the module docstring)."""
    session_entry = _text(order.meta(SESSION_ENTRY_META_KEY))
    return campaign_of(
        Landing(url=session_entry if session_entry != ATTRIBUTION_NONE else None),
        Landing(url=_text(order.meta(LANDING_SITE_META_KEY)), campaign_id=_text(order.meta(CAMPAIGN_META_KEY))),
    )


def _line(line: WooOrderLine) -> PlatformLine:
    # product_id 0: the product was deleted since (WooCommerce keeps the line's name); the line rule maps
    # it to custom items. A variation names its parent product as `parent_name`.
    is_variation = line.variation_id not in (None, "", "0") and line.product_id not in (None, "", "0")
    if line.quantity > 0:
        price = line.subtotal / line.quantity
    else:
        price = line.price if line.price is not None and line.price >= 0 else Decimal(0)
    return PlatformLine(
        id=line.id,
        product_id=line.product_id,
        variant_id=line.variation_id,
        title=(line.parent_name if is_variation else None) or line.name,
        variant_title=line.name if is_variation else None,
        sku=line.sku,
        quantity=line.quantity,
        price=price,
        discount=max(line.subtotal - line.total, Decimal(0)),
    )


def _order_url(order: WooOrder, financial: FinancialStatus | None, site_url: str | None) -> str | None:
    if financial is FinancialStatus.PENDING and order.payment_url:
        return order.payment_url
    if order.customer_id and site_url:
        return f"{site_url.rstrip('/')}/my-account/view-order/{order.id}/"
    return None


def order_to_order(order: WooOrder, consent_keys: Sequence[str], site_url: str | None = None) -> Order:
    """Raises UnknownStatus for a status missing from the table and from WOOCOMMERCE_STATUS_MAP."""
    status = woocommerce_status(order.status)
    billing = order.billing
    visit = campaign(order)
    shipments = tracking_shipments(order.meta(TRACKING_META_KEY))
    carts = cart_ids(order)
    return Order(
        id=order.id,
        customer=Customer(
            id=str(order.customer_id) if order.customer_id else None,
            email=billing.email if billing else None,
            first_name=billing.first_name if billing else None,
            last_name=billing.last_name if billing else None,
            company=billing.company if billing else None,
            address=address_of(billing),
            consent=consent_from_meta(order.meta_data, consent_keys),
        ),
        currency_code=order.currency,
        order_total=order.total,
        tax_total=order.total_tax,
        shipping_total=order.shipping_total,
        discount_total=order.discount_total,
        financial_status=status.financial,
        shipped=status.shipped or bool(shipments),
        shipments=shipments,
        refunds=tuple(Refund(id=f"refund-{r.id}", amount=abs(r.total)) for r in order.refunds if r.total),
        cart_id=carts[-1] if carts else order.cart_hash,
        cart_references=tuple(carts[:-1]),
        campaign_id=visit.campaign_id,
        tracking_code=visit.tracking_code,
        landing_site=visit.landing_site,
        order_url=_order_url(order, status.financial, site_url),
        promos=tuple(
            Promo(code=coupon.code[:50], amount_discounted=max(coupon.discount, Decimal(0)), type="fixed")
            for coupon in order.coupon_lines
        ),
        billing_address=address_of(billing),
        shipping_address=address_of(order.shipping),
        processed_at=gmt(order.date_paid_gmt) or gmt(order.date_created_gmt),
        updated_at=gmt(order.date_modified_gmt),
        lines=order_lines("woocommerce", order.id, (_line(line) for line in order.line_items)),
    )


def normalise_order(
    request: WebhookRequest, store: Store, topic: str, consent_keys: Sequence[str], payload: Any
) -> Normalised:
    """The WooCommerce adapter's answer for an `order.*` topic (`payload`: the body, parsed)."""
    if topic in ORDER_TOPICS:
        return order_updated(store, payload, consent_keys, request.header(SOURCE_HEADER), change_event_id(store))
    if topic == ORDER_DELETED_TOPIC:
        return deletion(request, store, payload, EventType.ORDER_DELETED, "order")
    return Normalised.ignored(IgnoredKind.NOT_HANDLED, f"WooCommerce topic {topic} is not one commerce-sync handles")


def change_event_id(store: Store) -> Callable[[str, str], str]:
    """One save can be delivered several times (order.created and order.updated, several hooks): the order and
    its version name the change. The store is named too: event ids are unique across stores, and small order
    ids repeat across sites."""
    return lambda order_id, version: f"{PLATFORM}:{store.store_id}:order:{order_id}:{version}"


def order_updated(
    store: Store,
    payload: Any,
    consent_keys: Sequence[str],
    site_url: str | None,
    event_id: Callable[[str, str], str],
) -> Normalised:
    """`order.updated` for a wc/v3 order (a delivery's body or a listed order), or why it is deliberately left
    out; `event_id(order id, version)` names the event (each source has its own ids) and `site_url` is the site
    the order's page is on. Raises BadRequest for an order that cannot be used."""
    woo = parse_model(WooOrder, payload)
    if woo.status.removeprefix("wc-") == TRASH_STATUS:
        return Normalised.ignored(IgnoredKind.SKIPPED, f"order {woo.id} is in the trash; its order.deleted removes it")
    if not woo.line_items:
        return Normalised.ignored(IgnoredKind.SKIPPED, f"order {woo.id} has no line items")
    if not (woo.billing and woo.billing.email):
        return Normalised.ignored(
            IgnoredKind.SKIPPED, f"order {woo.id} has no billing e-mail address, which Mailchimp needs"
        )
    changed_at = woo.modified_at
    if changed_at is None:
        raise BadRequest("is required to order the order's changes", field="date_modified_gmt")
    try:
        order = build_canonical(lambda: order_to_order(woo, consent_keys, site_url))
    except NoLineLeft as error:
        return Normalised.ignored(IgnoredKind.SKIPPED, str(error))
    except UnknownStatus as error:
        example = f'{{"{woo.status.removeprefix("wc-")}": "paid"}}'
        raise BadRequest(
            f"{error} (JSON, e.g. {WOOCOMMERCE_CUSTOM_ENV}={example}; see docs/order-status.md)", field="status"
        ) from error
    version = version_from_timestamp(changed_at)
    event = make_event(
        event_type=EventType.ORDER_UPDATED,
        event_id=event_id(order.id, version),
        store_id=store.store_id,
        platform=PLATFORM,
        entity=order,
        entity_id=order.id,
        entity_version=version,
        occurred_at=changed_at,
    )
    return Normalised(events=[event])
