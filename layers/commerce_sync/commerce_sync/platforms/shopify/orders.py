"""Shopify order topics to canonical order events (docs/order-status.md).

orders/create, updated, paid, cancelled, fulfilled and partially_fulfilled carry the whole order: each
becomes `order.updated`, versioned by the order's `updated_at`, so whichever arrives last in Shopify's
time wins whatever order they are delivered in. refunds/create and fulfillments/* carry a part of the
order: they become `order.refund` and `order.shipment`, merged into the order by id. orders/edited carries
no order, only the ids and quantity deltas of the lines an edit changed; the orders/updated of the same
edit carries the edited order, so the edit itself is acknowledged and ignored (shopify.webhooks).

The shapes the mapping follows:
- An edited order: a line's `current_quantity` (its quantity after edits and removals) is the quantity
  Mailchimp holds; a line whose current quantity is 0 was removed and is left out, unless every line
  was (then the lines stay as bought: Mailchimp holds no order without lines, and the order's status
  says what became of it). Lines added by an edit are ordinary lines.
- Multi-currency (Shopify Markets): an order's top-level amounts (`total_price`, line `price`, ...) and
  `currency` are the shop's, which is the Mailchimp store's currency; the `*_set.presentment_money`
  amounts, in the currency the shopper paid in, are not used. A refund's transactions are in the
  currency they were made in (the shopper's): one in another currency than the shop's is converted at
  the order's own rate (`total_price_set` shop money / presentment money), or, for refunds/create, the
  rate of its refunded lines' `subtotal_set`.
- B2B (a `company` purchasing entity): the buyer is the company's contact, the Mailchimp customer by
  e-mail as any shopper; the company's name is on the billing address (`company`), which becomes the
  Mailchimp customer's `company` too. The `company` object itself holds only ids and is not sent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import (
    Customer,
    DeletedEntity,
    MarketingConsent,
    Order,
    OrderRefund,
    OrderShipment,
    Promo,
    Refund,
    Shipment,
)
from commerce_sync.platforms.campaign_links import Landing, campaign_of
from commerce_sync.platforms.lines import PlatformLine, order_lines
from commerce_sync.platforms.order_statuses import shopify_status
from commerce_sync.platforms.shopify.addresses import ShopifyAddress, to_canonical_address

ORDER_TOPICS = frozenset(
    {
        "orders/create",
        "orders/updated",
        "orders/paid",
        "orders/cancelled",
        "orders/fulfilled",
        "orders/partially_fulfilled",
    }
)
ORDER_EDITED_TOPIC = "orders/edited"
FULFILLMENT_TOPICS = frozenset({"fulfillments/create", "fulfillments/update"})
# A fulfillment's `status`: only `success` (or none, in older payloads) means the parcel left. `pending` and
# `open` are still with a fulfillment service (Shopify's own fulfillment example is `pending`, with its
# tracking number already assigned); `cancelled`, `error` and `failure` never shipped. Marking the order
# shipped for those would send Mailchimp's Shipping confirmation for goods still on the shelf.
UNSHIPPED_FULFILLMENTS = frozenset({"pending", "open", "cancelled", "error", "failure"})


def without_access_key(value: object) -> object:
    """Shopify's cart tokens carry an access key since 2024 (`c1-7a2abe…?key=824bdj…`). The key is a
    credential, not part of the cart's identity: it is dropped, so it never reaches Mailchimp, and the same
    cart keeps one id whether a payload shows the key or not."""
    return value.split("?key=", 1)[0] if isinstance(value, str) else value


# A cart or checkout token as Shopify sends it, without its access key.
CartToken = Annotated[str, BeforeValidator(without_access_key)]


class ShopifyOrderModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class ShopifyMoney(ShopifyOrderModel):
    amount: Decimal
    currency_code: str | None = None


class ShopifyMoneySet(ShopifyOrderModel):
    """A money bag: the amount in the shop's currency and in the one the shopper was shown."""

    shop_money: ShopifyMoney
    presentment_money: ShopifyMoney | None = None


def shop_rate(bags: list[ShopifyMoneySet]) -> Decimal | None:
    """Shop money per unit of presentment money, from bags that carry both (None when they cannot say)."""
    shop = sum((bag.shop_money.amount for bag in bags if bag.presentment_money), Decimal(0))
    shown = sum((bag.presentment_money.amount for bag in bags if bag.presentment_money), Decimal(0))
    return shop / shown if shop > 0 and shown > 0 else None


