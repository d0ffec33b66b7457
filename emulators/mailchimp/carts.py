"""Carts (POST/GET/PATCH/DELETE; there is no PUT) and their lines."""

from __future__ import annotations

import copy
from typing import Any

from .catalog import resolve_line
from .context import Call, Route, lookup
from .customers import embedded_customer
from .lines import LineRoutes, check_campaign, document_view, merge_lines, patch_embedded_customer
from .paging import page
from .problems import already_exists
from .state import now_iso

CARTS = "/ecommerce/stores/{store_id}/carts"
CART = CARTS + "/{cart_id}"
CART_FIELDS = ("campaign_id", "checkout_url", "currency_code", "order_total", "tax_total")
NEW_LINE_SCHEMA = "E_commerce_Cart_Line_Item_1"


def list_carts(call: Call) -> Any:
    store = call.store()
    return page(call.query, "carts", [document_view(store, cart) for cart in store.carts.values()], store_id=store.id)


def post_cart(call: Call) -> Any:
    store = call.store()
    body = call.json
    if body["id"] in store.carts:
        raise already_exists("A cart")
    check_campaign(call.state, body)
    lines = [resolve_line(store, line) for line in body["lines"]]
    customer = embedded_customer(call.state, store, body["customer"])
    stamp = now_iso()
    cart: dict[str, Any] = {"id": body["id"], "customer": copy.deepcopy(customer)}
    cart.update({name: copy.deepcopy(body[name]) for name in CART_FIELDS if name in body})
    cart.update({"lines": lines, "created_at": stamp, "updated_at": stamp})
    store.carts[cart["id"]] = cart
    return document_view(store, cart)


def get_cart(call: Call) -> Any:
    store = call.store()
    return document_view(store, lookup(store.carts, call.args["cart_id"]))


def patch_cart(call: Call) -> Any:
    store = call.store()
    cart = lookup(store.carts, call.args["cart_id"])
    body = call.json
    check_campaign(call.state, body)
    lines = None
    if "lines" in body:
        lines = merge_lines(store, call.env.validator, NEW_LINE_SCHEMA, cart["lines"], body["lines"])
    apply_customer = patch_embedded_customer(call.state, store, cart, body.get("customer"))
    apply_customer()
    cart.update({name: copy.deepcopy(body[name]) for name in CART_FIELDS if name in body})
    if lines is not None:
        cart["lines"] = lines
    cart["updated_at"] = now_iso()
    return document_view(store, cart)


def delete_cart(call: Call) -> Any:
    store = call.store()
    lookup(store.carts, call.args["cart_id"])
    del store.carts[call.args["cart_id"]]
    return None


ROUTES = [
    Route("GET", CARTS, list_carts),
    Route("POST", CARTS, post_cart),
    Route("GET", CART, get_cart),
    Route("PATCH", CART, patch_cart),
    Route("DELETE", CART, delete_cart),
    *LineRoutes("carts", "A cart line", NEW_LINE_SCHEMA).routes(),
]
