"""Orders (POST/GET/PATCH/DELETE; PUT gives 405 as in today's API), their lines, and the status history.

Every order keeps a history of `(financial_status, fulfillment_status)` in `state.order_events`: one entry
when it is created and one for each PATCH that changes either status or cancels it (`cancelled_at_foreign`).
Each entry also says whether the store was syncing, since Mailchimp sends no order notifications then.
"""

from __future__ import annotations

import copy
from typing import Any

from .catalog import resolve_line
from .context import Call, Route, lookup
from .customers import embedded_customer
from .lines import LineRoutes, check_campaign, document_view, merge_lines, patch_embedded_customer
from .paging import page
from .problems import already_exists
from .state import JsonDict, OrderStatusEvent, Store, now_iso

ACCOUNT_ORDERS = "/ecommerce/orders"
ORDERS = "/ecommerce/stores/{store_id}/orders"
ORDER = ORDERS + "/{order_id}"
NEW_LINE_SCHEMA = "E_commerce_Order_Line_Item_1"
ORDER_FIELDS = (
    "campaign_id",
    "cart_id",
    "landing_site",
    "financial_status",
    "fulfillment_status",
    "currency_code",
    "order_total",
    "order_url",
    "discount_total",
    "tax_total",
    "shipping_total",
    "tracking_code",
    "processed_at_foreign",
    "cancelled_at_foreign",
    "updated_at_foreign",
    "shipping_address",
    "billing_address",
    "promos",
    "outreach",
    "tracking_number",
    "tracking_carrier",
    "tracking_url",
)


def _record_status(call: Call, store: Store, order: JsonDict, source: str) -> None:
    events = call.state.order_events.setdefault((store.id, order["id"]), [])
    event = OrderStatusEvent(
        financial_status=order.get("financial_status"),
        fulfillment_status=order.get("fulfillment_status"),
        cancelled=bool(order.get("cancelled_at_foreign")),
        store_is_syncing=bool(store.data.get("is_syncing")),
        source=source,
        at=now_iso(),
    )
    last = events[-1] if events else None
    if last is None or (last.statuses, last.cancelled) != (event.statuses, event.cancelled) or source == "POST":
        events.append(event)


def _filtered(call: Call, orders: list[JsonDict]) -> list[JsonDict]:
    for name in ("customer_id", "campaign_id", "outreach_id"):
        wanted = call.query.get(name)
        if not wanted:
            continue
        if name == "customer_id":
            orders = [order for order in orders if order["customer"]["id"] == wanted]
        elif name == "campaign_id":
            orders = [order for order in orders if order.get("campaign_id") == wanted]
        else:
            orders = [order for order in orders if (order.get("outreach") or {}).get("id") == wanted]
    has_outreach = call.query.get("has_outreach")
    if has_outreach in ("true", "false"):
        orders = [order for order in orders if bool(order.get("outreach")) == (has_outreach == "true")]
    return orders


def list_account_orders(call: Call) -> Any:
    views = [
        document_view(store, order)
        for store in call.state.stores.values()
        for order in _filtered(call, list(store.orders.values()))
    ]
    return page(call.query, "orders", views)


def list_orders(call: Call) -> Any:
    store = call.store()
    views = [document_view(store, order) for order in _filtered(call, list(store.orders.values()))]
    return page(call.query, "orders", views, store_id=store.id)


def post_order(call: Call) -> Any:
    store = call.store()
    body = call.json
    if body["id"] in store.orders:
        raise already_exists("An order")
    check_campaign(call.state, body)
    lines = [resolve_line(store, line) for line in body["lines"]]
    customer = embedded_customer(call.state, store, body["customer"])
    stamp = now_iso()
    order: JsonDict = {"id": body["id"], "store_id": store.id, "customer": copy.deepcopy(customer)}
    order.update({name: copy.deepcopy(body[name]) for name in ORDER_FIELDS if name in body})
    order.update({"lines": lines, "created_at": stamp, "updated_at": stamp})
    store.put_order(order)
    _record_status(call, store, order, "POST")
    return document_view(store, order)


def get_order(call: Call) -> Any:
    store = call.store()
    return document_view(store, lookup(store.orders, call.args["order_id"]))


def patch_order(call: Call) -> Any:
    store = call.store()
    order = lookup(store.orders, call.args["order_id"])
    body = call.json
    check_campaign(call.state, body)
    lines = None
    if "lines" in body:
        lines = merge_lines(store, call.env.validator, NEW_LINE_SCHEMA, order["lines"], body["lines"])
    apply_customer = patch_embedded_customer(call.state, store, order, body.get("customer"))
    apply_customer()
    order.update({name: copy.deepcopy(body[name]) for name in ORDER_FIELDS if name in body})
    if lines is not None:
        order["lines"] = lines
    order["updated_at"] = now_iso()
    store.put_order(order)  # its customer may have changed
    _record_status(call, store, order, "PATCH")
    return document_view(store, order)


def delete_order(call: Call) -> Any:
    store = call.store()
    lookup(store.orders, call.args["order_id"])
    store.remove_order(call.args["order_id"])
    return None


ROUTES = [
    Route("GET", ACCOUNT_ORDERS, list_account_orders),
    Route("GET", ORDERS, list_orders),
    Route("POST", ORDERS, post_order),
    Route("GET", ORDER, get_order),
    Route("PATCH", ORDER, patch_order),
    Route("DELETE", ORDER, delete_order),
    *LineRoutes("orders", "An order line", NEW_LINE_SCHEMA).routes(),
]
