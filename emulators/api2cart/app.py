"""The API2Cart emulator's HTTP side: a werkzeug WSGI app over `Api2CartState`, built from API2Cart's OpenAPI
description (v1.1, as the api2cart/*-sdk repositories ship it in api/openapi.yaml) and its "Working with webhooks"
page (docs/api2cart.md lists what was read where).

Every method is `/v1.1/<method>.json`; the answer is always the envelope `{return_code, return_message, result}`
(with `pagination` for lists), `return_code` 0 on success. Authentication: the `x-api-key` and `x-store-key`
headers (or the `api_key` and `store_key` query parameters of v1.0's examples).

  GET    account.cart.list          the account's stores (needs the API key only); `store_key` filters
  GET    cart.info                  the store's name, url, version, stores_info (currency)
  GET    product.list|customer.list|order.list|order.abandoned.list
                                    `start`, `count` (1..250, default 10), `page_cursor` (alone: "it can't be
                                    used with any other filtering parameter"), `created_from|to`,
                                    `modified_from|to` ("Y-m-d H:i:s", inclusive), `sort_by`, `sort_direction`,
                                    `params`/`response_fields`/`exclude` (accepted, not applied);
                                    `pagination.next` is the cursor of the next page, absent on the last
  GET    product.info|customer.info|order.info   `id` (order.info also `order_id`)
  GET    order.shipment.list        `order_id` required; paged as above
  GET    product.child_item.list    a product's variants: `product_id` or `product_ids` (the parents); paged as above
  GET    basket.info                `id` required
  GET    webhook.events             the entity/action pairs this store's cart supports
  GET    webhook.list               `start`, `count`, `entity`, `action`, `active`, `ids`
  POST   webhook.create             JSON body: `entity`, `action`, `callback` required; `label`, `fields`
                                    (default force_all), `active` (default true), `store_id`
  PUT    webhook.update             JSON body: `id` required; `callback`, `label`, `fields`, `active`
  DELETE webhook.delete             `id` required

Strict where the description is: an unknown query parameter, a `count` out of range, a malformed date or a
`page_cursor` given with a filter is an error answer (`return_code` 1, the parameter named), never ignored, so
a client that would depend on API2Cart's leniency fails here first. Errors travel as HTTP 200 with a non-zero
`return_code`, as API2Cart answers them; an unknown method is 404. The emulator's return codes: 1 a parameter,
2 the API key, 3 the store key, 4 not found, 5 a webhook or a method (order.abandoned.list) the cart does not
support, its message saying "not supported" (docs/api2cart.md).
"""

from __future__ import annotations

import base64
import copy
import json
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from werkzeug.wrappers import Request, Response

JsonDict = dict[str, Any]
API_PREFIX = "/v1.1/"
MAX_COUNT = 250
DEFAULT_COUNT = 10
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# API2Cart's A2CDateTime: `{value, format}`, the format in PHP's notation.
A2C_FORMAT = "Y-m-d\\TH:i:sO"
MAX_RECORDED_REQUESTS = 20_000

# What webhook.events answers per cart (entity, action). A cart type not listed has no webhooks: its changes reach
# commerce-sync through the nightly reconciliation only.
CART_WEBHOOK_EVENTS: dict[str, tuple[tuple[str, str], ...]] = {
    "Magento1212": (
        ("basket", "add"),
        ("basket", "update"),
        ("customer", "add"),
        ("customer", "update"),
        ("customer", "delete"),
        ("order", "add"),
        ("order", "update"),
        ("order", "delete"),
        ("order.shipment", "add"),
        ("order.shipment", "update"),
        ("order.shipment", "delete"),
        ("product", "add"),
        ("product", "update"),
        ("product", "delete"),
    ),
    "Prestashop": (
        ("customer", "add"),
        ("customer", "update"),
        ("customer", "delete"),
        ("order", "add"),
        ("order", "update"),
        ("order.shipment", "add"),
        ("product", "add"),
        ("product", "update"),
        ("product", "delete"),
    ),
}
# Carts whose abandoned checkouts order.abandoned.list reads.
ABANDONED_CART_CARTS = frozenset({"Magento1212", "Prestashop"})

