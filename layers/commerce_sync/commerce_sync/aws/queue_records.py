"""An SQS batch as a queue consumer reads it: its records, and the partial batch response that names the failed ones
so SQS retries (and, past maxReceiveCount, redrives) only those (the event source's ReportBatchItemFailures).

Not Powertools Batch (BatchProcessor, SQSRecord), though the project uses Powertools for what it does: our consumers
apply every record themselves (processing.queue_batches runs them on lanes, processing.dead_letters keeps the ones
that fail for good), so all Batch still did was shape the response, and its import cost every consumer's cold start
about 82 M CPU instructions (15 ms of a 300 ms budget; bench/bench_cold_start.py --instructions): its base module
loads the whole utilities.data_classes package, some forty event classes, for the three record types it names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class QueueRecord:
    """One SQS record of a Lambda event, read where asked: the message id, the body (and its JSON), how often SQS
    has delivered it, and the queue it came from."""

    raw: Mapping[str, Any]

    @property
    def message_id(self) -> str:
        return str(self.raw["messageId"])

    @property
    def body(self) -> str:
        return str(self.raw.get("body") or "")

    @cached_property
    def json_body(self) -> Any:
        return json.loads(self.body)

    @property
    def receive_count(self) -> int:
        """ApproximateReceiveCount: 1 on the first delivery (and when SQS did not say)."""
        return int((self.raw.get("attributes") or {}).get("ApproximateReceiveCount") or 1)

    @property
    def event_source_arn(self) -> str:
        return str(self.raw.get("eventSourceARN") or "")


def records_of(event: Mapping[str, Any]) -> list[QueueRecord]:
    return [QueueRecord(raw) for raw in event.get("Records") or []]


def partial_batch_response(failed: Iterable[QueueRecord]) -> dict[str, Any]:
    """The answer that makes SQS retry exactly `failed` and delete the rest of the batch."""
    return {"batchItemFailures": [{"itemIdentifier": record.message_id} for record in failed]}
