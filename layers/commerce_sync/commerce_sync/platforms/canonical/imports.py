"""What the receiver does with a canonical delivery for the store's import (docs/canonical-events.md#history;
the record: commerce_sync.aws.store_imports):

- `store.sync_started` opens the import (or keeps the same open one alive) and publishes nothing: the first event
  of the import that is written sets the Mailchimp store's `is_syncing` on, so an import nothing was sent in never
  touches the flag. 409 while another import of the store is open.
- `store.sync_finished` makes it `closing` and is published: its consumer closes the import when every event of
  it was applied already, else the consumer applying the last one does. 409 for an import that is not the store's.
- any other event is counted into the store's open import, if there is one, and stamped with its id; without one
  (or once it timed out) the event travels as it came, a `historical: true` one written as history.
"""

from __future__ import annotations

from collections.abc import Sequence

from commerce_sync.aws.observability import logger
from commerce_sync.aws.store_imports import ImportBook, min_timeout_seconds
from commerce_sync.aws.store_registry import Store
from commerce_sync.canonical.errors import BadRequest
from commerce_sync.canonical.model import DEFAULT_IMPORT_TIMEOUT_SECONDS, CanonicalEvent, EventType
from commerce_sync.platforms.adapter import Admitted


def admit(book: ImportBook, store: Store, events: Sequence[CanonicalEvent]) -> Admitted:
    accepted = [event.event_id for event in events]
    if len(events) == 1 and events[0].type is EventType.STORE_SYNC_STARTED:
        opening = events[0].store_sync()
        timeout = opening.timeout_seconds or DEFAULT_IMPORT_TIMEOUT_SECONDS
        if timeout < min_timeout_seconds():
            raise BadRequest(f"must be at least {min_timeout_seconds()} seconds", field="timeout_seconds")
        held = book.open(store.store_id, opening.id, timeout)
        logger.info("canonical import open", import_id=held.import_id, expires_at=held.expires_at)
        return Admitted(events=(), accepted_ids=accepted)
    if len(events) == 1 and events[0].type is EventType.STORE_SYNC_FINISHED:
        held = book.finish(store.store_id, events[0].store_sync().id)
        logger.info("canonical import finished by its sender", import_id=held.import_id, published=held.published)
        return Admitted(events=events, accepted_ids=accepted)
    if not events:
        return Admitted(accepted_ids=accepted)
    import_id = book.admit(store.store_id, count=len(events))
    stamped = [event.model_copy(update={"import_id": import_id}) for event in events]
    return Admitted(events=stamped, counted_into=import_id, accepted_ids=accepted)
