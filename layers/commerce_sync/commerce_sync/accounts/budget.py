"""Each Mailchimp account's connection budget, shared by every Lambda container of the deployment.

Mailchimp allows 10 concurrent connections per account (../shared/mailchimp/NOTES.md), counted across every
caller. Lambda runs many containers at once and each knows nothing of the others, and the accounts a
deployment serves are known only at run time (the template cannot give each its own queue), so the budget is
kept where every container sees it: the account's **slots**, items in the sync-state table
(`pk = mailchimp-account#<account>`, `sk = slot#NN`), each a lease (commerce_sync.aws.sync_lock) held by one
invocation while it calls Mailchimp. A container takes a free or lapsed slot with a conditional write; one
killed at its timeout frees its slot when the lease ends. Each client holds one connection
(MailchimpClient.max_connections), so slots held = connections in use.

Fairness: bulk work (the catalog sync; history backfills) may hold only the first `bulk_connections` slots,
so live events (carts, orders, customers, product changes) always have the rest, whatever a backfill
does; live events take the slots bulk work cannot use first. Another account's slots are other items, so
one merchant's load never touches another's budget.

The slots' partition also holds the account's health item (commerce_sync.accounts.health), so one strongly
consistent Query reads both: a paused account is seen before any slot is taken. An account this container saw
healthy within HEALTH_KNOWN_SECONDS first tries one of its share's own slots directly, with no Query (issue 17: a
batch's slot is then two requests, not three), and reads the partition only when that slot is taken. Only health
is remembered, never a pause, so a reconnected account is written to at once; an account paused by another
container meanwhile is found by this container's next 401, which parks the event (commerce_sync.accounts.health)
as a pause seen in the Query does.

Cost: a conditional put and a conditional delete per slot taken, and a Query when the account's health is not
known or the slot tried first is taken (a few more under contention). A queue
consumer takes a slot once per invocation (`per_invocation`): the first event of its batch that writes to an account
takes one, the batch's other events of that account use it, and it is given back when the batch is done, so a batch
of ten events costs three requests rather than thirty. The slot's lease lasts for the invocation's remaining time, as
a per-event slot's did. The account's health is read when the slot is taken: an account paused by another container
meanwhile is found by this batch's next 401 (commerce_sync.accounts.health), as before.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from boto3.dynamodb.conditions import Key

from commerce_sync.aws.sync_lock import SyncLock, new_token

Share = Literal["live", "bulk"]

DEFAULT_CONNECTIONS = 9
DEFAULT_BULK_CONNECTIONS = 4
DEFAULT_LEASE_SECONDS = 60.0
LEASE_MARGIN_SECONDS = 5.0
MAX_WAIT_SECONDS = 20.0
FIRST_BACKOFF_SECONDS = 0.02
MAX_BACKOFF_SECONDS = 0.25
HEALTH_SORT_KEY = "health"
# How long a container trusts that an account it found not paused still is (see the module's docstring).
HEALTH_KNOWN_SECONDS = 60.0


def account_partition(account: str) -> str:
    return f"mailchimp-account#{account}"


def slot_key(number: int) -> str:
    return f"slot#{number:02d}"


class AccountBusy(Exception):
    """Every slot the work may use stayed taken for longer than it may wait: it is retried later."""


class AccountUnavailable(Exception):
    """The account cannot be written to until it is reconnected; its work is parked, not retried."""

    def __init__(self, account: str, reason: str) -> None:
        super().__init__(f"Mailchimp account {account}: {reason}")
        self.account = account
        self.reason = reason


class AccountPaused(AccountUnavailable):
    """The account is paused already (an earlier call's credentials were refused)."""


class AccountRefused(AccountUnavailable):
    """Mailchimp refused the account's credentials just now, after they were read afresh (revoked, or wrong)."""


class AccountBudget:
    """`table` is the sync-state table (a boto3 Table resource)."""

    def __init__(
        self,
        table: Any,
        connections: int = DEFAULT_CONNECTIONS,
        bulk_connections: int = DEFAULT_BULK_CONNECTIONS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if connections < 1 or not 0 < bulk_connections <= connections:
            raise ValueError("an account needs at least one connection, and bulk work at most all of them")
        self._table = table
        # The slots held for the whole invocation (per_invocation), by account and share; None: per `holding`.
        self._kept: dict[tuple[str, Share], tuple[SyncLock, str]] | None = None
        self.connections = connections
        self.bulk_connections = min(bulk_connections, connections)
        # When each account was last found not paused (by this container's clock).
        self._healthy_at: dict[str, float] = {}
        self._clock = clock
        self._sleep = sleep

    def candidates(self, share: Share) -> list[int]:
        """The slots `share` may take, in the order it tries them."""
        bulk = list(range(self.bulk_connections))
        return bulk if share == "bulk" else [*range(self.bulk_connections, self.connections), *bulk]

    @contextmanager
    def per_invocation(self) -> Iterator[None]:
        """Within the body, a slot taken by `holding` is kept until the body ends and used again by the next
        `holding` of the same account and share (one invocation's batch)."""
        if self._kept is not None:
            yield
            return
        self._kept = {}
        try:
            yield
        finally:
            kept, self._kept = self._kept, None
            for lock, token in kept.values():
                lock.release(token)

    @contextmanager
    def holding(self, account: str, share: Share = "live", time_left: float | None = None) -> Iterator[None]:
        """Holds one of the account's slots for the body of the `with` (or, within `per_invocation`, until it
        ends). Raises AccountPaused when the account is paused, AccountBusy when no slot came free in time."""
        if self._kept is not None and (account, share) in self._kept:
            yield
            return
        lease = (time_left if time_left is not None else DEFAULT_LEASE_SECONDS) + LEASE_MARGIN_SECONDS
        patience = MAX_WAIT_SECONDS if time_left is None else min(MAX_WAIT_SECONDS, time_left / 3)
        deadline = self._clock() + patience
        token = new_token()
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            lock = self._take(account, share, token, lease)
            if lock is not None:
                break
            if self._clock() >= deadline:
                raise AccountBusy(f"Mailchimp account {account} has no free connection; retried later")
            self._sleep(backoff * random.uniform(0.5, 1.5))
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        if self._kept is not None:
            self._kept[(account, share)] = (lock, token)
            yield
            return
        try:
            yield
        finally:
            lock.release(token)

    def try_holding(self, account: str, share: Share = "live", time_left: float | None = None) -> bool:
        """Within `per_invocation`: keeps one of the account's slots if one is free now, without waiting (another lane
        of a consumer, which leaves the work to the lane that waits when none is). True when one is kept."""
        if self._kept is None:
            raise RuntimeError("try_holding keeps a slot for the invocation: call it within per_invocation")
        if (account, share) in self._kept:
            return True
        token = new_token()
        lock = self._take(
            account,
            share,
            token,
            (time_left if time_left is not None else DEFAULT_LEASE_SECONDS) + LEASE_MARGIN_SECONDS,
        )
        if lock is None:
            return False
        self._kept[(account, share)] = (lock, token)
        return True

    def in_use(self, account: str) -> int:
        """How many of the account's slots are held now (for status)."""
        now = self._clock()
        return sum(1 for item in self._items(account) if _is_slot(item) and float(item["lease_until"]) >= now)

    def first_choices(self, share: Share) -> list[int]:
        """The slots `share` tries without reading the partition: those only it takes first (live work's own, or
        the bulk ones); one at random, so that containers starting together seldom try the same."""
        candidates = self.candidates(share)
        own = candidates[: self.connections - self.bulk_connections] if share == "live" else candidates
        return own or candidates

    def _take(self, account: str, share: Share, token: str, lease: float) -> SyncLock | None:
        if self._clock() - self._healthy_at.get(account, float("-inf")) < HEALTH_KNOWN_SECONDS:
            number = random.choice(self.first_choices(share))
            lock = SyncLock(self._table, account_partition(account), slot_key(number), clock=self._clock)
            if lock.acquire(token, lease, label=share):
                return lock
        items = self._items(account)
        now = self._clock()
        held = set()
        for item in items:
            if item["sk"] == HEALTH_SORT_KEY and item.get("status") == "paused":
                self._healthy_at.pop(account, None)
                raise AccountPaused(account, str(item.get("reason") or "its credentials were refused"))
            if _is_slot(item) and float(item.get("lease_until", 0)) >= now:
                held.add(str(item["sk"]))
        self._healthy_at[account] = now
        for number in self.candidates(share):
            if slot_key(number) in held:
                continue
            lock = SyncLock(self._table, account_partition(account), slot_key(number), clock=self._clock)
            if lock.acquire(token, lease, label=share):
                return lock
        return None

    def _items(self, account: str) -> list[dict[str, Any]]:
        answer = self._table.query(KeyConditionExpression=Key("pk").eq(account_partition(account)), ConsistentRead=True)
        return list(answer.get("Items", []))


def _is_slot(item: dict[str, Any]) -> bool:
    return str(item.get("sk", "")).startswith("slot#")
