"""Per-entity leases, so that two containers never apply changes of one order, cart or customer at once.

The version guard (commerce_sync.aws.sync_state) decides which change of an entity wins, but applying a
change reads the entity's state, writes Mailchimp, then records the version. Two containers applying two
changes of one order at the same moment can both read the same state: the older change's write can then
land in Mailchimp last (a late `pending` after `paid`, so the order ends unpaid), and two partial changes
merged into the same stored order lose one another (a shipment and a refund). Holding the entity's lease
from the read to the record makes the changes of one entity apply one at a time, in whatever order they
arrive, so the version guard sees every earlier one; changes of different entities still run in parallel.

A lease is two attributes of the entity's own state item (`lease_holder`, `lease_until`), taken with one
conditional UpdateItem that also returns the item: taking the lease reads the entity's state. It is given
back in the write that records the event's change (commerce_sync.aws.sync_state keeps the event's writes
and makes them at its end), or alone when the event changed nothing. It lasts for the invocation's
remaining time, so a container killed at its timeout frees it within moments. A lease held by another
container is waited for (short, growing sleeps); past the wait the change fails with EntityBusy and the
queue delivers it again later. Leases are re-entrant within one EntityLocks (one invocation): a purchase
that ends the shopper's carts takes their leases while it holds its own, and a cart already held is not
taken twice. Several leases are taken in sorted order, so two holders never wait on each other in a cycle
for long.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from commerce_sync.aws.sync_lock import new_token
from commerce_sync.aws.sync_state import (
    LEASE_HOLDER,
    LEASE_UNTIL,
    STATE_SORT_KEY,
    ReadOutdated,
    entity_key,
    release_lease,
)

if TYPE_CHECKING:
    from commerce_sync.aws.sync_state import SyncState

T = TypeVar("T")

DEFAULT_LEASE_SECONDS = 60.0
# A lease outlives the invocation's deadline by this much, so that it never ends under a running write.
LEASE_MARGIN_SECONDS = 5.0
MAX_WAIT_SECONDS = 20.0
FIRST_BACKOFF_SECONDS = 0.02
MAX_BACKOFF_SECONDS = 0.25
LEASE_FREE = f"attribute_not_exists({LEASE_UNTIL}) OR {LEASE_UNTIL} < :now OR {LEASE_HOLDER} = :token"
# An item that holds nothing but a lease.
LEASE_ONLY = frozenset({"pk", "sk", LEASE_HOLDER, LEASE_UNTIL})


def lease_key(store_id: str, entity_type: str, entity_id: str) -> dict[str, str]:
    """The item whose attributes hold an entity's lease: its state item."""
    return {"pk": entity_key(store_id, entity_type, entity_id), "sk": STATE_SORT_KEY}


def wall_clock() -> Decimal:
    """Leases are compared across containers, so in wall-clock seconds (milliseconds are plenty)."""
    return Decimal(str(round(time.time(), 3)))


def lease_seconds(time_left: float | None) -> float:
    """How long a lease lasts: the invocation's time left (DEFAULT_LEASE_SECONDS outside Lambda) and a margin."""
    return (time_left if time_left is not None else DEFAULT_LEASE_SECONDS) + LEASE_MARGIN_SECONDS


def lease_claim(key: dict[str, str], token: str, seconds: float) -> dict[str, Any]:
    """UpdateItem arguments taking the lease of the item at `key` for `token` for `seconds`, unless another holder's
    is live (every lease here: an entity's state item, a product's record). A caller may add conditions with AND."""
    now = wall_clock()
    return {
        "Key": key,
        "UpdateExpression": "SET #holder = :token, #until = :until",
        "ConditionExpression": f"({LEASE_FREE.replace(LEASE_UNTIL, '#until').replace(LEASE_HOLDER, '#holder')})",
        "ExpressionAttributeNames": {"#holder": LEASE_HOLDER, "#until": LEASE_UNTIL},
        "ExpressionAttributeValues": {":token": token, ":until": now + Decimal(str(round(seconds, 3))), ":now": now},
    }


