"""API2Cart customers, baskets (live carts) and products to canonical entities (docs/api2cart.md).

- Address (`Customer_Address`, of orders and customers): names joined, state and country by name and code.
- Customer (`customer.info`): id, e-mail, names, the first address of `address_book`; marketing consent granted when
  `news_letter_subscription` is true, unknown otherwise (API2Cart gives false both for "said no" and for carts
  that keep no such flag, and an unknown never unsubscribes anyone).
- Basket (`basket.info`) → cart: `basket_products` as lines (platforms.lines), the total their sum, `basket_url` as
  the checkout URL.
- Product (`product.info` and its `product.child_item.list`): each child item a variant (`sku`, `default_price`,
  `inventory_level` under the shared stock rules, not for sale: hidden); a product without child items is its own
  one variant (`u_sku`, `price`, `quantity`); the first image.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from commerce_sync.canonical.model import (
    Address,
    Cart,
    ConsentState,
    Customer,
    MarketingConsent,
    Product,
    ProductImage,
    ProductVariant,
)
from commerce_sync.platforms.api2cart.api import PLATFORM
from commerce_sync.platforms.api2cart.models import (
    A2cAbandoned,
    A2cAddress,
    A2cBasket,
    A2cBasketItem,
    A2cChild,
    A2cCustomer,
    A2cProduct,
    text,
)
from commerce_sync.platforms.lines import PlatformLine, to_lines
from commerce_sync.platforms.products import stock, visibility


def address(value: A2cAddress | None) -> Address | None:
    if value is None:
        return None
    name = " ".join(part for part in (text(value.first_name), text(value.last_name)) if part) or None
    mapped = Address(
        name=name,
        company=text(value.company),
        address1=text(value.address1),
        address2=text(value.address2),
        city=text(value.city),
        province=text(value.state.name) if value.state else None,
        province_code=text(value.state.code) if value.state else None,
        postal_code=text(value.postcode),
        country=text(value.country.name) if value.country else None,
        country_code=text(value.country.code2) if value.country else None,
        phone=text(value.phone),
    )
    return mapped if mapped.model_dump(exclude_none=True) else None


def to_customer(customer: A2cCustomer) -> Customer:
    consent = (
        MarketingConsent(state=ConsentState.GRANTED, source="api2cart_newsletter", updated_at=customer.modified_time)
        if customer.news_letter_subscription
        else MarketingConsent()
    )
    return Customer(
        id=customer.id,
        email=text(customer.email),
        first_name=text(customer.first_name),
        last_name=text(customer.last_name),
        company=text(customer.company),
        address=address(customer.address_book[0]) if customer.address_book else None,
        consent=consent,
    )


def to_cart(basket: A2cBasket, fallback_currency: str | None) -> Cart:
    lines = to_lines(
        PLATFORM,
        basket.id,
        (
            PlatformLine(
                id=item.id,
                product_id=item.product_id,
                variant_id=item.variant_id,
                title=text(item.name),
                sku=text(item.sku),
                quantity=int(item.quantity),
                price=item.price,
            )
            for item in basket.basket_products
        ),
    )
    shopper = basket.customer
    return Cart(
        id=basket.id,
        customer=Customer(
            id=text(shopper.id) if shopper else None,
            email=text(shopper.email) if shopper else None,
            first_name=text(shopper.first_name) if shopper else None,
            last_name=text(shopper.last_name) if shopper else None,
        ),
        currency_code=(text(basket.currency.iso3) if basket.currency else None) or fallback_currency or "",
        lines=lines,
        order_total=sum((line.price * line.quantity for line in lines), Decimal(0)),
        checkout_url=text(basket.basket_url),
        created_at=basket.created_at,
        updated_at=basket.modified_at,
    )


def abandoned_basket(abandoned: A2cAbandoned) -> A2cBasket:
    """An abandoned checkout (`order.abandoned.list`) as the basket it was, so `to_cart` maps both paths and the
    nightly pull and a basket webhook give the same Mailchimp cart. Its id is the basket's (`basket_id`) when
    API2Cart names one: the id a basket webhook and the order placed from it (`basket_id`) carry, so the pull
    updates that cart and a converted one stays converted."""
    return A2cBasket(
        id=text(abandoned.basket_id) or abandoned.id,
        customer=abandoned.customer,
        basket_url=abandoned.basket_url,
        created_at=abandoned.created_at,
        modified_at=abandoned.modified_at or abandoned.created_at,
        currency=abandoned.currency,
        basket_products=[
            A2cBasketItem(
                id=item.order_product_id,
                product_id=item.product_id,
                variant_id=item.variant_id,
                sku=item.model,
                name=item.name,
                price=item.price,
                quantity=item.quantity,
            )
            for item in abandoned.order_products
        ],
    )


def _variant(child: A2cChild, product: A2cProduct, title: str) -> ProductVariant:
    image = next((text(item.http_path) for item in child.images if text(item.http_path)), None)
    buyable = child.avail_for_sale is not False
    return ProductVariant(
        id=child.id,
        title=text(child.name) or title,
        sku=text(child.sku),
        url=text(product.url),
        price=max(child.default_price if child.default_price is not None else product.price, Decimal(0)),
        inventory_quantity=stock(
            visible=buyable,
            tracked=child.manage_stock is not False and child.inventory_level is not None,
            quantity=float(child.inventory_level) if child.inventory_level is not None else None,
            in_stock=child.in_stock is not False,
        ),
        image_url=image,
        visibility=visibility(buyable),
    )


def to_product(product: A2cProduct, currency: str | None, children: Sequence[A2cChild] = ()) -> Product:
    """The product's child items as its variants; a product without any is its own one variant."""
    image = next((text(image.http_path) for image in product.images if text(image.http_path)), None)
    title = text(product.name) or f"Product {product.id}"
    own = ProductVariant(
        id=product.id,
        title=title,
        sku=text(product.u_sku),
        url=text(product.url),
        price=max(product.price, Decimal(0)),
        inventory_quantity=stock(
            visible=True,
            tracked=product.quantity is not None,
            quantity=float(product.quantity) if product.quantity is not None else None,
        ),
        image_url=image,
        visibility=visibility(True),
    )
    return Product(
        id=product.id,
        title=title,
        url=text(product.url),
        description=text(product.description),
        type=text(product.type),
        vendor=text(product.u_brand),
        image_url=image,
        images=tuple(
            ProductImage(id=text(item.id) or f"image-{index}", url=path)
            for index, item in enumerate(product.images)
            if (path := text(item.http_path))
        ),
        variants=tuple(_variant(child, product, title) for child in children) or (own,),
        currency_code=currency or None,
        published_at=product.create_at,
        updated_at=product.modified_at,
    )