COMMON_LIST_PARAMS = frozenset(
    {
        "start",
        "count",
        "page_cursor",
        "created_from",
        "created_to",
        "modified_from",
        "modified_to",
        "sort_by",
        "sort_direction",
        "params",
        "response_fields",
        "exclude",
        "store_id",
    }
)
LIST_PARAMS: dict[str, frozenset[str]] = {
    "product.list": COMMON_LIST_PARAMS | {"product_ids", "since_id", "lang_id", "currency_id", "avail_view"},
    "customer.list": COMMON_LIST_PARAMS | {"ids", "since_id", "include_guests", "find_value", "find_where"},
    "order.list": COMMON_LIST_PARAMS | {"ids", "order_ids", "since_id", "customer_id", "customer_email"},
    "order.abandoned.list": COMMON_LIST_PARAMS | {"customer_id", "customer_email", "skip_empty_email"},
    "order.shipment.list": COMMON_LIST_PARAMS | {"order_id"},
    "product.child_item.list": COMMON_LIST_PARAMS | {"product_id", "product_ids", "sku"},
}
# Filters a page_cursor may not be combined with.
CURSOR_EXCLUSIVE = frozenset(
    {
        "start",
        "created_from",
        "created_to",
        "modified_from",
        "modified_to",
        "since_id",
        "ids",
        "order_ids",
        "product_ids",
        "customer_id",
        "customer_email",
        "skip_empty_email",
        "sort_by",
        "sort_direction",
    }
)
# Where each list's entities keep their times.
TIMES: dict[str, tuple[str, str]] = {
    "product.list": ("create_at", "modified_at"),
    "customer.list": ("created_time", "modified_time"),
    "order.list": ("create_at", "modified_at"),
    "order.abandoned.list": ("created_at", "modified_at"),
    "order.shipment.list": ("created_at", "modified_time"),
    "product.child_item.list": ("created_time", "modified_time"),
}
# The result's list key and count key per list method.
LIST_KEYS: dict[str, tuple[str, str]] = {
    "product.list": ("product", "products_count"),
    "customer.list": ("customer", "customers_count"),
    "order.list": ("order", "orders_count"),
    "order.abandoned.list": ("order", "orders_count"),
    "order.shipment.list": ("shipment", "shipment_count"),
    "product.child_item.list": ("children", "total_count"),
}


