"""Carts and customers: SQS batches of canonical events from the bus, applied to Mailchimp
(commerce_sync.carts.sync), and shoppers' erasure requests (commerce_sync.privacy.events)."""

from commerce_sync.privacy.events import ShopperEvents
from commerce_sync.processing.queue_batches import queue_handler

lambda_handler = queue_handler(ShopperEvents)
