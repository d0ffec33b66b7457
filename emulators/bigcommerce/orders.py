"""BigCommerce orders for the emulator: the v2 order reads commerce-sync makes when an order or shipment
webhook arrives, and the v3 refunds of an order.

  GET /v2/orders                                `min_date_modified`, `max_date_modified`, `min_date_created`,
                                                `max_date_created` (inclusive; RFC 2822 or ISO 8601), `status_id`,
                                                `customer_id`, `is_deleted` (default: archived orders left out),
                                                `sort` (id, date_created, date_modified, status_id, customer_id;
                                                `:asc`/`:desc`; default id, ties by id), `page`, `limit` (≤ 250)
  GET /v2/orders/count                          the same filters: `{statuses: [{id, name, count}], count}`
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
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

JsonDict = dict[str, Any]
SUB_RESOURCES = ("products", "shipments", "coupons")
DEFAULT_LIMIT = 50
MAX_LIMIT = 250
SORTS = ("id", "date_created", "date_modified", "status_id", "customer_id")
DATE_FILTERS = {
    "min_date_modified": ("date_modified", lambda stored, given: stored >= given),
    "max_date_modified": ("date_modified", lambda stored, given: stored <= given),
    "min_date_created": ("date_created", lambda stored, given: stored >= given),
    "max_date_created": ("date_created", lambda stored, given: stored <= given),
}


def parse_v2_time(value: str) -> datetime | None:
    """RFC 2822 (what v2 answers with) or ISO 8601 (what its filters also take); naive ISO times are UTC."""
    text = value.strip()
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


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

    # ----- the list and its count -------------------------------------------------------------------------

    def _matching(self, args: Any) -> list[JsonDict]:
        checks: list[tuple[str, Callable[[datetime, datetime], bool], datetime]] = []
        for name, (field_name, compare) in DATE_FILTERS.items():
            if args.get(name):
                given = parse_v2_time(str(args[name]))
                if given is None:
                    raise OrderError(400, f"The field '{name}' is invalid.")
                checks.append((field_name, compare, given))
        wanted_deleted = str(args.get("is_deleted", "false")).lower() in ("1", "true")
        status_id, customer_id = args.get("status_id"), args.get("customer_id")

        def keep(order: JsonDict) -> bool:
            if bool(order.get("is_deleted", False)) is not wanted_deleted:
                return False
            if status_id is not None and str(order.get("status_id")) != str(status_id):
                return False
            if customer_id is not None and str(order.get("customer_id")) != str(customer_id):
                return False
            for field_name, compare, given in checks:
                stored = parse_v2_time(str(order.get(field_name) or ""))
                if stored is None or not compare(stored, given):
                    return False
            return True

        with self.lock:
            return [copy.deepcopy(order) for order in self.orders.values() if keep(order)]

    def list_orders(self, args: Any) -> list[JsonDict] | None:
        """One page of `GET /v2/orders`; None (204) when it is empty."""
        field_name, _, direction = str(args.get("sort", "id")).partition(":")
        if field_name not in SORTS or direction not in ("", "asc", "desc"):
            raise OrderError(400, "The field 'sort' is invalid.")
        try:
            page = max(int(args.get("page", 1)), 1)
            limit = min(max(int(args.get("limit", DEFAULT_LIMIT)), 1), MAX_LIMIT)
        except ValueError as error:
            raise OrderError(400, "The field 'page' or 'limit' is invalid.") from error

        def sort_key(order: JsonDict) -> tuple[Any, int]:
            value = order.get(field_name)
            if field_name.startswith("date_"):
                value = parse_v2_time(str(value or "")) or datetime.min.replace(tzinfo=UTC)
            elif field_name != "id":
                value = int(value or 0)
            return (value, int(order["id"]))

        found = sorted(self._matching(args), key=sort_key, reverse=direction == "desc")
        return found[(page - 1) * limit : page * limit] or None

    def count(self, args: Any) -> JsonDict:
        found = self._matching(args)
        by_status: dict[int, int] = {}
        for order in found:
            by_status[int(order.get("status_id") or 0)] = by_status.get(int(order.get("status_id") or 0), 0) + 1
        statuses = [{"id": key, "name": f"status {key}", "count": by_status[key]} for key in sorted(by_status)]
        return {"statuses": statuses, "count": len(found)}
