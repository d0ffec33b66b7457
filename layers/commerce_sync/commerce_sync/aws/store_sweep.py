"""Every sync-state item of one store, deleted: the at-home part of a whole-store erasure
(commerce_sync.privacy.store_erasure).

A store's items are the partitions whose key starts with `<store_id>#` (a store id has no `#`, so no other store's
key starts so): its entities' states and leases (`<store>#<type>#<id>`), its catalog and promotions
(`<store>#catalog`, `<store>#promotions`), its history, backfill and reconciliation (`<store>#history`) and its
import (`<store>#import`). They lie all over the table's key space, so a paged Scan filtered on the prefix finds
them: it reads the whole table, a cost paid once per erased store, and deletes what it finds a page at a time.

Partitions of the table's own that are not any store's (`privacy#…`, `mailchimp-account#…`, `oauth-state#…`) are
never swept, whatever the store is called.

Resumable: when the invocation's time runs short, the Scan's position and the count so far are kept
(`privacy-stores`, `sweep#<store_id>`) and the next run goes on from there. A lease that another invocation holds
on an item of the store (an event being applied right now, a catalog run) is left alone and reported: its holder
may still write, so the erasure sweeps again later, from the start, to find what it left behind.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.conditions import Attr

from commerce_sync.aws.sync_state import LEASE_HOLDER, LEASE_UNTIL
from commerce_sync.aws.tombstones import STORES_PARTITION

# Items one Scan page reads: small enough that a page's deletions take about a second.
PAGE_ITEMS = 1000
# A page is not begun with less time than this left: the progress must be written before the invocation ends.
TIME_MARGIN_SECONDS = 15.0
# Partitions no store owns whose keys begin like a store's (commerce_sync.aws.tombstones, accounts.budget and
# accounts.health, accounts.oauth_connect): a store registered under one of these names keeps them.
SHARED_PREFIXES = ("privacy#", "mailchimp-account#", "oauth-state#")


def store_prefix(store_id: str) -> str:
    return f"{store_id}#"


def progress_key(store_id: str) -> dict[str, str]:
    return {"pk": STORES_PARTITION, "sk": f"sweep#{store_id}"}


@dataclass(frozen=True)
class SweepResult:
    deleted: int  # by every run of this sweep so far
    busy: int  # items leased by another invocation, left for the next sweep
    finished: bool  # the whole table was read; False: time ran short, and the next run goes on

    @property
    def clean(self) -> bool:
        """Nothing of the store is left that the sweep saw."""
        return self.finished and self.busy == 0


class StoreSweep:
    """`table` is the sync-state table (a boto3 Table resource)."""

    def __init__(self, table: Any, page_items: int = PAGE_ITEMS, clock: Callable[[], float] = time.time) -> None:
        self._table = table
        self._page_items = page_items
        self._clock = clock

    def sweep(
        self,
        store_id: str,
        time_left: Callable[[], float | None],
        keep: Collection[tuple[str, str]] = (),
    ) -> SweepResult:
        """Deletes the store's items, from where the last run stopped, until the table is read or `time_left()`
        (seconds, None: no limit) runs short; `keep` are (pk, sk) not to delete (the caller's own lease)."""
        progress = self._table.get_item(Key=progress_key(store_id), ConsistentRead=True).get("Item") or {}
        deleted = int(progress.get("deleted", 0))
        cursor = json.loads(str(progress["cursor"])) if progress.get("cursor") else None
        busy = 0
        arguments: dict[str, Any] = {
            "FilterExpression": Attr("pk").begins_with(store_prefix(store_id)),
            "Limit": self._page_items,
            "ConsistentRead": True,
        }
        while True:
            left = time_left()
            if left is not None and left < TIME_MARGIN_SECONDS:
                self._save(store_id, cursor, deleted)
                return SweepResult(deleted=deleted, busy=busy, finished=False)
            if cursor is not None:
                arguments["ExclusiveStartKey"] = cursor
            page = self._table.scan(**arguments)
            now = self._clock()
            doomed: list[dict[str, Any]] = []
            for item in page.get("Items", []):
                key = (str(item["pk"]), str(item["sk"]))
                if key in keep or key[0].startswith(SHARED_PREFIXES):
                    continue
                # A lease item of a job (`holder`), or an entity's lease in its state item (`lease_holder`).
                if ("holder" in item or LEASE_HOLDER in item) and float(item.get(LEASE_UNTIL, 0)) >= now:
                    busy += 1
                    continue
                doomed.append({"pk": key[0], "sk": key[1]})
            with self._table.batch_writer() as batch:
                for doomed_key in doomed:
                    batch.delete_item(Key=doomed_key)
            deleted += len(doomed)
            cursor = page.get("LastEvaluatedKey")
            if cursor is None:
                # The next sweep (a retry after a busy one, or a later step's failure) starts from the beginning.
                self._save(store_id, None, deleted)
                return SweepResult(deleted=deleted, busy=busy, finished=True)

    def forget(self, store_id: str) -> None:
        """Drops the sweep's progress, once the erasure that ran it is done."""
        self._table.delete_item(Key=progress_key(store_id))

    def _save(self, store_id: str, cursor: dict[str, Any] | None, deleted: int) -> None:
        item: dict[str, Any] = {**progress_key(store_id), "deleted": deleted}
        if cursor is not None:
            item["cursor"] = json.dumps(cursor)
        self._table.put_item(Item=item)
