"""BigCommerce: thin webhooks (token or Standard Webhooks) whose entities are fetched from the store's
API, orders, the catalog reader and the webhook-secret push."""
