"""BigCommerce products: the v3 catalog product (with its variants and images), its mapping, and the reader.

Reading: `GET {api}/v3/catalog/products?include=variants,images&limit=250&page=N&sort=id&direction=asc`
(250 is the v3 maximum), paged by `meta.pagination`. BigCommerce answers a throttled request with 429 and
`X-Rate-Limit-Time-Reset-Ms`, which the platform session waits out. `X-Auth-Token` is the store's API
account token (`platform_api_credentials.access_token`), as for the webhook fetches.

Every BigCommerce product has a base variant, so `variants` is never empty on a real store; a product
without any still gets one from the product's own fields. Stock follows `inventory_tracking`: `none` is
untracked, `product` uses the product's `inventory_level` for every variant, `variant` each variant's own.
The webhooks (`store/product/*`) carry only the id; the adapter reads the product with `products_by_id`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

import requests

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import Product, ProductImage, ProductVariant
from commerce_sync.platforms.bigcommerce.api import access_token, api_root, auth_headers
from commerce_sync.platforms.bigcommerce.models import BcModel
from commerce_sync.platforms.http import CATALOG_HTTP_POLICY, HttpPolicy, fetch_json, platform_session
from commerce_sync.platforms.products import (
    CatalogPage,
    CatalogUnavailable,
    Skipped,
    build_products,
    chunks,
    numbered,
    parse_products,
    stock,
    text,
    visibility,
)

PAGE_SIZE = 250
BY_ID_CHUNK = 50
INCLUDE = "variants,images"


class BcOptionValue(BcModel):
    label: str | None = None
    option_display_name: str | None = None


class BcVariant(BcModel):
    id: str
    sku: str | None = None
    price: Decimal | None = None
    sale_price: Decimal | None = None
    calculated_price: Decimal | None = None
    inventory_level: int | None = None
    image_url: str | None = None
    purchasing_disabled: bool = False
    option_values: list[BcOptionValue] = []


class BcImage(BcModel):
    id: str
    url_standard: str | None = None
    url_zoom: str | None = None
    is_thumbnail: bool = False
    sort_order: int = 0


class BcCustomUrl(BcModel):
    url: str | None = None


class BcProduct(BcModel):
    id: str
    name: str | None = None
    type: str | None = None
    sku: str | None = None
    description: str | None = None
    price: Decimal | None = None
    sale_price: Decimal | None = None
    calculated_price: Decimal | None = None
    inventory_level: int | None = None
    inventory_tracking: str = "none"
    is_visible: bool = True
    availability: str | None = None
    custom_url: BcCustomUrl | None = None
    date_created: datetime | None = None
    date_modified: datetime | None = None
    variants: list[BcVariant] = []
    images: list[BcImage] = []


def storefront(store: Store) -> str:
    domain = (store.domain or "").strip().rstrip("/")
    if domain:
        return domain if domain.startswith(("http://", "https://")) else f"https://{domain}"
    return f"https://store-{store.identity}.mybigcommerce.com"


def _positive(value: Decimal | None) -> Decimal | None:
    return value if value is not None and value > 0 else None


def _price(variant: BcVariant | None, product: BcProduct) -> Decimal | None:
    """What the shopper pays: the computed storefront price first, then sale and list prices."""
    candidates = []
    if variant is not None:
        candidates += [variant.calculated_price, _positive(variant.sale_price), variant.price]
    candidates += [product.calculated_price, _positive(product.sale_price), product.price]
    return next((price for price in candidates if price is not None and price >= 0), None)


def to_canonical_product(product: BcProduct, store: Store) -> Product:
    visible = product.is_visible and product.availability != "disabled"
    title = text(product.name) or ""
    path = text(product.custom_url.url) if product.custom_url else None
    url = f"{storefront(store)}{path if path.startswith('/') else '/' + path}" if path else None
    ordered = sorted(product.images, key=lambda image: (not image.is_thumbnail, image.sort_order))
    images = tuple(
        ProductImage(id=image.id, url=url_)
        for image in ordered
        if (url_ := text(image.url_zoom) or text(image.url_standard))
    )

    def quantity(variant: BcVariant | None, variant_visible: bool) -> int:
        tracking = product.inventory_tracking
        level = variant.inventory_level if tracking == "variant" and variant is not None else product.inventory_level
        return stock(visible=variant_visible, tracked=tracking in ("product", "variant"), quantity=level)

    variants = tuple(
        ProductVariant(
            id=variant.id,
            title=" / ".join(label for v in variant.option_values if (label := text(v.label))) or title,
            sku=text(variant.sku),
            url=url,
            price=_price(variant, product),
            inventory_quantity=quantity(variant, visible and not variant.purchasing_disabled),
            image_url=text(variant.image_url),
            visibility=visibility(visible and not variant.purchasing_disabled),
        )
        for variant in product.variants
    ) or (
        ProductVariant(
            id=product.id,
            title=title,
            sku=text(product.sku),
            url=url,
            price=_price(None, product),
            inventory_quantity=quantity(None, visible),
            visibility=visibility(visible),
        ),
    )
    return Product(
        id=product.id,
        title=title,
        handle=path.strip("/") if path else None,
        url=url,
        description=text(product.description),
        image_url=images[0].url if images else None,
        images=images,
        variants=variants,
        currency_code=store.currency_code,
        published_at=product.date_created if visible else None,
        updated_at=product.date_modified,
    )


class BigCommerceCatalog:
    platform = "bigcommerce"

    def __init__(self, store: Store, api_root: str, access_token: str, session: requests.Session) -> None:
        self._store = store
        self._products_url = f"{api_root.rstrip('/')}/v3/catalog/products"
        self._headers = auth_headers(access_token)
        self._session = session

    @classmethod
    def for_store(
        cls,
        store: Store,
        credentials: Mapping[str, Any],
        policy: HttpPolicy = CATALOG_HTTP_POLICY,
        session: requests.Session | None = None,
    ) -> BigCommerceCatalog:
        token = access_token(credentials)
        if not token:
            raise CatalogUnavailable(
                f"store {store.store_id} has no BigCommerce access token (platform_api_credentials.access_token)"
            )
        return cls(store, api_root(store), token, session or platform_session(policy))

    def _map(self, raw: Sequence[Any]) -> tuple[list[Product], Skipped]:
        models, unparsed = parse_products(raw, BcProduct)
        products, unmapped = build_products(models, partial(to_canonical_product, store=self._store))
        return products, unparsed + unmapped

    def page(self, cursor: str | None) -> CatalogPage:
        number = int(cursor or 1)
        body, _ = fetch_json(
            self._session,
            self._products_url,
            {"include": INCLUDE, "limit": PAGE_SIZE, "page": number, "sort": "id", "direction": "asc"},
            self._headers,
        )
        data = body.get("data", []) if isinstance(body, dict) else []
        pagination = (body.get("meta") or {}).get("pagination") or {} if isinstance(body, dict) else {}
        products, skipped = self._map(data)
        total_pages = int(pagination.get("total_pages") or 0)
        return CatalogPage(
            products=products,
            next_cursor=str(number + 1) if number < total_pages else None,
            total=int(pagination["total"]) if pagination.get("total") is not None else None,
            skipped=skipped,
        )

    def products_by_id(self, ids: Sequence[str]) -> list[Product]:
        found: list[Product] = []
        for chunk in chunks(numbered(ids), BY_ID_CHUNK):
            body, _ = fetch_json(
                self._session,
                self._products_url,
                {"id:in": ",".join(chunk), "include": INCLUDE, "limit": PAGE_SIZE},
                self._headers,
            )
            products, _ = self._map(body.get("data", []) if isinstance(body, dict) else [])
            found.extend(products)
        return found
