"""The local runner's SQS event source mapping against a real queue (moto server): long polls, the batching
window (MaximumBatchingWindowInSeconds) as Lambda applies it, and the template's windows on the consumers."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local_runner.event_sources import SqsPoller
from local_runner.runner import DEFAULT_TEMPLATE
from local_runner.template import FunctionSpec, SqsEventSource, Template
from tests.harness import local_aws


class RecordingFunction:
    """Stands in for a function: keeps each batch's bodies (the mapping's behaviour is under test here)."""

    def __init__(self) -> None:
        self.spec = FunctionSpec("Recorder", "", "", {}, {}, timeout=30, memory_size=256)
        self.batches: list[list[str]] = []
        self.delivered = threading.Event()
        self.first_delivered_at = 0.0

    def invoke(self, event: Any) -> Any:
        self.batches.append([record["body"] for record in event["Records"]])
        self.first_delivered_at = self.first_delivered_at or time.monotonic()
        self.delivered.set()
        return {"batchItemFailures": []}

    @property
    def busy(self) -> int:
        return 0


@pytest.fixture
def queue(moto_endpoint: str) -> Iterator[tuple[Any, str]]:
    sqs = local_aws("sqs", moto_endpoint)
    url = sqs.create_queue(QueueName=f"polled-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    yield sqs, url
    sqs.delete_queue(QueueUrl=url)


def polling(sqs: Any, url: str, function: RecordingFunction, window: float) -> SqsPoller:
    source = SqsEventSource(
        queue="Polled",
        batch_size=10,
        maximum_concurrency=None,
        report_batch_item_failures=True,
        batching_window_seconds=window,
    )
    return SqsPoller(source, function, sqs, url, "arn:aws:sqs:us-east-1:123456789012:polled", "us-east-1", 1)


def send_spread(sqs: Any, url: str, bodies: list[str], gap: float) -> None:
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
        time.sleep(gap)


def delivered_while_polling(
    queue: tuple[Any, str], window: float, send: Callable[[Any, str], None], message: str
) -> RecordingFunction:
    """Polls the queue with this batching window while `send` sends, until a first batch is delivered."""
    sqs, url = queue
    function = RecordingFunction()
    poller = polling(sqs, url, function, window)
    poller.start()
    try:
        send(sqs, url)
        assert function.delivered.wait(10), message
    finally:
        poller.stop()
    return function


def test_records_arriving_within_the_batching_window_are_one_invocation(queue: tuple[Any, str]) -> None:
    function = delivered_while_polling(
        queue, 2.0, lambda sqs, url: send_spread(sqs, url, [f"r{n}" for n in range(5)], gap=0.1), "a batch"
    )

    assert function.batches == [["r0", "r1", "r2", "r3", "r4"]]


def test_without_a_window_a_waiting_long_poll_delivers_the_first_record_at_once(queue: tuple[Any, str]) -> None:
    sent_at: list[float] = []

    def send_during_the_long_poll(sqs: Any, url: str) -> None:
        time.sleep(0.3)  # the poller is inside its long poll
        sent_at.append(time.monotonic())
        sqs.send_message(QueueUrl=url, MessageBody="alone")

    function = delivered_while_polling(queue, 0, send_during_the_long_poll, "a batch")

    assert function.batches == [["alone"]]
    waited = function.first_delivered_at - sent_at[0]
    assert waited < 0.9, "answered when the record arrived, not at the end of the poll"


def test_a_full_batch_is_delivered_before_its_window_ends(queue: tuple[Any, str]) -> None:
    function = delivered_while_polling(
        queue,
        30.0,
        lambda sqs, url: send_spread(sqs, url, [f"r{n}" for n in range(10)], gap=0),
        "ten records fill the batch: no waiting for the 30 s window",
    )

    assert sorted(function.batches[0]) == sorted(f"r{n}" for n in range(10))


def test_the_template_gathers_the_cart_and_order_consumers_batches_for_its_window_parameter() -> None:
    template = Template(DEFAULT_TEMPLATE, {"ConsumerBatchingWindowSeconds": "5"})
    windows = {
        spec.logical_id: [source.batching_window_seconds for source in spec.sqs_sources]
        for spec in template.functions()
        if spec.sqs_sources
    }

    assert windows["CartEventsFunction"] == [5.0]
    assert windows["OrderStatusFunction"] == [5.0]
    assert windows["ProductSyncFunction"] == [0.0]
    defaults = Template(DEFAULT_TEMPLATE).functions()
    assert {source.batching_window_seconds for spec in defaults for source in spec.sqs_sources} == {0.0, 2.0}
