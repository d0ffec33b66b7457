"""WooCommerce products: the wc/v3 product and variation resources, their mapping, and the catalog reader.

Reading: `GET {site}/wp-json/wc/v3/products?per_page=100&page=N&orderby=id&order=asc` (100 is the REST
maximum; the default `status=any` lists drafts, pending and private products but not the trash), and for
each variable product `GET /products/{id}/variations?per_page=100` (paged too). Pagination is by page
number (`X-WP-TotalPages`); ordering by id keeps it stable while products are added (new ids come last).
A product deleted during a run can shift one product onto an already-read page; the sync never retires a
product without asking the store about it first, so such a miss costs one extra read, not a wrong removal.

Authentication: the REST API key pair as HTTP Basic (`consumer_key`, `consumer_secret` in the store's
`platform_api_credentials`), which WooCommerce requires over HTTPS. WooCommerce has no rate limit of its
own; a host's 429 with `Retry-After` is waited out like any platform's.

Simple products become one variant with the product's own id (how Mailchimp for WooCommerce does it);
variable products have one variant per variation. A variation with `manage_stock: "parent"` uses the
parent's stock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

import requests
from pydantic import BaseModel, BeforeValidator, ConfigDict

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import Product, ProductImage, ProductVariant
from commerce_sync.platforms.http import CATALOG_HTTP_POLICY, HttpPolicy, fetch_json, platform_session
from commerce_sync.platforms.products import (
    CatalogPage,
    CatalogUnavailable,
    backorders,
    build_products,
    chunks,
    numbered,
    parse_products,
    stock,
    text,
    visibility,
)
from commerce_sync.platforms.woocommerce.api import key_pair, rest_root

PAGE_SIZE = 100
VARIABLE_TYPES = frozenset({"variable", "variable-subscription"})
# Variations of the products on one page are read a few at a time: a page of 100 variable products is
# otherwise 100 sequential round trips.
VARIATION_FETCH_WORKERS = 4


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Blank = Annotated[str | None, BeforeValidator(_blank_to_none)]
GmtTime = Annotated[datetime | None, BeforeValidator(_blank_to_none)]


class WooModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


class WooImage(WooModel):
    id: str | None = None
    src: Blank = None


class WooAttribute(WooModel):
    name: Blank = None
    option: Blank = None


class WooTerm(WooModel):
    id: str | None = None
    name: Blank = None


class WooVariation(WooModel):
    id: str
    sku: Blank = None
    price: Blank = None
    permalink: Blank = None
    status: Blank = None
    # True, False, or "parent" when the parent product manages the stock.
    manage_stock: bool | str | None = None
    stock_quantity: int | None = None
    stock_status: Blank = None
    backorders: Blank = None
    image: WooImage | None = None
    attributes: list[WooAttribute] = []
    date_modified_gmt: GmtTime = None


class WooProduct(WooModel):
    id: str
    name: Blank = None
    slug: Blank = None
    permalink: Blank = None
    type: Blank = None
    status: Blank = None
    catalog_visibility: Blank = None
    description: Blank = None
    short_description: Blank = None
    sku: Blank = None
    price: Blank = None
    manage_stock: bool | None = None
    stock_quantity: int | None = None
    stock_status: Blank = None
    backorders: Blank = None
    images: list[WooImage] = []
    categories: list[WooTerm] = []
    brands: list[WooTerm] = []
    variations: list[str] = []
    date_created_gmt: GmtTime = None
    date_modified_gmt: GmtTime = None


def _gmt(value: datetime | None) -> datetime | None:
    """WooCommerce's `*_gmt` times carry no offset; they are UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _price(value: str | None) -> Decimal | None:
    if value is None:
        return None
    try:
        price = Decimal(value)
    except InvalidOperation:
        return None
    return price if price.is_finite() and price >= 0 else None


def _visible(product: WooProduct) -> bool:
    return product.status == "publish" and (product.catalog_visibility or "visible") != "hidden"


def _backorders(value: str | None) -> str | None:
    return backorders(None if value is None else value in ("yes", "notify"))


def _variation_title(variation: WooVariation, product_title: str) -> str:
    options = [attribute.option for attribute in variation.attributes if attribute.option]
    return " / ".join(options) if options else product_title


