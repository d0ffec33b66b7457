"""The per-customer aggregate: a refund or cancellation replaces an order's contribution; duplicates and
out-of-order versions give the same aggregate; old orders fold into totals."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from commerce_sync.segments.aggregate import MAX_ORDER_ENTRIES, Aggregate, OrderEntry

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def entry(net: str, day: int = 0, version: str = "v1", refunded: str = "0", counted: bool = True) -> OrderEntry:
    return OrderEntry(
        net=Decimal(net),
        placed_at=T0 + timedelta(days=day),
        counted=counted,
        version=version,
        refunded=Decimal(refunded),
    )


def fold(events: list[tuple[str, OrderEntry]]) -> Aggregate:
    aggregate = Aggregate()
    for order_id, order_entry in events:
        aggregate = aggregate.with_order(order_id, order_entry) or aggregate
    return aggregate


def test_a_refund_replaces_the_orders_contribution() -> None:
    paid = fold([("o1", entry("600"))])
    assert paid.standing().lifetime_value == 600
    refunded = paid.with_order("o1", entry("150", refunded="450"))
    assert refunded is not None and refunded.standing().lifetime_value == 150
    assert refunded.standing().orders == 1
    cancelled = refunded.with_order("o1", entry("0", version="v2", counted=False))
    assert cancelled is not None and cancelled.standing().orders == 0 and cancelled.standing().lifetime_value == 0


def test_duplicates_and_any_order_of_delivery_give_the_same_aggregate() -> None:
    events = [
        ("o1", entry("100", day=0, version="v1")),
        ("o1", entry("80", day=0, version="v1", refunded="20")),
        ("o1", entry("0", day=0, version="v2", counted=False)),
        ("o2", entry("300", day=5, version="v1")),
        ("o3", entry("50", day=9, version="v1")),
        ("o3", entry("55", day=9, version="v2")),
    ]
    expected = fold(events)
    assert expected.standing().lifetime_value == 355 and expected.standing().orders == 2
    for permutation in itertools.permutations(events):
        assert fold([*permutation, *permutation[:2]]) == expected


def test_an_unchanged_order_changes_nothing() -> None:
    aggregate = fold([("o1", entry("10", version="v2"))])
    assert aggregate.with_order("o1", entry("10", version="v2")) is None
    assert aggregate.with_order("o1", entry("99", version="v1")) is None, "an older version never wins"


def test_old_orders_fold_into_running_totals() -> None:
    events = [(f"o{day}", entry("10", day=day)) for day in range(MAX_ORDER_ENTRIES + 5)]
    aggregate = fold(events)
    assert len(aggregate.orders) == MAX_ORDER_ENTRIES
    assert aggregate.folded_orders == 5 and aggregate.folded_value == 50
    standing = aggregate.standing()
    assert standing.orders == MAX_ORDER_ENTRIES + 5 and standing.lifetime_value == 10 * (MAX_ORDER_ENTRIES + 5)
    assert standing.first_order_at == T0
    assert standing.last_order_at == T0 + timedelta(days=MAX_ORDER_ENTRIES + 4)
    # A duplicate of a folded order (or an unknown one older than the folded) is not counted again.
    assert aggregate.with_order("o0", entry("10", day=0, version="v2")) is None
    assert fold([*events, *events]) == aggregate
