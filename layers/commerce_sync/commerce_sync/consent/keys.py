"""The audience webhook's key: the credential Mailchimp's deliveries carry in their URL (`?key=`), since Mailchimp
signs nothing it sends to an audience webhook.

It is derived from the store's webhook signing secret (HMAC-SHA256 of a fixed label and the store id, keyed with
the secret), so it lives and rotates with that secret: the receiver accepts the key of the current, the pending
and (for the grace period) the previous secret, exactly as for the platform's signatures, and nothing new is kept
in Secrets Manager. Whoever holds the store's signing secret can already forge the platform's deliveries, so the
key adds no one who can forge. It is compared in constant time and never logged (the HTTP API's access log has
the path without the query string).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from urllib.parse import quote, urlencode

from commerce_sync.aws.secret_store import SigningSecret

LABEL = b"commerce-sync mailchimp audience webhook\0"
KEY_PARAMETER = "key"
ROUTE_PREFIX = "/webhooks/mailchimp"


def audience_webhook_key(webhook_secret: str, store_id: str) -> str:
    return hmac.new(webhook_secret.encode(), LABEL + store_id.encode(), hashlib.sha256).hexdigest()


def matching_label(candidates: Sequence[SigningSecret], store_id: str, given: str) -> str | None:
    """The label of the secret whose key `given` is, or None. Every candidate is compared, in constant time."""
    found: str | None = None
    for secret in candidates:
        if hmac.compare_digest(audience_webhook_key(secret.value, store_id).encode(), given.encode()):
            found = found or secret.label
    return found


def audience_webhook_url(api_url: str, store_id: str, key: str) -> str:
    """`<api_url>/webhooks/mailchimp/<store_id>?key=<key>`: what is registered in Mailchimp."""
    return f"{api_url.rstrip('/')}{ROUTE_PREFIX}/{quote(store_id, safe='')}?{urlencode({KEY_PARAMETER: key})}"


def without_key(url: str) -> str:
    """The URL as it may be shown or logged: the key's value masked."""
    head, _, _ = url.partition(f"{KEY_PARAMETER}=")
    return f"{head}{KEY_PARAMETER}=…" if head != url else url
