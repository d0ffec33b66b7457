"""Sending webhooks to the local API the way each platform does, signed with the store's secret.
The demo uses these, and so can anyone trying the runner from Python."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import requests
from commerce_sync.platforms.signatures import sign_base64_hmac, sign_standard_webhook

TIMEOUT = (3.05, 30)


def shopify_headers(secret: str, topic: str, shop_domain: str, body: bytes, event_id: str | None = None) -> dict:
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": shop_domain,
        "X-Shopify-Hmac-Sha256": sign_base64_hmac(secret, body),
        "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
        "X-Shopify-Webhook-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        "X-Shopify-API-Version": "2025-01",
    }


def send_shopify(
    api_url: str, secret: str, topic: str, shop_domain: str, body: bytes, event_id: str | None = None
) -> requests.Response:
    return requests.post(
        f"{api_url}/webhooks/shopify",
        data=body,
        headers=shopify_headers(secret, topic, shop_domain, body, event_id),
        timeout=TIMEOUT,
    )


def send_canonical(api_url: str, secret: str, store_id: str, body: bytes) -> requests.Response:
    message_id, timestamp = f"msg_{uuid.uuid4().hex}", int(time.time())
    return requests.post(
        f"{api_url}/webhooks/canonical",
        data=body,
        headers={
            "Content-Type": "application/json",
            "commerce-sync-store": store_id,
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign_standard_webhook(secret, message_id, timestamp, body),
        },
        timeout=TIMEOUT,
    )
