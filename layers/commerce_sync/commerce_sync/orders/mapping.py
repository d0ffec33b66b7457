"""Canonical orders to Mailchimp orders: plain functions, including the money and status rules that
decide which notification fires and what revenue Mailchimp counts.

- Cancelled (a cancellation time, or a cancelled status): `financial_status` cancelled,
  `cancelled_at_foreign` set (only then: Mailchimp cancels any order that carries it), order total 0.
- Refunds: the refunded amount comes off the order total, so campaign revenue is what the shop kept.
  A partial refund keeps the platform's status (`paid`); refunds covering the whole total make it
  `refunded` (total 0). docs/order-status.md shows what Mailchimp then displays.
- `fulfillment_status` is `shipped` once goods left, with the tracking of the latest parcel that has a
  tracking number.
- `tracking_code` is `prec` only when the visit carried `mc_tc`.
"""

from __future__ import annotations

from decimal import Decimal

from commerce_sync.canonical.model import Address, FinancialStatus, Order, Shipment
from commerce_sync.canonical.money import quantize
from commerce_sync.mailchimp.mapping import to_mailchimp_customer, to_mailchimp_line
from commerce_sync.mailchimp.models import McOrder, McOrderAddress, McPromo


def refunded_amount(order: Order) -> Decimal:
    return quantize(sum((refund.amount for refund in order.refunds), Decimal(0)), order.currency_code)


def is_cancelled(order: Order) -> bool:
    return order.cancelled_at is not None or order.financial_status is FinancialStatus.CANCELLED


def mailchimp_financial_status(order: Order) -> FinancialStatus | None:
    if is_cancelled(order):
        return FinancialStatus.CANCELLED
    refunded = refunded_amount(order)
    if order.financial_status is FinancialStatus.REFUNDED or (refunded > 0 and refunded >= order.order_total):
        return FinancialStatus.REFUNDED
    return order.financial_status


def mailchimp_order_total(order: Order) -> Decimal:
    if is_cancelled(order) or mailchimp_financial_status(order) is FinancialStatus.REFUNDED:
        return quantize(0, order.currency_code)
    return max(order.order_total - refunded_amount(order), quantize(0, order.currency_code))


def latest_tracked_shipment(order: Order) -> Shipment | None:
    tracked = [shipment for shipment in order.shipments if shipment.tracking_number]
    if not tracked:
        return None
    # Undated parcels keep their platform order; a dated one is placed by its time.
    return max(enumerate(tracked), key=lambda item: (item[1].shipped_at is not None, item[1].shipped_at, item[0]))[1]


def to_mailchimp_order_address(address: Address | None) -> McOrderAddress | None:
    if address is None:
        return None
    fields = address.model_dump(exclude_none=True)
    return McOrderAddress(**fields) if fields else None


def to_mailchimp_order(order: Order) -> McOrder:
    cancelled = is_cancelled(order)
    shipment = latest_tracked_shipment(order) if order.shipped else None
    return McOrder(
        id=order.id,
        customer=to_mailchimp_customer(order.customer),
        currency_code=order.currency_code,
        order_total=mailchimp_order_total(order),
        lines=[to_mailchimp_line(line) for line in order.lines],
        financial_status=status.value if (status := mailchimp_financial_status(order)) else None,
        fulfillment_status="shipped" if order.shipped else None,
        tax_total=order.tax_total,
        shipping_total=order.shipping_total,
        discount_total=order.discount_total,
        campaign_id=order.campaign_id,
        landing_site=order.landing_site,
        tracking_code=order.tracking_code,
        order_url=order.order_url,
        cart_id=order.cart_id,
        processed_at_foreign=order.processed_at.isoformat() if order.processed_at else None,
        updated_at_foreign=order.updated_at.isoformat() if order.updated_at else None,
        cancelled_at_foreign=cancelled_at.isoformat()
        if cancelled and (cancelled_at := order.cancelled_at or order.updated_at or order.processed_at)
        else None,
        shipping_address=to_mailchimp_order_address(order.shipping_address),
        billing_address=to_mailchimp_order_address(order.billing_address),
        promos=[McPromo(code=p.code, amount_discounted=p.amount_discounted, type=p.type) for p in order.promos] or None,
        tracking_number=shipment.tracking_number if shipment else None,
        tracking_carrier=shipment.tracking_carrier if shipment else None,
        tracking_url=shipment.tracking_url if shipment else None,
    )
