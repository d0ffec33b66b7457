"""Carts and customers: SQS batches of canonical events from the bus, applied to Mailchimp
(commerce_sync.carts.sync), and shoppers' erasure requests (commerce_sync.privacy.events)."""

# Before anything loads pydantic (commerce_sync does): Powertools Batch builds its parser models (SQS, DynamoDB,
# Kinesis, Kafka and CloudWatch records) when pydantic is already loaded, only to type a `model=` option this function
# never passes. Imported first, it skips them: about 20 ms of every cold start, never paid later (docs/performance.md).
import aws_lambda_powertools.utilities.batch  # noqa: F401
from commerce_sync.privacy.events import ShopperEvents
from commerce_sync.processing.queue_batches import queue_handler

lambda_handler = queue_handler(ShopperEvents)
