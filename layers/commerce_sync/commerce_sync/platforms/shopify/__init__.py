"""Shopify: webhooks (HMAC over the body), orders, addresses, the EventBridge partner delivery, the
catalog reader."""
