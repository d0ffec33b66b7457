"""How many items a transaction takes: at most 100, and under DynamoDB's 4 MB a request (an order's JSON can be
tens of kilobytes, so 100 of them would be refused)."""

from __future__ import annotations

from commerce_sync.aws.batch_items import TRANSACTION_BYTES, TRANSACTION_LIMIT, _transactions


def update(name: str, size: int) -> tuple[str, dict[str, object]]:
    return name, {"Update": {"Key": {"pk": name}, "ExpressionAttributeValues": {":order": "x" * size}}}


def test_small_items_go_a_hundred_at_a_time() -> None:
    chunks = list(_transactions([update(f"o{n}", 100) for n in range(250)]))
    assert [len(chunk) for chunk in chunks] == [TRANSACTION_LIMIT, TRANSACTION_LIMIT, 50]
    assert [name for chunk in chunks for name, _ in chunk] == [f"o{n}" for n in range(250)]


def test_large_items_are_split_before_the_request_grows_too_large() -> None:
    chunks = list(_transactions([update(f"o{n}", 100_000) for n in range(100)]))
    assert len(chunks) > 1
    assert all(sum(len(str(item)) for _, item in chunk) <= TRANSACTION_BYTES + 1000 for chunk in chunks)
    assert sum(len(chunk) for chunk in chunks) == 100


def test_one_item_larger_than_the_limit_still_goes_alone() -> None:
    chunks = list(_transactions([update("big", TRANSACTION_BYTES + 10), update("small", 10)]))
    assert [[name for name, _ in chunk] for chunk in chunks] == [["big"], ["small"]]
