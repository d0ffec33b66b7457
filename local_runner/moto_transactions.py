"""TransactWriteItems in moto as DynamoDB behaves: all or nothing, at a cost that does not grow with the table.

moto's `transact_write_items` (moto/dynamodb/models) backs up every table a transaction touches with
`copy.deepcopy`, once per item, for its rollback. Two things follow on a sync-state table holding a store's
catalog and order states: a 100-item transaction copies that table 100 times (seconds at benchmark size, and a
run's cost grows with the table squared), and the copy iterates the table's items while moto server's other
request threads write to it, so a transaction running beside a live write fails now and then with "dictionary
changed size during iteration" — an error DynamoDB never gives. Here a transaction backs up only the items it
names and puts them back when it is cancelled, which is the same all-or-nothing outcome.

And each DynamoDB request runs whole before the next starts: moto server answers on many threads and applies an
update as read-modify-write in Python, so two concurrent `ADD` updates of one counter could lose one; DynamoDB
applies every single-item write atomically.

Installed once per process, before moto server answers its first request (LocalRunner.start, the tests' own
moto server, the benchmarks).
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_installed = threading.Lock()
_done = False


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto.dynamodb.models: a table is not deep-copied (the transaction
    backs up the items it names instead); anything else is copied as before."""

    def deepcopy(self, value: Any) -> Any:
        from moto.dynamodb.models.table import Table

        return value if isinstance(value, Table) else copy.deepcopy(value)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)


def install() -> None:
    global _done
    with _installed:
        if _done:
            return
        _done = True
    import moto.dynamodb.models as models
    from moto.dynamodb.models.dynamo_type import DynamoType

    setattr(models, "copy", _TablesNotCopied())  # noqa: B010 (moto has no hook for this)
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: Any) -> Any:
        backups: list[tuple[Any, Any, Any, Any]] = []
        for entry in transact_items:
            kind, operation = next(iter(entry.items()))
            table = self.tables.get(operation.get("TableName"))
            if table is None:
                continue
            attributes = operation["Item"] if kind == "Put" else operation["Key"]
            if table.hash_key_attr not in attributes:
                continue  # moto refuses the request itself, before writing anything
            hash_value = DynamoType(attributes[table.hash_key_attr])
            range_key = table.range_key_attr
            range_value = DynamoType(attributes[range_key]) if range_key and range_key in attributes else None
            try:
                held = table.get_item(hash_value, range_value)
            except Exception:  # a key moto refuses: the transaction fails before any write
                continue
            backups.append((table, hash_value, range_value, copy.deepcopy(held.to_json()) if held else None))
        try:
            return original(self, transact_items)
        except Exception:
            for table, hash_value, range_value, previous in reversed(backups):
                if previous is None:
                    if table.get_item(hash_value, range_value) is not None:
                        table.delete_item(hash_value, range_value)
                else:
                    table.put_item(previous["Attributes"])
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

    from moto.dynamodb.responses import DynamoHandler

    one_at_a_time = threading.Lock()
    call_action = DynamoHandler.call_action

    def atomic_call_action(handler: Any) -> Any:
        with one_at_a_time:
            return call_action(handler)

    DynamoHandler.call_action = atomic_call_action  # type: ignore[method-assign]