@dataclass
class _Deferred:
    """A lease `holding_after_read` takes when first needed."""

    key: str
    # The attributes whose values, as read, the lease is taken on.
    compared: tuple[str, ...]
    # The entity's item as read (None: absent), once `told`.
    read: dict[str, Any] | None = None
    told: bool = False


class EntityBusy(Exception):
    """Another container holds the entity for longer than this one may wait: the change is retried later."""


class EntityLocks:
    """The leases one invocation holds. `table` is the sync-state table (a boto3 Table resource); with `state`
    (the SyncState of that table), the item taking a lease returns is kept as read ahead and the leases are
    given back in the event's own writes."""

    def __init__(
        self,
        table: Any,
        time_left: Callable[[], float | None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        state: SyncState | None = None,
    ) -> None:
        self._table = table
        self._time_left = time_left
        self._clock = clock
        self._sleep = sleep
        self._state = state
        self._token = new_token()
        self._held: set[str] = set()
        # Leases whose item taking them made (it held nothing before): given back by deleting the item, if unwritten.
        self._made: set[str] = set()
        # The lease `holding_after_read` takes when first needed, while not taken yet.
        self._deferred: _Deferred | None = None

    @property
    def token(self) -> str:
        """This invocation's token: what its leases hold."""
        return self._token

    @contextmanager
    def holding(self, store_id: str, entity_type: str, entity_ids: Iterable[str]) -> Iterator[None]:
        """Holds the leases of the entities (those not held already) for the body of the `with`."""
        keys = sorted({entity_key(store_id, entity_type, entity_id) for entity_id in entity_ids} - self._held)
        taken: list[str] = []
        try:
            for key in keys:
                self._take(key)
                taken.append(key)
                self._held.add(key)
            yield
        finally:
            try:
                self._release(taken)
            finally:
                self._held -= set(taken)

    @contextmanager
    def holding_after_read(
        self, store_id: str, entity_type: str, entity_id: str, compared: Sequence[str]
    ) -> Iterator[None]:
        """Holds the entity's lease for the body of the `with`, taken only when first needed: in the transaction of
        the event's first write (`pending_claim`: a purchase's marks, one request fewer than taking it first), before
        its first Mailchimp request (`ensure_held`), or at the end when writes are kept. Each time on condition that
        no one else holds it and the entity's `compared` attributes are still as `read_as` was told: otherwise
        ReadOutdated, and the event is applied again with `holding`. Until it is taken nothing is written or sent, so
        a body that fails before drops the writes it kept."""
        key = entity_key(store_id, entity_type, entity_id)
        self._deferred = _Deferred(key, tuple(compared))
        try:
            try:
                yield
                if self._deferred is not None and self._state is not None and self._state.keeps_writes():
                    self.ensure_held()
            except BaseException:
                if self._deferred is not None and self._state is not None:
                    self._state.discard_kept()
                raise
        finally:
            self._deferred = None
            if key in self._held:
                try:
                    self._release([key])
                finally:
                    self._held.discard(key)

    def read_as(self, item: dict[str, Any] | None) -> None:
        """The entity's item as the event read it, before its lease (`holding_after_read`); ReadOutdated at once when
        another holder's lease on it is live (the event then waits for it with `holding`)."""
        deferred = self._deferred
        if deferred is None:
            return
        until = (item or {}).get(LEASE_UNTIL)
        if until is not None and Decimal(str(until)) >= wall_clock() and item and item.get(LEASE_HOLDER) != self._token:
            raise ReadOutdated(f"{deferred.key} is being applied by another invocation")
        deferred.read = dict(item) if item is not None else None
        deferred.told = True

    def pending_claim(self) -> dict[str, Any] | None:
        """The lease `holding_after_read` has yet to take, as a transaction item (None: none to take); the caller
        says `claimed` once its transaction is written."""
        deferred = self._deferred
        if deferred is None:
            return None
        kept_for_it = self._state is not None and self._state.keeps_write_to({"pk": deferred.key, "sk": STATE_SORT_KEY})
        if not deferred.told or kept_for_it:
            # A transaction may touch an item once: taken first, alone.
            self.ensure_held()
            return None
        return {"Update": {"TableName": self._table.name, **self._claim_after_read(deferred)}}

    def claimed(self) -> None:
        """The transaction with `pending_claim`'s item was written: the lease is held."""
        deferred, self._deferred = self._deferred, None
        if deferred is None:
            return
        self._held.add(deferred.key)
        if deferred.read is None or set(deferred.read) <= LEASE_ONLY:
            self._made.add(deferred.key)

    def ensure_held(self) -> None:
        """Takes the lease `holding_after_read` has yet to take (nothing when there is none)."""
        deferred = self._deferred
        if deferred is None:
            return
        if not deferred.told:
            # Nothing was read before it: taken as `holding` takes it.
            self._deferred = None
            self._take(deferred.key)
            self._held.add(deferred.key)
            return
        try:
            self._table.update_item(**self._claim_after_read(deferred))
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ReadOutdated(f"{deferred.key} changed, or its lease was taken, since it was read") from error
            raise
        self.claimed()

    def _claim_after_read(self, deferred: _Deferred) -> dict[str, Any]:
        claim = lease_claim({"pk": deferred.key, "sk": STATE_SORT_KEY}, self._token, lease_seconds(self._time_left()))
        conditions = [claim["ConditionExpression"]]
        for index, attribute in enumerate(deferred.compared):
            claim["ExpressionAttributeNames"][f"#read{index}"] = attribute
            if deferred.read is not None and attribute in deferred.read:
                conditions.append(f"#read{index} = :read{index}")
                claim["ExpressionAttributeValues"][f":read{index}"] = deferred.read[attribute]
            else:
                conditions.append(f"attribute_not_exists(#read{index})")
        claim["ConditionExpression"] = " AND ".join(conditions)
        return claim

    def _release(self, taken: list[str]) -> None:
        if not taken:
            return
        made = self._made & set(taken)
        self._made -= made
        if self._state is not None:
            # The event's kept writes are made first, each lease given back with its item's write where it has one.
            self._state.release_leases(taken, self._token, made)
            return
        for key in reversed(taken):
            release_lease(self._table, {"pk": key, "sk": STATE_SORT_KEY}, self._token, delete=key in made)

    def _claim(self, key: str, seconds: float) -> bool:
        item_key = {"pk": key, "sk": STATE_SORT_KEY}
        try:
            answer = self._table.update_item(**lease_claim(item_key, self._token, seconds), ReturnValues="ALL_NEW")
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        item = answer.get("Attributes") or {}
        if set(item) <= LEASE_ONLY:
            self._made.add(key)
        if self._state is not None:
            self._state.read_ahead.remember(item_key, item)
        return True

    def _take(self, key: str) -> None:
        time_left = self._time_left()
        lease = lease_seconds(time_left)
        wait_for_lease(lambda: self._claim(key, lease) or None, key, time_left, self._clock, self._sleep)


def wait_for_lease(
    claim: Callable[[], T | None],
    what: str,
    time_left: float | None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """What `claim` returns once it returns something (None: the lease is held by another), tried again with
    short, growing, jittered sleeps for a third of the invocation's time left (at most MAX_WAIT_SECONDS); past
    that, EntityBusy: the change is retried later."""
    patience = MAX_WAIT_SECONDS if time_left is None else min(MAX_WAIT_SECONDS, time_left / 3)
    deadline = clock() + patience
    backoff = FIRST_BACKOFF_SECONDS
    while (taken := claim()) is None:
        if clock() >= deadline:
            raise EntityBusy(f"{what} is being applied by another invocation; retried later")
        # Jittered, so that waiters released together do not collide again.
        sleep(backoff * random.uniform(0.5, 1.5))
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    return taken
