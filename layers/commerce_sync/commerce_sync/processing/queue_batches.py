"""One SQS batch of canonical events through an EventApplier, as cart_events and order_status run it:
partial batch failures (Powertools Batch), so one bad record is retried or dead-lettered with its
reason without holding back its neighbours."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from commerce_sync.aws.event_bus import ClaimChecks, event_from_message
from commerce_sync.aws.observability import logger
from commerce_sync.processing.dead_letters import DeadLetters
from commerce_sync.processing.event_applier import EventApplier, Outcome

# Every failed record is reported back (not raised), so SQS retries exactly those and redrives them.
_processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def process_batch(
    event: dict[str, Any],
    context: LambdaContext,
    applier: EventApplier,
    dead_letters: DeadLetters,
    claim_checks: ClaimChecks,
) -> dict[str, Any]:
    # Lets Idempotency expire an in-progress record when this invocation times out mid-record.
    applier.idempotency_config.register_lambda_context(context)

    def apply(record: SQSRecord) -> Outcome:
        canonical = event_from_message(record.json_body, claim_checks)
        logger.set_correlation_id(canonical.event_id)
        return applier.process(event=canonical)

    def record_handler(record: SQSRecord) -> Outcome:
        return dead_letters.handle(record, apply)

    return dict(
        process_partial_response(event=event, record_handler=record_handler, processor=_processor, context=context)
    )
