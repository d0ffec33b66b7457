"""SQS event source mappings as Lambda runs them: several pollers per queue, each receiving a batch,
invoking the function with an SQS event, deleting what succeeded and leaving what failed for another
receive; the queue's redrive policy moves a record that keeps failing to its dead-letter queue. As many
batches are in flight at once as the mapping's concurrency allows (its ScalingConfig.MaximumConcurrency,
within the function's own concurrency)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from local_runner.functions import Invocable
from local_runner.template import SqsEventSource

log = logging.getLogger("local_runner.event_sources")

# An idle queue's long poll: short, so that a record made visible again (a failed record's retry delay) is
# received within about a second, and stopping the runner waits at most this long.
LONG_POLL_SECONDS = 1
MAX_LONG_POLL_SECONDS = 20
# While a batch is gathered and less than a second of its window is left: a short poll this often.
GATHER_POLL_SECONDS = 0.05


def to_lambda_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsPoller:
    """One per mapping, with `concurrency` polling threads: at most that many batches in flight.

    `retry_delay_seconds` replaces the queue's visibility timeout for failed records, so a local run
    retries in seconds rather than minutes; the receive count and redrive work as in AWS.
    """

    def __init__(
        self,
        source: SqsEventSource,
        function: Invocable,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        retry_delay_seconds: int,
        concurrency: int = 1,
    ) -> None:
        self.source = source
        self._function = function
        self._sqs = sqs
        self.queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._retry_delay = retry_delay_seconds
        self.concurrency = concurrency
        self._stop = threading.Event()
        self._busy_lock = threading.Lock()
        self._busy = 0
        self._backlog = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(index,), name=f"sqs-{source.queue}-{index}", daemon=True)
            for index in range(concurrency)
        ]

    @property
    def busy(self) -> bool:
        """A batch is being delivered."""
        return self._busy > 0

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._backlog.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _run(self, index: int) -> None:
        while not self._stop.is_set():
            # Pollers beyond the first join in while the queue has a backlog or a batch is being delivered, as
            # Lambda adds pollers for a busy queue; an idle queue is watched by the first alone. Every receive is a
            # long poll: SQS (moto too) answers it the moment a record arrives, where short polls every 50 ms kept
            # an idle runner at a quarter of a CPU.
            if index > 0 and not self._backlog.wait(0.5):
                continue
            if self._stop.is_set():
                break
            try:
                received = self.poll_once(wait_seconds=LONG_POLL_SECONDS)
            except Exception as error:
                if self._stop.is_set():
                    break  # the AWS endpoint went away because the runner is stopping
                # The records stay in the queue; the next poll (or the redrive) takes them.
                log.warning("polling %s failed (retrying in 1 s): %r", self.source.queue, error)
                self._stop.wait(1)
                continue
            if not received and not self.busy:
                self._backlog.clear()

    def poll_once(self, wait_seconds: int = 0) -> int:
        """One receive (a long poll of `wait_seconds`), and the batch it brought (if any) gathered for the mapping's
        batching window and delivered; the number of records."""
        messages = self._receive(min(self.source.batch_size, 10), wait_seconds)
        if messages:
            # Until its records are deleted or made visible again. Before this, SQS counts them in flight.
            with self._busy_lock:
                self._busy += 1
            # The other pollers take what arrives while this batch is gathered and delivered.
            self._backlog.set()
            try:
                self._gather(messages)
                self._deliver(messages)
            finally:
                with self._busy_lock:
                    self._busy -= 1
        return len(messages)

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def _gather(self, messages: list[dict[str, Any]]) -> None:
        """As Lambda does with MaximumBatchingWindowInSeconds: more receives into the batch until it is full or
        the window (from its first record) has passed."""
        window = self.source.batching_window_seconds
        if window <= 0:
            return
        deadline = time.monotonic() + window
        while len(messages) < self.source.batch_size and not self._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            # SQS waits whole seconds, 20 at most: the window's last fraction is short polls.
            more = self._receive(min(self.source.batch_size - len(messages), 10), min(int(left), MAX_LONG_POLL_SECONDS))
            messages.extend(more)
            if not more and left < 1:
                self._stop.wait(min(GATHER_POLL_SECONDS, left))

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [to_lambda_record(m, self._queue_arn, self._region) for m in messages]}
        try:
            result = self._function.invoke(event)
        except Exception as error:
            # The container printed the handler's traceback; the reason is enough here.
            log.warning("function %s failed on a batch of %d: %s", self._function.spec.logical_id, len(messages), error)
            failed = {m["MessageId"] for m in messages}
        else:
            failed = set()
            if self.source.report_batch_item_failures and isinstance(result, dict):
                failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        for message in messages:
            if message["MessageId"] in failed:
                self._sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=self._retry_delay,
                )
        if failed:
            log.warning("%d of %d records failed in %s", len(failed), len(messages), self.source.queue)
