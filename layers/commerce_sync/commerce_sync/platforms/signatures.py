"""Webhook signature schemes, checked over the raw body bytes in constant time.

Each `verify_*` takes every secret that may be signing right now (current, pending during a
rotation, previous within its grace period) and tells which one matched, so rotation never makes a
delivery fail. The `sign_*` functions are what a sender computes; the demo and the tests use them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

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


# API2Cart (docs/api2cart.md, "Authenticating deliveries"): the headers its signature covers, as this project reads
# API2Cart's description of X-Webhook-Signature.
API2CART_SIGNED_HEADERS = ("X-Webhook-Action", "X-Webhook-Entity", "X-Webhook-Store-Id", "X-Webhook-Timestamp")
API2CART_TOLERANCE_SECONDS = 300


def api2cart_signed_message(payload: Any, headers: Mapping[str, str]) -> bytes:
    """`{"request_body": <body>, "request_headers": <the signed headers, sorted by name>}` as PHP's json_encode
    writes it (API2Cart is PHP): no spaces, `/` escaped as `\\/`, non-ASCII as \\u escapes."""
    signed = {name: headers[name] for name in sorted(API2CART_SIGNED_HEADERS) if name in headers}
    text = json.dumps({"request_body": payload, "request_headers": signed}, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode()


def sign_api2cart(api_key: str, payload: Any, headers: Mapping[str, str]) -> str:
    return base64.b64encode(_hmac_sha256(api_key, api2cart_signed_message(payload, headers))).decode()


def verify_api2cart(
    api_key: str,
    payload: Any,
    headers: Mapping[str, str],
    signature: str | None,
    now: float | None = None,
    tolerance: int = API2CART_TOLERANCE_SECONDS,
) -> None:
    """SignatureError unless `signature` is the API key's over the body and the X-Webhook-* headers, sent within
    `tolerance` seconds of now (X-Webhook-Timestamp, which the signature covers)."""
    if not signature:
        raise SignatureError("the X-Webhook-Signature header is missing")
    timestamp = headers.get("X-Webhook-Timestamp") or ""
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise SignatureError("X-Webhook-Timestamp is missing or not a Unix time")
    if abs((now if now is not None else time.time()) - int(timestamp)) > tolerance:
        raise SignatureError("X-Webhook-Timestamp is outside the allowed window (a stale or replayed delivery)")
    try:
        presented = base64.b64decode(signature.strip(), validate=True)
    except ValueError as error:
        raise SignatureError("X-Webhook-Signature is not base64") from error
    if not hmac.compare_digest(_hmac_sha256(api_key, api2cart_signed_message(payload, headers)), presented):
        raise SignatureError("X-Webhook-Signature does not match the body and headers")
