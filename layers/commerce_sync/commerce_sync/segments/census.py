"""How many members hold each segment tag, and how many would move under other rules (`commerce-sync segments
STORE [--dry-run] --set …`), counted over the store's aggregates a page at a time (segments.aggregate); nothing
is written.

"Holding" is what commerce-sync last wrote for the customer (the aggregate's `written_tags`): what Mailchimp
holds unless someone changed the member's tags there. A move under new rules compares those with the segments
the new rules give at `now`; it includes the moves the next nightly pass would make under the current rules
(time passed), which are counted apart (`pending`), so the change's own effect is the difference.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from commerce_sync.segments.aggregate import Aggregates
from commerce_sync.segments.rules import SegmentRules, segments_of


@dataclass
class TagMoves:
    holding: int = 0
    after: int = 0
    enter: int = 0
    leave: int = 0
    # Of enter/leave, those the next pass would make under the current rules anyway.
    pending_enter: int = 0
    pending_leave: int = 0


@dataclass
class Census:
    customers: int = 0
    holding: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    # Per tag name, under the proposed rules (empty without them).
    moves: dict[str, TagMoves] = field(default_factory=dict)
    # Customers whose tags would change under the proposed rules.
    customers_moving: int = 0


def census(
    aggregates: Aggregates,
    store_id: str,
    rules: SegmentRules,
    now: datetime,
    proposed: SegmentRules | None = None,
) -> Census:
    """The store's tag counts, and with `proposed` the moves it would make at `now`."""
    found = Census()
    tags = sorted(rules.tag_names() | (proposed.tag_names() if proposed else set()))
    if proposed is not None:
        found.moves = {tag: TagMoves() for tag in tags}
    for listed in aggregates.every(store_id):
        found.customers += 1
        written = listed.stored.written
        found.holding.update(written)
        if listed.skipped:
            found.skipped[listed.skipped] += 1
        if proposed is None:
            continue
        standing = listed.stored.aggregate.standing()
        after = segments_of(standing, proposed, now)
        current = segments_of(standing, rules, now)
        if after != written:
            found.customers_moving += 1
        for tag in written | after:
            moves = found.moves.setdefault(tag, TagMoves())
            moves.holding += tag in written
            moves.after += tag in after
            if tag in after and tag not in written:
                moves.enter += 1
                moves.pending_enter += tag in current
            elif tag in written and tag not in after:
                moves.leave += 1
                moves.pending_leave += tag not in current
    return found