class A2CError(Exception):
    """An answer with a non-zero return_code (HTTP 200, as API2Cart sends them), or an HTTP error (`status`)."""

    def __init__(self, code: int, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def a2c_time(value: datetime) -> JsonDict:
    """An A2CDateTime as API2Cart answers it: `{"value": "2025-03-14T14:00:00+0000", "format": "Y-m-d\\TH:i:sO"}`."""
    return {"value": value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"), "format": A2C_FORMAT}


def parse_a2c_time(value: Any) -> datetime | None:
    raw = value.get("value") if isinstance(value, dict) else value
    if not isinstance(raw, str) or not raw:
        return None
    parsed = datetime.fromisoformat(raw)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@dataclass
class StoreData:
    """One connected store: its cart type and entities, as the `.info` methods answer them."""

    store_key: str
    cart_id: str
    url: str
    name: str
    currency: str
    products: dict[str, JsonDict] = field(default_factory=dict)
    customers: dict[str, JsonDict] = field(default_factory=dict)
    orders: dict[str, JsonDict] = field(default_factory=dict)
    shipments: dict[str, list[JsonDict]] = field(default_factory=dict)
    # A product's variants, API2Cart's child items, by parent product id.
    children: dict[str, list[JsonDict]] = field(default_factory=dict)
    baskets: dict[str, JsonDict] = field(default_factory=dict)
    abandoned: dict[str, JsonDict] = field(default_factory=dict)
    webhooks: dict[int, JsonDict] = field(default_factory=dict)

    def entities(self, method: str, args: dict[str, str]) -> list[JsonDict]:
        if method == "product.list":
            return list(self.products.values())
        if method == "customer.list":
            return list(self.customers.values())
        if method == "order.list":
            return list(self.orders.values())
        if method == "order.abandoned.list":
            return list(self.abandoned.values())
        if method == "product.child_item.list":
            parents = {part.strip() for part in (args.get("product_ids") or "").split(",") if part.strip()}
            if args.get("product_id"):
                parents.add(args["product_id"])
            return [
                child for parent, items in self.children.items() if not parents or parent in parents for child in items
            ]
        order_id = args.get("order_id") or ""
        if order_id not in self.orders:
            raise A2CError(4, f"Order {order_id} not found")
        return list(self.shipments.get(order_id, []))


@dataclass
class Api2CartState:
    lock: threading.RLock = field(default_factory=threading.RLock)
    stores: dict[str, StoreData] = field(default_factory=dict)
    requests: list[JsonDict] = field(default_factory=list)
    next_webhook_id: int = 1


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _ok(result: Any, pagination: JsonDict | None = None) -> Response:
    body: JsonDict = {"return_code": 0, "return_message": "", "result": result}
    if pagination is not None:
        body["pagination"] = pagination
    return _json(body)


def _date_filter(args: dict[str, str], name: str) -> datetime | None:
    raw = args.get(name)
    if raw is None:
        return None
    try:
        return datetime.strptime(raw, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError as error:
        raise A2CError(1, f"Parameter {name} must be a date 'Y-m-d H:i:s'") from error


def _int_arg(args: dict[str, str], name: str, default: int, low: int, high: int | None) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as error:
        raise A2CError(1, f"Parameter {name} must be an integer") from error
    if value < low or (high is not None and value > high):
        upper = f" and {high}" if high is not None else ""
        raise A2CError(1, f"Parameter {name} must be between {low}{upper}")
    return value


def _encode_cursor(state: JsonDict) -> str:
    return base64.urlsafe_b64encode(json.dumps(state, sort_keys=True).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> JsonDict:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except ValueError as error:
        raise A2CError(1, "Parameter page_cursor is not a cursor this API gave") from error
    if not isinstance(state, dict) or not isinstance(state.get("start"), int):
        raise A2CError(1, "Parameter page_cursor is not a cursor this API gave")
    return state


class Api2CartApp:
    """The WSGI app. `api_key` is the account's; every store added belongs to it."""

    def __init__(self, api_keys: Iterable[str], state: Api2CartState) -> None:
        self.api_keys = set(api_keys)
        self.state = state

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self._dispatch(request)
        except A2CError as error:
            body = {"return_code": error.code, "return_message": error.message}
            response = _json(body, error.status)
        self._record(request, response)
        return response(environ, start_response)

    def _record(self, request: Request, response: Response) -> None:
        # The query without the credentials.
        query = {key: value for key, value in request.args.items() if key not in ("api_key", "store_key")}
        with self.state.lock:
            if len(self.state.requests) < MAX_RECORDED_REQUESTS:
                self.state.requests.append(
                    {"method": request.method, "path": request.path, "query": query, "status": response.status_code}
                )

    def _dispatch(self, request: Request) -> Response:
        if not request.path.startswith(API_PREFIX) or not request.path.endswith(".json"):
            raise A2CError(404, "Method not found", status=404)
        method = request.path[len(API_PREFIX) : -len(".json")]
        handler = METHODS.get(method)
        if handler is None:
            raise A2CError(404, f"Method {method} not found", status=404)
        verb, run = handler
        if request.method != verb:
            raise A2CError(405, f"{method} takes {verb}", status=405)
        api_key = request.headers.get("x-api-key") or request.args.get("api_key")
        if not api_key or api_key not in self.api_keys:
            raise A2CError(2, "Incorrect API Key")
        args = {key: value for key, value in request.args.items() if key not in ("api_key", "store_key")}
        body: JsonDict = {}
        if request.method in ("POST", "PUT"):
            try:
                parsed = json.loads(request.get_data() or b"{}")
            except ValueError as error:
                raise A2CError(1, "The request body is not JSON") from error
            if not isinstance(parsed, dict):
                raise A2CError(1, "The request body must be a JSON object")
            body = parsed
        with self.state.lock:
            if method == "account.cart.list":
                # Needs the API key only; its `store_key` is a filter, not a credential.
                return self._account_cart_list({k: v for k, v in request.args.items() if k != "api_key"})
            store_key = request.headers.get("x-store-key") or request.args.get("store_key")
            store = self.state.stores.get(store_key or "")
            if store is None:
                raise A2CError(3, "Incorrect Store Key")
            return run(self, store, args, body)

    # ----- methods (called holding the state lock) --------------------------------------------------------

    def _account_cart_list(self, args: dict[str, str]) -> Response:
        _only(args, {"store_url", "store_key", "params", "exclude", "custom_label"})
        wanted = args.get("store_key")
        carts = [
            {"id": str(index), "url": store.url, "store_key": store.store_key, "cart_id": store.cart_id}
            for index, store in enumerate(self.state.stores.values(), 1)
            if wanted is None or store.store_key == wanted
        ]
        return _ok({"carts_count": len(carts), "carts": carts})

    def cart_info(self, store: StoreData, args: dict[str, str], body: JsonDict) -> Response:
        _only(args, {"params", "response_fields", "exclude", "store_id"})
        currency = {"id": store.currency, "iso3": store.currency, "default": True}
        return _ok(
            {
                "name": store.name,
                "url": store.url,
                "version": {"Magento1212": "2.4.7", "Prestashop": "8.1.5"}.get(store.cart_id, "1.0"),
                "stores_info": [{"store_id": "1", "name": store.name, "currency": currency, "active": True}],
            }
        )

    def listing(self, method: str) -> Callable[[Api2CartApp, StoreData, dict[str, str], JsonDict], Response]:
        def run(app: Api2CartApp, store: StoreData, args: dict[str, str], body: JsonDict) -> Response:
            return app._list(method, store, args)

        return run

    def _list(self, method: str, store: StoreData, args: dict[str, str]) -> Response:
        _only(args, LIST_PARAMS[method])
        if method == "order.abandoned.list" and store.cart_id not in ABANDONED_CART_CARTS:
            raise A2CError(5, f"order.abandoned.list is not supported by {store.cart_id}")
        if method == "order.shipment.list" and not args.get("order_id"):
            raise A2CError(1, "Parameter order_id is required")
        cursor = args.get("page_cursor")
        if cursor:
            clash = sorted(CURSOR_EXCLUSIVE & args.keys())
            if clash:
                raise A2CError(1, f"Parameter page_cursor can't be used with {', '.join(clash)}")
            saved = _decode_cursor(cursor)
            filters = {key: str(value) for key, value in saved.items() if key not in ("start", "count")}
            start = int(saved["start"])
            count = _int_arg(args, "count", int(saved.get("count", DEFAULT_COUNT)), 1, MAX_COUNT)
        else:
            filters = {key: args[key] for key in CURSOR_EXCLUSIVE - {"start"} if key in args}
            start = _int_arg(args, "start", 0, 0, None)
            count = _int_arg(args, "count", DEFAULT_COUNT, 1, MAX_COUNT)
        if method == "order.shipment.list":
            filters["order_id"] = args["order_id"]
        if method == "product.child_item.list" and args.get("product_id"):
            filters["product_id"] = args["product_id"]
        matching = self._filtered(method, store, filters)
        chunk = matching[start : start + count]
        list_key, count_key = LIST_KEYS[method]
        pagination: JsonDict = {"previous": None, "next": None}
        if start + count < len(matching):
            pagination["next"] = _encode_cursor({**filters, "start": start + count, "count": count})
        if start > 0:
            pagination["previous"] = _encode_cursor({**filters, "start": max(start - count, 0), "count": count})
        return _ok({count_key: len(matching), list_key: copy.deepcopy(chunk)}, pagination)

    def _filtered(self, method: str, store: StoreData, filters: dict[str, str]) -> list[JsonDict]:
        created_key, modified_key = TIMES[method]
        bounds = {name: _date_filter(filters, name) for name in ("created_from", "created_to", "modified_from")}
        bounds["modified_to"] = _date_filter(filters, "modified_to")
        items = store.entities(method, filters)

        def within(item: JsonDict) -> bool:
            created = parse_a2c_time(item.get(created_key))
            modified = parse_a2c_time(item.get(modified_key)) or created
            checks = (
                (bounds["created_from"], created, True),
                (bounds["created_to"], created, False),
                (bounds["modified_from"], modified, True),
                (bounds["modified_to"], modified, False),
            )
            for bound, value, lower in checks:
                if bound is None:
                    continue
                if value is None or (value < bound if lower else value > bound):
                    return False
            return True

        kept = [item for item in items if within(item)]
        # A child item list's product_ids name the parents (StoreData.entities).
        ids = filters.get("ids") or filters.get("order_ids")
        ids = ids or (filters.get("product_ids") if method != "product.child_item.list" else None)
        if ids:
            wanted = {part.strip() for part in ids.split(",")}
            kept = [item for item in kept if str(item.get("id")) in wanted or str(item.get("order_id")) in wanted]
        if filters.get("customer_id"):
            kept = [item for item in kept if str((item.get("customer") or {}).get("id", "")) == filters["customer_id"]]
        if filters.get("skip_empty_email") not in (None, "", "false", "0"):
            kept = [item for item in kept if str((item.get("customer") or {}).get("email") or "").strip()]
        if filters.get("customer_email"):
            email = filters["customer_email"].lower()
            kept = [item for item in kept if str((item.get("customer") or {}).get("email", "")).lower() == email]
        sort_by = filters.get("sort_by") or "id"
        if sort_by not in ("id", "order_id", "modified_at", "created_at", "create_at", "created_time", "value_id"):
            raise A2CError(1, f"Parameter sort_by does not take {sort_by}")
        direction = filters.get("sort_direction") or "asc"
        if direction not in ("asc", "desc"):
            raise A2CError(1, "Parameter sort_direction must be asc or desc")

        def key(item: JsonDict) -> tuple[Any, ...]:
            if sort_by in ("modified_at",):
                moment = parse_a2c_time(item.get(modified_key)) or datetime.min.replace(tzinfo=UTC)
                return (moment, _numeric(item.get("id")))
            if sort_by in ("created_at", "create_at", "created_time"):
                moment = parse_a2c_time(item.get(created_key)) or datetime.min.replace(tzinfo=UTC)
                return (moment, _numeric(item.get("id")))
            return (_numeric(item.get(sort_by) or item.get("id")),)

        return sorted(kept, key=key, reverse=direction == "desc")

    def info(self, kind: str) -> Callable[[Api2CartApp, StoreData, dict[str, str], JsonDict], Response]:
        def run(app: Api2CartApp, store: StoreData, args: dict[str, str], body: JsonDict) -> Response:
            allowed = {"id", "params", "response_fields", "exclude", "store_id"}
            _only(args, allowed | ({"order_id"} if kind == "order" else set()))
            entity_id = args.get("id") or (args.get("order_id") if kind == "order" else None)
            if not entity_id:
                raise A2CError(1, "Parameter id is required")
            collection = {
                "product": store.products,
                "customer": store.customers,
                "order": store.orders,
                "basket": store.baskets,
            }[kind]
            found = collection.get(entity_id)
            if found is None and kind == "order":
                found = next((o for o in store.orders.values() if str(o.get("order_id")) == entity_id), None)
            if found is None:
                raise A2CError(4, f"{kind.capitalize()} not found")
            return _ok(copy.deepcopy(found))

        return run

    # ----- webhooks ---------------------------------------------------------------------------------------

    def webhook_events(self, store: StoreData, args: dict[str, str], body: JsonDict) -> Response:
        _only(args, set())
        events = [
            {"entity": entity, "action": action, "webhook_name": f"{entity}.{action}"}
            for entity, action in CART_WEBHOOK_EVENTS.get(store.cart_id, ())
        ]
        return _ok({"events": events})

    def webhook_list(self, store: StoreData, args: dict[str, str], body: JsonDict) -> Response:
        _only(args, {"start", "count", "entity", "action", "active", "ids", "params"})
        start = _int_arg(args, "start", 0, 0, None)
        count = _int_arg(args, "count", DEFAULT_COUNT, 1, MAX_COUNT)
        hooks = list(store.webhooks.values())
        for name in ("entity", "action"):
            if args.get(name):
                hooks = [hook for hook in hooks if hook[name] == args[name]]
        if "active" in args:
            if args["active"] not in ("true", "false"):
                raise A2CError(1, "Parameter active must be true or false")
            hooks = [hook for hook in hooks if hook["active"] is (args["active"] == "true")]
        if args.get("ids"):
            wanted = {part.strip() for part in args["ids"].split(",")}
            hooks = [hook for hook in hooks if str(hook["id"]) in wanted]
        return _ok({"webhook": copy.deepcopy(hooks[start : start + count])})

    def webhook_create(self, store: StoreData, args: dict[str, str], body: JsonDict) -> Response:
        _only(args, set())
        allowed = {"entity", "action", "callback", "label", "fields", "response_fields", "active", "store_id"}
        unknown = sorted(set(body) - allowed - {"lang_id", "idempotency_key", "filtering_conditions"})
        if unknown:
            raise A2CError(1, f"Unknown parameter {unknown[0]}")
        for name in ("entity", "action", "callback"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise A2CError(1, f"Parameter {name} is required")
        if (body["entity"], body["action"]) not in CART_WEBHOOK_EVENTS.get(store.cart_id, ()):
            raise A2CError(5, f"Webhook {body['entity']}.{body['action']} is not supported by {store.cart_id}")
        if not str(body["callback"]).startswith(("http://", "https://")):
            raise A2CError(1, "Parameter callback must be an http(s) URL")
        if "active" in body and not isinstance(body["active"], bool):
            raise A2CError(1, "Parameter active must be a boolean")
        now = datetime.now(UTC).strftime(DATE_FORMAT)
        hook_id = self.state.next_webhook_id
        self.state.next_webhook_id += 1
        store.webhooks[hook_id] = {
            "id": hook_id,
            "entity": body["entity"],
            "action": body["action"],
            "callback": body["callback"],
            "label": body.get("label") or "",
            "fields": body.get("fields") or "force_all",
            "active": body.get("active", True),
            "store_id": str(body.get("store_id") or "1"),
            "created_at": now,
            "updated_at": now,
        }
        return _ok({"id": hook_id})

    def webhook_update(self, store: StoreData, args: dict[str, str], body: JsonDict) -> Response:
        _only(args, set())
        allowed = {"id", "callback", "label", "fields", "response_fields", "active", "lang_id", "idempotency_key"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise A2CError(1, f"Unknown parameter {unknown[0]}")
        hook = store.webhooks.get(_webhook_id(body.get("id")))
        if hook is None:
            raise A2CError(4, "Webhook not found")
        if "callback" in body and not str(body["callback"]).startswith(("http://", "https://")):
            raise A2CError(1, "Parameter callback must be an http(s) URL")
        if "active" in body and not isinstance(body["active"], bool):
            raise A2CError(1, "Parameter active must be a boolean")
        for name in ("callback", "label", "fields", "active"):
            if name in body:
                hook[name] = body[name]
        hook["updated_at"] = datetime.now(UTC).strftime(DATE_FORMAT)
        return _ok({"updated_items": 1})

    def webhook_delete(self, store: StoreData, args: dict[str, str], body: JsonDict) -> Response:
        _only(args, {"id"})
        if store.webhooks.pop(_webhook_id(args.get("id")), None) is None:
            raise A2CError(4, "Webhook not found")
        return _ok({"deleted": 1})


def _webhook_id(raw: Any) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError) as error:
        raise A2CError(1, "Parameter id is required (a webhook id)") from error


def _numeric(value: Any) -> tuple[int, str]:
    text = str(value or "")
    return (int(text), "") if text.isdigit() else (0, text)


def _only(args: dict[str, str], allowed: Iterable[str]) -> None:
    unknown = sorted(set(args) - set(allowed))
    if unknown:
        raise A2CError(1, f"Unknown parameter {unknown[0]}")


Handler = Callable[[Api2CartApp, StoreData, dict[str, str], JsonDict], Response]


def _methods() -> dict[str, tuple[str, Handler]]:
    probe = Api2CartApp([], Api2CartState())
    methods: dict[str, tuple[str, Handler]] = {
        "account.cart.list": ("GET", lambda app, store, args, body: app._account_cart_list(args)),
        "cart.info": ("GET", Api2CartApp.cart_info),
        "webhook.events": ("GET", Api2CartApp.webhook_events),
        "webhook.list": ("GET", Api2CartApp.webhook_list),
        "webhook.create": ("POST", Api2CartApp.webhook_create),
        "webhook.update": ("PUT", Api2CartApp.webhook_update),
        "webhook.delete": ("DELETE", Api2CartApp.webhook_delete),
    }
    for method in LIST_PARAMS:
        methods[method] = ("GET", probe.listing(method))
    for kind in ("product", "customer", "order", "basket"):
        methods[f"{kind}.info"] = ("GET", probe.info(kind))
    return methods


METHODS = _methods()
