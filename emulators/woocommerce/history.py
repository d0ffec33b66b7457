"""Orders and customers for the WooCommerce emulator: the wc/v3 collection reads the history readers make
(`layers/commerce_sync/commerce_sync/platforms/woocommerce/history.py`), with WooCommerce's filters and order.

  GET orders      `modified_after`, `modified_before`, `after`, `before` (strict, to the second, as WordPress's
                  date_query), `dates_are_gmt` (compare the `*_gmt` fields; otherwise the site-time ones),
                  `orderby` (date, id, modified, include; default date; ties by id, as WC_REST_CRUD_Controller
                  appends ` ID`), `order` (default desc), `status` (default `any`: everything but the trash;
                  or a comma-separated list), `include`, `customer`
  GET orders/<id>
  GET customers   `orderby` (id, include, name, registered_date; default name), `order` (default asc), `role`
                  (default `customer`; `all`), `email`, `include`. No date filter: wc/v3 has none for customers
                  (an unknown parameter is ignored, as WordPress ignores it)
  GET customers/<id>

`put_order` / `put_customer` default `date_created_gmt` and `date_modified_gmt` to now and the site-time fields
to the same values (the emulated site's time zone is UTC). A body is returned as stored (the test decides what
WooCommerce would hold); the emulator derives nothing.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

JsonDict = dict[str, Any]
ORDER_ORDERBY = {"date", "id", "modified", "include", "title", "slug"}
CUSTOMER_ORDERBY = {"id", "include", "name", "registered_date"}


class HistoryError(Exception):
    """A WordPress REST error: `{code, message, data: {status}}`."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def now_gmt() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_time(value: str, name: str) -> datetime:
    """An ISO 8601 date-time as the REST API validates it; naive values are taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise HistoryError(400, "rest_invalid_param", f"Invalid parameter(s): {name}") from error
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _stored_time(resource: JsonDict, field: str) -> datetime | None:
    value = resource.get(field)
    if not isinstance(value, str) or not value:
        return None
    return parse_time(value, field)


def _ids(raw: str | None) -> set[int]:
    return {int(part) for part in (raw or "").split(",") if part.strip().isdigit()}


class HistoryBook:
    """The site's orders and customers; thread-safe on its own lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.orders: dict[int, JsonDict] = {}
        self.customers: dict[int, JsonDict] = {}

    # ----- data -----------------------------------------------------------------------------------------------

    @staticmethod
    def _dated(resource: JsonDict) -> JsonDict:
        stored = copy.deepcopy(resource)
        stored["id"] = int(stored["id"])
        stored.setdefault("date_created_gmt", now_gmt())
        stored.setdefault("date_modified_gmt", stored["date_created_gmt"])
        stored.setdefault("date_created", stored["date_created_gmt"])
        stored.setdefault("date_modified", stored["date_modified_gmt"])
        return stored

    def put_order(self, order: JsonDict) -> JsonDict:
        with self.lock:
            stored = self._dated({"id": max(self.orders, default=0) + 1, "status": "processing", **order})
            self.orders[stored["id"]] = stored
        return copy.deepcopy(stored)

    def put_customer(self, customer: JsonDict) -> JsonDict:
        with self.lock:
            stored = self._dated({"id": max(self.customers, default=0) + 1, "role": "customer", **customer})
            self.customers[stored["id"]] = stored
        return copy.deepcopy(stored)

    def delete_order(self, order_id: int) -> None:
        with self.lock:
            self.orders.pop(int(order_id), None)

    def delete_customer(self, customer_id: int) -> None:
        with self.lock:
            self.customers.pop(int(customer_id), None)

    def clear(self) -> None:
        with self.lock:
            self.orders.clear()
            self.customers.clear()

    # ----- reads ----------------------------------------------------------------------------------------------

    def order(self, order_id: int) -> JsonDict:
        with self.lock:
            order = self.orders.get(order_id)
            if order is None:
                raise HistoryError(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
            return copy.deepcopy(order)

    def customer(self, customer_id: int) -> JsonDict:
        with self.lock:
            customer = self.customers.get(customer_id)
            if customer is None:
                raise HistoryError(404, "woocommerce_rest_invalid_id", "Invalid resource ID.")
            return copy.deepcopy(customer)

    def list_orders(self, args: Any) -> list[JsonDict]:
        orderby = args.get("orderby", "date")
        order = args.get("order", "desc")
        if orderby not in ORDER_ORDERBY:
            raise HistoryError(400, "rest_invalid_param", "Invalid parameter(s): orderby")
        if order not in ("asc", "desc"):
            raise HistoryError(400, "rest_invalid_param", "Invalid parameter(s): order")
        gmt = str(args.get("dates_are_gmt", "false")).lower() in ("1", "true")
        suffix = "_gmt" if gmt else ""
        # WP_Date_Query: `after` is `>` and `before` is `<` (not inclusive), on the column the flag names.
        bounds: list[tuple[str, Callable[[datetime, datetime], bool], datetime]] = []
        for name, column, compare in (
            ("after", "date_created", lambda stored, given: stored > given),
            ("before", "date_created", lambda stored, given: stored < given),
            ("modified_after", "date_modified", lambda stored, given: stored > given),
            ("modified_before", "date_modified", lambda stored, given: stored < given),
        ):
            if args.get(name):
                bounds.append((column + suffix, compare, parse_time(args[name], name)))
        statuses = {part.strip() for part in args.get("status", "any").split(",") if part.strip()}
        include = _ids(args.get("include"))
        customer = args.get("customer")

        def keep(stored: JsonDict) -> bool:
            status = str(stored.get("status", "")).removeprefix("wc-")
            if ("any" in statuses and status == "trash") or ("any" not in statuses and status not in statuses):
                return False
            if include and stored["id"] not in include:
                return False
            if customer is not None and str(stored.get("customer_id", 0)) != str(customer):
                return False
            for column, compare, given in bounds:
                value = _stored_time(stored, column)
                if value is None or not compare(value, given):
                    return False
            return True

        with self.lock:
            found = [copy.deepcopy(stored) for stored in self.orders.values() if keep(stored)]
        column = {"date": "date_created_gmt", "modified": "date_modified_gmt"}.get(orderby)

        def sort_key(stored: JsonDict) -> tuple[Any, int]:
            if orderby == "include" and include:
                return (sorted(include).index(stored["id"]), stored["id"])
            if column is None:
                return (stored["id"], stored["id"])
            return (_stored_time(stored, column) or datetime.min.replace(tzinfo=UTC), stored["id"])

        found.sort(key=sort_key, reverse=order == "desc")
        return found

    def list_customers(self, args: Any) -> list[JsonDict]:
        orderby = args.get("orderby", "name")
        order = args.get("order", "asc")
        if orderby not in CUSTOMER_ORDERBY:
            raise HistoryError(400, "rest_invalid_param", "Invalid parameter(s): orderby")
        if order not in ("asc", "desc"):
            raise HistoryError(400, "rest_invalid_param", "Invalid parameter(s): order")
        role = args.get("role", "customer")
        email = args.get("email")
        include = _ids(args.get("include"))

        def keep(stored: JsonDict) -> bool:
            if role != "all" and stored.get("role", "customer") != role:
                return False
            if email is not None and str(stored.get("email", "")).lower() != email.strip().lower():
                return False
            return not include or stored["id"] in include

        with self.lock:
            found = [copy.deepcopy(stored) for stored in self.customers.values() if keep(stored)]

        def sort_key(stored: JsonDict) -> tuple[Any, int]:
            if orderby == "name":
                return (str(stored.get("first_name", "")) + " " + str(stored.get("last_name", "")), stored["id"])
            if orderby == "registered_date":
                return (_stored_time(stored, "date_created_gmt") or datetime.min.replace(tzinfo=UTC), stored["id"])
            return (stored["id"], stored["id"])

        found.sort(key=sort_key, reverse=order == "desc")
        return found
