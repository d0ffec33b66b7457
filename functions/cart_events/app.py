"""Carts and customers: SQS batches of canonical events from the bus, applied to Mailchimp
(commerce_sync.carts.sync)."""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from commerce_sync.aws.observability import logger, metrics, tracer
from commerce_sync.carts.sync import CartSync
from commerce_sync.processing.dead_letters import DeadLetters
from commerce_sync.processing.queue_batches import process_batch
from commerce_sync.processing.services import Services


@cache
def services() -> Services:
    return Services.from_environment()


@cache
def applier() -> CartSync:
    return CartSync(services())


@cache
def dead_letters() -> DeadLetters:
    return DeadLetters.from_environment()


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_batch(event, context, applier(), dead_letters(), services().claim_checks)
