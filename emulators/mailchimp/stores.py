"""E-commerce stores. `id` and `list_id` are fixed once set; DELETE removes every sub-resource."""

from __future__ import annotations

import copy
from typing import Any

from .context import Call, Route
from .paging import page
from .problems import already_exists, invalid_field
from .state import Store, now_iso

STORES = "/ecommerce/stores"
STORE = STORES + "/{store_id}"
WRITABLE_FIELDS = (
    "name",
    "platform",
    "domain",
    "is_syncing",
    "email_address",
    "currency_code",
    "money_format",
    "primary_locale",
    "timezone",
    "phone",
    "address",
)


def store_view(store: Store) -> dict[str, Any]:
    return copy.deepcopy(store.data)


def list_stores(call: Call) -> Any:
    return page(call.query, "stores", [store_view(store) for store in call.state.stores.values()])


def post_store(call: Call) -> Any:
    body = call.json
    if body["id"] in call.state.stores:
        raise already_exists("A store")
    if not body["list_id"]:
        raise invalid_field("list_id", "Required fields were not provided: list_id")
    if body["list_id"] in call.state.deleted_audiences:
        raise invalid_field("list_id", "The list_id provided does not exist.")
    stamp = now_iso()
    data: dict[str, Any] = {"id": body["id"], "list_id": body["list_id"], "platform": "", "is_syncing": False}
    data.update({name: copy.deepcopy(body[name]) for name in WRITABLE_FIELDS if name in body})
    data.update({"list_is_active": True, "created_at": stamp, "updated_at": stamp})
    store = call.state.stores[body["id"]] = Store(id=body["id"], data=data)
    call.state.audience(store.list_id)
    return store_view(store)


def get_store(call: Call) -> Any:
    return store_view(call.store())


def patch_store(call: Call) -> Any:
    store = call.store()
    body = call.json
    if "list_id" in body and body["list_id"] != store.list_id:
        raise invalid_field("list_id", "The list_id of a store cannot be changed once it is set.")
    if "id" in body and body["id"] != store.id:
        raise invalid_field("id", "The id of a store cannot be changed.")
    store.data.update({name: copy.deepcopy(body[name]) for name in WRITABLE_FIELDS if name in body})
    store.data["updated_at"] = now_iso()
    return store_view(store)


def delete_store(call: Call) -> Any:
    del call.state.stores[call.store().id]
    return None


ROUTES = [
    Route("GET", STORES, list_stores),
    Route("POST", STORES, post_store),
    Route("GET", STORE, get_store),
    Route("PATCH", STORE, patch_store),
    Route("DELETE", STORE, delete_store),
]
