"""How the history readers page a platform's "modified between" listing sorted by modification time, so that a
resource changed while a run reads its pages is never skipped (issue 11; `platforms.history`).

Plain page numbers over a listing sorted by modification time lose resources: a resource on an already-read
page that changes moves to the end, every resource behind it moves one place forward, and the first resource
of the next page lands on the page already read. So the cursor is a keyset instead: the modification second
the last page ended on (the anchor), the ids already read at that second, and a page number used only while
more than a page of resources share one second. Each request asks the platform for resources modified from
one second before the anchor (whatever the platform's "after" means, inclusive or not, nothing at the anchor
is then left out); what was already read is dropped here. A resource that changes during the run is read
again later with its new version (a newer event, never a lost one); only a resource moved out of a run of more
than a page of same-second changes can still be skipped.

Platforms keep modification times to the second (WooCommerce `date_modified_gmt`, BigCommerce v2
`date_modified` in RFC 2822 and v3 `date_modified`), so the window is in whole seconds: [since rounded up,
until rounded down].
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from commerce_sync.platforms.history import HistoryUnavailable

ONE_SECOND = timedelta(seconds=1)
T = TypeVar("T")


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def whole_second(value: datetime) -> datetime:
    return utc(value).replace(microsecond=0)


@dataclass(frozen=True)
class Window:
    """[since, until] in whole seconds (until None: open)."""

    since: datetime
    until: datetime | None = None

    @classmethod
    def of(cls, updated_since: datetime, updated_until: datetime | None) -> Window:
        since = whole_second(updated_since)
        if utc(updated_since) > since:
            since += ONE_SECOND  # a change in the second before `since` is not "since"
        return cls(since, whole_second(updated_until) if updated_until is not None else None)

    def contains(self, modified: datetime) -> bool:
        second = whole_second(modified)
        return second >= self.since and (self.until is None or second <= self.until)

    def request_bounds(self, anchor: datetime | None) -> tuple[datetime, datetime | None]:
        """What to ask the platform for: a second wider on each side than the window (and the anchor), so that
        neither an exclusive nor an inclusive filter leaves out a resource at the edge; this module trims."""
        lower = max(self.since, anchor) if anchor is not None else self.since
        return lower - ONE_SECOND, (self.until + ONE_SECOND if self.until is not None else None)


@dataclass(frozen=True)
class Listed(Generic[T]):
    """One resource of a page, as the platform listed it."""

    id: str
    modified: datetime | None
    item: T


@dataclass(frozen=True)
class KeysetCursor:
    anchor: datetime | None = None
    page: int = 1
    seen: tuple[str, ...] = ()

    def encode(self) -> str:
        return json.dumps(
            {"anchor": self.anchor.isoformat() if self.anchor else None, "page": self.page, "seen": list(self.seen)},
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, cursor: str | None) -> KeysetCursor:
        if not cursor:
            return cls()
        try:
            raw = json.loads(cursor)
            anchor = datetime.fromisoformat(raw["anchor"]) if raw.get("anchor") else None
            page, seen = int(raw["page"]), tuple(str(value) for value in raw["seen"])
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise HistoryUnavailable(f"the history cursor {cursor[:80]!r} was not made by this reader") from error
        if page < 1:
            raise HistoryUnavailable(f"the history cursor {cursor[:80]!r} names no page")
        return cls(utc(anchor) if anchor else None, page, seen)


def select(
    window: Window, cursor: KeysetCursor, listed: Sequence[Listed[T]], full_page: bool
) -> tuple[list[Listed[T]], KeysetCursor | None]:
    """The resources of a page not read before and inside the window (in the platform's order; one without a
    modification time is kept, for the caller to skip with its reason), and the cursor of the next page (None
    after the last: a page shorter than asked for)."""
    kept: list[Listed[T]] = []
    for entry in listed:
        if entry.modified is None:
            kept.append(entry)
            continue
        second = whole_second(entry.modified)
        if cursor.anchor is not None and (
            second < cursor.anchor or (second == cursor.anchor and entry.id in cursor.seen)
        ):
            continue
        if window.contains(entry.modified):
            kept.append(entry)
    if not full_page:
        return kept, None
    dated = [whole_second(entry.modified) for entry in listed if entry.modified is not None]
    last = dated[-1] if dated else None
    if last is None or (cursor.anchor is not None and last <= cursor.anchor):
        # More than a page of resources in the anchor's second (or none dated): the next page of the same query.
        return kept, KeysetCursor(cursor.anchor, cursor.page + 1, cursor.seen)
    seen = tuple(entry.id for entry in listed if entry.modified is not None and whole_second(entry.modified) == last)
    return kept, KeysetCursor(last, 1, seen)


def high_water(entries: Sequence[Listed[T]]) -> str | None:
    times = [utc(entry.modified) for entry in entries if entry.modified is not None]
    return max(times).isoformat() if times else None
