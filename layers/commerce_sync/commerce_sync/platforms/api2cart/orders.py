"""API2Cart orders to canonical order events (docs/api2cart.md, "Orders").

An order is read whole, whatever announced it (an `order` or `order.shipment` delivery, a list page): `order.info`
and its `order.shipment.list`, then mapped:

- the status from the cart's own `status {id, name}` (order_statuses.api2cart_status); an order whose refunds add
  up to its total is refunded whatever its status says; partial refunds keep it paid and come off the total
  downstream, as for every platform;
- shipped once the status says so or the order has a shipment; each shipment's first tracking number, its
  `shipment_provider` as the carrier;
- refunds from `refunds` (`{id, total, modified_time}`); promos from `discounts` that carry a code;
- lines from `order_products` by the line rule (platforms.lines), at `price_inc_tax` when the cart gives it;
- the customer from `customer` (a guest has no id) and the billing address; marketing consent is unknown, as API2Cart
  has no consent on an order.

Version: the newest of `modified_at`, the shipments' times and the refunds' times, so a new parcel or refund is
never taken for a stale copy (some carts do not touch `modified_at` for a shipment). Event ids:
`api2cart:{store id}:order:{id}:{version}`, the same for a redelivery of the same state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import (
    Customer,
    DeletedEntity,
    EventType,
    FinancialStatus,
    Order,
    Promo,
    Refund,
    Shipment,
    make_event,
)
from commerce_sync.canonical.versions import version_from_timestamp
from commerce_sync.platforms.adapter import IgnoredKind, Normalised, build_canonical, parse_model
from commerce_sync.platforms.api2cart.api import PLATFORM, Api2CartApi
from commerce_sync.platforms.api2cart.customers import address
from commerce_sync.platforms.api2cart.models import A2cOrder, A2cOrderItem, A2cShipment, text
from commerce_sync.platforms.lines import NoLineLeft, PlatformLine, order_lines
from commerce_sync.platforms.order_statuses import UnknownStatus, api2cart_status


@dataclass(frozen=True)
class FetchedOrder:
    order: A2cOrder
    shipments: tuple[A2cShipment, ...]

    @property
    def changed_at(self) -> datetime:
        times = [self.order.modified_at, self.order.create_at]
        times += [shipment.modified_time or shipment.created_at for shipment in self.shipments]
        times += [refund.modified_time for refund in self.order.refunds]
        known = [moment for moment in times if moment is not None]
        return max(known) if known else datetime.now(UTC)


def fetch_order(client: Api2CartApi, order_id: str) -> FetchedOrder | None:
    """`order.info` and its shipments, or None when the order does not exist."""
    raw = client.info("order", order_id)
    if raw is None:
        return None
    order = parse_model(A2cOrder, raw)
    shipments = tuple(parse_model(A2cShipment, item) for item in client.shipments(order.id))
    return FetchedOrder(order, shipments)


def line(item: A2cOrderItem) -> PlatformLine:
    return PlatformLine(
        id=item.order_product_id,
        product_id=item.product_id,
        variant_id=item.variant_id,
        title=text(item.name),
        sku=text(item.model),
        quantity=int(item.quantity),
        price=item.price_inc_tax if item.price_inc_tax is not None else item.price,
        discount=max(item.discount_amount or Decimal(0), Decimal(0)),
    )


def _shipment(shipment: A2cShipment) -> Shipment:
    tracking = next((t for t in shipment.tracking_numbers if text(t.tracking_number)), None)
    return Shipment(
        id=f"shipment-{shipment.id}",
        tracking_number=text(tracking.tracking_number) if tracking else None,
        tracking_carrier=text(shipment.shipment_provider) or (text(tracking.carrier_id) if tracking else None),
        shipped_at=shipment.created_at,
    )


def to_order(fetched: FetchedOrder, fallback_currency: str | None) -> Order:
    """Raises UnknownStatus for a status the table cannot place."""
    order = fetched.order
    status = api2cart_status(order.status.id if order.status else None, order.status.name if order.status else None)
    totals = order.totals
    total = totals.total if totals else Decimal(0)
    refunds = tuple(
        Refund(id=f"refund-{refund.id or index}", amount=refund.total, refunded_at=refund.modified_time)
        for index, refund in enumerate(order.refunds)
        if refund.total > 0
    )
    financial = status.financial
    if refunds and total > 0 and sum(refund.amount for refund in refunds) >= total:
        financial = FinancialStatus.REFUNDED
    customer = order.customer
    billing = order.billing_address
    cancelled = financial is FinancialStatus.CANCELLED
    return Order(
        id=order.id,
        customer=Customer(
            id=text(customer.id) if customer else None,
            email=text(customer.email) if customer else None,
            first_name=text(customer.first_name) if customer else (text(billing.first_name) if billing else None),
            last_name=text(customer.last_name) if customer else (text(billing.last_name) if billing else None),
            address=address(billing),
        ),
        currency_code=(text(order.currency.iso3) if order.currency else None) or fallback_currency or "",
        order_total=total,
        tax_total=totals.tax if totals else None,
        shipping_total=totals.shipping if totals else None,
        discount_total=abs(totals.discount) if totals and totals.discount is not None else None,
        financial_status=financial,
        shipped=status.shipped or bool(fetched.shipments),
        shipments=tuple(_shipment(shipment) for shipment in fetched.shipments),
        refunds=refunds,
        cart_id=text(order.basket_id),
        order_url=text(order.order_details_url),
        promos=tuple(
            Promo(code=code[:50], amount_discounted=abs(discount.value), type="fixed")
            for discount in order.discounts
            if (code := text(discount.code))
        ),
        billing_address=address(billing),
        shipping_address=address(order.shipping_address),
        processed_at=order.create_at,
        cancelled_at=order.modified_at if cancelled else None,
        updated_at=order.modified_at,
        lines=order_lines(PLATFORM, order.id, (line(item) for item in order.order_products)),
    )


def event_id(store: Store, kind: str, entity_id: str, version: str) -> str:
    return f"{PLATFORM}:{store.store_id}:{kind}:{entity_id}:{version}"


def order_normalised(fetched: FetchedOrder, store: Store, historical: bool = False) -> Normalised:
    """The event a fetched order makes, or why it is deliberately left out. BadRequest for an unusable order."""
    order = fetched.order
    if not order.order_products:
        return Normalised.ignored(IgnoredKind.SKIPPED, f"order {order.id} has no products Mailchimp can show")
    if not (order.customer and text(order.customer.email)):
        return Normalised.ignored(IgnoredKind.SKIPPED, f"order {order.id} has no e-mail address, which Mailchimp needs")
    try:
        canonical = build_canonical(lambda: to_order(fetched, store.currency_code))
    except NoLineLeft as error:
        return Normalised.ignored(IgnoredKind.SKIPPED, str(error))
    except UnknownStatus as error:
        raise BadRequest(str(error), field="status") from error
    version_at = fetched.changed_at
    version = version_from_timestamp(version_at)
    event = make_event(
        event_type=EventType.ORDER_UPDATED,
        event_id=event_id(store, "order", order.id, version),
        store_id=store.store_id,
        platform=PLATFORM,
        entity=canonical,
        entity_id=canonical.id,
        entity_version=version,
        occurred_at=version_at,
    )
    return Normalised(events=[event.model_copy(update={"historical": historical})] if historical else [event])


def deleted_event(store: Store, event_type: EventType, kind: str, entity_id: str, at: datetime) -> Normalised:
    deleted = build_canonical(lambda: DeletedEntity(id=entity_id))
    version = version_from_timestamp(at)
    event = make_event(
        event_type=event_type,
        event_id=event_id(store, kind, deleted.id, version),
        store_id=store.store_id,
        platform=PLATFORM,
        entity=deleted,
        entity_id=deleted.id,
        entity_version=version,
        occurred_at=at,
    )
    return Normalised(events=[event])
