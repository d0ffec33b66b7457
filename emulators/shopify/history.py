"""Orders and customers as Shopify's Admin REST API lists them, for the history readers' tests, the demo and
the benchmark: filterable by `updated_at_min` / `updated_at_max` (inclusive), sorted by `updated_at` then id
(what `order=updated_at asc` asks), paged by keyset, counted with the same filters.

`history_order(...)` and `history_customer(...)` make bodies in the webhook payload's shape (the REST
resource is the same JSON); `generate_history(...)` fills months of deterministic history.
"""

from __future__ import annotations

import bisect
import copy
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

JsonDict = dict[str, Any]
RESOURCES = ("orders", "customers")


def parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class HistoryStore:
    """One resource's items by id, with a sorted (updated_at, id) index rebuilt after a change."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._items: dict[int, JsonDict] = {}
        self._index: list[tuple[float, int]] | None = None

    def put(self, item: JsonDict) -> JsonDict:
        stored = copy.deepcopy(item)
        stored["id"] = int(stored["id"])
        parse_time(str(stored["updated_at"]))
        with self.lock:
            self._items[stored["id"]] = stored
            self._index = None
        return copy.deepcopy(stored)

    def put_many(self, items: list[JsonDict]) -> None:
        with self.lock:
            for item in items:
                self._items[int(item["id"])] = item
            self._index = None

    def get(self, item_id: int) -> JsonDict | None:
        with self.lock:
            item = self._items.get(int(item_id))
            return copy.deepcopy(item) if item is not None else None

    def delete(self, item_id: int) -> None:
        with self.lock:
            self._items.pop(int(item_id), None)
            self._index = None

    def clear(self) -> None:
        with self.lock:
            self._items.clear()
            self._index = None

    def _sorted(self) -> list[tuple[float, int]]:
        with self.lock:
            if self._index is None:
                self._index = sorted(
                    (parse_time(str(item["updated_at"])).timestamp(), item_id) for item_id, item in self._items.items()
                )
            return self._index

    def _range(self, since: datetime | None, until: datetime | None) -> tuple[list[tuple[float, int]], int, int]:
        index = self._sorted()
        low = bisect.bisect_left(index, (since.timestamp(), -1)) if since else 0
        high = bisect.bisect_right(index, (until.timestamp(), 2**63)) if until else len(index)
        return index, low, high

    def count(self, since: datetime | None, until: datetime | None) -> int:
        _, low, high = self._range(since, until)
        return max(high - low, 0)

    def page(
        self, since: datetime | None, until: datetime | None, after: tuple[float, int] | None, limit: int
    ) -> tuple[list[JsonDict], bool]:
        """Up to `limit` items after the keyset position `after`, and whether more follow."""
        index, low, high = self._range(since, until)
        if after is not None:
            low = max(low, bisect.bisect_right(index, (after[0], after[1])))
        keys = index[low : min(high, low + limit + 1)]
        with self.lock:
            items = [copy.deepcopy(self._items[item_id]) for _, item_id in keys[:limit] if item_id in self._items]
        return items, len(keys) > limit


def history_customer(customer_id: int, email: str, updated_at: str, **fields: Any) -> JsonDict:
    return {
        "id": customer_id,
        "email": email,
        "created_at": updated_at,
        "updated_at": updated_at,
        "first_name": fields.pop("first_name", "Pat"),
        "last_name": fields.pop("last_name", f"Shopper{customer_id}"),
        "state": "enabled",
        "email_marketing_consent": {
            "state": "subscribed" if fields.pop("subscribed", False) else "not_subscribed",
            "opt_in_level": "single_opt_in",
            "consent_updated_at": updated_at,
        },
        "default_address": None,
        **fields,
    }


def history_order(
    order_id: int,
    customer: JsonDict,
    updated_at: str,
    financial_status: str = "paid",
    product_id: int = 1001,
    variant_id: int = 10011,
    price: str = "19.99",
    **fields: Any,
) -> JsonDict:
    """An order of one line (a product of the sample catalog by default) by `customer`."""
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "email": customer["email"],
        "created_at": fields.pop("created_at", updated_at),
        "processed_at": fields.pop("processed_at", updated_at),
        "updated_at": updated_at,
        "cancelled_at": None,
        "currency": "USD",
        "financial_status": financial_status,
        "fulfillment_status": fields.pop("fulfillment_status", None),
        "total_price": price,
        "total_tax": "0.00",
        "total_discounts": "0.00",
        "buyer_accepts_marketing": False,
        "customer": {
            "id": customer["id"],
            "email": customer["email"],
            "first_name": customer.get("first_name"),
            "last_name": customer.get("last_name"),
        },
        "line_items": [
            {
                "id": order_id * 10 + 1,
                "product_id": product_id,
                "variant_id": variant_id,
                "title": f"Product {product_id}",
                "quantity": 1,
                "price": price,
            }
        ],
        "fulfillments": [],
        "refunds": [],
        **fields,
    }


def generate_history(
    customers: int,
    orders: int,
    start: datetime,
    end: datetime,
    product_ids: list[tuple[int, int]] | None = None,
    first_customer_id: int = 500_000,
    first_order_id: int = 900_000,
) -> tuple[list[JsonDict], list[JsonDict]]:
    """`customers` customers and `orders` orders (round robin over the customers and `product_ids`, pairs of
    product and variant id), their `updated_at` spread evenly over [start, end)."""
    products = product_ids or [(1001, 10011)]
    span = (end - start) / max(customers, orders, 1)
    made_customers = [
        history_customer(first_customer_id + n, f"shopper{n}@example.com", stamp(start + span * n))
        for n in range(customers)
    ]
    made_orders = []
    for n in range(orders):
        product_id, variant_id = products[n % len(products)]
        made_orders.append(
            history_order(
                first_order_id + n,
                made_customers[n % len(made_customers)] if made_customers else history_customer(1, "a@example.com", ""),
                stamp(start + span * n + timedelta(seconds=1)),
                product_id=product_id,
                variant_id=variant_id,
            )
        )
    return made_customers, made_orders


def sample_history(now: datetime | None = None) -> tuple[list[JsonDict], list[JsonDict]]:
    """What `python -m emulators.shopify --sample` serves beside the sample catalog: 5 customers and 12 paid
    orders of its products over the last four months (so `commerce-sync backfill` has a history to bring)."""
    end = (now or datetime.now(UTC)) - timedelta(days=1)
    return generate_history(5, 12, end - timedelta(days=120), end, [(1001, 10011), (1003, 10031)])
