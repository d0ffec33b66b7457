"""Webhook signature schemes, checked over the raw body bytes in constant time.

Each `verify_*` takes every secret that may be signing right now (current, pending during a
rotation, previous within its grace period) and tells which one matched, so rotation never makes a
delivery fail. The `sign_*` functions are what a sender computes; the demo and the tests use them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Sequence

STANDARD_WEBHOOKS_TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    """The delivery is not signed by any secret this store accepts (answered with 401)."""


def _hmac_sha256(secret: str | bytes, message: bytes) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).digest()


def sign_base64_hmac(secret: str, body: bytes) -> str:
    """Shopify's X-Shopify-Hmac-Sha256 and WooCommerce's X-WC-Webhook-Signature."""
    return base64.b64encode(_hmac_sha256(secret, body)).decode()


def verify_base64_hmac(secrets: Sequence[str], body: bytes, signature: str | None) -> int:
    """Index of the secret that signed `body`, or SignatureError."""
    if not signature:
        raise SignatureError("the signature header is missing")
    try:
        presented = base64.b64decode(signature.strip(), validate=True)
    except ValueError as error:
        raise SignatureError("the signature is not base64") from error
    for index, secret in enumerate(secrets):
        if secret and hmac.compare_digest(_hmac_sha256(secret, body), presented):
            return index
    raise SignatureError("the signature does not match")


def sign_standard_webhook(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks (standardwebhooks.com) `webhook-signature` value: `v1,<base64>`.

    Written here rather than taken from the `standardwebhooks` package because that package expects
    `whsec_`-prefixed base64 secrets, and our secrets (and BigCommerce's client secret) are plain.
    """
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(_hmac_sha256(secret, signed)).decode()


def verify_standard_webhook(
    secrets: Sequence[str],
    body: bytes,
    message_id: str | None,
    timestamp: str | None,
    signature_header: str | None,
    now: float | None = None,
    tolerance: int = STANDARD_WEBHOOKS_TOLERANCE_SECONDS,
) -> int:
    if not (message_id and timestamp and signature_header):
        raise SignatureError("webhook-id, webhook-timestamp and webhook-signature headers are required")
    # Unix seconds have 10 digits until the year 2286; a longer value is not a time (and would overflow).
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureError("webhook-timestamp is not a Unix time")
    sent_at = int(timestamp)
    if abs((now if now is not None else time.time()) - sent_at) > tolerance:
        raise SignatureError("webhook-timestamp is outside the allowed window")
    presented: list[bytes] = []
    for part in signature_header.split():
        version, _, value = part.partition(",")
        if version == "v1":
            try:
                presented.append(base64.b64decode(value, validate=True))
            except ValueError:
                continue
    signed = f"{message_id}.{sent_at}.".encode() + body
    for index, secret in enumerate(secrets):
        if not secret:
            continue
        expected = _hmac_sha256(secret, signed)
        if any(hmac.compare_digest(expected, candidate) for candidate in presented):
            return index
    raise SignatureError("the signature does not match")
