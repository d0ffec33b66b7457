"""API2Cart's payloads as its OpenAPI description defines them (`Order`, `Order_Item`, `Shipment`, `Customer`,
`Product`, `Basket`, `OrderAbandoned`, `A2CDateTime`): the `.info` results, the list items, and what a webhook
delivery carries (the same entity, cut to the webhook's `fields`). Unknown fields are ignored; numbers arrive as
numbers or strings depending on the cart, so ids are coerced to strings."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from commerce_sync.canonical.model import EntityId


def _a2c_time(value: Any) -> Any:
    """An A2CDateTime `{value, format}` (or a bare string) as a datetime; naive times are UTC. API2Cart writes
    ISO 8601 with a `+0000` offset (`Y-m-d\\TH:i:sO`), which fromisoformat takes."""
    raw = value.get("value") if isinstance(value, dict) else value
    if raw is None or raw == "":
        return None
    parsed = raw if isinstance(raw, datetime) else datetime.fromisoformat(str(raw).strip().replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _money(value: Any) -> Any:
    return Decimal(0) if value is None or value == "" else value


A2cTime = Annotated[datetime | None, BeforeValidator(_a2c_time)]
Money = Annotated[Decimal, BeforeValidator(_money)]


class A2cModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class A2cCountry(A2cModel):
    code2: str | None = None
    code3: str | None = None
    name: str | None = None


class A2cState(A2cModel):
    code: str | None = None
    name: str | None = None


class A2cAddress(A2cModel):
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    postcode: str | None = None
    phone: str | None = None
    country: A2cCountry | None = None
    state: A2cState | None = None


class A2cBaseCustomer(A2cModel):
    id: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None


class A2cCurrency(A2cModel):
    id: str | None = None
    iso3: str | None = None


class A2cStatus(A2cModel):
    id: str | None = None
    name: str | None = None


class A2cTotals(A2cModel):
    total: Money = Decimal(0)
    subtotal: Money | None = None
    shipping: Money | None = None
    tax: Money | None = None
    discount: Money | None = None


class A2cOrderItem(A2cModel):
    product_id: str | None = None
    order_product_id: str | None = None
    variant_id: str | None = None
    model: str | None = None
    name: str | None = None
    price: Money = Decimal(0)
    price_inc_tax: Money | None = None
    quantity: Decimal = Decimal(0)
    discount_amount: Money | None = None


class A2cRefund(A2cModel):
    id: str | None = None
    total: Money = Decimal(0)
    modified_time: A2cTime = None


class A2cDiscount(A2cModel):
    code: str | None = None
    value: Money = Decimal(0)
    type: str | None = None


class A2cOrder(A2cModel):
    # Goes into API paths (order.info) and on to Mailchimp's: no path syntax.
    id: EntityId
    order_id: str | None = None
    basket_id: str | None = None
    customer: A2cBaseCustomer | None = None
    create_at: A2cTime = None
    modified_at: A2cTime = None
    currency: A2cCurrency | None = None
    billing_address: A2cAddress | None = None
    shipping_address: A2cAddress | None = None
    status: A2cStatus | None = None
    totals: A2cTotals | None = None
    discounts: list[A2cDiscount] = []
    order_products: list[A2cOrderItem] = []
    refunds: list[A2cRefund] = []
    order_details_url: str | None = None


class A2cTrackingNumber(A2cModel):
    carrier_id: str | None = None
    tracking_number: str | None = None


class A2cShipment(A2cModel):
    id: str
    order_id: str | None = None
    shipment_provider: str | None = None
    tracking_numbers: list[A2cTrackingNumber] = []
    created_at: A2cTime = None
    modified_time: A2cTime = None


class A2cCustomer(A2cModel):
    id: EntityId
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    created_time: A2cTime = None
    modified_time: A2cTime = None
    news_letter_subscription: bool | None = None
    address_book: list[A2cAddress] = []


class A2cImage(A2cModel):
    id: str | None = None
    http_path: str | None = None


class A2cProduct(A2cModel):
    id: EntityId
    name: str | None = None
    description: str | None = None
    u_sku: str | None = None
    u_brand: str | None = None
    type: str | None = None
    price: Money = Decimal(0)
    quantity: Decimal | None = None
    url: str | None = None
    images: list[A2cImage] = []
    create_at: A2cTime = None
    modified_at: A2cTime = None


class A2cChild(A2cModel):
    """A product's variant: API2Cart's child item (`product.child_item.list`)."""

    id: EntityId
    parent_id: str | None = None
    sku: str | None = None
    name: str | None = None
    default_price: Money | None = None
    inventory_level: Decimal | None = None
    manage_stock: bool | None = None
    in_stock: bool | None = None
    avail_for_sale: bool | None = None
    images: list[A2cImage] = []
    modified_time: A2cTime = None


class A2cBasketItem(A2cModel):
    id: str | None = None
    product_id: str | None = None
    variant_id: str | None = None
    sku: str | None = None
    name: str | None = None
    price: Money = Decimal(0)
    quantity: Decimal = Decimal(0)


class A2cBasket(A2cModel):
    id: EntityId
    customer: A2cBaseCustomer | None = None
    basket_url: str | None = None
    created_at: A2cTime = None
    modified_at: A2cTime = None
    currency: A2cCurrency | None = None
    basket_products: list[A2cBasketItem] = []


class A2cAbandoned(A2cModel):
    """An order.abandoned.list item: a checkout left before the order was placed."""

    id: EntityId
    customer: A2cBaseCustomer | None = None
    basket_id: str | None = None
    basket_url: str | None = None
    created_at: A2cTime = None
    modified_at: A2cTime = None
    currency: A2cCurrency | None = None
    totals: A2cTotals | None = None
    order_products: list[A2cOrderItem] = []


def text(value: str | None) -> str | None:
    stripped = value.strip() if isinstance(value, str) else None
    return stripped or None
