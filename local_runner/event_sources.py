"""SQS event source mappings as Lambda runs them: receive a batch, invoke the function with an SQS
event, delete what succeeded, leave what failed for another receive; the queue's redrive policy
moves a record that keeps failing to its dead-letter queue."""

from __future__ import annotations

import logging
import threading
from typing import Any

from local_runner.functions import LocalFunction
from local_runner.template import SqsEventSource

log = logging.getLogger("local_runner.event_sources")


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
    """One poller per mapping. It runs one batch at a time, within any MaximumConcurrency ≥ 1.

    `retry_delay_seconds` replaces the queue's visibility timeout for failed records, so a local run
    retries in seconds rather than minutes; the receive count and redrive work as in AWS.
    """

    def __init__(
        self,
        source: SqsEventSource,
        function: LocalFunction,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        region: str,
        retry_delay_seconds: int,
    ) -> None:
        self.source = source
        self._function = function
        self._sqs = sqs
        self.queue_url = queue_url
        self._queue_arn = queue_arn
        self._region = region
        self._retry_delay = retry_delay_seconds
        self._stop = threading.Event()
        self._busy = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"sqs-{source.queue}", daemon=True)

    @property
    def busy(self) -> bool:
        return self._busy.is_set()

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as error:
                if self._stop.is_set():
                    break  # the AWS endpoint went away because the runner is stopping
                # The records stay in the queue; the next poll (or the redrive) takes them.
                log.warning("polling %s failed (retrying in 1 s): %r", self.source.queue, error)
                self._stop.wait(1)

    def poll_once(self) -> int:
        self._busy.set()
        try:
            messages = self._sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(self.source.batch_size, 10),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if messages:
                self._deliver(messages)
        finally:
            self._busy.clear()
        if not messages:
            self._stop.wait(0.05)
        return len(messages)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [to_lambda_record(m, self._queue_arn, self._region) for m in messages]}
        try:
            result = self._function.invoke(event)
        except Exception:
            log.exception("function %s failed on a batch of %d", self._function.spec.logical_id, len(messages))
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
