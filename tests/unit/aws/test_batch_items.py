"""How many items a transaction takes: at most 100, and under DynamoDB's 4 MB a request (an order's JSON can be
tens of kilobytes, so 100 of them would be refused)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from commerce_sync.aws.batch_items import TRANSACTION_BYTES, TRANSACTION_LIMIT, _transactions, concurrently, get_many


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


class CountingResource:
    """batch_get_item over a dict, remembering how many requests were in flight at once."""

    def __init__(self, items: dict[str, dict[str, str]]) -> None:
        self.items = items
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()

    def batch_get_item(self, RequestItems: dict[str, dict[str, Any]]) -> dict[str, Any]:
        ((name, request),) = RequestItems.items()
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(0.01)
        with self.lock:
            self.in_flight -= 1
        found = [self.items[key["pk"]] for key in request["Keys"] if key["pk"] in self.items]
        return {"Responses": {name: found}}


def test_concurrent_reads_return_every_item_as_sequential_reads_do() -> None:
    items = {f"p{n}": {"pk": f"p{n}"} for n in range(0, 1000, 2)}
    keys = [{"pk": f"p{n}"} for n in range(1000)]
    resource = CountingResource(items)

    sequential = sorted(item["pk"] for item in get_many(resource, "t", keys))
    concurrent = sorted(item["pk"] for item in get_many(resource, "t", keys, concurrency=4))

    assert concurrent == sequential == sorted(items)
    assert 1 < resource.most_in_flight <= 4


def test_concurrently_keeps_the_order_and_raises_once_every_call_has_ended() -> None:
    ended: list[int] = []

    def work(n: int) -> int:
        time.sleep(0.001 * (5 - n % 5))
        ended.append(n)
        if n == 3:
            raise ValueError("three")
        return n * 10

    assert concurrently(lambda n: n * 10, list(range(20)), 4) == [n * 10 for n in range(20)]
    with pytest.raises(ValueError, match="three"):
        concurrently(work, list(range(10)), 4)
    assert sorted(ended) == list(range(10))
