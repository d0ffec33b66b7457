"""API2Cart's catalog reader (the nightly catalog sync; the interface: `platforms.products.CatalogSource`):
`product.list?count=250`, then the next pages by `page_cursor`; products by id with `product_ids`. Each product is
mapped as a `product` delivery is (customers.to_product), its variants the child items read for the whole page
at once (`product.child_item.list?product_ids=…`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import requests

from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import Product
from commerce_sync.platforms.api2cart.api import MAX_COUNT, PLATFORM, Api2CartApi, required_client
from commerce_sync.platforms.api2cart.customers import to_product
from commerce_sync.platforms.api2cart.models import A2cChild, A2cProduct
from commerce_sync.platforms.http import CATALOG_HTTP_POLICY, HttpPolicy, platform_session
from commerce_sync.platforms.products import (
    CatalogPage,
    CatalogUnavailable,
    build_products,
    chunks,
    parse_products,
)


class Api2CartCatalog:
    platform = PLATFORM

    def __init__(self, store: Store, client: Api2CartApi) -> None:
        self._store = store
        self._client = client

    @classmethod
    def for_store(
        cls,
        store: Store,
        credentials: Mapping[str, Any],
        policy: HttpPolicy = CATALOG_HTTP_POLICY,
        session: requests.Session | None = None,
    ) -> Api2CartCatalog:
        return cls(store, required_client(store, credentials, session or platform_session(policy), CatalogUnavailable))

    def _mapped(self, raw: Sequence[Any]) -> tuple[list[Product], list[tuple[str, str]]]:
        parsed, skipped = parse_products(raw, A2cProduct)
        # One child item list for the page's products: their variants.
        children = self._client.children([product.id for product in parsed])
        variants = {parent: parse_products(items, A2cChild)[0] for parent, items in children.items()}
        products, unmapped = build_products(
            parsed, lambda product: to_product(product, self._store.currency_code, variants.get(product.id, []))
        )
        return products, skipped + unmapped

    def page(self, cursor: str | None) -> CatalogPage:
        params: dict[str, Any] = {"page_cursor": cursor} if cursor else {"sort_by": "id"}
        listed = self._client.page("product.list", {**params, "count": MAX_COUNT})
        products, skipped = self._mapped(listed.items)
        return CatalogPage(
            products=products,
            next_cursor=listed.next_cursor if listed.items else None,
            total=listed.total,
            skipped=skipped,
        )

    def products_by_id(self, ids: Sequence[str]) -> list[Product]:
        found: list[Product] = []
        for chunk in chunks([product_id for product_id in ids if product_id and "," not in product_id], MAX_COUNT):
            listed = self._client.page("product.list", {"product_ids": ",".join(chunk), "count": MAX_COUNT})
            found.extend(self._mapped(listed.items)[0])
        return found
