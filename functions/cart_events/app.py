"""Carts and customers: SQS batches of canonical events from the bus, applied to Mailchimp
(commerce_sync.carts.sync)."""

from commerce_sync.carts.sync import CartSync
from commerce_sync.processing.queue_batches import queue_handler

lambda_handler = queue_handler(CartSync)