def to_canonical_product(product: WooProduct, variations: Sequence[WooVariation], store: Store) -> Product:
    visible = _visible(product)
    title = text(product.name) or ""
    images = tuple(
        ProductImage(id=image.id or f"{product.id}-{index}", url=image.src)
        for index, image in enumerate(product.images)
        if image.src
    )
    if product.type in VARIABLE_TYPES and variations:
        variants = tuple(
            _variation_variant(variation, product, title, visible and (variation.status or "publish") == "publish")
            for variation in variations
        )
    else:
        variants = (
            ProductVariant(
                id=product.id,
                title=title,
                sku=product.sku,
                url=product.permalink,
                price=_price(product.price),
                inventory_quantity=stock(
                    visible=visible,
                    tracked=bool(product.manage_stock),
                    quantity=product.stock_quantity,
                    in_stock=product.stock_status != "outofstock",
                ),
                backorders=_backorders(product.backorders),
                visibility=visibility(visible),
            ),
        )
    category = next((term.name for term in product.categories if term.name), None)
    brand = next((term.name for term in product.brands if term.name), None)
    return Product(
        id=product.id,
        title=title,
        handle=product.slug,
        url=product.permalink,
        description=product.description or product.short_description,
        type=category,
        vendor=brand,
        image_url=images[0].url if images else None,
        images=images,
        variants=variants,
        currency_code=store.currency_code,
        published_at=_gmt(product.date_created_gmt) if visible else None,
        updated_at=_gmt(product.date_modified_gmt),
    )


def _variation_variant(variation: WooVariation, parent: WooProduct, title: str, visible: bool) -> ProductVariant:
    if variation.manage_stock == "parent":
        tracked, quantity = bool(parent.manage_stock), parent.stock_quantity
    else:
        tracked, quantity = variation.manage_stock is True, variation.stock_quantity
    return ProductVariant(
        id=variation.id,
        title=_variation_title(variation, title),
        sku=variation.sku,
        url=variation.permalink or parent.permalink,
        price=_price(variation.price),
        inventory_quantity=stock(
            visible=visible, tracked=tracked, quantity=quantity, in_stock=variation.stock_status != "outofstock"
        ),
        image_url=variation.image.src if variation.image else None,
        backorders=_backorders(variation.backorders),
        visibility=visibility(visible),
    )


class WooCommerceCatalog:
    platform = "woocommerce"

    def __init__(self, store: Store, rest_root: str, key_pair: tuple[str, str], session: requests.Session) -> None:
        self._store = store
        self._api = rest_root.rstrip("/")
        self._auth = key_pair
        self._session = session

    @classmethod
    def for_store(
        cls,
        store: Store,
        credentials: Mapping[str, Any],
        policy: HttpPolicy = CATALOG_HTTP_POLICY,
        session: requests.Session | None = None,
    ) -> WooCommerceCatalog:
        pair = key_pair(credentials)
        if pair is None:
            raise CatalogUnavailable(
                f"store {store.store_id} has no WooCommerce REST key (platform_api_credentials.consumer_key/secret)"
            )
        session = session or platform_session(policy, max_connections=VARIATION_FETCH_WORKERS)
        return cls(store, rest_root(store), pair, session)

    def _get(self, path: str, params: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        return fetch_json(self._session, f"{self._api}{path}", params, auth=self._auth)

    def variations(self, product_id: str) -> list[WooVariation]:
        found: list[WooVariation] = []
        page = 1
        while True:
            body, headers = self._get(
                f"/products/{product_id}/variations",
                {"per_page": PAGE_SIZE, "page": page, "orderby": "id", "order": "asc"},
            )
            found.extend(WooVariation.model_validate(item) for item in body if isinstance(item, dict))
            if page >= int(headers.get("X-WP-TotalPages") or 1):
                return found
            page += 1

    def complete(self, payloads: Sequence[Any]) -> tuple[list[Product], list[tuple[str, str]]]:
        """Canonical products for wc/v3 product documents (a page, or a webhook's body), reading the
        variations of the variable ones."""
        models, unparsed = parse_products(payloads, WooProduct)
        variable = [model for model in models if model.type in VARIABLE_TYPES and model.variations]
        with ThreadPoolExecutor(max_workers=VARIATION_FETCH_WORKERS) as pool:
            fetched = dict(
                zip((m.id for m in variable), pool.map(self.variations, [m.id for m in variable]), strict=True)
            )
        products, unmapped = build_products(
            models, lambda model: to_canonical_product(model, fetched.get(model.id, []), self._store)
        )
        return products, unparsed + unmapped

    def page(self, cursor: str | None) -> CatalogPage:
        number = int(cursor or 1)
        body, headers = self._get("/products", {"per_page": PAGE_SIZE, "page": number, "orderby": "id", "order": "asc"})
        products, skipped = self.complete(body if isinstance(body, list) else [])
        total_pages = int(headers.get("X-WP-TotalPages") or 0)
        total = headers.get("X-WP-Total")
        return CatalogPage(
            products=products,
            next_cursor=str(number + 1) if number < total_pages else None,
            total=int(total) if total and total.isdigit() else None,
            skipped=skipped,
        )

    def products_by_id(self, ids: Sequence[str]) -> list[Product]:
        found: list[Product] = []
        for chunk in chunks(numbered(ids), PAGE_SIZE):
            body, _ = self._get("/products", {"include": ",".join(chunk), "per_page": PAGE_SIZE, "status": "any"})
            products, _ = self.complete(body if isinstance(body, list) else [])
            found.extend(product for product in products if product.id in set(chunk))
        return found
