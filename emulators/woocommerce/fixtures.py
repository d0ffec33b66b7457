"""WooCommerce catalogs for tests and the demo, in the wc/v3 product and variation shapes.

`sample_catalog()` returns (product, variations) pairs: a variable product whose variations manage their
own stock, take the parent's (`manage_stock: "parent"`) or do not manage it, with and without their own
image; a simple product without images whose stock is not managed; a simple product out of stock; and a
product hidden from the catalog.
"""

from __future__ import annotations

import copy
from typing import Any

JsonDict = dict[str, Any]
SITE = "https://shop.example.com"
MODIFIED = "2025-03-01T15:00:00"


def _product(product_id: int, name: str, **fields: Any) -> JsonDict:
    slug = name.lower().replace(" ", "-")
    return {
        "id": product_id,
        "name": name,
        "slug": slug,
        "permalink": f"{SITE}/product/{slug}/",
        "type": "simple",
        "status": "publish",
        "catalog_visibility": "visible",
        "description": f"<p>{name}</p>",
        "short_description": "",
        "sku": f"WOO-{product_id}",
        "price": "10.00",
        "regular_price": "10.00",
        "manage_stock": True,
        "stock_quantity": 5,
        "stock_status": "instock",
        "backorders": "no",
        "images": [],
        "categories": [{"id": 9, "name": "Clothing", "slug": "clothing"}],
        "date_created_gmt": "2025-01-05T12:00:00",
        "date_modified_gmt": MODIFIED,
        **fields,
    }


def _variation(variation_id: int, option: str, price: str, **fields: Any) -> JsonDict:
    return {
        "id": variation_id,
        "sku": f"WOO-V{variation_id}",
        "price": price,
        "regular_price": price,
        "permalink": f"{SITE}/product/hoodie/?attribute_pa_size={option.lower()}",
        "status": "publish",
        "manage_stock": True,
        "stock_quantity": 3,
        "stock_status": "instock",
        "backorders": "no",
        "image": None,
        "attributes": [{"id": 1, "name": "Size", "option": option}],
        "date_modified_gmt": MODIFIED,
        **fields,
    }


def sample_catalog() -> list[tuple[JsonDict, list[JsonDict]]]:
    hoodie = _product(
        301,
        "Hoodie",
        type="variable",
        price="45.00",
        manage_stock=True,
        stock_quantity=12,
        images=[{"id": 701, "src": f"{SITE}/wp-content/uploads/hoodie.jpg"}],
    )
    variations = [
        _variation(3011, "Small", "45.00", image={"id": 702, "src": f"{SITE}/wp-content/uploads/hoodie-s.jpg"}),
        _variation(3012, "Medium", "45.00", manage_stock="parent", stock_quantity=None),
        _variation(3013, "Large", "49.00", manage_stock=False, stock_quantity=None, backorders="notify"),
    ]
    sticker = _product(302, "Sticker", price="2.50", manage_stock=False, stock_quantity=None)
    poster = _product(303, "Poster", price="15.00", manage_stock=False, stock_quantity=None, stock_status="outofstock")
    secret = _product(304, "Staff Shirt", catalog_visibility="hidden", stock_quantity=40)
    return copy.deepcopy([(hoodie, variations), (sticker, []), (poster, []), (secret, [])])
