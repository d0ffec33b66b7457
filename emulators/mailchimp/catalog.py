"""Products with their variants and images, and the product checks of cart and order lines.

A product is stored as Mailchimp returns it, with `variants` and `images` as nested lists. A product needs
at least one variant on creation, and the emulator refuses to delete its last variant. A cart or order line
must name a known product and one of that product's variants.
"""

from __future__ import annotations

import copy
from typing import Any

from .context import Call, Route, lookup
from .paging import json_copy, page
from .problems import FieldError, already_exists, bad_request, invalid_field, invalid_resource, not_found
from .state import JsonDict, Store, now_iso

PRODUCTS = "/ecommerce/stores/{store_id}/products"
PRODUCT = PRODUCTS + "/{product_id}"
VARIANTS = PRODUCT + "/variants"
VARIANT = VARIANTS + "/{variant_id}"
IMAGES = PRODUCT + "/images"
IMAGE = IMAGES + "/{image_id}"

PRODUCT_FIELDS = ("title", "handle", "url", "description", "type", "vendor", "image_url", "published_at_foreign")
VARIANT_FIELDS = ("title", "url", "sku", "price", "inventory_quantity", "image_url", "backorders", "visibility")
IMAGE_FIELDS = ("url", "variant_ids")

NO_PRODUCT = "A product with the provided ID does not exist in the account for this list."
NO_VARIANT = "A product with the provided variant ID does not exist in the account for this list."
NEEDS_VARIANT = "A product must have at least one variant."


def find(items: list[JsonDict], item_id: str) -> JsonDict | None:
    return next((item for item in items if item["id"] == item_id), None)


def _copy_fields(target: JsonDict, body: JsonDict, names: tuple[str, ...]) -> None:
    target.update({name: json_copy(body[name]) for name in names if name in body})


def _upsert(items: list[JsonDict], body: JsonDict, names: tuple[str, ...], required: tuple[str, ...], where: str):
    """Updates the item with `body["id"]` or appends a new one (which needs the `required` fields)."""
    if "id" not in body:
        raise invalid_resource([FieldError(where, "Required fields were not provided: id")])
    stamp = now_iso()
    item = find(items, body["id"])
    if item is None:
        missing = [name for name in required if name not in body]
        if missing:
            raise invalid_resource([FieldError(where, "Required fields were not provided: " + ", ".join(missing))])
        item = {"id": body["id"], "created_at": stamp}
        items.append(item)
    _copy_fields(item, body, names)
    item["updated_at"] = stamp
    return item


def _apply_product(product: JsonDict, body: JsonDict) -> None:
    """Applies a PUT/PATCH body; nested variants and images are upserted by id. All or nothing."""
    draft = json_copy(product)
    _copy_fields(draft, body, PRODUCT_FIELDS)
    for index, variant in enumerate(body.get("variants") or []):
        _upsert(draft["variants"], variant, VARIANT_FIELDS, ("title",), f"variants.{index}")
    for index, image in enumerate(body.get("images") or []):
        _upsert(draft["images"], image, IMAGE_FIELDS, ("url",), f"images.{index}")
    draft["updated_at"] = now_iso()
    product.clear()
    product.update(draft)


def _create_product(store: Store, product_id: str, body: JsonDict) -> JsonDict:
    missing = [name for name in ("title", "variants") if name not in body]
    if missing:
        raise invalid_resource([FieldError("", "Required fields were not provided: " + ", ".join(missing))])
    if not body["variants"]:
        raise invalid_field("variants", NEEDS_VARIANT)
    stamp = now_iso()
    product: JsonDict = {
        "id": product_id,
        "currency_code": store.data.get("currency_code", ""),
        "variants": [],
        "images": [],
        "created_at": stamp,
    }
    _apply_product(product, body)
    store.products[product_id] = product
    return product


def resolve_line(store: Store, line: JsonDict) -> JsonDict:
    """A cart/order line with the product's and variant's titles, or a 400 for an unknown product/variant."""
    product = store.products.get(line["product_id"])
    if product is None:
        raise bad_request(NO_PRODUCT)
    variant = find(product["variants"], line["product_variant_id"])
    if variant is None:
        raise bad_request(NO_VARIANT)
    resolved = copy.deepcopy(line)
    resolved["product_title"] = product.get("title", "")
    resolved["product_variant_title"] = variant.get("title", "")
    resolved["image_url"] = variant.get("image_url") or product.get("image_url", "")
    return resolved


def list_products(call: Call) -> Any:
    store = call.store()
    return page(call.query, "products", store.products.values(), store_id=store.id)


