"""WooCommerce: webhooks (HMAC over the body, the creation ping), orders, the catalog reader and the
webhook-secret push."""
