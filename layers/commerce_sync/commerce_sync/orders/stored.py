"""An applied order as the sync state keeps it (attribute `order` of its item): the canonical order's JSON,
compressed. DynamoDB bills a write by the kilobytes of the whole item, and every change of an order (taking its
lease, recording the change) rewrites it: an order's JSON is 2-6 KB, compressed about a quarter of that. Items
written before keep a plain JSON string; both are read.

zlib rather than a library of its own: it is in the standard library, and the data is small JSON text.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from typing import Any

from commerce_sync.canonical.model import Order

ORDER_ATTRIBUTE = "order"
COMPRESSION_LEVEL = 6


def packed(order: Order) -> bytes:
    """What the `order` attribute holds for `order`."""
    return zlib.compress(order.model_dump_json().encode(), COMPRESSION_LEVEL)


def order_json(value: Any) -> str:
    """The order's JSON from a stored value: bytes (or boto3's Binary) compressed, or a plain string."""
    if isinstance(value, str):
        return value
    raw = value.value if hasattr(value, "value") else bytes(value)
    return zlib.decompress(raw).decode()


def stored_order(item: Mapping[str, Any]) -> Order | None:
    """The order a sync-state item holds, None when it holds none."""
    value = item.get(ORDER_ATTRIBUTE)
    return Order.model_validate_json(order_json(value)) if value else None