class ShopifyOrderLine(ShopifyOrderModel):
    id: str
    product_id: str | None = None
    variant_id: str | None = None
    title: str = ""
    variant_title: str | None = None
    sku: str | None = None
    # Unconstrained: the line rule (commerce_sync.platforms.lines) leaves an odd line out, not the order.
    quantity: int
    # After order edits and removals (Shopify sends it since 2023-01); absent in older payloads.
    current_quantity: int | None = None
    price: Decimal
    total_discount: Decimal = Decimal(0)


class ShopifyDiscountCode(ShopifyOrderModel):
    code: str
    amount: Decimal = Decimal(0)
    type: str = "fixed_amount"


class ShopifyFulfillment(ShopifyOrderModel):
    id: str
    order_id: str | None = None
    status: str | None = None
    tracking_company: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def shipped(self) -> bool:
        return (self.status or "success").lower() not in UNSHIPPED_FULFILLMENTS


class ShopifyTransaction(ShopifyOrderModel):
    kind: str | None = None
    status: str | None = None
    amount: Decimal = Decimal(0)
    # The currency the money moved in: the shopper's (presentment) currency on a multi-currency order.
    currency: str | None = None


class ShopifyRefundLine(ShopifyOrderModel):
    subtotal_set: ShopifyMoneySet | None = None


class ShopifyRefund(ShopifyOrderModel):
    id: str
    order_id: str | None = None
    created_at: datetime | None = None
    processed_at: datetime | None = None
    transactions: list[ShopifyTransaction] = []
    refund_line_items: list[ShopifyRefundLine] = []

    def shop_currency(self) -> str | None:
        return next(
            (line.subtotal_set.shop_money.currency_code for line in self.refund_line_items if line.subtotal_set),
            None,
        )

    def amount(self, shop_currency: str | None = None, rate: Decimal | None = None) -> Decimal:
        """What was refunded, in the shop's currency: a transaction in another currency (the shopper's) is
        converted at `rate` (shop money per presentment unit), else at the rate of the refunded lines."""
        shop_currency = shop_currency or self.shop_currency()
        total = Decimal(0)
        for transaction in self.transactions:
            if transaction.kind != "refund" or transaction.status not in (None, "success"):
                continue
            amount = transaction.amount
            if shop_currency and transaction.currency and transaction.currency.upper() != shop_currency.upper():
                known = rate or shop_rate([line.subtotal_set for line in self.refund_line_items if line.subtotal_set])
                amount = amount * known if known else amount
            total += amount
        return total


class ShopifyOrderCustomer(ShopifyOrderModel):
    id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class ShopifyNote(ShopifyOrderModel):
    name: str
    value: str | None = None


class ShopifyOrder(ShopifyOrderModel):
    id: str
    email: str | None = None
    contact_email: str | None = None
    currency: str = Field(min_length=3, max_length=3)
    presentment_currency: str | None = None
    total_price: Decimal = Field(ge=0)
    total_price_set: ShopifyMoneySet | None = None
    total_tax: Decimal | None = None
    total_discounts: Decimal | None = None
    total_shipping_price_set: ShopifyMoneySet | None = None
    financial_status: str | None = None
    fulfillment_status: str | None = None
    processed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime
    cancelled_at: datetime | None = None
    checkout_token: CartToken | None = None
    cart_token: CartToken | None = None
    landing_site: str | None = None
    order_status_url: str | None = None
    buyer_accepts_marketing: bool | None = None
    customer: ShopifyOrderCustomer | None = None
    billing_address: ShopifyAddress | None = None
    shipping_address: ShopifyAddress | None = None
    line_items: list[ShopifyOrderLine] = Field(min_length=1)
    discount_codes: list[ShopifyDiscountCode] = []
    fulfillments: list[ShopifyFulfillment] = []
    refunds: list[ShopifyRefund] = []
    note_attributes: list[ShopifyNote] = []


class ShopifyDeletedOrder(ShopifyOrderModel):
    id: str


def _note(order: ShopifyOrder, name: str) -> str | None:
    return next((n.value for n in order.note_attributes if n.name == name and n.value), None)


def _shipment(fulfillment: ShopifyFulfillment) -> Shipment:
    return Shipment(
        id=f"fulfillment-{fulfillment.id}",
        tracking_number=fulfillment.tracking_number,
        tracking_carrier=fulfillment.tracking_company,
        tracking_url=fulfillment.tracking_url,
        shipped_at=fulfillment.created_at,
    )


