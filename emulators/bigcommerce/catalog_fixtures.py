"""BigCommerce catalogs for tests and the demo (v3 catalog products with `variants` and `images`), and the
catalog helpers the emulator's own handle does not have.

`sample_catalog()`: a product tracked per variant with option values and a variant image; a product
without images whose stock is not tracked; a product tracked at product level; a hidden product.
"""

from __future__ import annotations

import copy
from typing import Any

from .emulator import BigCommerceEmulator

JsonDict = dict[str, Any]
CDN = "https://cdn11.bigcommerce.com/s-abc123/images/stencil"
MODIFIED = "2025-03-01T10:00:00+00:00"


def _variant(variant_id: int, product_id: int, labels: list[str], **fields: Any) -> JsonDict:
    return {
        "id": variant_id,
        "product_id": product_id,
        "sku": f"BC-{variant_id}",
        "price": None,
        "calculated_price": 30.0,
        "sale_price": None,
        "inventory_level": 4,
        "image_url": "",
        "purchasing_disabled": False,
        "option_values": [{"label": label, "option_display_name": "Option"} for label in labels],
        **fields,
    }


def _product(product_id: int, name: str, **fields: Any) -> JsonDict:
    slug = name.lower().replace(" ", "-")
    return {
        "id": product_id,
        "name": name,
        "type": "physical",
        "sku": f"BC-{product_id}",
        "description": f"<p>{name}</p>",
        "price": 30.0,
        "sale_price": 0,
        "calculated_price": 30.0,
        "inventory_level": 0,
        "inventory_tracking": "none",
        "is_visible": True,
        "availability": "available",
        "custom_url": {"url": f"/{slug}/", "is_customized": False},
        "date_created": "2025-01-02T10:00:00+00:00",
        "date_modified": MODIFIED,
        "variants": [],
        "images": [],
        **fields,
    }


def sample_catalog() -> list[JsonDict]:
    return copy.deepcopy(
        [
            _product(
                111,
                "Canvas Tote",
                inventory_tracking="variant",
                variants=[
                    _variant(1111, 111, ["Natural"], inventory_level=6),
                    _variant(1112, 111, ["Black"], inventory_level=0, image_url=f"{CDN}/tote-black.jpg"),
                ],
                images=[
                    {
                        "id": 91,
                        "url_standard": f"{CDN}/tote.jpg",
                        "url_zoom": f"{CDN}/tote-zoom.jpg",
                        "is_thumbnail": True,
                    }
                ],
            ),
            _product(112, "Digital Gift Voucher", type="digital", variants=[_variant(1121, 112, [])], images=[]),
            _product(
                113,
                "Enamel Mug",
                inventory_tracking="product",
                inventory_level=9,
                calculated_price=12.5,
                variants=[_variant(1131, 113, [], calculated_price=12.5)],
                images=[{"id": 93, "url_standard": f"{CDN}/mug.jpg", "is_thumbnail": True}],
            ),
            _product(114, "Wholesale Crate", is_visible=False, variants=[_variant(1141, 114, [])]),
        ]
    )


def put_catalog(emulator: BigCommerceEmulator, products: list[JsonDict]) -> None:
    for product in products:
        emulator.put_product(product)


def delete_product(emulator: BigCommerceEmulator, product_id: int) -> None:
    """As after `DELETE /v3/catalog/products/{id}`: later reads answer 404 and lists leave it out."""
    with emulator.state.lock:
        emulator.state.products.pop(int(product_id), None)
