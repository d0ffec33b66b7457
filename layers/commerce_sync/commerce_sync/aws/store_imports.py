"""A store's import of history in the canonical format (docs/canonical-events.md#history): what a sender pushes to
/webhooks/canonical between `store.sync_started` and `store.sync_finished`, written while the Mailchimp store's
`is_syncing` is on so that nothing in it fires an automation.

One item of the sync-state table per store, `pk = "<store_id>#import"`, `sk = "current"`: the import open now,
or the last one. Its counters make the close safe although the queues apply events in no particular order:

- `published`: events the receiver admitted into the import (each is stamped with the import's id);
- `writing`: consumers writing one of them right now (with the flag on, since Mailchimp must hold it on then);
- `applied`: those done (a duplicate delivery counts too, so this may pass `published`).

The sender's `store.sync_finished` makes the import `closing`; it closes (`closed`, then the flag is set off) once
nothing is being written and every admitted event has been applied. An event whose import is gone by the time a
consumer writes it (closed, replaced, timed out) is written as history instead, without the statuses that fire
notifications, so an early close can never make it fire one.

**Timeout.** Every event received, begun or applied moves `expires_at` to now + the import's timeout. An import
past it (its sender crashed, its last events are dead letters) is closed whatever its counts, by whoever looks
next: the schedule, `commerce-sync status`, or the next `store.sync_started`. The timeout is never shorter than
`IMPORT_MIN_TIMEOUT_SECONDS` (default 300), longer than any consumer's run (60 s), so a consumer in the middle of
a write has always moved `expires_at` past the moment the timeout could strike.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from commerce_sync.aws.batch_items import get_many
from commerce_sync.canonical.errors import ImportConflict

SORT_KEY = "current"
DEFAULT_MIN_TIMEOUT_SECONDS = 300
# A backfill's checkpoint (commerce_sync.history.state writes it through aws.run_records): the history package
# sits above this one, so its key and the two fields read here are named again, and a test holds them together.
BACKFILL_PARTITION = "{store_id}#history"
BACKFILL_SORT_KEY = "backfill"


class ImportStatus(StrEnum):
    OPEN = "open"
    # The sender finished; waiting for its last events to be applied.
    CLOSING = "closing"
    CLOSED = "closed"


LIVE_STATUSES = (ImportStatus.OPEN.value, ImportStatus.CLOSING.value)


def partition(store_id: str) -> str:
    return f"{store_id}#import"


def min_timeout_seconds() -> int:
    return int(os.environ.get("IMPORT_MIN_TIMEOUT_SECONDS") or DEFAULT_MIN_TIMEOUT_SECONDS)


def _now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class StoreImport:
    store_id: str
    import_id: str
    status: ImportStatus
    timeout_seconds: int
    opened_at: int
    expires_at: int
    published: int = 0
    applied: int = 0
    writing: int = 0
    # The Mailchimp store's is_syncing was set on for this import and not set off yet.
    flag_set: bool = False
    finished_at: int | None = None
    closed_at: int | None = None
    # "sender" (store.sync_finished, then its last event applied) or "timeout".
    closed_by: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StoreImport:
        def number(name: str) -> int | None:
            return int(item[name]) if item.get(name) is not None else None

        return cls(
            store_id=str(item["pk"]).removesuffix("#import"),
            import_id=str(item["import_id"]),
            status=ImportStatus(str(item["status"])),
            timeout_seconds=int(item["timeout_seconds"]),
            opened_at=int(item["opened_at"]),
            expires_at=int(item["expires_at"]),
            published=int(item.get("published", 0)),
            applied=int(item.get("applied", 0)),
            writing=int(item.get("writing", 0)),
            flag_set=bool(item.get("flag_set", False)),
            finished_at=number("finished_at"),
            closed_at=number("closed_at"),
            closed_by=str(item["closed_by"]) if item.get("closed_by") else None,
        )

    @property
    def live(self) -> bool:
        return self.status is not ImportStatus.CLOSED

    def expired(self, now: int | None = None) -> bool:
        return self.live and self.expires_at < (now if now is not None else _now())

    @property
    def done(self) -> bool:
        """Finished by its sender and every admitted event applied, none being written."""
        return self.status is ImportStatus.CLOSING and self.writing <= 0 and self.applied >= self.published

    def to_json(self) -> dict[str, Any]:
        return {
            "store_id": self.store_id,
            "import_id": self.import_id,
            "status": self.status.value,
            "timeout_seconds": self.timeout_seconds,
            "opened_at": self.opened_at,
            "expires_at": self.expires_at,
            "published": self.published,
            "applied": self.applied,
            "writing": self.writing,
            "flag_set": self.flag_set,
            "finished_at": self.finished_at,
            "closed_at": self.closed_at,
            "closed_by": self.closed_by,
        }


class ImportBook:
    """The store's import item and every change of it, each a conditional write (many receivers and consumers
    change it at once)."""

    def __init__(self, table: Any, dynamodb: Any | None = None) -> None:
        self.table = table
        # The boto3 resource the table came from: needed only to read many stores' imports at once.
        self._dynamodb = dynamodb

    def _key(self, store_id: str) -> dict[str, str]:
        return {"pk": partition(store_id), "sk": SORT_KEY}

    def current(self, store_id: str) -> StoreImport | None:
        item = self.table.get_item(Key=self._key(store_id), ConsistentRead=True).get("Item")
        return StoreImport.from_item(item) if item else None

    def current_many(self, store_ids: Sequence[str]) -> list[StoreImport]:
        """The imports of those stores that have one (batched reads: a look at every store costs a request per
        hundred stores, not one per store)."""
        if self._dynamodb is None:
            raise RuntimeError("ImportBook needs the DynamoDB resource to read many stores at once")
        keys = [self._key(store_id) for store_id in dict.fromkeys(store_ids)]
        return [StoreImport.from_item(item) for item in get_many(self._dynamodb, self.table.name, keys)]

    # ---- the sender: open, finish -------------------------------------------------------------------------

    def open(self, store_id: str, import_id: str, timeout_seconds: int, now: int | None = None) -> StoreImport:
        """Opens `import_id` (again: the same open import is only kept alive). Refused (ImportConflict) while
        another import is open and not timed out, or when `import_id` was already finished. A timed-out or closed
        import is replaced, and the flag it may have left on passes to the new one."""
        for _ in range(3):
            moment = now if now is not None else _now()
            held = self.current(store_id)
            if held is not None and held.import_id == import_id:
                if held.status is ImportStatus.OPEN and not held.expired(moment):
                    return self._touch(store_id, import_id, moment) or held
                raise ImportConflict(
                    f"import {import_id} of store {store_id} was already {held.status.value}; "
                    "open the next import under a new id"
                )
            if held is not None and held.live and not held.expired(moment):
                raise ImportConflict(
                    f"store {store_id} has import {held.import_id} {held.status.value} until "
                    f"{_iso(held.expires_at)} unless more of it arrives; finish it first (store.sync_finished)"
                )
            item = {
                **self._key(store_id),
                "import_id": import_id,
                "status": ImportStatus.OPEN.value,
                "timeout_seconds": timeout_seconds,
                "opened_at": moment,
                "expires_at": moment + timeout_seconds,
                "published": 0,
                "applied": 0,
                "writing": 0,
                "flag_set": bool(held is not None and held.flag_set),
            }
            if held is None:
                condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
            else:
                condition = {
                    "ConditionExpression": "import_id = :held AND #status = :held_status",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {":held": held.import_id, ":held_status": held.status.value},
                }
            try:
                self.table.put_item(Item=item, **condition)
            except ClientError as error:
                if _condition_failed(error):
                    continue  # changed meanwhile: judge again
                raise
            return StoreImport.from_item(item)
        raise ImportConflict(f"the import of store {store_id} kept changing while {import_id} was opened; send again")

    def finish(self, store_id: str, import_id: str, now: int | None = None) -> StoreImport:
        """The sender is done: `closing` (again: nothing changes). Refused when `import_id` is not the store's."""
        moment = now if now is not None else _now()
        updated = self._update(
            store_id,
            "SET #status = :closing, finished_at = :now, last_activity = :now, expires_at = :now + timeout_seconds",
            "import_id = :id AND #status = :open",
            {
                ":id": import_id,
                ":open": ImportStatus.OPEN.value,
                ":closing": ImportStatus.CLOSING.value,
                ":now": moment,
            },
        )
        if updated is not None:
            return updated
        held = self.current(store_id)
        if held is not None and held.import_id == import_id:
            return held  # finished already (a sender's retry), or closed since
        raise ImportConflict(
            f"store {store_id} has no import {import_id}"
            + (f" (its import is {held.import_id}, {held.status.value})" if held is not None else "")
        )

    # ---- the receiver: events into the open import -----------------------------------------------------------

    def admit(self, store_id: str, count: int = 1, now: int | None = None) -> str | None:
        """Counts `count` events into the store's open import; its id, or None when no import is open (or it
        timed out: its events are then history, written without statuses)."""
        held = self.current(store_id)
        moment = now if now is not None else _now()
        if held is None or held.status is not ImportStatus.OPEN or held.expired(moment):
            return None
        updated = self._update(
            store_id,
            "ADD published :count SET last_activity = :now, expires_at = :now + timeout_seconds",
            "import_id = :id AND #status = :open AND expires_at >= :now",
            {":id": held.import_id, ":open": ImportStatus.OPEN.value, ":count": count, ":now": moment},
        )
        return updated.import_id if updated is not None else None

    def unadmit(self, store_id: str, import_id: str, count: int = 1) -> None:
        """The admitted events were not published after all (the bus refused them; the sender sends them again)."""
        self._update(store_id, "ADD published :minus", "import_id = :id", {":id": import_id, ":minus": -count})

    # ---- the consumers -----------------------------------------------------------------------------------

    def begin(self, store_id: str, import_id: str, now: int | None = None) -> StoreImport | None:
        """A consumer is about to write an event of the import: counted as writing, so the import cannot close
        under it. None when the import is gone (closed, replaced, timed out): the event is then written as history."""
        moment = now if now is not None else _now()
        return self._update(
            store_id,
            "ADD writing :one SET last_activity = :now, expires_at = :now + timeout_seconds",
            "import_id = :id AND #status IN (:open, :closing) AND expires_at >= :now",
            {**_live_values(import_id), ":one": 1, ":now": moment},
        )

    def end_writing(self, store_id: str, import_id: str) -> None:
        self._update(store_id, "ADD writing :minus", "import_id = :id", {":id": import_id, ":minus": -1})

    def applied(self, store_id: str, import_id: str, now: int | None = None) -> StoreImport | None:
        """One event of the import is done (written, skipped, a duplicate, parked); the import as it is now."""
        moment = now if now is not None else _now()
        return self._update(
            store_id,
            "ADD applied :one SET last_activity = :now, expires_at = :now + timeout_seconds",
            "import_id = :id AND #status IN (:open, :closing)",
            {**_live_values(import_id), ":one": 1, ":now": moment},
        )

    def mark_flag(self, store_id: str, import_id: str, value: bool) -> bool:
        """Records that the Mailchimp flag was set (only while the import is live) or set off."""
        if value:
            condition, values = "import_id = :id AND #status IN (:open, :closing)", _live_values(import_id)
        else:
            condition, values = "import_id = :id", {":id": import_id}
        return self._update(store_id, "SET flag_set = :value", condition, {**values, ":value": value}) is not None

    # ---- closing -----------------------------------------------------------------------------------------

    def close(self, store_id: str, import_id: str, now: int | None = None) -> StoreImport | None:
        """Closes the import when it is done, or when it timed out; the closed import (its `flag_set` says whether
        the flag is still to be set off), or None when it is neither (or not this import any more)."""
        moment = now if now is not None else _now()
        done = self._update(
            store_id,
            "SET #status = :closed, closed_at = :now, closed_by = :sender",
            "import_id = :id AND #status = :closing AND writing <= :zero AND applied >= published",
            {
                ":id": import_id,
                ":closing": ImportStatus.CLOSING.value,
                ":closed": ImportStatus.CLOSED.value,
                ":zero": 0,
                ":now": moment,
                ":sender": "sender",
            },
        )
        if done is not None:
            return done
        return self._update(
            store_id,
            "SET #status = :closed, closed_at = :now, closed_by = :timeout",
            "import_id = :id AND #status IN (:open, :closing) AND expires_at < :now",
            {**_live_values(import_id), ":closed": ImportStatus.CLOSED.value, ":now": moment, ":timeout": "timeout"},
        )

    # ---- a backfill of the same store ----------------------------------------------------------------------

    def backfill_holds_flag(self, store_id: str) -> bool:
        """True while a backfill of the store runs with the flag on: an import closing then leaves it on (the
        backfill sets it off at its end)."""
        key = {"pk": BACKFILL_PARTITION.format(store_id=store_id), "sk": BACKFILL_SORT_KEY}
        item = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
        if not item or item.get("status") != "running":
            return False
        return bool(json.loads(str(item.get("doc") or "{}")).get("syncing"))

    # ---- one conditional update -------------------------------------------------------------------------

    def _touch(self, store_id: str, import_id: str, now: int) -> StoreImport | None:
        return self._update(
            store_id,
            "SET last_activity = :now, expires_at = :now + timeout_seconds",
            "import_id = :id AND #status = :open",
            {":id": import_id, ":open": ImportStatus.OPEN.value, ":now": now},
        )

    def _update(self, store_id: str, expression: str, condition: str, values: dict[str, Any]) -> StoreImport | None:
        """The update under `condition`; the item after it, or None when the condition did not hold."""
        names = {"#status": "status"} if "#status" in expression or "#status" in condition else {}
        try:
            answer = self.table.update_item(
                Key=self._key(store_id),
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(pk) AND {condition}",
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
                **({"ExpressionAttributeNames": names} if names else {}),
            )
        except ClientError as error:
            if _condition_failed(error):
                return None
            raise
        return StoreImport.from_item(answer["Attributes"])


def _live_values(import_id: str) -> dict[str, Any]:
    return {":id": import_id, ":open": ImportStatus.OPEN.value, ":closing": ImportStatus.CLOSING.value}


def _condition_failed(error: ClientError) -> bool:
    return bool(error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
