"""Plain functions from the canonical model to Mailchimp resources."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from commerce_sync.canonical.emails import subscriber_hash
from commerce_sync.canonical.model import (
    CUSTOM_ITEMS_PRODUCT_ID,
    HIDDEN,
    Address,
    Cart,
    ConsentState,
    Customer,
    Line,
    Product,
)
from commerce_sync.canonical.money import quantize
from commerce_sync.mailchimp.models import (
    McAddress,
    McCart,
    McCustomer,
    McLine,
    McProduct,
    McProductImage,
    McProductVariant,
)


class UnmappableError(ValueError):
    """The canonical entity cannot become a Mailchimp resource (e.g. a shopper with no e-mail)."""


def customer_id(customer: Customer) -> str:
    """The Mailchimp customer id of a shopper in one store: the MD5 of the trimmed, lower-cased e-mail
    address, whether the shopper has a platform account or checked out as a guest.

    Mailchimp never lets a customer's e-mail change, so a customer *is* an address: a shopper who moves to
    a new address becomes a new Mailchimp customer, and their orders and carts land on it instead of being
    refused. It is also the id Mailchimp for WooCommerce gives its customers, so a store moving from that
    plugin keeps its customers' history. The platform's own customer id is remembered beside it (sync
    state) for the platform's deletions, which name only that id.
    """
    if not customer.email:
        raise UnmappableError("customer.email is required: Mailchimp keys a customer by its e-mail address")
    return subscriber_hash(customer.email)


def to_mailchimp_address(address: Address | None) -> McAddress | None:
    if address is None:
        return None
    fields = address.model_dump(exclude={"name", "company", "phone"}, exclude_none=True)
    return McAddress(**fields) if fields else None


def to_mailchimp_customer(customer: Customer) -> McCustomer:
    """opt_in_status is true only with real consent; false never unsubscribes an existing contact."""
    if customer.email is None:
        raise UnmappableError("customer.email is required: Mailchimp cannot create a customer without it")
    return McCustomer(
        id=customer_id(customer),
        email_address=customer.email,
        opt_in_status=customer.consent.state is ConsentState.GRANTED,
        first_name=customer.first_name,
        last_name=customer.last_name,
        company=customer.company,
        address=to_mailchimp_address(customer.address),
    )


def to_mailchimp_line(line: Line) -> McLine:
    return McLine(
        id=line.id,
        product_id=line.product_id,
        product_variant_id=line.variant_id,
        quantity=line.quantity,
        price=line.price,
        discount=line.discount or None,
    )


def to_mailchimp_cart(cart: Cart) -> McCart:
    return McCart(
        id=cart.id,
        customer=to_mailchimp_customer(cart.customer),
        currency_code=cart.currency_code,
        order_total=cart.order_total,
        tax_total=cart.tax_total,
        checkout_url=cart.checkout_url,
        campaign_id=cart.campaign_id,
        lines=[to_mailchimp_line(line) for line in cart.lines],
    )


def product_from_line(line: Line) -> McProduct:
    """A minimal product for a line whose product Mailchimp lacks, so the cart or order is never dropped."""
    return McProduct(
        id=line.product_id,
        title=line.product_title or f"Product {line.product_id}",
        url=line.url,
        image_url=line.image_url,
        variants=[variant_from_line(line)],
    )


def variant_from_line(line: Line) -> McProductVariant:
    # A custom item (engraving, gift certificate, a deleted product's line) is sold once, never stocked:
    # hidden at inventory 0 so that Mailchimp never recommends it, as the catalog sync retires products.
    custom = line.product_id == CUSTOM_ITEMS_PRODUCT_ID
    return McProductVariant(
        id=line.variant_id,
        title=line.variant_title or line.product_title or f"Variant {line.variant_id}",
        sku=line.sku,
        price=line.price,
        url=line.url,
        image_url=line.image_url,
        inventory_quantity=0 if custom else None,
        visibility=HIDDEN if custom else None,
    )


def _foreign_timestamp(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def to_mailchimp_product(product: Product, currency_code: str | None = None) -> McProduct:
    """Variant prices are quantised to the store's currency (two decimals when none is known).

    URLs go out absolute, since Mailchimp puts them into e-mails: a scheme-relative URL gets https, a
    relative one is resolved against the product's own URL, and one that still is not http(s) is left out
    rather than sent broken. The product's image is its own, else its first image; a variant's image is
    its own, else the image that names the variant, else the product's.
    """
    currency = currency_code or product.currency_code or "XXX"
    base = absolute_url(product.url)
    images = [
        McProductImage(id=image.id, url=url, variant_ids=list(image.variant_ids))
        for image in product.images
        if (url := absolute_url(image.url, base))
    ]
    product_image = absolute_url(product.image_url, base) or (images[0].url if images else None)
    image_of_variant: dict[str, str] = {}
    for image in images:
        for variant_id in image.variant_ids or ():
            image_of_variant.setdefault(variant_id, image.url)
    return McProduct(
        id=product.id,
        title=product.title,
        handle=product.handle,
        url=base,
        description=product.description,
        type=product.type,
        vendor=product.vendor,
        image_url=product_image,
        published_at_foreign=_foreign_timestamp(product.published_at),
        images=images or None,
        variants=[
            McProductVariant(
                id=v.id,
                title=v.title,
                url=absolute_url(v.url, base),
                sku=v.sku,
                price=quantize(v.price, currency) if v.price is not None else None,
                inventory_quantity=v.inventory_quantity,
                image_url=absolute_url(v.image_url, base) or image_of_variant.get(v.id) or product_image,
                backorders=v.backorders,
                visibility=v.visibility,
            )
            for v in product.variants
        ],
    )


def absolute_url(value: str | None, base: str | None = None) -> str | None:
    """`value` as an absolute http(s) URL, or None when it cannot be one."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        if text.startswith("//"):
            text = "https:" + text
        parts = urlsplit(text)
        # Split once for the usual absolute URL: a catalog sync maps five URLs a product (issue 5).
        if base and not parts.scheme:
            text = urljoin(base, text)
            parts = urlsplit(text)
    except ValueError:
        return None  # malformed (an unclosed IPv6 bracket): left out, as any URL that cannot be absolute
    return text if parts.scheme in ("http", "https") and parts.netloc else None


