"""One SQS batch of canonical events through an EventApplier, as cart_events and order_status run it:
partial batch failures (Powertools Batch), so one bad record is retried or dead-lettered with its
reason without holding back its neighbours. `queue_handler` is the whole Lambda handler of such a
function: its services, applier and dead-letter queue built once per container, on first use."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from commerce_sync.aws.event_bus import ClaimChecks, event_from_message
from commerce_sync.aws.observability import logger, metrics, tracer
from commerce_sync.processing.dead_letters import DeadLetters
from commerce_sync.processing.event_applier import EventApplier, Outcome
from commerce_sync.processing.services import Services

Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]

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
        # Named on every line about this record, the dead letter's included: how an accepted delivery is
        # traced to its end (docs/outcomes.md).
        logger.append_keys(event_id=canonical.event_id)
        return applier.process(event=canonical, message=record.json_body)

    def record_handler(record: SQSRecord) -> Outcome:
        # A record that cannot even be read must not carry the previous record's event id.
        logger.remove_keys(["event_id", "event_type"])
        logger.set_correlation_id(None)
        return dead_letters.handle(record, apply)

    try:
        # One Mailchimp connection slot per account for the whole batch (accounts.budget).
        with applier.budget.per_invocation():
            return dict(
                process_partial_response(
                    event=event, record_handler=record_handler, processor=_processor, context=context
                )
            )
    finally:
        applier.activity.flush()


def queue_handler(build_applier: Callable[[Services], EventApplier]) -> Handler:
    """The Lambda handler of a function that applies one queue's canonical events with `build_applier`'s
    applier. Nothing is built at import: the local runner and the tests set the environment first."""

    @cache
    def services() -> Services:
        return Services.from_environment()

    @cache
    def applier() -> EventApplier:
        return build_applier(services())

    @cache
    def dead_letters() -> DeadLetters:
        return DeadLetters.from_environment()

    @logger.inject_lambda_context(clear_state=True)
    @metrics.log_metrics
    @tracer.capture_lambda_handler
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return process_batch(event, context, applier(), dead_letters(), services().claim_checks)

    return lambda_handler
