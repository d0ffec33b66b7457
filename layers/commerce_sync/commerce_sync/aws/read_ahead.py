"""The items one event will read, read together: one BatchGetItem when the event starts instead of a GetItem
each time the cart, its shopper, the shopper's consent record or the tombstones are looked at.

Whoever applies the event names the keys (commerce_sync.processing.event_applier), under the entity's lease, so
the entity read ahead cannot be changed by another container meanwhile (an order change reads before it takes the
lease, and takes it only while the order is still as read: EntityLocks.holding_after_read); the readers (sync state,
tombstones, consent records) take an item from here when it was read ahead and read it themselves otherwise. A write
through them drops the item written, so a read after it reads it again. Outside `reading` nothing is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from commerce_sync.aws.batch_items import get_many

Item = dict[str, Any]
ItemKey = tuple[str, str]


def key_of(key: dict[str, Any]) -> ItemKey:
    return str(key["pk"]), str(key["sk"])


class ReadAhead:
    """`dynamodb` is a boto3 DynamoDB resource; `table_name` the sync-state table, where every item read ahead is."""

    def __init__(self, dynamodb: Any, table_name: str) -> None:
        self._dynamodb = dynamodb
        self._table_name = table_name
        self._items: dict[ItemKey, Item | None] | None = None
        # Items already in hand before `reading` (an entity's state, as taking its lease returned it).
        self._known: dict[ItemKey, Item | None] = {}

    @contextmanager
    def reading(self, keys: Iterable[dict[str, Any]]) -> Iterator[None]:
        """The items at `keys` (absent ones included, as absent) are kept for the body of the `with`."""
        unique = {key_of(key): key for key in keys if key_of(key) not in self._known}
        items: dict[ItemKey, Item | None] = dict.fromkeys(unique)
        if unique:
            for item in get_many(self._dynamodb, self._table_name, [{"pk": pk, "sk": sk} for pk, sk in unique]):
                items[key_of(item)] = item
        self._items = {**items, **self._known}
        try:
            yield
        finally:
            self._items = None
            self._known = {}

    def remember(self, key: dict[str, Any], item: Item | None) -> None:
        """An item read by other means (an UpdateItem that returned it), kept as if read ahead."""
        if self._items is not None:
            self._items[key_of(key)] = item
        else:
            self._known[key_of(key)] = item

    def get(self, key: dict[str, Any], read: Callable[[], Item | None]) -> Item | None:
        """The item read ahead at `key`, else what `read` reads."""
        if self._items is not None and key_of(key) in self._items:
            return self._items[key_of(key)]
        return read()

    def holds(self, key: dict[str, Any]) -> bool:
        return self._items is not None and key_of(key) in self._items

    def forget(self, key: dict[str, Any]) -> None:
        """The item at `key` was written: the next read reads it again."""
        self._known.pop(key_of(key), None)
        if self._items is not None:
            self._items.pop(key_of(key), None)