def hidden_variant(variant_id: str, title: str) -> McProductVariant:
    """A variant that must stop being recommended but keep existing (orders and carts may name it):
    Mailchimp recommends only variants with inventory_quantity > 0."""
    return McProductVariant(id=variant_id, title=title or variant_id, inventory_quantity=0, visibility=HIDDEN)


def to_mailchimp_hidden_product(product_id: str, title: str, variants: dict[str, str]) -> McProduct:
    """The PUT body that retires a product gone from the catalog: every variant it had (id → title) at
    inventory 0 and hidden. The product itself stays, so orders and carts that name it keep working."""
    retired = [hidden_variant(variant_id, variant_title) for variant_id, variant_title in sorted(variants.items())]
    return McProduct(
        id=product_id,
        title=title or product_id,
        variants=retired or [hidden_variant(product_id, title or product_id)],
    )


def with_retired_variants(product: McProduct, known_variants: dict[str, str]) -> McProduct:
    """`product` plus, hidden at inventory 0, the variants Mailchimp had that the product no longer has
    (a PUT does not delete variants it leaves out, and a deleted variant would break orders naming it)."""
    current = {variant.id for variant in product.variants}
    retired = [hidden_variant(vid, title) for vid, title in sorted(known_variants.items()) if vid not in current]
    if not retired:
        return product
    return product.model_copy(update={"variants": [*product.variants, *retired]})


def product_content_hash(product: McProduct) -> str:
    """A stable digest of exactly what would be sent: equal digests mean the write can be skipped. Any
    change to the mapping changes the digest too, so the next catalog sync re-sends what it affects."""
    canonical = json.dumps(product.body(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
