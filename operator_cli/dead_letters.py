"""Replaying dead letters: each record goes back to the queue it came from, without the error
attributes, and leaves the dead-letter queue only once it is safely re-queued."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3

# The processing functions whose queues have dead-letter queues, and the variables naming them
# (the local runner's env file and a stack's outputs both provide these).
FUNCTIONS = {
    "cart_events": ("CART_EVENTS_QUEUE_URL", "CART_EVENTS_DEAD_LETTER_QUEUE_URL"),
    "order_status": ("ORDER_STATUS_QUEUE_URL", "ORDER_STATUS_DEAD_LETTER_QUEUE_URL"),
    "product_sync": ("PRODUCT_SYNC_QUEUE_URL", "PRODUCT_SYNC_DEAD_LETTER_QUEUE_URL"),
}


@dataclass
class DeadLetter:
    message_id: str
    error_type: str
    error_message: str
    body: str


def _queue_urls(function: str) -> tuple[str, str]:
    source_variable, dead_letter_variable = FUNCTIONS[function]
    missing = [name for name in (source_variable, dead_letter_variable) if not os.environ.get(name)]
    if missing:
        raise SystemExit(f"error: {', '.join(missing)} not set (use --env-file or --stack)")
    return os.environ[source_variable], os.environ[dead_letter_variable]


def _attribute(message: dict[str, Any], name: str) -> str:
    return str(message.get("MessageAttributes", {}).get(name, {}).get("StringValue", ""))


def _receive(sqs: Any, queue_url: str, visibility: int) -> list[dict[str, Any]]:
    answer = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=visibility
    )
    return list(answer.get("Messages", []))


def peek(function: str, limit: int = 50) -> list[DeadLetter]:
    """Up to `limit` dead letters with their reasons, left in the queue (visible again at once)."""
    _, dead_letter_url = _queue_urls(function)
    sqs = boto3.client("sqs")
    seen: dict[str, DeadLetter] = {}
    while len(seen) < limit:
        messages = _receive(sqs, dead_letter_url, visibility=2)
        for message in messages:
            # Visible again at once: peeking must not delay a replay or the alarm's view of the queue.
            sqs.change_message_visibility(
                QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
        fresh = [m for m in messages if m["MessageId"] not in seen]
        if not fresh:
            break
        for message in fresh:
            seen[message["MessageId"]] = DeadLetter(
                message_id=message["MessageId"],
                error_type=_attribute(message, "error_type") or "redriven by SQS",
                error_message=_attribute(message, "error_message"),
                body=message["Body"],
            )
    return list(seen.values())[:limit]


def replay(function: str, limit: int | None = None, progress: Callable[[int], None] | None = None) -> int:
    """Move dead letters back to the function's queue; returns how many were moved."""
    source_url, dead_letter_url = _queue_urls(function)
    sqs = boto3.client("sqs")
    moved = 0
    while limit is None or moved < limit:
        messages = _receive(sqs, dead_letter_url, visibility=60)
        if not messages:
            break
        for message in messages[: None if limit is None else limit - moved]:
            sqs.send_message(QueueUrl=source_url, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=dead_letter_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
            if progress:
                progress(moved)
    return moved
