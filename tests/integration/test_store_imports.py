"""A store's canonical import record against DynamoDB (moto server): the transitions and counters that make its
close safe whatever order the queues apply its events in (commerce_sync.aws.store_imports), and the one piece
of the backfill's checkpoint it reads."""

from __future__ import annotations

import time
from typing import Any

import pytest
from commerce_sync.aws.store_imports import ImportBook, ImportStatus
from commerce_sync.canonical.errors import ImportConflict
from commerce_sync.history.state import BackfillCheckpoint, HistoryState

from tests.harness import new_sync_state_table

NOW = 1_800_000_000


@pytest.fixture
def table(moto_endpoint: str) -> Any:
    dynamodb, name = new_sync_state_table(moto_endpoint)
    return dynamodb.Table(name)


@pytest.fixture
def book(table: Any) -> ImportBook:
    return ImportBook(table)


def test_an_import_closes_only_once_finished_with_nothing_being_written_and_every_event_applied(
    book: ImportBook,
) -> None:
    book.open("s1", "i1", 600, now=NOW)
    assert book.admit("s1", now=NOW + 1) == "i1" and book.admit("s1", now=NOW + 2) == "i1"
    first = book.begin("s1", "i1", now=NOW + 3)
    assert first is not None and first.writing == 1
    book.finish("s1", "i1", now=NOW + 4)
    assert book.admit("s1", now=NOW + 5) is None, "a finished import admits nothing more"

    assert book.close("s1", "i1", now=NOW + 6) is None, "one is being written, one not applied"
    book.end_writing("s1", "i1")
    after_first = book.applied("s1", "i1", now=NOW + 7)
    assert after_first is not None and not after_first.done
    second = book.applied("s1", "i1", now=NOW + 8)  # its duplicate delivery, or the second event
    assert second is not None and second.done

    closed = book.close("s1", "i1", now=NOW + 9)
    assert closed is not None and closed.status is ImportStatus.CLOSED and closed.closed_by == "sender"
    assert book.begin("s1", "i1", now=NOW + 10) is None, "an event of a closed import is written as history"


def test_an_import_without_activity_for_its_timeout_closes_whatever_its_counts(book: ImportBook) -> None:
    book.open("s1", "i1", 60, now=NOW)
    book.admit("s1", now=NOW + 1)
    assert book.begin("s1", "i1", now=NOW + 2) is not None  # a consumer that died mid-write
    assert book.close("s1", "i1", now=NOW + 61) is None, "activity moved the deadline"

    closed = book.close("s1", "i1", now=NOW + 63)

    assert closed is not None and closed.closed_by == "timeout"


def test_one_import_at_a_time_and_a_timed_out_one_gives_its_flag_to_the_next(book: ImportBook) -> None:
    book.open("s1", "i1", 60, now=NOW)
    assert book.open("s1", "i1", 60, now=NOW + 1).import_id == "i1", "opening again keeps it"
    with pytest.raises(ImportConflict, match="has import i1 open"):
        book.open("s1", "i2", 60, now=NOW + 2)
    with pytest.raises(ImportConflict, match="has no import i2"):
        book.finish("s1", "i2", now=NOW + 2)
    book.admit("s1", now=NOW + 3)
    held = book.begin("s1", "i1", now=NOW + 3)
    assert held is not None and book.mark_flag("s1", "i1", True)

    replaced = book.open("s1", "i2", 60, now=NOW + 200)

    assert replaced.import_id == "i2" and replaced.flag_set, "the flag the dead import left on is the new one's"
    assert book.begin("s1", "i1", now=NOW + 201) is None
    book.end_writing("s1", "i1")  # the old consumer's end changes nothing of the new import
    current = book.current("s1")
    assert current is not None and current.writing == 0 and current.published == 0


def test_the_import_reads_whether_a_backfill_holds_the_flag_as_the_backfill_records_it(
    book: ImportBook, table: Any
) -> None:
    history = HistoryState(table)
    checkpoint = BackfillCheckpoint(
        run_id="r1",
        since="2026-01-01T00:00:00+00:00",
        until="2026-06-01T00:00:00+00:00",
        resources=["orders"],
        started_at=time.time(),
    )
    history.save("s1", checkpoint)
    assert not book.backfill_holds_flag("s1")

    checkpoint.syncing = True
    history.save("s1", checkpoint)
    assert book.backfill_holds_flag("s1")

    checkpoint.status, checkpoint.syncing = "done", False
    history.save("s1", checkpoint)
    assert not book.backfill_holds_flag("s1")
