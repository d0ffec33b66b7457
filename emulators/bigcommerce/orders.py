"""BigCommerce orders for the emulator: the v2 order reads commerce-sync makes when an order or shipment
webhook arrives, and the v3 refunds of an order.

  GET /v2/orders/{id}                           the order (RFC 2822 dates, money as strings)
  GET /v2/orders/{id}/products                  `page`, `limit` (≤ 250)
  GET /v2/orders/{id}/shipments                 `page`, `limit` (≤ 250)
  GET /v2/orders/{id}/coupons                   `page`, `limit` (≤ 250)
  GET /v3/orders/{id}/payment_actions/refunds   `{data, meta}`

As on BigCommerce, a v2 list with nothing (on that page) answers 204 with no body, v2 answers are bare
JSON (no `data` envelope), and an unknown order is 404 for every one of these routes. The data is kept as
given: the emulator never derives an order's status from its shipments or refunds.
"""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

JsonDict = dict[str, Any]
SUB_RESOURCES = ("products", "shipments", "coupons")
DEFAULT_LIMIT = 50
MAX_LIMIT = 250


def rfc2822_now() -> str:
    """BigCommerce's v2 date format, e.g. `Fri, 14 Mar 2025 13:18:02 +0000`."""
    return format_datetime(datetime.now(UTC).replace(microsecond=0)).replace("-0000", "+0000")


class OrderError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class OrderBook:
    """The store's orders with their products, shipments, coupons and refunds; thread-safe on its own lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.orders: dict[int, JsonDict] = {}
        self.children: dict[str, dict[int, list[JsonDict]]] = {kind: {} for kind in (*SUB_RESOURCES, "refunds")}

    # ----- data (the emulator's setters) ------------------------------------------------------------------

    def put_order(self, order: JsonDict) -> JsonDict:
        stored = copy.deepcopy(order)
        with self.lock:
            stored["id"] = int(stored.get("id") or max(self.orders, default=99) + 1)
            stored.setdefault("date_created", rfc2822_now())
            stored.setdefault("date_modified", stored["date_created"])
            order_id = stored["id"]
            for kind in ("products", "coupons"):
                stored.setdefault(
                    kind, {"url": f"/v2/orders/{order_id}/{kind}", "resource": f"/orders/{order_id}/{kind}"}
                )
            self.orders[order_id] = stored
        return copy.deepcopy(stored)

    def put_children(self, kind: str, order_id: int, items: list[JsonDict]) -> list[JsonDict]:
        """Replaces the order's `kind` list (products, shipments, coupons or refunds); ids default to
        1, 2, … and `order_id` to the order."""
        stored = []
        for index, item in enumerate(copy.deepcopy(items), start=1):
            item.setdefault("id", index)
            item.setdefault("order_id", int(order_id))
            if kind == "shipments":
                item.setdefault("date_created", rfc2822_now())
            stored.append(item)
        with self.lock:
            self.children[kind][int(order_id)] = stored
        return copy.deepcopy(stored)

    def delete_order(self, order_id: int) -> None:
        with self.lock:
            self.orders.pop(int(order_id), None)
            for lists in self.children.values():
                lists.pop(int(order_id), None)

    def get(self, order_id: int) -> JsonDict | None:
        with self.lock:
            order = self.orders.get(int(order_id))
            return copy.deepcopy(order) if order is not None else None

    def clear(self) -> None:
        with self.lock:
            self.orders.clear()
            for lists in self.children.values():
                lists.clear()

    # ----- routes -----------------------------------------------------------------------------------------

    def order(self, order_id: int) -> JsonDict:
        order = self.get(order_id)
        if order is None:
            raise OrderError(404, "The requested resource was not found.")
        return order

    def page(self, kind: str, order_id: int, args: Any) -> list[JsonDict] | None:
        """One page of a v2 sub-resource; None (204) when it is empty."""
        self.order(order_id)
        try:
            page = max(int(args.get("page", 1)), 1)
            limit = min(max(int(args.get("limit", DEFAULT_LIMIT)), 1), MAX_LIMIT)
        except ValueError as error:
            raise OrderError(400, "The field 'page' or 'limit' is invalid.") from error
        with self.lock:
            items = self.children[kind].get(int(order_id), [])
            chunk = copy.deepcopy(items[(page - 1) * limit : page * limit])
        return chunk or None

    def refunds(self, order_id: int) -> JsonDict:
        self.order(order_id)
        with self.lock:
            return {"data": copy.deepcopy(self.children["refunds"].get(int(order_id), [])), "meta": {}}
