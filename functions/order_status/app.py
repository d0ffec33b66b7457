"""Orders: SQS batches of canonical order events from the bus, applied to Mailchimp (commerce_sync.orders.sync)."""

from commerce_sync.orders.sync import OrderSync
from commerce_sync.processing.queue_batches import queue_handler

lambda_handler = queue_handler(OrderSync)
