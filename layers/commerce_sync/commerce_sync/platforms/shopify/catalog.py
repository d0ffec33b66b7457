"""Shopify products: the Admin REST product resource, its mapping, and the catalog reader.

Why REST (`GET /admin/api/<version>/products.json?limit=250`, cursor pagination through the `Link` header's
`rel="next"` `page_info`) rather than GraphQL:
- one request returns 250 products with all their variants and images, and Shopify's REST limit is a
  request count (a leaky bucket, 2 requests/s on standard plans, answered with 429 and `Retry-After`),
  so a 100,000-product catalog is about 400 requests;
- the GraphQL Admin API limits by query cost: nested `products → variants → images` connections cost
  roughly first x (variants + images) points, a single query may cost at most 1,000 and the bucket
  refills at 100 points/s on standard plans, so a full catalog needs either ~25-product pages (tens of
  products per second) or Bulk Operations (an asynchronous JSONL export, a different mechanism);
- the cursor (`page_info`) is an opaque string that the checkpoint stores as it is.
Costs of that choice, documented in docs/product-sync.md: Shopify calls the REST Admin API legacy (since
2024-10-01); public apps had to move product reads to GraphQL in 2025, while custom apps — what a store
connected with its own Admin API access token is — may keep REST unless the store has products with more
than 100 variants, which REST does not return in full (such products are logged). The reader sits behind
`CatalogSource`, so a GraphQL Bulk Operations reader can replace it without touching the sync.

Webhooks `products/create` and `products/update` deliver the same product JSON, so the adapter maps them
with `to_canonical_product` too; `products/delete` carries only the id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict

from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import Product, ProductImage, ProductVariant
from commerce_sync.platforms.http import CATALOG_HTTP_POLICY, HttpPolicy, fetch_json, platform_session
from commerce_sync.platforms.products import (
    CatalogPage,
    CatalogUnavailable,
    RawCatalogPage,
    RawProduct,
    Skipped,
    backorders,
    build_products,
    chunks,
    fingerprinted,
    numbered,
    parse_products,
    stock,
    text,
    visibility,
)
from commerce_sync.platforms.shopify.api import access_token, api_root, auth_headers, next_page_info

PAGE_SIZE = 250
REST_VARIANT_LIMIT = 100
DEFAULT_VARIANT_TITLE = "Default Title"


class ShopifyModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class ShopifyImage(ShopifyModel):
    id: str
    src: str | None = None
    position: int | None = None
    variant_ids: list[str] = []


class ShopifyVariant(ShopifyModel):
    id: str
    title: str | None = None
    sku: str | None = None
    price: Decimal | None = None
    inventory_quantity: int | None = None
    # "shopify" when Shopify tracks the variant's stock; null when it does not.
    inventory_management: str | None = None
    # "continue" sells when out of stock; "deny" does not.
    inventory_policy: str | None = None
    image_id: str | None = None
    updated_at: datetime | None = None
    option1: str | None = None
    option2: str | None = None
    option3: str | None = None

    def own_title(self) -> str | None:
        """Shopify defines a variant's title as its options joined by " / "; payloads that leave `title` blank
        (Shopify's own product webhook example) still carry the options. The product's only variant is
        titled "Default Title": that one names nothing."""
        title = text(self.title) or " / ".join(
            o for o in (text(self.option1), text(self.option2), text(self.option3)) if o
        )
        return title if title and title != DEFAULT_VARIANT_TITLE else None


class ShopifyProduct(ShopifyModel):
    id: str
    title: str | None = None
    body_html: str | None = None
    vendor: str | None = None
    product_type: str | None = None
    handle: str | None = None
    status: str | None = None
    published_at: datetime | None = None
    updated_at: datetime | None = None
    variants: list[ShopifyVariant] = []
    images: list[ShopifyImage] = []
    image: ShopifyImage | None = None


def storefront(store: Store) -> str:
    """The shop's storefront origin: its own domain when registered, else the myshopify domain."""
    domain = (store.domain or store.identity).strip().rstrip("/")
    return domain if domain.startswith(("http://", "https://")) else f"https://{domain}"


def _image_url(src: str | None) -> str | None:
    value = text(src)
    if value and value.startswith("//"):
        return "https:" + value
    return value


def to_canonical_product(product: ShopifyProduct, store: Store) -> Product:
    """Drafts, archived and unpublished products are kept but hidden (inventory 0), see catalog rules."""
    visible = (product.status or "active") == "active" and product.published_at is not None
    title = text(product.title) or ""
    handle = text(product.handle)
    url = f"{storefront(store)}/products/{handle}" if handle else None
    images = tuple(
        ProductImage(id=image.id, url=url_, variant_ids=tuple(image.variant_ids))
        for image in sorted(product.images, key=lambda image: image.position or 0)
        if (url_ := _image_url(image.src))
    )
    by_id = {image.id: image.url for image in images}
    variants = tuple(
        ProductVariant(
            id=variant.id,
            title=variant.own_title() or title,
            sku=text(variant.sku),
            url=f"{url}?variant={variant.id}" if url else None,
            price=variant.price,
            inventory_quantity=stock(
                visible=visible,
                tracked=variant.inventory_management == "shopify",
                quantity=variant.inventory_quantity,
            ),
            image_url=by_id.get(variant.image_id or ""),
            backorders=backorders(None if variant.inventory_policy is None else variant.inventory_policy == "continue"),
            visibility=visibility(visible),
        )
        for variant in product.variants
    )
    if len(product.variants) >= REST_VARIANT_LIMIT:
        logger.warning("shopify product may have more variants than REST returns", product_id=product.id)
    return Product(
        id=product.id,
        title=title,
        handle=handle,
        url=url,
        description=text(product.body_html),
        type=text(product.product_type),
        vendor=text(product.vendor),
        image_url=_image_url(product.image.src) if product.image else (images[0].url if images else None),
        images=images,
        variants=variants or (_lone_variant(product, title, url, visible),),
        currency_code=store.currency_code,
        published_at=product.published_at,
        updated_at=product.updated_at,
    )


def _lone_variant(product: ShopifyProduct, title: str, url: str | None, visible: bool) -> ProductVariant:
    """Shopify always has a variant; a payload without one still gets one, as Mailchimp requires."""
    return ProductVariant(
        id=product.id, title=title, url=url, inventory_quantity=stock(visible=visible, tracked=False, quantity=None)
    )


class ShopifyCatalog:
    platform = "shopify"

    def __init__(self, store: Store, api_root: str, access_token: str, session: requests.Session) -> None:
        self._store = store
        self._products_url = f"{api_root.rstrip('/')}/products.json"
        self._headers = auth_headers(access_token)
        self._session = session

    @classmethod
    def for_store(
        cls,
        store: Store,
        credentials: Mapping[str, Any],
        policy: HttpPolicy = CATALOG_HTTP_POLICY,
        session: requests.Session | None = None,
    ) -> ShopifyCatalog:
        token = access_token(credentials)
        if not token:
            raise CatalogUnavailable(f"store {store.store_id} has no Shopify access token (platform_api_credentials)")
        return cls(store, api_root(store), token, session or platform_session(policy))

    def _map(self, raw: Sequence[Any]) -> tuple[list[Product], Skipped]:
        models, unparsed = parse_products(raw, ShopifyProduct)
        products, unmapped = build_products(models, partial(to_canonical_product, store=self._store))
        return products, unparsed + unmapped

    def page(self, cursor: str | None) -> CatalogPage:
        raw = self.raw_page(cursor)
        products, skipped = self.to_products(raw.items)
        return CatalogPage(products=products, next_cursor=raw.next_cursor, skipped=skipped)

    def raw_page(self, cursor: str | None) -> RawCatalogPage:
        # With page_info only `limit` (and `fields`) may be sent; filters belong to the first request.
        params: dict[str, Any] = {"limit": PAGE_SIZE}
        if cursor:
            params["page_info"] = cursor
        body, headers = fetch_json(self._session, self._products_url, params, self._headers)
        raw = body.get("products", []) if isinstance(body, dict) else []
        # What of the store the mapping reads besides the product: the storefront (URLs) and the currency (prices).
        items = fingerprinted(raw, [storefront(self._store), self._store.currency_code])
        return RawCatalogPage(items=items, next_cursor=next_page_info(headers.get("Link")))

    def to_products(self, items: Sequence[RawProduct]) -> tuple[list[Product], Skipped]:
        return self._map([item.data for item in items])

    def products_by_id(self, ids: Sequence[str]) -> list[Product]:
        found: list[Product] = []
        for chunk in chunks(numbered(ids), PAGE_SIZE):
            params = {"ids": ",".join(chunk), "limit": PAGE_SIZE}
            body, _ = fetch_json(self._session, self._products_url, params, self._headers)
            products, _ = self._map(body.get("products", []) if isinstance(body, dict) else [])
            found.extend(products)
        return found
