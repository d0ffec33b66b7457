"""Shopify catalogs for tests, the demo and the benchmark, in the Admin REST API's product shape.

`sample_catalog()` covers what the sync must handle: several variants with images (one with its own),
a product without any image, untracked stock (`inventory_management: null`), a tracked variant oversold
below zero, a draft, and a product that sells when out of stock. `generated_product(id)` makes one product
of a large deterministic catalog (3 variants, 2 images) for the benchmark; `version` changes its prices.
"""

from __future__ import annotations

import copy
from typing import Any

JsonDict = dict[str, Any]
CDN = "https://cdn.shopify.com/s/files/1/0000/0001/products"
UPDATED = "2025-03-01T10:00:00-05:00"


def _variant(product_id: int, variant_id: int, title: str, price: str, **fields: Any) -> JsonDict:
    return {
        "id": variant_id,
        "product_id": product_id,
        "title": title,
        "price": price,
        "sku": f"SKU-{variant_id}",
        "inventory_management": "shopify",
        "inventory_policy": "deny",
        "inventory_quantity": 10,
        "image_id": None,
        "updated_at": UPDATED,
        **fields,
    }


def sample_catalog() -> list[JsonDict]:
    return copy.deepcopy(
        [
            {
                "id": 1001,
                "title": "Trail Running Socks",
                "body_html": "<p>Merino socks for long runs.</p>",
                "vendor": "Demo Outfitters",
                "product_type": "Socks",
                "handle": "trail-running-socks",
                "status": "active",
                "published_at": "2025-01-10T09:00:00-05:00",
                "updated_at": UPDATED,
                "variants": [
                    _variant(1001, 10011, "M / Blue", "19.99", inventory_quantity=7),
                    _variant(1001, 10012, "L / Blue", "19.99", inventory_quantity=0, image_id=50012),
                ],
                "images": [
                    {"id": 50011, "position": 1, "src": f"{CDN}/socks.jpg", "variant_ids": [10011]},
                    {"id": 50012, "position": 2, "src": f"{CDN}/socks-l.jpg", "variant_ids": [10012]},
                ],
                "image": {"id": 50011, "position": 1, "src": f"{CDN}/socks.jpg", "variant_ids": [10011]},
            },
            {
                "id": 1002,
                "title": "Gift Card",
                "body_html": "",
                "vendor": "Demo Outfitters",
                "product_type": "Gift",
                "handle": "gift-card",
                "status": "active",
                "published_at": "2025-01-10T09:00:00-05:00",
                "updated_at": UPDATED,
                # No image at all, and stock that Shopify does not track.
                "variants": [
                    _variant(1002, 10021, "Default Title", "25.00", inventory_management=None, inventory_quantity=0)
                ],
                "images": [],
                "image": None,
            },
            {
                "id": 1003,
                "title": "Winter Beanie",
                "body_html": "<p>Warm.</p>",
                "vendor": "Demo Outfitters",
                "product_type": "Hats",
                "handle": "winter-beanie",
                "status": "active",
                "published_at": "2025-01-10T09:00:00-05:00",
                "updated_at": UPDATED,
                "variants": [
                    # Oversold: Shopify lets tracked stock go negative; Mailchimp gets 0.
                    _variant(1003, 10031, "Charcoal", "24.50", inventory_quantity=-2),
                    _variant(1003, 10032, "Red", "24.50", inventory_policy="continue", inventory_quantity=0),
                ],
                "images": [{"id": 50031, "position": 1, "src": "//cdn.shopify.com/beanie.jpg", "variant_ids": []}],
                "image": {"id": 50031, "position": 1, "src": "//cdn.shopify.com/beanie.jpg", "variant_ids": []},
            },
            {
                "id": 1004,
                "title": "Prototype Jacket",
                "body_html": "",
                "vendor": "Demo Outfitters",
                "product_type": "Jackets",
                "handle": "prototype-jacket",
                "status": "draft",
                "published_at": None,
                "updated_at": UPDATED,
                "variants": [_variant(1004, 10041, "Default Title", "199.00", inventory_quantity=3)],
                "images": [],
                "image": None,
            },
        ]
    )


def generated_product(product_id: int, version: int = 0) -> JsonDict:
    """Product `product_id` of a large generated catalog: 3 variants, 2 images; `version` shifts prices."""
    base = product_id * 10
    price = f"{(product_id % 97) + 5 + version}.99"
    return {
        "id": product_id,
        "title": f"Generated product {product_id}",
        "body_html": f"<p>Product number {product_id} of the benchmark catalog.</p>",
        "vendor": "Bench Brand",
        "product_type": f"Type {product_id % 20}",
        "handle": f"generated-{product_id}",
        "status": "active",
        "published_at": "2025-01-01T00:00:00+00:00",
        "updated_at": f"2025-02-01T00:00:{version % 60:02d}+00:00",
        "variants": [
            _variant(product_id, base + n, size, price, inventory_quantity=(product_id + n) % 13, image_id=None)
            for n, size in enumerate(("S", "M", "L"), start=1)
        ],
        "images": [
            {"id": base + 1, "position": 1, "src": f"{CDN}/g{product_id}-1.jpg", "variant_ids": [base + 1]},
            {"id": base + 2, "position": 2, "src": f"{CDN}/g{product_id}-2.jpg", "variant_ids": [base + 2, base + 3]},
        ],
        "image": {"id": base + 1, "position": 1, "src": f"{CDN}/g{product_id}-1.jpg", "variant_ids": [base + 1]},
    }
