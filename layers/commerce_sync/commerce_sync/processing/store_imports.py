"""How a consumer writes an event that is history, and how a store's canonical import closes (the record and its
counters: commerce_sync.aws.store_imports; the format: docs/canonical-events.md#history).

Each event is written in one of three modes:

- LIVE: a change happening now, written as it is; its order e-mails fire.
- IMPORT: an event of the store's open import, written whole while the Mailchimp store's `is_syncing` is on (the
  first such event sets it on), so nothing fires. The import cannot close while it is being written.
- HISTORICAL: history outside an import (`historical: true`, or an import gone by the time the event is written).
  The store is live, so it is written without the statuses that fire order e-mails (orders.withheld_statuses) and
  without a double opt-in confirmation; an abandoned cart from the past is not written at all. Holding the whole
  store in `is_syncing` around such a write instead would silence the live orders of every other shopper written
  meanwhile.

Closing sets the flag off, unless a backfill of the store holds it (the backfill sets it off at its end). A flag
that could not be set off is set off by the next look at the import: the schedule, `commerce-sync status`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.store_imports import ImportBook, ImportStatus, StoreImport
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.model import CanonicalEvent
from commerce_sync.mailchimp.client import MailchimpClient
from commerce_sync.mailchimp.models import McStoreUpdate
from commerce_sync.processing.services import Services

# Closing needs one Mailchimp call; its connection slot is held at most this long.
FLAG_CALL_SECONDS = 30.0


class HistoryMode(StrEnum):
    LIVE = "live"
    IMPORT = "import"
    HISTORICAL = "historical"


def set_syncing(client: MailchimpClient, store_id: str, value: bool) -> None:
    """The Mailchimp store's is_syncing, as the backfill sets it (commerce_sync.history.backfill)."""
    client.update_store(store_id, McStoreUpdate(is_syncing=value))


def iso(epoch: int | None) -> str:
    return datetime.fromtimestamp(epoch or 0, UTC).isoformat(timespec="seconds")


def describe(held: StoreImport) -> str:
    """One line about an import that is not closed, for `commerce-sync status`."""
    since = f"open since {iso(held.opened_at)}"
    if held.status is ImportStatus.CLOSING:
        since += f", finished by its sender at {iso(held.finished_at)}"
    return (
        f"store {held.store_id}: import {held.import_id} {held.status.value} ({since}); {held.applied} of "
        f"{held.published} events applied, {held.writing} being written; is_syncing "
        f"{'on' if held.flag_set else 'not set yet'}; closes by timeout at {iso(held.expires_at)} "
        f"unless more of it arrives ({held.timeout_seconds} s without an event)"
    )


@dataclass
class Sweep:
    """What one look at every store's import did: the reset or closed ones, and those still open."""

    closed: list[str] = field(default_factory=list)
    open: list[StoreImport] = field(default_factory=list)


class StoreImports:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.book = ImportBook(services.sync_state.table, services.sync_state.dynamodb)

    # ---- a consumer around one event ------------------------------------------------------------------------

    def begin(self, event: CanonicalEvent) -> StoreImport | None:
        """The event's import when it is still live (counted as being written now), else None."""
        if event.import_id is None:
            return None
        return self.book.begin(event.store_id, event.import_id)

    def raise_flag(self, client: MailchimpClient, store: Store, held: StoreImport) -> None:
        """Sets is_syncing on for the import's first event written (the import is being written, so it cannot
        close meanwhile)."""
        if held.flag_set:
            return
        set_syncing(client, store.store_id, True)
        if not self.book.mark_flag(store.store_id, held.import_id, True):
            # Only a timeout shorter than a write could close it meanwhile; the flag must not stay on.
            set_syncing(client, store.store_id, False)
            return
        logger.info("is_syncing set for the store's import", import_id=held.import_id)

    def end(self, event: CanonicalEvent) -> None:
        if event.import_id is not None:
            self.book.end_writing(event.store_id, event.import_id)

    def applied(self, event: CanonicalEvent) -> str | None:
        """Counts the event as done; closes its import when it was the last one the sender finished with."""
        if event.import_id is None:
            return None
        held = self.book.applied(event.store_id, event.import_id)
        if held is None or not held.done:
            return None
        return self.close(event.store_id, held.import_id)

    # ---- closing --------------------------------------------------------------------------------------------

    def close(self, store_id: str, import_id: str) -> str | None:
        """Closes the import if it is done or timed out, then sets the flag off; what was done, or None."""
        closed = self.book.close(store_id, import_id)
        if closed is None:
            return None
        by_timeout = closed.closed_by == "timeout"
        metrics.add_metric(name="ImportsTimedOut" if by_timeout else "ImportsClosed", unit="Count", value=1)
        logger.info(
            "canonical import closed",
            store_id=store_id,
            import_id=import_id,
            closed_by=closed.closed_by,
            published=closed.published,
            applied=closed.applied,
        )
        flag = self._lower_flag(closed)
        if by_timeout:
            return (
                f"store {store_id}: import {import_id} timed out (no event of it since "
                f"{iso(closed.expires_at - closed.timeout_seconds)}; {closed.applied} of {closed.published} events "
                f"applied) and was closed; {flag}"
            )
        return f"store {store_id}: import {import_id} closed ({closed.applied} events); {flag}"

    def _lower_flag(self, held: StoreImport) -> str:
        if not held.flag_set:
            return "is_syncing was never set"
        if self.book.backfill_holds_flag(held.store_id):
            self.book.mark_flag(held.store_id, held.import_id, False)
            return "is_syncing left on for the store's running backfill, which sets it off"
        store = self.services.registry.get(held.store_id)
        if store is None:
            return "is_syncing not changed: the store is no longer registered"
        try:
            with self.services.budget.holding(store.mailchimp_account, "live", FLAG_CALL_SECONDS):
                set_syncing(self.services.mailchimp(store), store.store_id, False)
        except Exception as error:  # the schedule or `status` sets it off later: the import says so
            logger.warning("is_syncing could not be set off now", error_type=type(error).__name__)
            return "is_syncing could not be set off now (the next look at the import does)"
        self.book.mark_flag(held.store_id, held.import_id, False)
        return "is_syncing set off"

    def settle(self, held: StoreImport) -> tuple[str | None, StoreImport | None]:
        """One look at a store's import: closes it when done or timed out, sets off a flag a closed one left on.
        What was done, and the import when it stays open."""
        if held.live and (held.done or held.expired()):
            message = self.close(held.store_id, held.import_id)
            after = self.book.current(held.store_id)
            return message, after if after is not None and after.live else None
        if held.status is ImportStatus.CLOSED and held.flag_set:
            return f"store {held.store_id}: import {held.import_id} left is_syncing on: {self._lower_flag(held)}", None
        return None, held if held.live else None

    def settle_all(self, stores: Callable[[], list[Store]] | None = None) -> Sweep:
        """`settle` for the import of every active store that has one (the schedule, `commerce-sync status`)."""
        sweep = Sweep()
        active = [store.store_id for store in (stores or self.services.registry.list)() if store.active]
        for held in sorted(self.book.current_many(active), key=lambda held: held.store_id):
            message, still_open = self.settle(held)
            if message:
                sweep.closed.append(message)
            if still_open is not None:
                sweep.open.append(still_open)
        return sweep