def post_product(call: Call) -> Any:
    store = call.store()
    if call.json["id"] in store.products:
        raise already_exists("A product")
    return json_copy(_create_product(store, call.json["id"], call.json))


def get_product(call: Call) -> Any:
    return json_copy(lookup(call.store().products, call.args["product_id"]))


def put_product(call: Call) -> Any:
    store = call.store()
    product_id = call.args["product_id"]
    if call.json.get("id", product_id) != product_id:
        raise invalid_field("id", "The product id in the body does not match the id in the URL.")
    product = store.products.get(product_id)
    if product is None:
        return json_copy(_create_product(store, product_id, call.json))
    _apply_product(product, call.json)
    return json_copy(product)


def patch_product(call: Call) -> Any:
    product = lookup(call.store().products, call.args["product_id"])
    _apply_product(product, call.json)
    return json_copy(product)


def delete_product(call: Call) -> Any:
    store = call.store()
    lookup(store.products, call.args["product_id"])
    del store.products[call.args["product_id"]]
    return None


def _product(call: Call) -> JsonDict:
    return lookup(call.store().products, call.args["product_id"])


def _child(items: list[JsonDict], item_id: str) -> JsonDict:
    item = find(items, item_id)
    if item is None:
        raise not_found()
    return item


def list_variants(call: Call) -> Any:
    product = _product(call)
    return page(call.query, "variants", product["variants"], store_id=call.args["store_id"], product_id=product["id"])


def post_variant(call: Call) -> Any:
    product = _product(call)
    if find(product["variants"], call.json["id"]) is not None:
        raise already_exists("A product variant")
    return copy.deepcopy(_upsert(product["variants"], call.json, VARIANT_FIELDS, ("title",), ""))


def get_variant(call: Call) -> Any:
    return copy.deepcopy(_child(_product(call)["variants"], call.args["variant_id"]))


def put_variant(call: Call) -> Any:
    product = _product(call)
    variant_id = call.args["variant_id"]
    if call.json.get("id", variant_id) != variant_id:
        raise invalid_field("id", "The variant id in the body does not match the id in the URL.")
    body = {**call.json, "id": variant_id}
    return copy.deepcopy(_upsert(product["variants"], body, VARIANT_FIELDS, ("title",), ""))


def patch_variant(call: Call) -> Any:
    variant = _child(_product(call)["variants"], call.args["variant_id"])
    _copy_fields(variant, call.json, VARIANT_FIELDS)
    variant["updated_at"] = now_iso()
    return copy.deepcopy(variant)


def delete_variant(call: Call) -> Any:
    product = _product(call)
    variant = _child(product["variants"], call.args["variant_id"])
    if len(product["variants"]) == 1:
        raise bad_request(NEEDS_VARIANT)
    product["variants"].remove(variant)
    return None


def list_images(call: Call) -> Any:
    product = _product(call)
    return page(call.query, "images", product["images"], store_id=call.args["store_id"], product_id=product["id"])


def post_image(call: Call) -> Any:
    product = _product(call)
    if find(product["images"], call.json["id"]) is not None:
        raise already_exists("A product image")
    return copy.deepcopy(_upsert(product["images"], call.json, IMAGE_FIELDS, ("url",), ""))


def get_image(call: Call) -> Any:
    return copy.deepcopy(_child(_product(call)["images"], call.args["image_id"]))


def patch_image(call: Call) -> Any:
    image = _child(_product(call)["images"], call.args["image_id"])
    _copy_fields(image, call.json, IMAGE_FIELDS)
    image["updated_at"] = now_iso()
    return copy.deepcopy(image)


def delete_image(call: Call) -> Any:
    product = _product(call)
    product["images"].remove(_child(product["images"], call.args["image_id"]))
    return None


ROUTES = [
    Route("GET", PRODUCTS, list_products),
    Route("POST", PRODUCTS, post_product),
    Route("GET", PRODUCT, get_product),
    Route("PUT", PRODUCT, put_product),
    Route("PATCH", PRODUCT, patch_product),
    Route("DELETE", PRODUCT, delete_product),
    Route("GET", VARIANTS, list_variants),
    Route("POST", VARIANTS, post_variant),
    Route("GET", VARIANT, get_variant),
    Route("PUT", VARIANT, put_variant),
    Route("PATCH", VARIANT, patch_variant),
    Route("DELETE", VARIANT, delete_variant),
    Route("GET", IMAGES, list_images),
    Route("POST", IMAGES, post_image),
    Route("GET", IMAGE, get_image),
    Route("PATCH", IMAGE, patch_image),
    Route("DELETE", IMAGE, delete_image),
]
