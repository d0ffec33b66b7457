"""Records that cannot be applied go to the function's dead-letter queue *with the reason*.

SQS's own redrive moves a record after maxReceiveCount failed receives, but without saying why. The
processing functions therefore dead-letter a record themselves, with its error in message attributes:
at once when retrying cannot help (a payload that fails validation, a refusal Mailchimp will repeat),
and on the last allowed receive otherwise. The queue's redrive policy stays as the safety net for a
record whose function could not even run. `commerce-sync dead-letters FUNCTION --replay` sends them back.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import boto3
from pydantic import ValidationError

from commerce_sync.aws.event_bus import ClaimCheckError
from commerce_sync.aws.metric_names import DEAD_LETTERED
from commerce_sync.aws.observability import logger, metrics
from commerce_sync.aws.queue_records import QueueRecord
from commerce_sync.canonical.errors import BadRequest, NotImplementedYet
from commerce_sync.canonical.redaction import redact_emails
from commerce_sync.mailchimp.errors import MailchimpAuthError, MailchimpError
from commerce_sync.mailchimp.mapping import UnmappableError

ERROR_MESSAGE_LIMIT = 1000


def is_permanent(error: Exception) -> bool:
    """True when the same record will fail the same way however often it is retried."""
    if isinstance(error, ValidationError | UnmappableError | BadRequest | NotImplementedYet):
        return True
    if isinstance(error, ClaimCheckError):
        return error.permanent
    if isinstance(error, MailchimpError):
        # A 401 may heal once the key is fixed; throttling and server faults heal by themselves.
        return not error.retryable and not isinstance(error, MailchimpAuthError)
    return False


class DeadLetters:
    def __init__(self, queue_url: str | None, max_receive_count: int, client: Any | None = None) -> None:
        self._queue_url = queue_url
        self._max_receive_count = max_receive_count
        self._client = client

    @classmethod
    def from_environment(cls) -> DeadLetters:
        return cls(os.environ.get("DEAD_LETTER_QUEUE_URL"), int(os.environ.get("MAX_RECEIVE_COUNT", "5")))

    def handle(self, record: QueueRecord, process: Callable[[QueueRecord], dict[str, Any]]) -> dict[str, Any]:
        """Process the record; dead-letter it when that fails for good (the record then counts as done)."""
        try:
            return process(record)
        except Exception as error:
            receives = record.receive_count
            permanent = is_permanent(error)
            if not self._queue_url or not (permanent or receives >= self._max_receive_count):
                raise
            self._send(record, error, receives, permanent)
            return {"outcome": "dead_lettered", "error_type": type(error).__name__}

    def _send(self, record: QueueRecord, error: Exception, receives: int, permanent: bool) -> None:
        self.keep(record.body, error, source=record.event_source_arn, receives=receives, permanent=permanent)

    def keep(self, body: str, error: Exception, source: str, receives: int = 1, permanent: bool = True) -> None:
        """Put `body` in the dead-letter queue with the reason it failed."""
        if not self._queue_url:
            raise error
        message = redact_emails(str(error))[:ERROR_MESSAGE_LIMIT] or type(error).__name__
        attributes = {
            "error_type": type(error).__name__,
            "error_message": message,
            "permanent": "true" if permanent else "false",
            "receive_count": str(receives),
            "failed_at": datetime.now(UTC).isoformat(),
            "source": source,
        }
        client = self._client or boto3.client("sqs")
        client.send_message(
            QueueUrl=self._queue_url,
            MessageBody=body,
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value} for name, value in attributes.items() if value
            },
        )
        metrics.add_metric(name=DEAD_LETTERED.name, unit="Count", value=1)
        logger.warning(
            "record dead-lettered",
            error_type=attributes["error_type"],
            error_message=message,
            permanent=permanent,
            receive_count=receives,
        )
