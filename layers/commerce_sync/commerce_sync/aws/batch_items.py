"""Many DynamoDB items in few requests: the items of one kind (a sort-key prefix) paged in key order,
consistent batched reads (BatchGetItem, 100 keys a request) and
conditional writes in transactions (TransactWriteItems, 100 items a request) that report which items' conditions
failed. The catalog sync and the history jobs work a page of resources at a time; one request per resource made
their wall time (a page of 250 orders was 500 sequential calls).

boto3's Table.batch_writer batches writes, but only unconditional puts and deletes; the version guard needs
conditions, hence transactions, and their cancellation reasons say which item lost its condition.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, TypeVar

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

BATCH_GET_LIMIT = 100
TRANSACTION_LIMIT = 100
TRANSACTION_BYTES = 3_000_000
# Another transaction touching the same items at the same moment cancels ours without a failed condition.
TRANSACTION_CONFLICT_ATTEMPTS = 5
T = TypeVar("T")
R = TypeVar("R")


def _transactions(items: Sequence[tuple[str, dict[str, Any]]]) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Chunks of at most 100 items and about TRANSACTION_BYTES (a transaction is refused above 4 MB; an order's
    JSON can be tens of kilobytes)."""
    chunk: list[tuple[str, dict[str, Any]]] = []
    size = 0
    for name, item in items:
        item_size = len(json.dumps(item, default=str))
        if chunk and (len(chunk) >= TRANSACTION_LIMIT or size + item_size > TRANSACTION_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append((name, item))
        size += item_size
    if chunk:
        yield chunk


def items_with_prefix(
    table: Any, partition_key: str, prefix: str, after: str | None = None, projection: str | None = None
) -> Iterator[dict[str, Any]]:
    """The items of one partition whose sort key starts with `prefix` (every item for ""), in key order from after
    `prefix + after`, consistent, one query page (at most 1 MB) in memory at a time."""
    # DynamoDB refuses an empty string in a key condition, even as a prefix.
    condition = Key("pk").eq(partition_key) & Key("sk").begins_with(prefix) if prefix else Key("pk").eq(partition_key)
    arguments: dict[str, Any] = {"KeyConditionExpression": condition, "ConsistentRead": True}
    if projection:
        arguments["ProjectionExpression"] = projection
    if after is not None:
        arguments["ExclusiveStartKey"] = {"pk": partition_key, "sk": prefix + after}
    while True:
        page = table.query(**arguments)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def get_many(
    dynamodb: Any, table_name: str, keys: Sequence[dict[str, Any]], concurrency: int = 1
) -> Iterator[dict[str, Any]]:
    """The items at `keys` that exist, in no particular order (`dynamodb` is a boto3 DynamoDB resource, so the
    items come back as plain Python values). Keys the service leaves unprocessed (throttling) are asked again
    after a backoff. `concurrency` > 1 sends that many requests of 100 keys at once (a thousand keys are then one
    round trip's wait instead of ten); the items of every request are yielded in the order of the keys' chunks."""
    chunks = [keys[start : start + BATCH_GET_LIMIT] for start in range(0, len(keys), BATCH_GET_LIMIT)]
    if concurrency <= 1 or len(chunks) <= 1:
        for chunk in chunks:
            yield from get_batch(dynamodb, table_name, chunk)
        return
    for found in concurrently(partial(get_batch, dynamodb, table_name), chunks, concurrency):
        yield from found


def get_batch(dynamodb: Any, table_name: str, keys: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items at up to 100 keys (one BatchGetItem, and again for the keys left unprocessed)."""
    request: dict[str, Any] = {table_name: {"Keys": list(keys), "ConsistentRead": True}}
    found: list[dict[str, Any]] = []
    attempt = 0
    while request:
        answer = dynamodb.batch_get_item(RequestItems=request)
        found.extend(answer.get("Responses", {}).get(table_name, []))
        request = answer.get("UnprocessedKeys") or {}
        attempt += 1
        if request:
            time.sleep(min(0.05 * 2**attempt, 2.0))
    return found


def concurrently(work: Callable[[T], R], inputs: Sequence[T], concurrency: int) -> list[R]:
    """`[work(x) for x in inputs]`, at most `concurrency` at a time on the shared pool, results in input order; the
    first failure is raised once every call has ended (none is left running behind the caller's back)."""
    if concurrency <= 1 or len(inputs) <= 1:
        return [work(item) for item in inputs]
    pending = [_request_pool().submit(work, item) for item in inputs[:concurrency]]
    results: list[R] = []
    failure: BaseException | None = None
    for index in range(len(inputs)):
        try:
            results.append(pending[index].result())
        except Exception as error:
            failure = failure or error
        following = index + concurrency
        if following < len(inputs):
            pending.append(_request_pool().submit(work, inputs[following]))
    if failure is not None:
        raise failure
    return results


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()
# botocore keeps 10 connections a client by default (max_pool_connections): more threads would wait for one.
POOL_THREADS = 8


def _request_pool() -> ThreadPoolExecutor:
    """Threads for concurrent DynamoDB requests, made on first use (none at import: most invocations need none)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="dynamodb")
        return _POOL


def transact_conditional(client: Any, items: Sequence[tuple[str, dict[str, Any]]], concurrency: int = 1) -> set[str]:
    """Writes `(name, transact item)` pairs in transactions of 100; returns the names whose condition failed.

    A transaction with a failed condition is cancelled as a whole, so the failing items are taken out and the
    rest written again. `client` is the resource's client (`table.meta.client`), which converts Python values
    itself. Names must be unique within a call: DynamoDB refuses two operations on one item in a transaction.
    `concurrency` > 1 writes that many transactions at once (their items are distinct, so none waits on another);
    as one at a time, a transaction that fails otherwise than by a condition raises, with others already written.
    """
    failed_conditions: set[str] = set()
    for failed in concurrently(partial(_transact_chunk, client), list(_transactions(items)), concurrency):
        failed_conditions |= failed
    return failed_conditions


def _transact_chunk(client: Any, chunk: list[tuple[str, dict[str, Any]]]) -> set[str]:
    failed_conditions: set[str] = set()
    remaining = list(chunk)
    attempt = 0
    while remaining:
        try:
            client.transact_write_items(TransactItems=[item for _, item in remaining])
            break
        except ClientError as error:
            if error.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            failed = {
                remaining[index][0]
                for index, reason in enumerate(reasons)
                if reason.get("Code") == "ConditionalCheckFailed"
            }
            if not failed:
                attempt += 1
                if attempt > TRANSACTION_CONFLICT_ATTEMPTS:
                    raise
                time.sleep(0.05 * 2**attempt)
            failed_conditions |= failed
            remaining = [(name, item) for name, item in remaining if name not in failed]
    return failed_conditions
