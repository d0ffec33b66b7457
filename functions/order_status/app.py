"""Orders: SQS batches of canonical order events from the bus, applied to Mailchimp with partial batch
failures; records that cannot succeed are dead-lettered with their reason."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from commerce_sync.dead_letters import DeadLetters
from commerce_sync.event_bus import event_from_message
from commerce_sync.observability import logger, metrics, tracer
from commerce_sync.order_sync import OrderSync
from commerce_sync.services import Services

# Every failed record is reported back (not raised), so SQS retries exactly those and redrives them.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


@cache
def order_sync() -> OrderSync:
    return OrderSync(Services.from_environment())


@cache
def dead_letters() -> DeadLetters:
    return DeadLetters.from_environment()


def apply(record: SQSRecord) -> dict[str, Any]:
    event = event_from_message(record.json_body)
    logger.set_correlation_id(event.event_id)
    return order_sync().process(event=event)


@tracer.capture_method
def record_handler(record: SQSRecord) -> dict[str, Any]:
    return dead_letters().handle(record, apply)


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Lets Idempotency expire an in-progress record when this invocation times out mid-record.
    order_sync().idempotency_config.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
