"""Every platform's order states onto Mailchimp's notification values, in one table.

Mailchimp fires an order notification when an order's `financial_status` becomes `pending`
(confirmation), `paid` (invoice), `refunded` (refund) or `cancelled` (cancellation), and when its
`fulfillment_status` becomes `shipped` (shipping confirmation, with tracking). Anything else fires
nothing (and a free-form value such as "fulfilled" silently loses the e-mail), so each platform's own
states are mapped here and nowhere else. docs/order-status.md is this table for people.

A `None` financial status means "not an order Mailchimp should hear about yet" (a draft, an
abandoned BigCommerce checkout): the event is acknowledged and nothing is written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from commerce_sync.canonical.model import FinancialStatus

PENDING = FinancialStatus.PENDING
PAID = FinancialStatus.PAID
REFUNDED = FinancialStatus.REFUNDED
CANCELLED = FinancialStatus.CANCELLED


@dataclass(frozen=True)
class MappedStatus:
    financial: FinancialStatus | None
    shipped: bool = False


# Shopify `financial_status`. Partial refunds stay `paid`: the refunded amount comes off the order
# total instead (see order_sync), so revenue is right and no "your order was refunded" e-mail goes out
# for a partial refund.
SHOPIFY_FINANCIAL: dict[str, FinancialStatus] = {
    "pending": PENDING,
    "authorized": PENDING,
    "partially_paid": PAID,
    "paid": PAID,
    "partially_refunded": PAID,
    "refunded": REFUNDED,
    "voided": CANCELLED,
}
# Shopify `fulfillment_status`: null/"unfulfilled" has not shipped; a partial shipment already fires
# the shipping confirmation (with that parcel's tracking), as the shopper expects.
SHOPIFY_SHIPPED = frozenset({"partial", "fulfilled", "shipped"})

# BigCommerce order `status_id` (0 to 14).
BIGCOMMERCE: dict[int, MappedStatus] = {
    0: MappedStatus(None),  # Incomplete: an abandoned checkout, not an order
    1: MappedStatus(PENDING),  # Pending
    2: MappedStatus(PAID, shipped=True),  # Shipped
    3: MappedStatus(PAID, shipped=True),  # Partially Shipped
    4: MappedStatus(REFUNDED),  # Refunded
    5: MappedStatus(CANCELLED),  # Cancelled
    6: MappedStatus(CANCELLED),  # Declined
    7: MappedStatus(PENDING),  # Awaiting Payment
    8: MappedStatus(PAID),  # Awaiting Pickup
    9: MappedStatus(PAID),  # Awaiting Shipment
    10: MappedStatus(PAID, shipped=True),  # Completed
    11: MappedStatus(PAID),  # Awaiting Fulfillment
    12: MappedStatus(PENDING),  # Manual Verification Required
    13: MappedStatus(PAID),  # Disputed: paid until the dispute resolves into a refund
    14: MappedStatus(PAID),  # Partially Refunded (amount-aware, as for Shopify)
}

# WooCommerce order statuses (without the "wc-" prefix). Custom statuses come from configuration.
WOOCOMMERCE: dict[str, MappedStatus] = {
    "checkout-draft": MappedStatus(None),
    "pending": MappedStatus(PENDING),  # awaiting payment
    "on-hold": MappedStatus(PENDING),
    "processing": MappedStatus(PAID),
    "completed": MappedStatus(PAID, shipped=True),
    "cancelled": MappedStatus(CANCELLED),
    "failed": MappedStatus(CANCELLED),
    "refunded": MappedStatus(REFUNDED),
}
WOOCOMMERCE_CUSTOM_ENV = "WOOCOMMERCE_STATUS_MAP"


class UnknownStatus(ValueError):
    """A platform state missing from the table (and from the configured custom statuses)."""


def shopify_status(financial_status: str | None, fulfillment_status: str | None, cancelled: bool) -> MappedStatus:
    if cancelled:
        return MappedStatus(CANCELLED, shipped=(fulfillment_status or "") in SHOPIFY_SHIPPED)
    financial = SHOPIFY_FINANCIAL.get((financial_status or "pending").lower())
    if financial is None:
        raise UnknownStatus(f"unknown Shopify financial_status {financial_status!r}")
    return MappedStatus(financial, shipped=(fulfillment_status or "").lower() in SHOPIFY_SHIPPED)


def bigcommerce_status(status_id: int) -> MappedStatus:
    try:
        return BIGCOMMERCE[status_id]
    except KeyError as error:
        raise UnknownStatus(f"unknown BigCommerce status_id {status_id}") from error


def woocommerce_custom_statuses() -> dict[str, MappedStatus]:
    """Custom statuses from WOOCOMMERCE_STATUS_MAP, e.g. {"awaiting-shipment": "paid",
    "shipped-out": "paid+shipped", "quote": null}."""
    raw = os.environ.get(WOOCOMMERCE_CUSTOM_ENV)
    if not raw:
        return {}
    mapped: dict[str, MappedStatus] = {}
    for status, value in json.loads(raw).items():
        if value is None:
            mapped[status] = MappedStatus(None)
            continue
        financial, _, shipped = str(value).partition("+")
        mapped[status] = MappedStatus(FinancialStatus(financial), shipped=shipped == "shipped")
    return mapped


def woocommerce_status(status: str, custom: dict[str, MappedStatus] | None = None) -> MappedStatus:
    key = status.removeprefix("wc-")
    table = {**WOOCOMMERCE, **(custom if custom is not None else woocommerce_custom_statuses())}
    try:
        return table[key]
    except KeyError as error:
        raise UnknownStatus(
            f"unknown WooCommerce order status {status!r}; map it in {WOOCOMMERCE_CUSTOM_ENV}"
        ) from error


# API2Cart: an order's `status` is the cart's own (`{id, name}`), so the table is the carts' statuses. By `id` for
# Magento, whose ids are its state codes (Magento's "closed" is a refunded order); by lower-cased `name` for carts
# whose ids are numbers that mean different things per cart (PrestaShop's default order states, OpenCart's); then
# by words in the name, for the other carts. A status none of these place is a 400 naming it.
API2CART_BY_ID: dict[str, MappedStatus] = {
    "pending": MappedStatus(PENDING),
    "pending_payment": MappedStatus(PENDING),
    "payment_review": MappedStatus(PENDING),
    "holded": MappedStatus(PENDING),
    "fraud": MappedStatus(PENDING),
    "processing": MappedStatus(PAID),
    "complete": MappedStatus(PAID, shipped=True),
    "closed": MappedStatus(REFUNDED),
    "canceled": MappedStatus(CANCELLED),
}
API2CART_BY_NAME: dict[str, MappedStatus] = {
    "awaiting check payment": MappedStatus(PENDING),
    "awaiting bank wire payment": MappedStatus(PENDING),
    "awaiting cash on delivery validation": MappedStatus(PENDING),
    "on backorder (not paid)": MappedStatus(PENDING),
    "payment accepted": MappedStatus(PAID),
    "remote payment accepted": MappedStatus(PAID),
    "processing in progress": MappedStatus(PAID),
    "on backorder (paid)": MappedStatus(PAID),
    "shipped": MappedStatus(PAID, shipped=True),
    "delivered": MappedStatus(PAID, shipped=True),
    "canceled": MappedStatus(CANCELLED),
    "cancelled": MappedStatus(CANCELLED),
    "refunded": MappedStatus(REFUNDED),
    "payment error": MappedStatus(CANCELLED),
}
# Checked in this order: a partial refund stays paid (amount-aware, as for Shopify), then "refund" before the rest,
# "not paid" before "paid".
API2CART_WORDS: tuple[tuple[str, MappedStatus], ...] = (
    ("partially refund", MappedStatus(PAID)),
    ("refund", MappedStatus(REFUNDED)),
    ("cancel", MappedStatus(CANCELLED)),
    ("declin", MappedStatus(CANCELLED)),
    ("fail", MappedStatus(CANCELLED)),
    ("void", MappedStatus(CANCELLED)),
    ("not paid", MappedStatus(PENDING)),
    ("unpaid", MappedStatus(PENDING)),
    ("pending", MappedStatus(PENDING)),
    ("awaiting", MappedStatus(PENDING)),
    ("hold", MappedStatus(PENDING)),
    ("deliver", MappedStatus(PAID, shipped=True)),
    ("shipped", MappedStatus(PAID, shipped=True)),
    ("complete", MappedStatus(PAID, shipped=True)),
    ("paid", MappedStatus(PAID)),
    ("processing", MappedStatus(PAID)),
)


def api2cart_status(status_id: str | None, name: str | None) -> MappedStatus:
    key, label = (status_id or "").strip().lower(), (name or "").strip().lower()
    found = API2CART_BY_ID.get(key) or API2CART_BY_NAME.get(label)
    if found is not None:
        return found
    for word, mapped in API2CART_WORDS:
        if word in label or word in key:
            return mapped
    raise UnknownStatus(f"unknown API2Cart order status {status_id!r} ({name!r})")