def _refund(refund: ShopifyRefund, shop_currency: str | None = None, rate: Decimal | None = None) -> Refund:
    return Refund(
        id=f"refund-{refund.id}",
        amount=refund.amount(shop_currency, rate),
        refunded_at=refund.processed_at or refund.created_at,
    )


def _current_lines(order: ShopifyOrder) -> list[ShopifyOrderLine]:
    """The lines as the order stands after edits: each at its current quantity, removed ones left out;
    as bought when every line was removed (an order keeps its lines in Mailchimp)."""
    current = [
        line.model_copy(update={"quantity": line.current_quantity}) if line.current_quantity is not None else line
        for line in order.line_items
    ]
    kept = [line for line in current if line.quantity != 0 or line.current_quantity is None]
    return kept or order.line_items


def _promo(discount: ShopifyDiscountCode) -> Promo:
    # Shopify's "shipping" discounts are free or cheaper shipping: Mailchimp's fixed amount on shipping.
    kind: Literal["fixed", "percentage"] = "percentage" if discount.type == "percentage" else "fixed"
    return Promo(code=discount.code[:50], amount_discounted=discount.amount, type=kind)


def order_to_order(order: ShopifyOrder, consent: MarketingConsent) -> Order:
    """`consent` comes from the shop's adapter (the order's own flag or its customer's consent)."""
    status = shopify_status(order.financial_status, order.fulfillment_status, order.cancelled_at is not None)
    customer = order.customer
    rate = shop_rate([order.total_price_set]) if order.total_price_set else None
    # A storefront script may keep mc_cid / mc_tc in the cart attributes, which become the order's notes.
    campaign = campaign_of(
        Landing(url=order.landing_site, campaign_id=_note(order, "mc_cid"), tracked=bool(_note(order, "mc_tc")))
    )
    return Order(
        id=order.id,
        customer=Customer(
            id=customer.id if customer else None,
            email=order.email or order.contact_email or (customer.email if customer else None),
            first_name=customer.first_name if customer else None,
            last_name=customer.last_name if customer else None,
            # A B2B order's company name is on the billing address (so is a consumer's, when given).
            company=order.billing_address.company if order.billing_address else None,
            address=to_canonical_address(order.billing_address),
            consent=consent,
        ),
        currency_code=order.currency,
        order_total=order.total_price,
        tax_total=order.total_tax,
        discount_total=order.total_discounts,
        shipping_total=order.total_shipping_price_set.shop_money.amount if order.total_shipping_price_set else None,
        financial_status=status.financial,
        shipped=status.shipped,
        shipments=tuple(_shipment(f) for f in order.fulfillments if f.shipped),
        refunds=tuple(_refund(r, order.currency, rate) for r in order.refunds if r.amount(order.currency, rate) > 0),
        cart_id=order.cart_token or order.checkout_token,
        cart_references=tuple(t for t in (order.checkout_token,) if t),
        campaign_id=campaign.campaign_id,
        tracking_code=campaign.tracking_code,
        landing_site=campaign.landing_site,
        order_url=order.order_status_url,
        promos=tuple(_promo(d) for d in order.discount_codes),
        billing_address=to_canonical_address(order.billing_address),
        shipping_address=to_canonical_address(order.shipping_address),
        processed_at=order.processed_at or order.created_at,
        cancelled_at=order.cancelled_at,
        updated_at=order.updated_at,
        lines=order_lines(
            "shopify",
            order.id,
            (
                PlatformLine(
                    id=line.id,
                    product_id=line.product_id,
                    variant_id=line.variant_id,
                    title=line.title,
                    variant_title=line.variant_title or None,
                    sku=line.sku or None,
                    quantity=line.quantity,
                    price=line.price,
                    discount=line.total_discount,
                )
                for line in _current_lines(order)
            ),
        ),
    )


def fulfillment_to_shipment(fulfillment: ShopifyFulfillment) -> OrderShipment:
    if not fulfillment.order_id:
        raise BadRequest("is required", field="order_id")
    return OrderShipment(order_id=fulfillment.order_id, shipment=_shipment(fulfillment))


def refund_to_refund(refund: ShopifyRefund) -> OrderRefund:
    if not refund.order_id:
        raise BadRequest("is required", field="order_id")
    return OrderRefund(order_id=refund.order_id, refund=_refund(refund))


def deleted_order(payload: ShopifyDeletedOrder) -> DeletedEntity:
    return DeletedEntity(id=payload.id)
