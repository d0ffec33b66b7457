"""The history readers' keyset over modification times (platforms/history_paging.py): the window in whole
seconds, what a page keeps, and the next cursor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from commerce_sync.platforms.history import HistoryUnavailable
from commerce_sync.platforms.history_paging import KeysetCursor, Listed, Window, high_water, select

T0 = datetime(2025, 1, 6, 9, 0, 0, tzinfo=UTC)


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def listed(*pairs: tuple[str, int]) -> list[Listed[None]]:
    return [Listed(resource_id, at(seconds), None) for resource_id, seconds in pairs]


def test_the_window_is_whole_seconds_since_rounded_up_until_down() -> None:
    window = Window.of(T0 + timedelta(microseconds=1), at(10) + timedelta(microseconds=999_999))
    assert (window.since, window.until) == (at(1), at(10))
    assert window.contains(at(1)) and window.contains(at(10) + timedelta(microseconds=5))
    assert not window.contains(T0) and not window.contains(at(11))
    assert window.request_bounds(None) == (at(0), at(11))
    assert window.request_bounds(at(5)) == (at(4), at(11)), "from a second before the anchor"


def test_a_full_page_moves_the_anchor_to_its_last_second_and_remembers_what_was_read_there() -> None:
    window = Window.of(T0, None)
    kept, following = select(window, KeysetCursor(), listed(("1", 0), ("2", 1), ("3", 1)), full_page=True)
    assert [entry.id for entry in kept] == ["1", "2", "3"]
    assert following == KeysetCursor(at(1), 1, ("2", "3"))

    # The next request starts a second before the anchor: what was read is dropped, the rest kept.
    assert following is not None
    again = listed(("1", 0), ("2", 1), ("3", 1), ("4", 1), ("5", 2))
    kept, last = select(window, KeysetCursor.decode(following.encode()), again, full_page=False)
    assert [entry.id for entry in kept] == ["4", "5"] and last is None
    assert high_water(kept) == at(2).isoformat()


def test_a_page_within_one_second_pages_by_number() -> None:
    cursor = KeysetCursor(at(1), 1, ("2", "3"))
    kept, following = select(Window.of(T0, None), cursor, listed(("2", 1), ("3", 1)), full_page=True)
    assert kept == [] and following == KeysetCursor(at(1), 2, ("2", "3"))


def test_a_cursor_this_reader_did_not_make_is_refused() -> None:
    for garbage in ("3", '{"anchor": "yesterday", "page": 1, "seen": []}', '{"page": 0, "anchor": null, "seen": []}'):
        with pytest.raises(HistoryUnavailable):
            KeysetCursor.decode(garbage)
